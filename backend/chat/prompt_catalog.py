"""The names of the prompts the assistant sends, and their texts.

Each model call is logged with the named prompt texts it used
(``backend.store.prompt_versions``). The built-in prompts are versioned by
what their builder renders for placeholder inputs (``{question}``,
``{passage}``...): the recorded text is the template the code sends, so
changing a word in ``backend.rag.context`` or the tool-decision prompt makes
a new version without anyone having to bump a number. The user's own texts
(the conversation's system prompt, a preset) and the model's chat template
are versioned as they are.

Names and sources:

- ``chat.system`` / ``preset:<name>``: the conversation's system prompt
  (named after its preset while the text is the preset's);
- ``structured.instruction``: ``backend.chat.structured.schema_instruction``;
- ``rag.instructions``: ``backend.rag.context.SYSTEM_RULES``;
- ``rag.source_framing``: ``backend.rag.context.user_turn`` and ``fence``;
- ``rag.condense`` / ``rag.rewrite``: the few-shot prompts of
  ``backend.rag.condense`` / ``backend.rag.query``;
- ``tools.decision`` / ``tools.native_system``: the JSON decision prompt
  (``backend.tools.decision_prompt``) / ``calling.NATIVE_SYSTEM``;
- ``tools.results``: ``backend.chat.tool_loop.results_turn``;
- ``template:<model>``: the GGUF's ``tokenizer.chat_template`` (or
  llama.cpp's fallback).
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

from backend.chat.structured import schema_instruction
from backend.chat.tool_loop import results_turn
from backend.common.errors import ModelError
from backend.common.events import ToolCallFinished
from backend.knowledge.records import DocumentHit
from backend.modelfiles.catalog import ModelInfo
from backend.modelfiles.gguf_header import validate_gguf
from backend.rag.condense import condense_prompt
from backend.rag.context import SYSTEM_RULES, fence, user_turn
from backend.rag.query import rewrite_prompt
from backend.runtimes.base import ChatMessage, Runtime
from backend.store.prompt_versions import PromptPart
from backend.store.records import Preset
from backend.tools.calling import NATIVE_SYSTEM
from backend.tools.decision_prompt import decision_messages

STAGE_PROMPTS = {"condense": "rag.condense", "rewrite": "rag.rewrite"}
"""Request-log stages that are hidden model calls, and their prompt."""


def messages_text(messages: list[ChatMessage]) -> str:
    return "\n".join(f"[{m.role}]\n{m.content}" for m in messages)


def _source_framing() -> str:
    hit = DocumentHit(0, "{file}", "{heading}", 1, 0.0, "{passage}")
    return user_turn("{question}", fence(1, "{file}", hit, "{passage}", ["{reasons}"]))


def _tool_results() -> str:
    call = ToolCallFinished("call", 1, "{tool}", {"{argument}": "{value}"}, output="{output}")
    return results_turn("{question}", [call])


@cache
def builtin_prompts() -> dict[str, str]:
    """Every built-in prompt by name, rendered for placeholder inputs."""
    question = [ChatMessage("user", "{message}")]
    return {
        "structured.instruction": schema_instruction("{schema}"),
        "rag.instructions": SYSTEM_RULES,
        "rag.source_framing": _source_framing(),
        "rag.condense": messages_text(
            condense_prompt("{question}", [ChatMessage("user", "{earlier question}")])
        ),
        "rag.rewrite": messages_text(rewrite_prompt("{question}")),
        "tools.decision": messages_text(decision_messages([], question)),
        "tools.native_system": NATIVE_SYSTEM,
        "tools.results": _tool_results(),
    }


def builtin(*names: str) -> list[PromptPart]:
    prompts = builtin_prompts()
    return [(name, prompts[name]) for name in names]


def system_part(system_prompt: str, preset_name: str | None, preset: Preset | None) -> PromptPart:
    """The conversation's system prompt, named after its preset while the
    text is still the preset's."""
    if preset_name and preset is not None and preset.system_prompt == system_prompt:
        return (f"preset:{preset_name}", system_prompt)
    return ("chat.system", system_prompt)


_templates: dict[tuple[str, int, int], str] = {}
_templates_lock = threading.Lock()


def template_part(runtime: Runtime, model: ModelInfo) -> PromptPart | None:
    """The chat template llama.cpp renders ``model``'s prompts with (read
    from the GGUF header once per file version); None for other runtimes,
    whose servers keep their templates to themselves."""
    if runtime.name != "llamacpp" or model.path is None:
        return None
    path = Path(model.path)
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _templates_lock:
        text = _templates.get(key)
    if text is None:
        from backend.runtimes.llamacpp import FALLBACK_TEMPLATE

        try:
            text = validate_gguf(path).chat_template or FALLBACK_TEMPLATE
        except ModelError:
            return None
        with _templates_lock:
            _templates[key] = text
    return (f"template:{model.name}", text)
