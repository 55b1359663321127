"""Typed, validated TOML configuration.

The file is ``config.toml`` in the data folder (``assistant locate`` prints
it). Every field has a default, so the file is optional and may hold only what
the user changes. Unknown keys are rejected so that typos are caught; a bad
value raises ``ConfigError`` whose message names the field, e.g.
``generation.temperature: Input should be less than or equal to 2``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

# the runtime sections live in config_runtimes; importers keep using this module
from backend.common.config_runtimes import HFModelEntry as HFModelEntry
from backend.common.config_runtimes import LlamaSettings as LlamaSettings
from backend.common.config_runtimes import ModelEntry as ModelEntry
from backend.common.config_runtimes import OllamaSettings as OllamaSettings
from backend.common.config_runtimes import OpenAIEndpoint as OpenAIEndpoint
from backend.common.config_runtimes import Section as _Section
from backend.common.errors import ConfigError


class GenerationSettings(_Section):
    """Sampling defaults for every reply."""

    max_tokens: int = Field(default=512, ge=1, le=32768)
    """Most tokens a reply may have; also reserved out of the context window."""
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    """Sampling temperature; 0 is greedy."""
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    """Nucleus sampling threshold."""
    seed: int | None = None
    """Fixed seed for reproducible replies; default random."""


class LogSettings(_Section):
    """The request log's copies of what each model call was sent and said
    (``assistant log show``, ``assistant replay``). They stay on this
    machine, in the profile's database."""

    keep_full_text: bool = True
    """Keep the messages as sent and the reply of every request, so a past
    reply can be shown and reproduced; off: only figures, prompt versions,
    model and parameters are logged."""
    retention_days: int = Field(default=90, ge=0)
    """Kept texts older than this are cleared when the backend starts (the
    figures stay); 0 keeps them forever."""


class UISettings(_Section):
    """Terminal UI settings."""

    theme: str | None = None
    """Theme name; when unset the last theme picked in the app is used."""
    keybindings: dict[str, str] = Field(default_factory=dict)
    """Remap actions to keys, e.g. ``{ "new_conversation" = "ctrl+n" }``.
    ``assistant keys`` and the help screen list the action ids."""
    stream_fps: float = Field(default=4.0, gt=0, le=60)
    """How many times a second a streaming reply is re-rendered. Every
    frame re-lays-out the growing message on the UI's thread, which takes
    its core from the model: measured on 2 cores (SmolLM2, 256 tokens,
    median of 3), 66.8 tok/s at 15 fps, 76.0 at 8, 81.4 at 4 (raw
    llama-cpp-python about 88). 4 is also Rich ``Live``'s default refresh
    rate; machines with cores to spare can raise it."""


class KnowledgeSettings(_Section):
    """Knowledge-base (document index) settings."""

    embedding_model_dir: Path | None = None
    """A sentence-transformers model folder to embed with; default: the
    bundled all-MiniLM-L6-v2. Changing it asks for ``assistant index
    --reembed`` (vectors of two models are never mixed)."""
    batch_size: int = Field(default=32, ge=1, le=1024)
    """Chunks embedded per batch."""
    embedding_backend: Literal[
        "torch-fp32", "torch-int8", "torch-int8-ffn", "onnx", "onnx-int8", "llamacpp", "ollama"
    ] = "torch-fp32"
    """How the embedding model runs on the CPU: ``torch-fp32`` (the reference),
    ``torch-int8`` / ``torch-int8-ffn`` (torch dynamic int8 on all / only the
    feed-forward Linear layers), ``onnx`` / ``onnx-int8`` (ONNX Runtime, fp32 /
    dynamic int8). ``benchmarks/embedding_speed.py`` compares their speed and
    recall. Each backend's vectors differ slightly, so changing it asks for
    ``assistant index --reembed``."""
    embedding_gguf: Path | None = None
    """With ``embedding_backend = "llamacpp"``: the GGUF file to embed with
    (mean-pooled unless the file records its own pooling); default: the
    bundled SmolLM2 model. Another file asks for ``assistant index
    --reembed``."""
    ollama_url: str = Field(default="http://127.0.0.1:11434", pattern=r"^https?://\S+$")
    """With ``embedding_backend = "ollama"``: the Ollama server's base URL."""
    ollama_embedding_model: str = Field(default="nomic-embed-text", min_length=1)
    """With ``embedding_backend = "ollama"``: the model to embed with (it
    must be pulled: ``ollama pull nomic-embed-text``)."""


