"""The backend's public API, declared once: one Protocol per domain, one module per domain.

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

from typing import Protocol

from backend.api.contract.chat import ChatAPI
from backend.api.contract.conversations import ConversationsAPI, TelemetryAPI
from backend.api.contract.documents import DocumentsAPI
from backend.api.contract.evaluation import EvaluationAPI
from backend.api.contract.memory import MemoryAPI
from backend.api.contract.models import LibraryAPI, ModelsAPI
from backend.api.contract.tools import ToolsAPI
from backend.api.contract.transfer import TransferAPI
from backend.api.contract.tuneups import TuneupsAPI
from backend.chat.reply import ReplyStream
from backend.common.config import Settings
from backend.runtimes.registry import UnavailableRuntime
from backend.tuneup.records import TuneupJobHandle


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
    def memory(self) -> MemoryAPI: ...

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
    "MemoryAPI",
    "ModelsAPI",
    "ReplyStream",
    "TelemetryAPI",
    "ToolsAPI",
    "TransferAPI",
    "TuneupJobHandle",
    "TuneupsAPI",
]
