"""Every key the app binds, in one table, and how config remaps them.

Each ``KeyAction.id`` is both the Textual binding id and the action id users
write in ``[ui.keybindings]``; ``App.set_keymap`` swaps the key of the binding
with that id wherever it is bound. The help screen and the command palette read
the same table, so they always agree with what the keys really do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from textual.binding import Binding, BindingType

Scope = Literal["app", "main", "message", "composer"]


@dataclass(frozen=True)
class KeyAction:
    id: str
    key: str
    title: str
    help: str
    scope: Scope
    action: str = ""
    show: bool = False
    priority: bool = False

    @property
    def action_name(self) -> str:
        return self.action or self.id


ACTIONS: tuple[KeyAction, ...] = (
    # app-wide
    KeyAction("help", "f1", "Help", "Show every key and what it does", "app", show=True),
    KeyAction("quit", "ctrl+q", "Quit", "Leave the assistant", "app", show=True, priority=True),
    KeyAction("cycle_theme", "ctrl+t", "Next theme", "Switch to the next colour theme", "app"),
    KeyAction("pick_theme", "", "Choose theme…", "Pick a colour theme from a list", "app"),
    KeyAction(
        "request_log", "f9", "Request log", "Model calls, tokens and timings", "app", show=True
    ),
    KeyAction(
        "evaluation", "f10", "Evaluation", "Retrieval quality over time; measure it again", "app"
    ),
    KeyAction(
        "tuneup", "f11", "Tune-up", "Tune the model on your edits and thumbs; adapters", "app"
    ),
    KeyAction("library", "", "Get models…", "Catalog, Hub search and downloads", "app"),
    KeyAction(
        "get_recommended",
        "ctrl+g",
        "Get the recommended model",
        "Download the model recommended for this machine (the first-run hint)",
        "app",
    ),
    KeyAction(
        "documents",
        "f3",
        "Documents",
        "Folders to index, indexing progress, document search",
        "app",
    ),
    KeyAction(
        "memory",
        "",
        "Memory…",
        "What the assistant remembers about you: search, edit, forget, export",
        "app",
    ),
    # the chat screen
    KeyAction(
        "new_conversation", "ctrl+n", "New chat", "Start a new conversation", "main", show=True
    ),
    KeyAction("rename_conversation", "f2", "Rename chat", "Rename this conversation", "main"),
    KeyAction("delete_conversation", "f8", "Delete chat", "Delete this conversation", "main"),
    KeyAction("search", "ctrl+f", "Search chats", "Search messages in every conversation", "main"),
    KeyAction("pick_model", "f4", "Model…", "Choose this conversation's model", "main", show=True),
    KeyAction("pick_preset", "f5", "Preset…", "Apply a persona / system-prompt preset", "main"),
    KeyAction(
        "edit_system_prompt",
        "f6",
        "System prompt…",
        "Edit this conversation's system prompt",
        "main",
        priority=True,  # TextArea binds f6/f7 to line/all selection; ours win
    ),
    KeyAction(
        "edit_presets",
        "f7",
        "Edit presets…",
        "Create, edit and delete presets",
        "main",
        priority=True,
    ),
    KeyAction("stop", "escape", "Stop", "Stop the reply being written", "main", show=True),
    KeyAction("focus_messages", "alt+up", "Go to messages", "Focus the last message", "main"),
    KeyAction("focus_composer", "alt+down", "Go to composer", "Focus the message box", "main"),
    KeyAction(
        "toggle_documents",
        "ctrl+d",
        "Answer from my documents",
        "Turn answering from your documents on or off for this chat",
        "main",
        priority=True,  # TextArea binds ctrl+d to delete-right; ours wins
    ),
    KeyAction(
        "pick_documents",
        "",
        "Documents for this chat…",
        "Auto, on, off, or only one folder (@folder in a question scopes just it)",
        "main",
    ),
    KeyAction(
        "toggle_tools",
        "ctrl+o",
        "Tools on/off",
        "Let this chat call tools (calculator, notes, your files, MCP) or not",
        "main",
    ),
    KeyAction(
        "toggle_incognito",
        "",
        "Incognito on/off",
        "This chat neither uses nor writes memory (or does again)",
        "main",
    ),
    KeyAction(
        "suggest_memories",
        "",
        "Suggest memories from this chat",
        "The model proposes facts to remember; you approve each",
        "main",
    ),
    # the focused message (the palette uses the last focused or the latest one)
    KeyAction("copy_message", "c", "Copy", "Copy the message text", "message", show=True),
    KeyAction("copy_code", "y", "Copy code block", "Copy the message's last code block", "message"),
    KeyAction(
        "regenerate",
        "r",
        "Regenerate",
        "Write this reply again (a new branch)",
        "message",
        show=True,
    ),
    KeyAction(
        "edit_message",
        "e",
        "Edit",
        "Edit and resend a question, or edit a reply",
        "message",
        show=True,
    ),
    KeyAction("thumbs_up", "plus", "Thumbs up", "Mark the reply as good (toggles)", "message"),
    KeyAction("thumbs_down", "minus", "Thumbs down", "Mark the reply as bad (toggles)", "message"),
    KeyAction(
        "show_sources",
        "s",
        "Sources",
        "Go to the reply's sources (←/→ pick one, Enter opens it)",
        "message",
    ),
    KeyAction("branch_prev", "left", "Previous branch", "Show the previous version (‹)", "message"),
    KeyAction("branch_next", "right", "Next branch", "Show the next version (›)", "message"),
    # the composer
    KeyAction("send", "enter", "Send", "Send the message", "composer"),
    KeyAction(
        "newline",
        "ctrl+j,shift+enter",
        "New line",
        "Insert a line break (shift+enter where the terminal reports it)",
        "composer",
    ),
)

BY_ID = {a.id: a for a in ACTIONS}


def bindings(scope: Scope) -> list[BindingType]:
    """Textual bindings for one scope, each carrying its remappable id."""
    return [
        Binding(a.key, a.action_name, a.title, show=a.show, id=a.id, priority=a.priority)
        for a in ACTIONS
        if a.scope == scope and a.key
    ]


def split_keymap(remap: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Return (the keymap to apply, the unknown action ids in ``remap``)."""
    known = {k: v for k, v in remap.items() if k in BY_ID}
    unknown = sorted(k for k in remap if k not in BY_ID)
    return known, unknown


def key_for(action_id: str, keymap: Mapping[str, str]) -> str:
    """The key an action is bound to now (remapped or default)."""
    return keymap.get(action_id, BY_ID[action_id].key)


def display_key(key: str) -> str:
    names = {"plus": "+", "minus": "-", "escape": "esc"}
    return ", ".join(names.get(k.strip(), k.strip()) for k in key.split(",") if k.strip())
