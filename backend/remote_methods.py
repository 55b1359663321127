"""The plain calls of ``RemoteBackend``: one thin, explicitly typed method
per allow-listed ``Backend`` method (``backend.server.rpc.CALLS``).

Explicit methods rather than a ``__getattr__`` proxy: mypy checks every
call the TUI makes against the same signature as the embedded backend's,
and a test (``tests/server/test_rpc.py``) asserts the parameters match
``Backend``'s one for one, so the two cannot drift apart silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backend.common.events import SourceRef, ToolCallFinished
from backend.knowledge.records import Document, DocumentHit, Folder, FolderStatus, IndexSummary
from backend.modelfiles.catalog import ModelInfo
from backend.rag.eval_runs import EvalQuestion, EvalRun
from backend.rag.types import SourceView
from backend.runtimes.status import RuntimeStatus
from backend.store.records import (
    Conversation,
    Message,
    ModelStats,
    Preset,
    RequestRecord,
    SearchHit,
)


class RemoteMethods:
    if TYPE_CHECKING:  # provided by RemoteBackend

        async def _call(self, name: str, /, **kwargs: Any) -> Any: ...

    # conversations ---------------------------------------------------------
    async def list_conversations(self) -> list[Conversation]:
        return await self._call("list_conversations")

    async def get_conversation(self, conversation_id: int) -> Conversation:
        return await self._call("get_conversation", conversation_id=conversation_id)

    async def create_conversation(
        self, title: str = "New chat", *, model: str | None = None, preset: str | None = None
    ) -> Conversation:
        return await self._call("create_conversation", title=title, model=model, preset=preset)

    async def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        return await self._call("rename_conversation", conversation_id=conversation_id, title=title)

    async def delete_conversation(self, conversation_id: int) -> None:
        await self._call("delete_conversation", conversation_id=conversation_id)

    async def set_conversation_model(self, conversation_id: int, model: str) -> Conversation:
        return await self._call(
            "set_conversation_model", conversation_id=conversation_id, model=model
        )

    async def set_conversation_preset(self, conversation_id: int, preset: str) -> Conversation:
        return await self._call(
            "set_conversation_preset", conversation_id=conversation_id, preset=preset
        )

    async def set_system_prompt(self, conversation_id: int, prompt: str) -> Conversation:
        return await self._call("set_system_prompt", conversation_id=conversation_id, prompt=prompt)

    async def thread(self, conversation_id: int) -> list[Message]:
        return await self._call("thread", conversation_id=conversation_id)

    async def switch_branch(self, message_id: int, step: int) -> list[Message]:
        return await self._call("switch_branch", message_id=message_id, step=step)

    async def search_messages(self, query: str, limit: int = 50) -> list[SearchHit]:
        return await self._call("search_messages", query=query, limit=limit)

    async def rate(self, message_id: int, rating: int) -> Message:
        return await self._call("rate", message_id=message_id, rating=rating)

    async def edit_reply(self, message_id: int, text: str) -> Message:
        return await self._call("edit_reply", message_id=message_id, text=text)

    # presets, state, telemetry ---------------------------------------------
    async def presets(self) -> list[Preset]:
        return await self._call("presets")

    async def save_preset(self, name: str, system_prompt: str) -> Preset:
        return await self._call("save_preset", name=name, system_prompt=system_prompt)

    async def delete_preset(self, name: str) -> None:
        await self._call("delete_preset", name=name)

    async def get_state(self, key: str, default: str | None = None) -> str | None:
        return await self._call("get_state", key=key, default=default)

    async def set_state(self, key: str, value: str | None) -> None:
        await self._call("set_state", key=key, value=value)

    async def stats(self) -> list[ModelStats]:
        return await self._call("stats")

    async def request_log(
        self, limit: int = 100, conversation_id: int | None = None
    ) -> list[RequestRecord]:
        return await self._call("request_log", limit=limit, conversation_id=conversation_id)

    async def request(self, request_id: int) -> RequestRecord | None:
        return await self._call("request", request_id=request_id)

    # models ------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        return await self._call("list_models")

    async def runtime_status(self) -> list[RuntimeStatus]:
        return await self._call("runtime_status")

    async def default_model(self) -> ModelInfo:
        return await self._call("default_model")

    # documents -----------------------------------------------------------------
    async def add_folder(
        self,
        path: str,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        max_file_bytes: int | None = None,
    ) -> Folder:
        return await self._call(
            "add_folder", path=path, include=include, exclude=exclude, max_file_bytes=max_file_bytes
        )

    async def remove_folder(self, path_or_id: str | int) -> Folder:
        return await self._call("remove_folder", path_or_id=path_or_id)

    async def folders(self) -> list[FolderStatus]:
        return await self._call("folders")

    async def documents(
        self, folder_id: int | None = None, status: str | None = None
    ) -> list[Document]:
        return await self._call("documents", folder_id=folder_id, status=status)

    async def search_documents(
        self, query: str, k: int = 10, mode: str = "hybrid", folder_ids: list[int] | None = None
    ) -> list[DocumentHit]:
        return await self._call(
            "search_documents", query=query, k=k, mode=mode, folder_ids=folder_ids
        )

    async def watch_folders(
        self, on_swept: Callable[[IndexSummary], None] | None = None
    ) -> list[str]:
        """The server keeps the folders indexed; ``on_swept`` cannot travel,
        so the server's background sweeps are not reported here."""
        return await self._call("watch_folders")

    async def documents_enabled(self, conversation_id: int) -> bool:
        return await self._call("documents_enabled", conversation_id=conversation_id)

    async def set_conversation_documents(
        self, conversation_id: int, use: bool | None, folder_ids: list[int] | None = None
    ) -> Conversation:
        return await self._call(
            "set_conversation_documents",
            conversation_id=conversation_id,
            use=use,
            folder_ids=folder_ids,
        )

    async def message_sources(self, message_id: int) -> list[SourceRef]:
        return await self._call("message_sources", message_id=message_id)

    async def source_view(self, message_id: int, n: int) -> SourceView:
        return await self._call("source_view", message_id=message_id, n=n)

    async def flagged_documents(self) -> list[tuple[str, int, list[str]]]:
        return await self._call("flagged_documents")

    # tools -------------------------------------------------------------------
    async def tools_enabled(self, conversation_id: int) -> bool:
        return await self._call("tools_enabled", conversation_id=conversation_id)

    async def tools_supported(self, conversation_id: int | None = None) -> bool:
        return await self._call("tools_supported", conversation_id=conversation_id)

    async def set_conversation_tools(self, conversation_id: int, use: bool | None) -> Conversation:
        return await self._call("set_conversation_tools", conversation_id=conversation_id, use=use)

    async def message_tool_calls(self, message_id: int) -> list[ToolCallFinished]:
        return await self._call("message_tool_calls", message_id=message_id)

    # evaluation ----------------------------------------------------------------
    async def eval_runs(self, kind: str | None = None, limit: int = 50) -> list[EvalRun]:
        return await self._call("eval_runs", kind=kind, limit=limit)

    async def eval_questions(self, folder: str | int | None = None) -> list[EvalQuestion]:
        return await self._call("eval_questions", folder=folder)
