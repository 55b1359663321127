"""Where models come from and how they run: the ``[[models]]``,
``[[hf_models]]``, ``[llama]``, ``[[openai_endpoints]]`` and ``[ollama]``
sections of ``config.toml`` (``backend.common.config`` holds the file and
the other sections, and re-exports these)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """A config table: unknown keys are refused (typos are caught), and
    assigned values are validated too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelEntry(Section):
    """A GGUF model the user added by path."""

    name: str = Field(min_length=1)
    """The id shown in the model picker and accepted by ``--model``."""
    path: Path
    """Path to the ``.gguf`` file (``~`` is expanded)."""
    n_ctx: int | None = Field(default=None, ge=256)
    """Context window for this model; defaults to ``llama.n_ctx``."""
    description: str = ""
    """Free text shown in the picker."""


class HFModelEntry(Section):
    """A Hugging Face model folder run through transformers, as ``[[hf_models]]``."""

    name: str = Field(min_length=1)
    """The id shown in the model picker and accepted by ``--model`` (unique
    across all runtimes)."""
    path: Path
    """A local model folder: ``config.json``, ``*.safetensors`` and the
    tokenizer files (``~`` is expanded). Nothing is ever downloaded."""
    adapter: Path | None = None
    """A local peft adapter folder (``adapter_config.json`` +
    ``adapter_model.safetensors``) applied on top of the model."""
    quantization: Literal["none", "4bit", "8bit"] = "none"
    """Load the weights quantized with bitsandbytes: ``4bit`` (NF4) or
    ``8bit`` (LLM.int8). Needs the ``bitsandbytes`` package."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the model runs; ``auto``: CUDA when torch sees a GPU, else the CPU."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weight (and 4-bit compute) dtype; ``auto``: the checkpoint's own dtype
    on CUDA, float32 on the CPU when the checkpoint is float16."""
    max_context: int = Field(default=4096, ge=256, le=1_048_576)
    """Context window in tokens (capped at the model's ``max_position_embeddings``)."""
    description: str = ""
    """Free text shown in the picker."""


class LlamaSettings(Section):
    """llama.cpp runtime settings."""

    n_ctx: int = Field(default=4096, ge=256, le=1_048_576)
    """Context window in tokens (capped at the model's trained length)."""
    n_threads: int | None = Field(default=None, ge=1)
    """CPU threads for decoding; default: the machine's physical cores
    (llama-cpp-python's own default halves the logical count)."""
    n_threads_batch: int | None = Field(default=None, ge=1)
    """CPU threads for prompt processing; default: as ``n_threads``."""
    n_batch: int = Field(default=512, ge=8)
    """Prompt-processing batch size."""
    n_gpu_layers: int | None = None
    """Layers to offload to the GPU; default: all when the build supports GPU
    offload (CUDA/Metal/Vulkan), else 0. ``0`` forces CPU."""
    flash_attn: bool = False
    """Use flash attention where the build supports it."""
    subprocess: bool = True
    """Run llama.cpp in a worker process (default): full decode speed while
    the UI runs, and a llama.cpp crash cannot take the app down. ``false``
    runs it in-process."""


class OpenAIEndpoint(Section):
    """An OpenAI-compatible ``/v1/chat/completions`` server (vLLM, llama.cpp
    server, LM Studio, a remote API), as ``[[openai_endpoints]]``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    """Prefix of its models' names in the picker (``name/model-id``)."""
    base_url: str = Field(pattern=r"^https?://\S+$")
    """The API root including ``/v1``, e.g. ``http://127.0.0.1:8000/v1``."""
    api_key_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """Name of the secret holding the API key (OS keyring, service
    ``local-assistant``); the key itself never goes in this file. Unset:
    no key (local servers). ``ASSISTANT_OPENAI_API_KEY`` overrides it."""
    models: list[str] = Field(default_factory=list)
    """Model ids to offer; empty: ask the server's ``/v1/models``."""
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    """Per generation request (connect + whole reply)."""
    list_timeout_s: float = Field(default=2.0, gt=0, le=60)
    """For ``/v1/models``; short so an unreachable server never holds up start-up."""
    context_length: int = Field(default=4096, ge=256)
    """Context window assumed for its models (the protocol does not report it)."""
    json_schema: Literal["json_schema", "json_object", "none"] = "json_schema"
    """How structured output is asked for: OpenAI's ``json_schema``
    response format (OpenAI, vLLM, llama.cpp server, LM Studio),
    ``json_object`` with a ``schema`` (llama-cpp-python's server), or not at all."""
    enabled: bool = True
    """False: keep the entry but do not contact the server."""


class OllamaSettings(Section):
    """A local Ollama server as a runtime."""

    enabled: bool = True
    """Offer the server's models (an unreachable server just offers none)."""
    host: str = Field(default="http://127.0.0.1:11434", pattern=r"^https?://\S+$")
    """The server's base URL."""
    num_ctx: int = Field(default=4096, ge=256, le=1_048_576)
    """Context window sent as ``options.num_ctx`` with every request. Always
    sent: Ollama's own default (2,048) silently truncates long prompts,
    which cuts retrieved context out of RAG answers."""
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    """Per generation request."""
    list_timeout_s: float = Field(default=1.0, gt=0, le=60)
    """For ``/api/tags``; short so start-up is never held up."""
