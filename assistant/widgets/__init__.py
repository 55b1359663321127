"""Widgets: they render state and post ``assistant.messages``; no backend calls."""
