"""Running a tool safely: ``call_tool`` and the argument check it starts with.

``call_tool`` is the one way the calling loop runs a tool, built-in or MCP:
arguments checked against the tool's JSON schema first (``jsonschema``),
then ``tool.run`` in a daemon worker thread under the tool's timeout. It
never raises: a bad argument, a timeout, a cancel or an exception in the
tool all come back as ``ToolOutput.error`` for the model to read.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from backend.tools.base import Tool, ToolOutput

MAX_ERROR_CHARS = 300
"""A validation message quotes the bad value; a long string is cut."""
_CANCEL_POLL_S = 0.05


def as_output(value: Any) -> ToolOutput:
    """What a tool function returned, as a ``ToolOutput`` (a string is its text)."""
    if isinstance(value, ToolOutput):
        return value
    if isinstance(value, str):
        return ToolOutput(text=value)
    if value is None:
        return ToolOutput(text="")
    return ToolOutput(error=f"the tool returned {type(value).__name__}, not text")


def shorten(text: str) -> str:
    """``text``, cut to ``MAX_ERROR_CHARS`` (ending in ``...``) when longer."""
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def argument_errors(tool: Tool, arguments: Any) -> str | None:
    """Why ``arguments`` do not fit ``tool.parameters`` (naming the field),
    or None when they do."""
    if not isinstance(arguments, dict):
        return f"invalid arguments for {tool.name}: expected a JSON object"
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        cls = validator_for(tool.parameters, default=Draft202012Validator)
        errors = sorted(
            cls(tool.parameters).iter_errors(arguments),
            key=lambda e: [str(p) for p in e.absolute_path],
        )
    except SchemaError as exc:
        return f"{tool.name} has an invalid argument schema: {shorten(exc.message)}"
    except Exception as exc:  # a schema jsonschema cannot even walk
        return f"{tool.name} has an invalid argument schema: {shorten(str(exc))}"
    if not errors:
        return None
    parts = []
    for err in errors[:3]:
        where = ".".join(str(p) for p in err.absolute_path)
        parts.append(shorten(f"{where}: {err.message}" if where else err.message))
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return f"invalid arguments for {tool.name}: " + "; ".join(parts)


def describe_exception(exc: BaseException) -> str:
    message = str(exc)
    return shorten(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def call_tool(
    tool: Tool, arguments: dict[str, Any], cancel: threading.Event | None = None
) -> ToolOutput:
    """Validate ``arguments`` and run ``tool`` in a worker thread; never raises.

    The worker is a daemon thread: a tool that overruns its timeout (or is
    cancelled) is abandoned, not killed (Python cannot kill a thread), and
    its late result is dropped.
    """
    problem = argument_errors(tool, arguments)
    if problem is not None:
        return ToolOutput(error=problem)
    if cancel is not None and cancel.is_set():
        return ToolOutput(error="cancelled")
    box: list[ToolOutput] = []

    def work() -> None:
        try:
            value: Any = tool.run(dict(arguments))
            box.append(as_output(value))
        except BaseException as exc:  # in a worker: everything is the tool's failure
            box.append(ToolOutput(error=describe_exception(exc)))

    worker = threading.Thread(target=work, name=f"tool-{tool.name}", daemon=True)
    worker.start()
    deadline = time.monotonic() + tool.timeout_s
    while worker.is_alive():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return ToolOutput(error=f"timed out after {tool.timeout_s:g} s")
        if cancel is not None and cancel.is_set():
            return ToolOutput(error="cancelled")
        worker.join(min(remaining, _CANCEL_POLL_S) if cancel is not None else remaining)
    if not box:  # pragma: no cover - work() always appends
        return ToolOutput(error="the tool ended without a result")
    return box[0]
