"""The one error an import raises: the file is not something we can
import, and nothing was imported."""

from __future__ import annotations

from backend.common.errors import AssistantError


class ImportFormatError(AssistantError):
    """The input is not our JSON export nor ChatGPT's ``conversations.json``,
    or it is but something in it is malformed (the message says where)."""

    title = "Cannot import"
