"""Word spans of a request, offered as the values of "span arguments".

A small model copies well and invents badly, so a string argument that is
words of the user's request (a search query, a path, a note's text, the
arithmetic) is an enum of the request's word spans in the decision schema
(``Tool.span_arguments``). With ``Tool.span_check`` only the spans it
accepts are offered (the calculator: arithmetic only, longest first).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from backend.tools.base import Tool

SPAN_WORDS = 8
"""Longest span (in words) offered for a span argument."""
MAX_SPANS = 300
_EDGE = "\"'`“”‘’.,;:!?()[]{}<>"


_SOFT_EDGE = "\"'`“”‘’.,;:!?"
_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}


def _balanced(text: str) -> bool:
    stack: list[str] = []
    for ch in text:
        if ch in _PAIRS:
            stack.append(_PAIRS[ch])
        elif ch in _PAIRS.values() and (not stack or stack.pop() != ch):
            return False
    return not stack


def _trim(run: str) -> str:
    """Edge punctuation off a span; brackets too unless they pair up
    inside it (``(17 + 25) * 3`` keeps them, ``(see`` loses one)."""
    soft = run.strip(_SOFT_EDGE)
    return soft if _balanced(soft) else run.strip(_EDGE)


def spans(request: str, max_words: int = SPAN_WORDS, cap: int = MAX_SPANS) -> list[str]:
    """The request's runs of up to ``max_words`` consecutive words, edge
    punctuation trimmed (``notes/todo.md?`` -> ``notes/todo.md``), shortest
    first, without repeats; at most ``cap``."""
    words = request.split()
    out: dict[str, None] = {}
    for n in range(1, max_words + 1):
        for i in range(len(words) - n + 1):
            run = _trim(" ".join(words[i : i + n]))
            if run:
                out.setdefault(run, None)
            if len(out) >= cap:
                return list(out)
    return list(out)


def span_choices(tool: Tool, request: str) -> list[str]:
    """The spans offered for ``tool``'s span arguments: every span, or with
    ``tool.span_check`` the shortest span of each accepted form, leaving
    out those inside a longer one (by form or by text)."""
    if tool.span_check is None:
        return spans(request)
    return list(_checked_spans(tool.span_check, request))


@lru_cache(maxsize=32)
def _checked_spans(check: Callable[[str], str | None], request: str) -> tuple[str, ...]:
    # cached: ``decide`` asks once to filter the offered tools and once
    # more for the schema, and each check may parse ~300 spans
    forms: dict[str, str] = {}
    for c in spans(request):  # shortest first, so the first span of a form wins
        form = check(c)
        if form is not None:
            forms.setdefault(form, c)
    kept = list(forms.items())
    return tuple(
        c
        for f, c in kept
        if not any(f != g and (f in g or c in d) for g, d in kept)  # inside a longer one
    )