class RagSettings(_Section):
    """Answering from the user's documents (retrieval-augmented generation)."""

    use_documents: Literal["auto", "always", "never"] = "auto"
    """Default for conversations that have not chosen: ``auto`` answers from
    the documents when at least one folder has indexed documents."""
    mode: Literal["hybrid", "dense", "keyword"] = "hybrid"
    """First-stage retrieval: FTS5 keywords, vector KNN, or both fused."""
    top_k: int = Field(default=6, ge=1, le=50)
    """Passages given to the model."""
    candidates: int = Field(default=30, ge=1, le=500)
    """Passages fetched before reranking and the diversity step."""
    reranker: Literal["auto", "none", "cross-encoder", "llm"] = "auto"
    """Second stage: ``auto`` uses ``cross_encoder_dir`` when set, else a
    cross-encoder pulled with ``assistant models pull`` (the catalog's first
    when there are several), else none; ``cross-encoder`` needs
    ``cross_encoder_dir``; ``llm`` scores passages with a llama.cpp model
    (``llm_reranker_model``)."""
    cross_encoder_dir: Path | None = None
    """A sentence-transformers ``CrossEncoder`` model folder (used by
    ``auto`` and ``cross-encoder``)."""
    llm_reranker_model: str | None = None
    """Model name (from ``assistant models``) for the LLM reranker; default:
    the conversation's model."""
    max_per_document: int = Field(default=50, ge=1)
    """At most this many passages of one file in the final list (diversity).
    50 = no cap in effect: a cap of 3 lost answers that sit a few entries
    further down the page of the first hit (cross-validated, issue 19,
    ``backend/rag/retrieval.py``)."""
    rewrite: Literal["auto", "never", "always"] = "auto"
    """Rewrite the query with the model when retrieval is weak (``auto``),
    never, or on every question (costs a hidden model call)."""
    merge_only_if_helped: bool = True
    """After a rewrite, merge the second search into the first only when it
    found closer passages (``rewrite_helped``); else keep the first.
    Measured with the bundled SmolLM2 on the python3.11-doc index, passage
    R@1 / MRR@10 of the default mode: facts dev 0.60 / 0.750 merging always,
    0.64 / 0.769 merging only when it helped; dev 0.467 / 0.605 and
    0.467 / 0.608. A small model's expansion is more often noise than help."""
    condense: bool = True
    """Turn follow-up questions into standalone queries using recent turns."""
    context_share: float = Field(default=0.5, gt=0.0, le=0.9)
    """Most of the prompt budget (context window minus the reply's tokens)
    that retrieved passages may take; the history gets the rest."""


class McpServer(_Section):
    """An MCP server whose tools chat can call, as ``[[tools.mcp_servers]]``.

    Exactly one of ``command`` (stdio: the server is started as a child
    process) or ``url`` (streamable HTTP) is set."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """Prefix of its tools' names (``name.tool``)."""
    command: str | None = None
    """stdio: the program to start (looked up on ``PATH``)."""
    args: list[str] = Field(default_factory=list)
    """stdio: its arguments."""
    env: dict[str, str] = Field(default_factory=dict)
    """stdio: extra environment variables for it."""
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """Streamable HTTP: the server's endpoint (``http://127.0.0.1:8000/mcp``)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Streamable HTTP: extra request headers."""
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    """Per call; also the connect timeout."""
    side_effects: bool = True
    """MCP cannot tell us which tools only read, so by default every call to
    this server asks first; set false for a server you trust to be read-only."""
    enabled: bool = True
    """False: keep the entry but do not connect."""

    @model_validator(mode="after")
    def _one_transport(self) -> McpServer:
        if (self.command is None) == (self.url is None):
            raise ValueError("set exactly one of command (stdio) or url (streamable HTTP)")
        return self


class ToolsSettings(_Section):
    """Tool calling: built-in tools, MCP servers, limits."""

    enabled: bool = True
    """Default for new conversations (each can switch tools on or off)."""
    max_steps: int = Field(default=4, ge=1, le=20)
    """Most tool calls in one reply before the model must answer."""
    notes_dir: Path | None = None
    """Where the ``save_note`` tool writes; default: the data folder's ``notes/``."""
    disabled: list[str] = Field(default_factory=list)
    """Tool names never offered to the model."""
    mcp_servers: list[McpServer] = Field(default_factory=list)
    """MCP servers to connect to (``[[tools.mcp_servers]]`` tables)."""


