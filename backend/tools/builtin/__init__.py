"""The tools that come with the assistant.

``builtin_tools(context)`` builds them for one ``ToolContext`` (what they may
reach: the watched folders, the knowledge base's search, the notes folder,
the clock). All are read-only except ``save_note``, which has side effects
and so needs the user's approval. Their docstrings are their descriptions
for the model, written short and plain for small models.
"""

from __future__ import annotations

import re
from dataclasses import replace

from backend.tools.base import Tool, ToolExample
from backend.tools.builtin.clock import make_current_time
from backend.tools.builtin.context import Search, ToolContext, utc_now
from backend.tools.builtin.documents import (
    make_list_files,
    make_read_document,
    make_search_documents,
)
from backend.tools.builtin.notes import make_save_note
from backend.tools.calculator import evaluate, format_number
from backend.tools.errors import ToolError
from backend.tools.function_tools import tool_from_function
from backend.tools.math_words import expression_from_words

__all__ = ["BUILTIN_NAMES", "Search", "ToolContext", "builtin_tools", "utc_now"]

NUMBER = re.compile(r"[-+]?[\d,]*\.?\d+%?")

BUILTIN_NAMES = (
    "search_documents",
    "read_document",
    "list_files",
    "calculator",
    "current_time",
    "save_note",
)


CALCULATOR_EXAMPLES = (
    ToolExample("what is 37 times 91?", {"expression": "37 times 91"}),
    ToolExample("how much is 20% of 150?", {"expression": "20% of 150"}),
)
"""The model copies the arithmetic from the request (``expression`` is a
span argument); ``evaluate`` reads words like "times" and "% of"."""


def calculator(expression: str) -> str:
    """Work out arithmetic exactly, e.g. "1234*5678", "15% of 240" or "square root of 2".

    Args:
        expression: Numbers with + - * / // % ** and parentheses, or the same
            in words (plus, times, divided by, percent of, to the power of);
            functions sqrt, sin, cos, tan, log, log10, exp, abs, round, floor,
            ceil, min, max; constants pi and e.
    """
    return f"{expression.strip()} = {format_number(evaluate(expression))}"


def arithmetic_form(text: str) -> str | None:
    """``text`` as the arithmetic the calculator reads, or None when it is
    none (or just a number): the calculator's ``span_check``."""
    try:
        evaluate(text)
    except ToolError:
        return None
    form = expression_from_words(text).replace(" ", "")
    return None if NUMBER.fullmatch(form) else form


def builtin_tools(context: ToolContext) -> list[Tool]:
    """The built-in tools in their fixed order (``BUILTIN_NAMES``);
    ``search_documents`` only when the context has a search function."""
    tools = []
    if context.search is not None:
        tools.append(make_search_documents(context))
    tools += [
        make_read_document(context),
        make_list_files(context),
        replace(
            tool_from_function(calculator, timeout_s=5.0, examples=CALCULATOR_EXAMPLES),
            span_arguments=frozenset({"expression"}),
            span_check=arithmetic_form,
        ),
        make_current_time(context),
        make_save_note(context),
    ]
    return tools
