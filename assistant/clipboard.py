"""Copying text to the system clipboard.

A native tool (``pbcopy``, ``wl-copy``, ``xclip``, ``xsel``) is tried first,
because the terminal escape (OSC 52) is not supported everywhere; where none
works, Textual's ``App.copy_to_clipboard`` sends OSC 52 instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

from textual.app import App

_TOOLS: tuple[tuple[str, ...], ...] = (
    ("pbcopy",),
    ("wl-copy",),
    ("xclip", "-selection", "clipboard"),
    ("xsel", "--clipboard", "--input"),
)


def system_copy_command() -> tuple[str, ...] | None:
    """The first clipboard tool that is installed and has a display to talk to."""
    for tool in _TOOLS:
        if shutil.which(tool[0]) is None:
            continue
        if tool[0] == "wl-copy" and not os.environ.get("WAYLAND_DISPLAY"):
            continue
        if tool[0] in ("xclip", "xsel") and not os.environ.get("DISPLAY"):
            continue
        return tool
    return None


def _run(command: tuple[str, ...], text: str) -> bool:
    try:
        subprocess.run(
            command,
            input=text.encode(),
            check=True,
            timeout=3,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return True


async def copy_text(app: App[object], text: str) -> str:
    """Copy ``text``; returns how (the tool's name or ``"terminal"``)."""
    command = system_copy_command()
    if command is not None and await asyncio.to_thread(_run, command, text):
        app._clipboard = text  # keep App.clipboard in step for paste inside the app
        return command[0]
    app.copy_to_clipboard(text)
    return "terminal"
