"""Model downloads that outlive the screen that started them.

A pull runs in an app-level worker (``AssistantApp.start_download``), so
leaving the model library screen does not stop it; the screen shows
``app.downloads`` whenever it is open. Pausing stops the pull and keeps its
partial file: pulling the same model again resumes from it. Cancelling
stops it too and registers nothing (the partial file stays for a later
resume). Progress arrives from the backend's thread as a message, the only
thread-safe way into the UI.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from textual.message import Message

from assistant import keys
from backend import AssistantError
from backend.api import PullCancelledError, PullProgress

if TYPE_CHECKING:
    from assistant.app import AssistantApp

State = Literal["downloading", "verifying", "paused", "cancelled", "failed", "done"]


@dataclass
class Download:
    """One pull: what, how far, and how it ended."""

    key: str
    """``spec`` or ``spec:QUANT`` (what ``assistant models pull`` takes)."""
    spec: str
    quant: str | None
    state: State = "downloading"
    progress: PullProgress | None = None
    message: str = ""
    """Where it ended: the file, or the error."""
    cancel: threading.Event = field(default_factory=threading.Event)
    pausing: bool = False

    @property
    def active(self) -> bool:
        return self.state in ("downloading", "verifying")

    def describe(self) -> str:
        p = self.progress
        if self.state in ("downloading", "verifying") and p is not None:
            total = p.total_bytes or 0
            share = f" {100 * p.done_bytes / total:.0f}%" if total else ""
            speed = f", {p.speed_bps / 1e6:.1f} MB/s" if p.speed_bps else ""
            eta = f", ~{p.eta_s:.0f} s left" if p.eta_s is not None else ""
            return f"{self.key}: {p.status} {p.file}{share}{speed}{eta}"
        if self.state == "paused":
            return f"{self.key}: paused (p resumes from where it stopped)"
        return f"{self.key}: {self.state}" + (f" — {self.message}" if self.message else "")


@dataclass
class DownloadChanged(Message):
    """A download moved on (progress, or it ended)."""

    key: str


class Downloads:
    """The app's downloads, newest last."""

    def __init__(self) -> None:
        self.items: dict[str, Download] = {}

    def begin(self, spec: str, quant: str | None) -> Download | None:
        """A new (or resumed) download; None when that one is already running."""
        key = f"{spec}:{quant}" if quant else spec
        current = self.items.get(key)
        if current is not None and current.active:
            return None
        item = Download(key, spec, quant)
        self.items.pop(key, None)
        self.items[key] = item
        return item

    def pause(self, key: str) -> bool:
        item = self.items.get(key)
        if item is None or not item.active:
            return False
        item.pausing = True
        item.cancel.set()
        return True

    def cancel(self, key: str) -> bool:
        item = self.items.get(key)
        if item is None or not item.active:
            return False
        item.cancel.set()
        return True

    @property
    def running(self) -> list[Download]:
        return [d for d in self.items.values() if d.active]


DEMO_HINT_STATE = "demo_model_hint"
"""Set once the first-run hint has been shown: it is said once."""


async def run_download(app: AssistantApp, item: Download) -> None:
    """Pull ``item`` through the backend, reporting as it goes (in a worker)."""

    def progress(p: PullProgress) -> None:  # from the backend's thread
        item.progress = p
        item.state = "verifying" if p.status == "verifying" else "downloading"
        app.post_message(DownloadChanged(item.key))

    try:
        pulled = await app.backend.library.pull(
            item.spec, quant=item.quant, progress=progress, cancel=item.cancel
        )
    except PullCancelledError:
        item.state = "paused" if item.pausing else "cancelled"
    except (AssistantError, ValueError) as err:
        item.state, item.message = "failed", str(err)
        app.notify(str(err), title=getattr(err, "title", "Download failed"), severity="error")
    else:
        item.state, item.message = "done", pulled.path.name
        app.notify(f"{item.key} is ready: f4 picks it for a chat", title="Model downloaded")
    app.post_message(DownloadChanged(item.key))


async def demo_hint(app: AssistantApp) -> None:
    """Once: with only the bundled demo model, name the recommended one."""
    backend = app.backend
    try:
        if await backend.conversations.get_state(DEMO_HINT_STATE):
            return
        models = await backend.models.list_models()
        if [m.name for m in models] != ["smollm2-135m-instruct"]:
            return
        offers = await backend.library.offers()
    except (AssistantError, RuntimeError):
        return  # a hint is never worth an error
    pick = next((o for o in offers if o.recommended), None)
    if pick is not None:
        app.recommended = (pick.entry.name, pick.recommended)
        key = keys.key_for("get_recommended", app.keymap_overrides)
        text = (
            f"You are chatting with a tiny demo model (135M). {key} downloads "
            f"{pick.entry.title} {pick.recommended}, which fits this machine."
        )
    else:
        text = "You are chatting with a tiny demo model (135M); ctrl+g shows larger ones."
    app.notify(text, title="Demo model", timeout=15)
    with contextlib.suppress(AssistantError, RuntimeError):
        await backend.conversations.set_state(DEMO_HINT_STATE, "shown")