class MemorySettings(_Section):
    """Long-term memory: short facts about the user, used in later chats."""

    enabled: bool = True
    """Read and write memories (each conversation can also go incognito)."""
    top_k: int = Field(default=5, ge=1, le=50)
    """Most memories given to the model in one conversation."""
    min_score: float = Field(default=0.25, ge=-1.0, le=1.0)
    """Least cosine similarity between the question and a memory (MiniLM:
    related pairs score 0.26-0.66, unrelated ones up to 0.25)."""
    max_tokens: int = Field(default=120, ge=8, le=2000)
    """Token budget of the memories in the prompt."""
    model_writes: Literal["auto", "on", "off"] = "auto"
    """Whether the model may propose memories after a conversation and call
    the ``remember`` tool (always confirmed): ``auto`` is on for models of
    at least ``min_params_b`` billion parameters and off for smaller ones
    (the bundled 135M model's proposals are mostly wrong)."""
    min_params_b: float = Field(default=1.0, ge=0.0)
    """The ``auto`` threshold, in billions of parameters."""


class TelemetrySettings(_Section):
    """OpenTelemetry traces of chat turns (off unless an endpoint is set).

    Each turn is one trace (``chat`` with ``retrieve``, ``rerank``,
    ``rewrite``, ``generate`` and ``execute_tool`` spans under it) carrying
    the GenAI semantic-convention attributes, sent over OTLP/HTTP (protobuf).
    """

    otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """Where traces go: an OTLP/HTTP base URL, as ``OTEL_EXPORTER_OTLP_ENDPOINT``
    reads it (``/v1/traces`` is appended unless the URL already ends so):
    ``http://127.0.0.1:4318`` (a collector), ``http://127.0.0.1:6006``
    (Phoenix), ``https://cloud.langfuse.com/api/public/otel`` (Langfuse).
    None: no tracing, and the OpenTelemetry SDK is never imported."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers sent with every export, e.g. Langfuse's
    ``Authorization = "Basic <base64 of public_key:secret_key>"``."""
    capture_content: bool = False
    """Also send the prompt and the reply text (``gen_ai.input.messages``,
    ``gen_ai.output.messages``, the searched query, tool arguments and
    results). Off: only timings, token counts, sizes and model names leave
    the process."""
    service_name: str = Field(default="local-assistant", min_length=1)
    """The ``service.name`` resource attribute the traces are filed under."""


class Settings(_Section):
    """The whole configuration file."""

    default_model: str = "smollm2-135m-instruct"
    """Model used for new conversations (a name from ``assistant models``)."""
    models_dir: Path | None = None
    """Extra folder scanned for ``.gguf`` files (the data folder's
    ``models/`` is always scanned)."""
    models: list[ModelEntry] = Field(default_factory=list)
    """GGUF files added by path, as ``[[models]]`` tables."""
    llama: LlamaSettings = Field(default_factory=LlamaSettings)
    rag: RagSettings = Field(default_factory=RagSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    ui: UISettings = Field(default_factory=UISettings)
    log: LogSettings = Field(default_factory=LogSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    tools: ToolsSettings = Field(default_factory=ToolsSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    openai_endpoints: list[OpenAIEndpoint] = Field(default_factory=list)
    """OpenAI-compatible servers (``[[openai_endpoints]]`` tables)."""
    ollama: OllamaSettings = Field(default_factory=OllamaSettings)
    hf_models: list[HFModelEntry] = Field(default_factory=list)
    """Hugging Face models run through transformers (``[[hf_models]]`` tables)."""
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)


def _format_error(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"{where}: {e['msg']}")
    return f"{source}: " + "; ".join(lines)


def parse_settings(data: dict[str, Any], source: str = "config") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err, source)) from None


def load_settings(path: Path) -> Settings:
    """Read and validate ``path``; a missing file means all defaults."""
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read ({err})") from None
    settings = parse_settings(data, str(path))
    for entry in settings.models:
        entry.path = entry.path.expanduser()
    if settings.models_dir is not None:
        settings.models_dir = settings.models_dir.expanduser()
    if settings.knowledge.embedding_model_dir is not None:
        settings.knowledge.embedding_model_dir = settings.knowledge.embedding_model_dir.expanduser()
    return settings
