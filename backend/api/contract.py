"""The backend's public API, declared once: one Protocol per domain.

Everything a front end may call is declared here and nowhere else:

- ``backend.local.Backend`` implements it (each domain is a service object
  built in its constructor; mypy checks every service against its Protocol,
  ``backend.local.backend``);
- ``backend.server.rpc`` derives its routes and argument validation from
  these Protocols (``backend.api.spec``);
- ``backend.remote.RemoteBackend`` is generated from them: one proxy per
  domain, no hand-written forwarders;
- the records and errors that may cross the wire are the ones these
  signatures name (``backend.api.wire``) and ``backend.api.errors.ERRORS``.

The TUI and the CLI are typed against ``AssistantAPI``, so a call the
remote backend could not serve is a type error, not a failure under
``--connect``. Adding a method is one declaration here plus its
implementation in the service.

Conventions the RPC layer reads from the signatures (``backend.api.spec``):
a method returning a ``ReplyStream`` streams events; one returning a
``TuneupJobHandle`` starts or finds a job that outlives the call; a
parameter typed as a callback or a ``threading.Event`` never travels (on
the server, ``progress``/``cancel``/``paused`` are wired to the job's
stream and control route); a plain ``def`` returning ``None`` is sent in
the background (``cancel``).

Server-internal API (the OpenAI/Ollama completions) is not part of this
contract: it is served by ``backend.server.openai_api``/``ollama_api``,
which run in the same process as the local backend.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from backend.chat.reply import ReplyStream
from backend.common.config import Settings
from backend.common.events import SourceRef, ToolCallFinished
from backend.knowledge.records import (
    Document,
    DocumentHit,
    Folder,
    FolderStatus,
    IndexProgress,
    IndexSummary,
)
from backend.modelfiles.adapters import Adapter
from backend.modelfiles.catalog import ModelInfo
from backend.modelhub.machine import Machine
from backend.modelhub.offers import Offer, QuantFit
from backend.modelhub.progress import PullProgress
from backend.modelhub.records import HubModel, PullResult, Removed
from backend.rag.eval_runs import EvalQuestion, EvalRun
from backend.rag.types import EvalProgress, RetrievalResult, SourceView
from backend.runtimes.registry import UnavailableRuntime
from backend.runtimes.status import RuntimeStatus
from backend.store.records import (
    Conversation,
    Message,
    ModelStats,
    Preset,
    RequestRecord,
    SearchHit,
)
from backend.tools.records import ServerStatus, ToolInfo
from backend.tuneup.records import TuneupJobHandle


class ConversationsAPI(Protocol):
    """Conversations (a tree of branches), feedback, presets and UI state."""

    async def list_conversations(self) -> list[Conversation]: ...

    async def get_conversation(self, conversation_id: int) -> Conversation:
        """Raises: NotFoundError."""
        ...

    async def create_conversation(
        self, title: str = "New chat", *, model: str | None = None, preset: str | None = None
    ) -> Conversation:
        """An empty conversation (``model`` None: the default model; ``preset``
        None: the default preset's system prompt).

        Raises:
            ModelError: ``model`` is not available.
            NotFoundError: no preset of that name.
        """
        ...

    async def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        """Raises: ValueError (empty title), NotFoundError."""
        ...

    async def delete_conversation(self, conversation_id: int) -> None:
        """Delete it with its messages; a reply being generated is stopped."""
        ...

    async def set_conversation_model(self, conversation_id: int, model: str) -> Conversation:
        """Raises: ModelError (not available), NotFoundError."""
        ...

    async def set_conversation_preset(self, conversation_id: int, preset: str) -> Conversation:
        """Copy the preset's system prompt into the conversation (later edits
        of the preset do not rewrite it)."""
        ...

    async def set_system_prompt(self, conversation_id: int, prompt: str) -> Conversation: ...

    async def thread(self, conversation_id: int) -> list[Message]:
        """The conversation's active branch, oldest first."""
        ...

    async def switch_branch(self, message_id: int, step: int) -> list[Message]:
        """Show the previous (-1) or next (+1) alternative of a message;
        returns the new active thread."""
        ...

    async def search_messages(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Full-text search over every message of every conversation."""
        ...

    async def rate(self, message_id: int, rating: int) -> Message:
        """Thumbs up (1), down (-1) or clear (0) on a reply."""
        ...

    async def edit_reply(self, message_id: int, text: str) -> Message:
        """Store the user's preferred version of a reply (a tune-up target)."""
        ...

    async def presets(self) -> list[Preset]: ...

    async def save_preset(self, name: str, system_prompt: str) -> Preset: ...

    async def delete_preset(self, name: str) -> None: ...

    async def get_state(self, key: str, default: str | None = None) -> str | None:
        """A value the UI remembers between runs (last conversation, theme)."""
        ...

    async def set_state(self, key: str, value: str | None) -> None: ...


class TelemetryAPI(Protocol):
    """The request log: one row per model call and per RAG stage."""

    async def stats(self) -> list[ModelStats]:
        """Per model: requests, tokens, TTFT p50/p95, decode tok/s."""
        ...

    async def request_log(
        self, limit: int = 100, conversation_id: int | None = None
    ) -> list[RequestRecord]:
        """The latest requests, newest first."""
        ...

    async def request(self, request_id: int) -> RequestRecord | None: ...


class ChatAPI(Protocol):
    """Replies: each streams ``ChatEvent``s (see ``backend.common.events``)."""

    async def send(
        self,
        conversation_id: int | None,
        text: str,
        *,
        model: str | None = None,
        folder_ids: list[int] | None = None,
        tools: bool | None = None,
        schema: dict[str, Any] | None = None,
    ) -> ReplyStream:
        """Add a user message at the end of the active branch and stream the
        reply. ``conversation_id`` None starts a new conversation titled from
        the message; ``model`` switches the conversation's model first;
        ``folder_ids`` limits the documents searched for this question;
        ``tools`` switches tool calling on or off for this question only
        (None: the conversation's setting).

        ``schema`` (a JSON Schema) makes this reply structured output: the
        system prompt asks for JSON following it, sampling is constrained to
        it where the runtime can (a llama.cpp grammar, Ollama's ``format``,
        OpenAI's ``response_format``), documents and tools are off for this
        reply, and the finished reply is parsed and validated: one that is
        not valid JSON for the schema (or was cut at the token limit) ends
        with an ``ErrorEvent`` titled "Invalid structured output" and is
        stored with status ``error``, never passed off as valid.

        Raises:
            ValueError: an empty message.
            SchemaError: ``schema`` is not a valid JSON Schema (nothing is
                written).
            ModelError: the model is not available (nothing is written).
            NotFoundError: no such conversation.
        """
        ...

    async def regenerate(self, message_id: int) -> ReplyStream:
        """Answer again: a new reply beside ``message_id`` (an assistant
        reply) or under it (a user message left without a reply)."""
        ...

    async def edit_and_resend(self, message_id: int, text: str) -> ReplyStream:
        """A new version of a user message, as a sibling branch, answered anew."""
        ...

    def cancel(self, conversation_id: int) -> None:
        """Stop the reply being generated in this conversation, if any."""
        ...


class ModelsAPI(Protocol):
    """The models every runtime offers."""

    async def list_models(self) -> list[ModelInfo]:
        """Every model every available runtime can run."""
        ...

    async def runtime_status(self) -> list[RuntimeStatus]:
        """Every runtime, loaded or not, with how many models it offers and
        why it offers none."""
        ...

    async def default_model(self) -> ModelInfo:
        """The model new conversations use (the configured one, or the first
        available when that one is gone).

        Raises:
            ModelError: no model is available at all.
        """
        ...


class LibraryAPI(Protocol):
    """Getting models: the curated catalog with what fits this machine,
    Hugging Face search, pulls that resume and verify, Ollama pulls, and
    removal. Nothing is downloaded unless asked for."""

    async def machine(self) -> Machine:
        """This machine as the fit labels see it: RAM, GPU memory, free disk."""
        ...

    async def offers(self) -> list[Offer]:
        """Every catalog model, each quantization labelled "fits", "slow" or
        "won't fit" here (with the estimate's basis), the recommended pick
        marked."""
        ...

    async def search(self, query: str, limit: int = 20) -> list[HubModel]:
        """GGUF repos on the Hugging Face Hub matching ``query``.

        Raises:
            HubUnreachableError: no answer from the Hub.
        """
        ...

    async def quants(self, repo: str) -> list[QuantFit]:
        """A Hub repo's GGUF quantizations with sizes and fit labels.

        Raises:
            ModelNotFoundError, GatedRepoError, HubUnreachableError.
        """
        ...

    async def pull(
        self,
        spec: str,
        *,
        quant: str | None = None,
        progress: Callable[[PullProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> PullResult:
        """Download, verify (SHA-256) and register a model: a catalog short
        name or a Hub repo id; ``quant`` picks the quantization (default: the
        catalog's, or the repo's best that fits). An interrupted pull resumes
        from its partial file; ``cancel`` keeps the partial and registers
        nothing. The model is in ``list_models`` as soon as this returns.

        Raises:
            ChecksumMismatchError, NotEnoughDiskError, HubUnreachableError,
            ModelNotFoundError, QuantNotFoundError, GatedRepoError,
            PullCancelledError, PullInProgressError.
        """
        ...

    async def pull_ollama(
        self,
        model: str,
        *,
        progress: Callable[[PullProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """``ollama pull`` on the configured Ollama server.

        Raises:
            HubUnreachableError: no Ollama server answers.
        """
        ...

    async def remove(self, name: str) -> Removed:
        """Delete a downloaded model (every part) and say how much space it freed.

        Raises:
            RemoveRefusedError: the bundled model, or a file the library did
                not download.
            ModelNotFoundError: no such model.
        """
        ...


class DocumentsAPI(Protocol):
    """Watched folders, their index, search, and answers from them."""

    async def add_folder(
        self,
        path: str,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        max_file_bytes: int | None = None,
    ) -> Folder:
        """Watch a folder (indexing happens in ``index``/``watch_folders``).

        Raises:
            FolderError: not a folder, unreadable, or already watched.
        """
        ...

    async def remove_folder(self, path_or_id: str | int) -> Folder:
        """Stop watching a folder and drop everything indexed from it."""
        ...

    async def folders(self) -> list[FolderStatus]: ...

    async def list_documents(
        self, folder_id: int | None = None, status: str | None = None
    ) -> list[Document]: ...

    async def index(
        self,
        folder_ids: list[int] | None = None,
        progress: Callable[[IndexProgress], None] | None = None,
        cancel: threading.Event | None = None,
        paused: threading.Event | None = None,
    ) -> IndexSummary:
        """Bring the index up to date (resuming an interrupted sweep).
        ``progress`` is called after every document (locally from the
        indexing thread, remotely in the event loop)."""
        ...

    async def reembed(self) -> None:
        """Switch the index to the current embedding model: the old vectors
        are dropped and every document is embedded again by the next sweep."""
        ...

    async def search_documents(
        self, query: str, k: int = 10, mode: str = "hybrid", folder_ids: list[int] | None = None
    ) -> list[DocumentHit]:
        """Raises: ValueError (unknown mode: hybrid, dense or keyword)."""
        ...

    async def watch_folders(
        self, on_swept: Callable[[IndexSummary], None] | None = None
    ) -> list[str]:
        """Keep the index current while the backend runs; returns notices
        (e.g. polling instead of inotify). ``on_swept`` is local only."""
        ...

    async def documents_enabled(self, conversation_id: int) -> bool:
        """Whether this conversation answers from the documents (its own
        choice, else ``[rag] use_documents``; ``auto`` = any indexed)."""
        ...

    async def set_conversation_documents(
        self, conversation_id: int, use: bool | None, folder_ids: list[int] | None = None
    ) -> Conversation:
        """Answer from documents (True), plain chat (False) or follow the
        config (None); ``folder_ids`` limits the folders searched (None = all).

        Raises:
            NotFoundError: a folder id is unknown.
        """
        ...

    async def retrieve(
        self,
        query: str,
        *,
        mode: str = "default",
        k: int | None = None,
        folder_ids: list[int] | None = None,
        history: list[tuple[str, str]] | None = None,
        model: str | None = None,
    ) -> RetrievalResult:
        """Passages for ``query`` as chat finds them (``mode="default"``) or
        by one stage (keyword, dense, hybrid, hybrid+rerank, rewrite).
        ``history`` is earlier (role, text) turns for condensing follow-ups;
        condense and rewrite run the default (or ``model``) chat model."""
        ...

    async def message_sources(self, message_id: int) -> list[SourceRef]:
        """The sources a reply was given, by S-number, ``cited`` marked."""
        ...

    async def source_view(self, message_id: int, n: int) -> SourceView:
        """Source ``[S{n}]`` of a reply in the context of its document."""
        ...

    async def flagged_documents(self) -> list[tuple[str, int, list[str]]]:
        """Documents with text that tries to instruct the assistant:
        (path, flagged chunks, reasons)."""
        ...


class ToolsAPI(Protocol):
    """The tools chat can call (built-ins and MCP servers' tools)."""

    async def list_tools(self) -> list[ToolInfo]:
        """Every tool chat can offer now, minus ``[tools] disabled``."""
        ...

    async def mcp_status(self, wait: bool = False) -> list[ServerStatus]:
        """Each configured MCP server: connected or why not, tool count.
        ``wait``: until every server has answered or failed."""
        ...

    async def tools_enabled(self, conversation_id: int) -> bool: ...

    async def tools_supported(self, conversation_id: int | None = None) -> bool:
        """Whether the conversation's model (default: the default model) can
        call tools: its runtime constrains output to a JSON schema or takes
        tools natively. An unknown model counts as no."""
        ...

    async def set_conversation_tools(self, conversation_id: int, use: bool | None) -> Conversation:
        """Tools on (True), off (False) or as ``[tools] enabled`` (None)."""
        ...

    async def allowed_tools(self, conversation_id: int) -> set[str]:
        """Side-effect tools allowed for the rest of this conversation."""
        ...

    async def message_tool_calls(self, message_id: int) -> list[ToolCallFinished]:
        """The tool calls made while writing a reply, in order."""
        ...

    async def eval_tools(
        self,
        path: str | Path,
        *,
        model: str | None = None,
        limit: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Tool-selection and argument accuracy of the model's decisions on
        a question set (``backend.tools.evaluate``); nothing is run.

        Raises:
            CaseError: a line of the file is malformed.
            OSError: the file cannot be read.
        """
        ...


class EvaluationAPI(Protocol):
    """Retrieval and answer quality, on question files or on questions made
    from the user's own documents; every run is kept."""

    async def eval_retrieval(
        self,
        path_or_lines: str | Path | Sequence[dict[str, Any]],
        root: str | Path,
        modes: Sequence[str] | None = None,
        k: int = 10,
        label: str = "",
        save: bool = True,
        progress: Callable[[EvalProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Recall@1/5/10 and MRR@10, file- and passage-level, per mode, for a
        question file (or its parsed lines) whose gold paths are relative to
        ``root`` (a watched, indexed folder). Returns ``{"n", "modes":
        {mode: {metric: value}}, ..., "run_id"}`` (None when not saved).

        Raises:
            NotFoundError: ``root`` is not indexed.
            EvalCancelled: cancelled (nothing is saved).
        """
        ...

    async def eval_own(
        self,
        modes: Sequence[str] | None = None,
        k: int = 10,
        label: str = "",
        save: bool = True,
        progress: Callable[[EvalProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """``eval_retrieval`` on the questions generated from the user's
        folders (``generate_questions``)."""
        ...

    async def eval_answers(
        self,
        path_or_lines: str | Path | Sequence[dict[str, Any]],
        root: str | Path,
        limit: int | None = None,
        label: str = "",
        save: bool = True,
        progress: Callable[[EvalProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Ask each question as chat does and judge the answer: faithfulness,
        citation precision, answer-contains rate, gold file among sources."""
        ...

    async def eval_runs(self, kind: str | None = None, limit: int = 50) -> list[EvalRun]:
        """The most recent runs, oldest first."""
        ...

    async def eval_questions(self, folder: str | int | None = None) -> list[EvalQuestion]:
        """The generated question set (of one folder, default all)."""
        ...

    async def generate_questions(
        self,
        folder: str | int,
        n: int = 20,
        use_model: bool = True,
        progress: Callable[[EvalProgress], None] | None = None,
        cancel: threading.Event | None = None,
        seed: int = 0,
    ) -> int:
        """Make ``n`` questions from chunks of an indexed ``folder`` and keep
        them as its question set (replacing the old one); returns how many
        were stored. ``use_model``: one hidden call of the default chat model
        per chunk, else cloze questions."""
        ...


class TuneupsAPI(Protocol):
    """Tune-ups (LoRA/DPO from the user's feedback) and their adapters."""

    async def start_tuneup(
        self,
        method: str = "sft",
        *,
        model: str | None = None,
        exclude: Sequence[int] = (),
        steps: int | None = None,
        dry_run: bool = False,
    ) -> TuneupJobHandle:
        """Start a tune-up of ``model`` (default: the default model) in its
        own process; ``dry_run`` only reports the dataset it would use.

        Raises:
            TuneupBusyError: one is running (``current_tuneup`` returns it).
            ModelError: not a local GGUF or a transformers model folder.
            ValueError: unknown method.
        """
        ...

    async def current_tuneup(self) -> TuneupJobHandle | None:
        """The running (or last) tune-up, if any."""
        ...

    def cancel_tuneup(self) -> None:
        """Stop the running tune-up, if any."""
        ...

    async def list_adapters(self, model: str | None = None) -> list[Adapter]: ...

    async def activate_adapter(self, run_id: str, *, force: bool = False) -> Adapter:
        """Use a tune-up's adapter (only if its evaluation says it helps,
        unless ``force``).

        Raises:
            NotFoundError, AdapterError.
        """
        ...

    async def deactivate_adapter(self, model: str | None = None) -> bool:
        """Roll ``model`` (default: the default model) back to its base weights."""
        ...


class TransferAPI(Protocol):
    """Conversations out of the app and into it (``backend.transfer``):
    text in, text out; reading and writing files is the caller's."""

    async def export_conversations(
        self, conversation_ids: list[int] | None = None, fmt: str = "json"
    ) -> str:
        """The conversations (None: every one, oldest first) as one document.

        ``json``: our format (versioned): every branch, the active one
        marked, feedback (ratings, edited replies), the sources and tool
        calls of each reply, token use; ``import_conversations`` restores
        it exactly (an export of the import is the same JSON). ``md``:
        Markdown, per conversation YAML front matter (title, model, dates,
        token totals) and the active branch, each reply followed by the
        sources it cited.

        Raises:
            NotFoundError: an unknown conversation id.
            ValueError: an unknown format.
        """
        ...

    async def import_conversations(self, text: str) -> list[Conversation]:
        """Add the conversations in ``text``: our JSON export, or ChatGPT's
        ``conversations.json`` (every branch; the one ChatGPT showed last is
        active). All or nothing: the file is checked whole first and
        written in one transaction. Returns the new conversations.

        Raises:
            ImportFormatError: not JSON, neither format, or malformed (the
                message says where); nothing is imported.
        """
        ...


class AssistantAPI(Protocol):
    """The whole backend as a front end sees it, embedded or remote."""

    @property
    def settings(self) -> Settings:
        """The configuration in use (read once at ``start``)."""
        ...

    @property
    def unavailable(self) -> list[UnavailableRuntime]:
        """Runtime plugins that failed to load, and why."""
        ...

    @property
    def conversations(self) -> ConversationsAPI: ...

    @property
    def telemetry(self) -> TelemetryAPI: ...

    @property
    def chat(self) -> ChatAPI: ...

    @property
    def models(self) -> ModelsAPI: ...

    @property
    def library(self) -> LibraryAPI: ...

    @property
    def documents(self) -> DocumentsAPI: ...

    @property
    def tools(self) -> ToolsAPI: ...

    @property
    def evaluation(self) -> EvaluationAPI: ...

    @property
    def tuneups(self) -> TuneupsAPI: ...

    @property
    def transfer(self) -> TransferAPI: ...

    async def start(self) -> None:
        """Open (or connect) before the first call.

        Raises:
            ConfigError, StoreError (local); ServerUnavailable,
            NotAuthorized (remote).
        """
        ...

    async def close(self) -> None: ...


__all__ = [
    "AssistantAPI",
    "ChatAPI",
    "ConversationsAPI",
    "DocumentsAPI",
    "EvaluationAPI",
    "LibraryAPI",
    "ModelsAPI",
    "ReplyStream",
    "TelemetryAPI",
    "ToolsAPI",
    "TransferAPI",
    "TuneupJobHandle",
    "TuneupsAPI",
]
