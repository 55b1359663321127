"""The replies in flight and each conversation's history-trim state: owned
by the chat service, and read by the conversations service (deleting a
conversation stops its reply and forgets its trim state)."""

from __future__ import annotations

from backend.chat.history import TrimState
from backend.chat.stream import ChatStream


class ActiveReplies:
    def __init__(self) -> None:
        self.streams: dict[int, ChatStream] = {}
        """The latest reply of each conversation (it may have finished)."""
        self.trim: dict[int, TrimState] = {}
        """Where each conversation's history was cut, so the next turns keep
        a stable prefix for llama.cpp's KV cache."""

    def trim_state(self, conversation_id: int) -> TrimState:
        return self.trim.setdefault(conversation_id, TrimState())

    def cancel(self, conversation_id: int) -> None:
        stream = self.streams.get(conversation_id)
        if stream is not None:
            stream.cancel()

    def forget(self, conversation_id: int) -> None:
        self.cancel(conversation_id)
        self.streams.pop(conversation_id, None)
        self.trim.pop(conversation_id, None)

    def cancel_all(self) -> None:
        for stream in list(self.streams.values()):
            stream.cancel()
