"""Conversations out of the app and into it: our JSON export (every
branch, feedback, sources; ``document``), Markdown for reading
(``markdown``), and ChatGPT's ``conversations.json`` (``chatgpt``).

Everything here works on portable trees, plain data the store dumps and
loads (``backend.store.transfer``); ``read_import`` turns a file's text into
checked trees or raises before anything is written, so an import is all
or nothing.
"""

from __future__ import annotations

import json

from backend.transfer.chatgpt import is_chatgpt, read_chatgpt
from backend.transfer.document import Tree, check_tree, is_ours, read_document
from backend.transfer.errors import ImportFormatError

FORMATS = ("json", "md")
"""Export formats: our JSON, Markdown."""


def read_import(text: str, now: str) -> list[Tree]:
    """The conversations in ``text`` (our export or ChatGPT's), checked and
    ready for ``TransferStore.load``; ``now`` dates what the file does not.

    Raises:
        ImportFormatError: not JSON, neither format, or malformed.
    """
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ImportFormatError(f"the file is not JSON: {err}") from None
    if is_ours(data):
        return read_document(data)
    if is_chatgpt(data):
        trees = read_chatgpt(data, now)
        return [check_tree(t, f"ChatGPT conversation {i}") for i, t in enumerate(trees)]
    raise ImportFormatError(
        "not a conversation export: expected this app's JSON export "
        '({"format": "local-assistant.conversations", ...}) or ChatGPT\'s conversations.json'
    )


__all__ = ["FORMATS", "ImportFormatError", "Tree", "read_import"]
