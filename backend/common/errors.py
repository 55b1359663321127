"""One error hierarchy with user-facing titles.

The TUI shows ``title`` and ``str(error)`` in a notice or modal; the CLI prints
``title: message`` to stderr and exits non-zero.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class of every error the backend means a user to see."""

    title = "Error"


class ConfigError(AssistantError):
    """The TOML config is unreadable or a field is invalid (the message names it)."""

    title = "Invalid configuration"


class ModelError(AssistantError):
    """A model file is missing, truncated, not GGUF, or failed to load."""

    title = "Model problem"


class StoreError(AssistantError):
    """The SQLite store could not be opened or migrated."""

    title = "Database problem"


class NotFoundError(AssistantError):
    """A conversation, message or preset id does not exist."""

    title = "Not found"


class ContextOverflowError(AssistantError):
    """The newest message alone does not fit the model's context window."""

    title = "Message too long"


class AdapterError(AssistantError):
    """An adapter file is unreadable, not a LoRA, or does not fit the base model."""

    title = "Adapter problem"
