"""Arithmetic said in words, turned into an expression the calculator reads.

A small model picks the calculator well but writes the maths badly
(``2 to the power of 10`` became ``2*10**10``). So the calculator's
``expression`` is a span argument (the model copies a piece of the user's
request, which it does reliably) and this module turns the common English
phrasings into arithmetic: ``15 percent of 240``, ``square root of 1764``,
``add 345 and 789``, ``3 plus 4 times 2``, ``7 squared``, ``1,234.5``.

Only recognised phrasings are rewritten, left to right, and the result
still goes through the calculator's whitelist parser: a phrase it does not
know stays words and fails there with a clear error.
"""

from __future__ import annotations

import re

_NUM = r"(\d+(?:\.\d+)?)"
_OPERAND = r"(\d+(?:\.\d+)?|\([^()]*\))"

_FILLER = re.compile(
    r"\b(?:what(?:'s| is)|how much is|calculate|compute|work out|evaluate|please|for me|"
    r"the result of|the value of|equals?|is|the|an|a)\b",
    re.I,
)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")

# Order matters: phrases that take whole operands first, then binary words.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.I), repl)
    for pattern, repl in (
        (rf"\bsquare root of {_OPERAND}", r"sqrt(\1)"),
        (rf"\bsqrt of {_OPERAND}", r"sqrt(\1)"),
        (rf"\bcube root of {_OPERAND}", r"(\1)**(1/3)"),
        (rf"{_OPERAND} squared\b", r"(\1)**2"),
        (rf"{_OPERAND} cubed\b", r"(\1)**3"),
        (rf"{_OPERAND}\s*(?:%|percent|per cent) of {_OPERAND}", r"(\1/100*\2)"),
        (rf"{_NUM}\s*(?:%|percent|per cent)(?!\s*of)", r"(\1/100)"),
        (rf"\b(?:add|sum of|sum) {_OPERAND} and {_OPERAND}", r"(\1+\2)"),
        (rf"\bsubtract {_OPERAND} from {_OPERAND}", r"(\2-\1)"),
        (rf"\bmultiply {_OPERAND} (?:by|and) {_OPERAND}", r"(\1*\2)"),
        (rf"\bdivide {_OPERAND} by {_OPERAND}", r"(\1/\2)"),
        (rf"\bproduct of {_OPERAND} and {_OPERAND}", r"(\1*\2)"),
        (rf"\bdifference between {_OPERAND} and {_OPERAND}", r"(\1-\2)"),
        (r"\b(?:raised )?to the power of\b", "**"),
        (r"\braised to\b", "**"),
        (r"\bmultiplied by\b", "*"),
        (r"\bdivided by\b", "/"),
        (r"\b(?:plus|added to)\b", "+"),
        (r"\bminus\b", "-"),
        (r"\btimes\b", "*"),
        (r"\bover\b", "/"),
        (r"\b(?:mod|modulo)\b", "%"),
        (r"(?<=\d)\s*x\s*(?=\d)", "*"),
    )
)


def expression_from_words(text: str) -> str:
    """``text`` with the arithmetic phrasings above replaced by symbols and
    filler (``what is``, ``please``, ``?``) dropped; unchanged otherwise."""
    out = _THOUSANDS.sub("", text).replace("?", " ")
    for pattern, repl in _RULES:
        out = pattern.sub(repl, out)
    return " ".join(_FILLER.sub(" ", out).split())
