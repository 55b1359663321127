"""Native tool calling for chat templates that support tools.

A model whose chat template takes a ``tools`` variable (Qwen 2.5, Hermes,
Llama 3.1, Mistral, SmolLM3 ...) was trained to see its tools rendered the
template's way and to answer with a call in the template's envelope. For
those models the llama.cpp runtime renders the tools through the template
and parses the call out of the reply (``parse_tool_calls``); models without
such a template (the bundled SmolLM2) keep the JSON-decision prompt of
``backend.tools.calling``.

Small models still pick names and write arguments badly when left free, so
when the caller already knows a call is wanted (``tool_choice="required"``)
the reply is also constrained by a grammar *in the native envelope*
(``envelope_grammar``): the model writes the same bytes it was trained to
write, but the name is an enum and the arguments follow the schema.

Which envelope a template uses is read off the template text
(``tool_format``):

- ``hermes``: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
  (Qwen 2.5/3, Hermes, SmolLM3);
- ``mistral``: ``[TOOL_CALLS] [{"name": ..., "arguments": {...}}]``;
- ``llama3``: a bare ``{"name": ..., "parameters": {...}}`` (Llama 3.1/3.2,
  optionally after ``<|python_tag|>``);
- ``json``: any other template that takes tools: a bare
  ``{"name": ..., "arguments": {...}}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

ToolFormat = Literal["hermes", "mistral", "llama3", "json"]


@dataclass(frozen=True)
class NativeCall:
    """One call parsed out of a reply."""

    name: str
    arguments: dict[str, Any]


def template_supports_tools(template: str | None) -> bool:
    """Whether a Jinja chat template reads a ``tools`` variable (parsed,
    not grepped: a template that only mentions the word in its text does
    not count)."""
    if not template:
        return False
    try:
        from jinja2 import meta
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment()
        env.add_extension("jinja2.ext.loopcontrols")
        ast = env.parse(_without_generation_tags(template))
    except Exception:
        return False
    return "tools" in meta.find_undeclared_variables(ast)


def _without_generation_tags(template: str) -> str:
    # Hugging Face's {% generation %} blocks are not Jinja; the runtime's
    # formatter ignores them, so must the parse.
    return re.sub(r"{%-?\s*(?:end)?generation\s*-?%}", "", template)


def tool_format(template: str) -> ToolFormat:
    """The call envelope a tools-aware template teaches its model."""
    if "<tool_call>" in template:
        return "hermes"
    if "[TOOL_CALLS]" in template:
        return "mistral"
    if "<|python_tag|>" in template or "ipython" in template:
        return "llama3"
    return "json"


def openai_tools(tools: Sequence[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """``(name, description, parameters)`` as the OpenAI tool list that
    chat templates (and OpenAI/Ollama servers) expect."""
    return [
        {
            "type": "function",
            "function": {"name": name, "description": description, "parameters": params},
        }
        for name, description, params in tools
    ]


# ---------------------------------------------------------------- parsing

_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_DECODER = json.JSONDecoder()


def _objects(text: str) -> list[Any]:
    """Every top-level JSON value that starts at a ``{`` or ``[`` in text."""
    found: list[Any] = []
    at = 0
    while True:
        starts = [i for i in (text.find("{", at), text.find("[", at)) if i >= 0]
        if not starts:
            return found
        start = min(starts)
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            at = start + 1
            continue
        found.append(value)
        at = end


def _as_call(value: Any) -> NativeCall | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # {"type": "function", "function": {...}}
        value = value["function"]
    name = value.get("name")
    if not isinstance(name, str) or not name:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):  # OpenAI-style arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    if not isinstance(arguments, dict):
        return None
    return NativeCall(name, arguments)


def parse_tool_calls(text: str, fmt: ToolFormat) -> tuple[str, list[NativeCall]]:
    """Split a reply into its plain text and the calls it makes.

    Returns the text with the call envelopes removed (stripped) and the
    calls in order. A reply with no well-formed call is all text: a broken
    envelope is shown to the user rather than guessed at.
    """
    calls: list[NativeCall] = []
    if fmt == "hermes":
        for body in _HERMES.findall(text):
            calls += [c for c in map(_as_call, _objects(body)) if c]
        rest = _HERMES.sub("", text) if calls else text
        return rest.strip(), calls
    if fmt == "mistral":
        head, sep, tail = text.partition("[TOOL_CALLS]")
        if not sep:
            return text.strip(), []
        for value in _objects(tail)[:1]:
            items = value if isinstance(value, list) else [value]
            calls += [c for c in map(_as_call, items) if c]
        return (head.strip(), calls) if calls else (text.strip(), [])
    # llama3 / json: the whole reply is one call object (or a list of them)
    body = text.replace("<|python_tag|>", "").strip()
    if not body.startswith(("{", "[")):
        return text.strip(), []
    values = _objects(body)
    if not values:
        return text.strip(), []
    items = values[0] if isinstance(values[0], list) else [values[0]]
    calls = [c for c in map(_as_call, items) if c]
    return ("", calls) if calls else (text.strip(), [])


# ---------------------------------------------------------------- grammar


def call_schema(tools: Sequence[dict[str, Any]], fmt: ToolFormat) -> dict[str, Any]:
    """The JSON schema of one call in ``fmt``: the name a constant per
    tool, its arguments the tool's own schema."""
    key = "parameters" if fmt == "llama3" else "arguments"
    options = []
    for tool in tools:
        fn = tool["function"]
        options.append(
            {
                "type": "object",
                "properties": {
                    "name": {"const": fn["name"]},
                    key: fn.get("parameters") or {"type": "object"},
                },
                "required": ["name", key],
                "additionalProperties": False,
            }
        )
    return options[0] if len(options) == 1 else {"anyOf": options}


def envelope_grammar(tools: Sequence[dict[str, Any]], fmt: ToolFormat) -> str:
    """A GBNF grammar for exactly one call in the template's envelope."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    gbnf = json_schema_to_gbnf(json.dumps(call_schema(tools, fmt)))
    # the converter names its start rule ``root``: keep it as ``call`` and
    # wrap it in the envelope
    gbnf = re.sub(r"^root\s*::=", "call ::=", gbnf, count=1, flags=re.M)
    if fmt == "hermes":
        root = 'root ::= "<tool_call>\\n" call "\\n</tool_call>"'
    elif fmt == "mistral":
        root = 'root ::= "[TOOL_CALLS] [" call "]"'
    else:
        root = "root ::= call"
    return f"{root}\n{gbnf}"


# ---------------------------------------------------------------- GGUF models

_FORMATS: dict[tuple[str, int, int], ToolFormat | None] = {}


def gguf_tool_format(path: Any) -> ToolFormat | None:
    """The native tool format of a GGUF file's chat template, or None when
    its template takes no tools (read from the header, without loading the
    model; kept per path, size and mtime)."""
    from pathlib import Path

    from backend.modelfiles.catalog import validate_gguf

    file = Path(path).expanduser()
    try:
        stat = file.stat()
        key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError:
        return None
    if key not in _FORMATS:
        try:
            template = validate_gguf(file).chat_template
        except Exception:
            template = None
        _FORMATS[key] = (
            tool_format(template) if template and template_supports_tools(template) else None
        )
    return _FORMATS[key]
