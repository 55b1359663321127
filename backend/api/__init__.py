"""The backend's API as front ends import it: the contract's Protocols
(``backend.api.contract``), what replies and jobs are (``ReplyStream``,
``TuneupJobHandle``), the records its signatures carry, the errors allowed
across it, and the few constants a front end shows (evaluation modes and
metrics). The TUI and CLI import backend names from here (and the leaf
``backend.common``) only; an import-linter contract checks it.

This module only gathers names; each is declared once where it belongs.
"""

from backend.api.contract import (
    AssistantAPI,
    ChatAPI,
    ConversationsAPI,
    DocumentsAPI,
    EvaluationAPI,
    LibraryAPI,
    MemoryAPI,
    ModelsAPI,
    TelemetryAPI,
    ToolsAPI,
    TransferAPI,
    TuneupsAPI,
)
from backend.api.errors import ERRORS
from backend.chat.reply import ReplyStream, ToolChoice
from backend.chat.structured import SchemaError, StructuredOutputError
from backend.knowledge.errors import EmbeddingError, FolderError, IndexStoreError, ModelMismatch
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
from backend.modelhub.errors import ModelHubError, PullCancelledError
from backend.modelhub.machine import Machine
from backend.modelhub.offers import Offer, QuantFit
from backend.modelhub.progress import PullProgress
from backend.modelhub.records import HubModel, InstalledFolder, PullResult, Removed
from backend.rag.eval_runs import EvalQuestion, EvalRun
from backend.rag.types import (
    EVAL_MODES,
    METRIC_KEYS,
    EvalCancelled,
    EvalProgress,
    RerankerInUse,
    RetrievalResult,
    SourceView,
)
from backend.runtimes.registry import UnavailableRuntime
from backend.runtimes.status import RuntimeStatus, model_origin
from backend.store.records import (
    ChatHit,
    Conversation,
    ConversationSummary,
    DailySpeed,
    DailyTokens,
    Memory,
    MemoryProposal,
    Message,
    ModelStats,
    Preset,
    PromptVersion,
    ReplayResult,
    RequestDetail,
    RequestRecord,
    SearchHit,
    StageTime,
    ThumbsRatio,
    UsageStats,
)
from backend.tools.records import ServerStatus, ToolInfo
from backend.transfer.errors import ImportFormatError
from backend.tuneup.records import TuneupBusyError, TuneupJobHandle, TuneupUpdate, describe

__all__ = [
    "ERRORS",
    "EVAL_MODES",
    "METRIC_KEYS",
    "Adapter",
    "AssistantAPI",
    "ChatAPI",
    "ChatHit",
    "Conversation",
    "ConversationSummary",
    "ConversationsAPI",
    "DailySpeed",
    "DailyTokens",
    "Document",
    "DocumentHit",
    "DocumentsAPI",
    "EmbeddingError",
    "EvalCancelled",
    "EvalProgress",
    "EvalQuestion",
    "EvalRun",
    "EvaluationAPI",
    "Folder",
    "FolderError",
    "FolderStatus",
    "HubModel",
    "ImportFormatError",
    "IndexProgress",
    "IndexStoreError",
    "IndexSummary",
    "InstalledFolder",
    "LibraryAPI",
    "Machine",
    "Memory",
    "MemoryAPI",
    "MemoryProposal",
    "Message",
    "ModelHubError",
    "ModelInfo",
    "ModelMismatch",
    "ModelStats",
    "ModelsAPI",
    "Offer",
    "Preset",
    "PromptVersion",
    "PullCancelledError",
    "PullProgress",
    "PullResult",
    "QuantFit",
    "Removed",
    "ReplayResult",
    "ReplyStream",
    "RequestDetail",
    "RequestRecord",
    "RerankerInUse",
    "RetrievalResult",
    "RuntimeStatus",
    "SchemaError",
    "SearchHit",
    "ServerStatus",
    "SourceView",
    "StageTime",
    "StructuredOutputError",
    "TelemetryAPI",
    "ThumbsRatio",
    "ToolChoice",
    "ToolInfo",
    "ToolsAPI",
    "TransferAPI",
    "TuneupBusyError",
    "TuneupJobHandle",
    "TuneupUpdate",
    "TuneupsAPI",
    "UnavailableRuntime",
    "UsageStats",
    "describe",
    "model_origin",
]
