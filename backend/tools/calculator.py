"""Arithmetic for the model without ``eval``.

Small models are bad at arithmetic and good at writing expressions, so the
calculator tool takes an expression string. It is parsed with ``ast`` and
walked over a whitelist: numbers, ``+ - * / // % **``, unary signs,
parentheses, and a few ``math`` functions and constants. Nothing else
(names, attributes, subscripts, strings, lambdas) is accepted, so an
expression can name nothing outside that list.

An expression that does not parse is tried once more as arithmetic in
words (``backend.tools.math_words``: "15 percent of 240", "add 2 and 3").

Python integers are exact and unbounded, which is what makes ``1234*5678``
come out right, and also what lets ``9**9**9`` run for minutes: every
integer result is kept under ``MAX_BITS`` and a power is refused *before*
it is computed when its result would exceed that. Floats overflow into an
error, never into ``inf``.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from typing import Any

from backend.tools.errors import ToolError
from backend.tools.math_words import expression_from_words

Number = int | float
MAX_LENGTH = 500
MAX_BITS = 10_000
"""Largest integer result, about 3,000 decimal digits (Python refuses to
print more than 4,300 anyway)."""
MAX_NODES = 200
MAX_ROUND_DIGITS = 100


class CalculatorError(ToolError):
    """The expression cannot be evaluated; the message says why."""

    title = "Calculation failed"


def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(x)
    if not isinstance(ndigits, int):
        raise CalculatorError("round(x, n): n must be a whole number")
    if abs(ndigits) > MAX_ROUND_DIGITS:
        raise CalculatorError(
            f"round(x, n): n must be between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}"
        )
    return round(x, ndigits)


def _min(*args: Number) -> Number:
    if not args:
        raise CalculatorError("min() needs at least one number")
    return min(args)


def _max(*args: Number) -> Number:
    if not args:
        raise CalculatorError("max() needs at least one number")
    return max(args)


FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "exp": math.exp,
    "abs": abs,
    "round": _round,
    "floor": math.floor,
    "ceil": math.ceil,
    "min": _min,
    "max": _max,
    "hypot": math.hypot,
    "degrees": math.degrees,
    "radians": math.radians,
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}


def _checked(value: Any) -> Number:
    """``value`` if it is a finite real number of acceptable size."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, complex):
            raise CalculatorError("the result is not a real number")
        raise CalculatorError(f"unexpected result type {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            raise CalculatorError("the result is not a number")
        raise CalculatorError("the result is too large")
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise CalculatorError("the result is too large")
    return value


def _power(base: Number, exponent: Number) -> Number:
    # bits of the result ~ exponent * log2(|base|): refuse before computing
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and abs(base) > 1
        and exponent * math.log2(abs(base)) > MAX_BITS
    ):
        raise CalculatorError("the result is too large")
    return _checked(base**exponent)


def _binary(op: type[ast.operator], left: Number, right: Number) -> Number:
    if op is ast.Pow:
        return _power(left, right)
    if op is ast.Add:
        return _checked(left + right)
    if op is ast.Sub:
        return _checked(left - right)
    if op is ast.Mult:
        return _checked(left * right)
    if op is ast.Div:
        return _checked(left / right)
    if op is ast.FloorDiv:
        return _checked(left // right)
    return _checked(left % right)


class _Evaluator:
    def __init__(self) -> None:
        self.nodes = 0

    def eval(self, node: ast.AST) -> Number:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise CalculatorError("the expression is too long")
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CalculatorError(f"{value!r} is not a number")
            return _checked(value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            operand = self.eval(node.operand)
            return operand if isinstance(node.op, ast.UAdd) else -operand
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left = self.eval(node.left)
            right = self.eval(node.right)
            return _binary(type(node.op), left, right)
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            if node.id in FUNCTIONS:
                raise CalculatorError(f"{node.id} is a function: write {node.id}(...)")
            raise CalculatorError(f"unknown name {node.id!r}; {_known()}")
        if isinstance(node, ast.Call):
            return self.call(node)
        raise CalculatorError(f"{_describe(node)} is not allowed; {_known()}")

    def call(self, node: ast.Call) -> Number:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else _describe(node.func)
            raise CalculatorError(f"unknown function {name!r}; {_known()}")
        if node.keywords:
            raise CalculatorError(f"{node.func.id}() takes plain numbers, not name=value")
        args = [self.eval(arg) for arg in node.args]
        try:
            return _checked(FUNCTIONS[node.func.id](*args))
        except TypeError as exc:
            raise CalculatorError(f"{node.func.id}(): {exc}") from exc
        except ValueError as exc:  # sqrt(-1), log(0): "math domain error"
            raise CalculatorError(f"{node.func.id}(): {exc}") from exc


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.BinOp | ast.UnaryOp | ast.BoolOp | ast.Compare):
        return "this operator"
    return {
        "Attribute": "attribute access",
        "Subscript": "indexing",
        "Lambda": "lambda",
        "Tuple": "a tuple (a comma outside a function call)",
        "List": "a list",
    }.get(type(node).__name__, f"{type(node).__name__.lower()}")


def _known() -> str:
    return "use numbers, + - * / // % ** and " + ", ".join([*FUNCTIONS, *CONSTANTS])


def _parse_one(text: str) -> ast.Expression:
    try:
        return ast.parse(text, mode="eval")
    except (ValueError, RecursionError, MemoryError) as exc:  # huge literals, deep nesting
        raise CalculatorError("the expression is too large or too deeply nested") from exc


def _parse(text: str) -> ast.Expression:
    """The expression's tree; one that does not parse, or parses as a tuple
    ("1,234 * 2"), is tried again as arithmetic in words (``math_words``:
    "15 percent of 240", "square root of 1764")."""
    try:
        tree = _parse_one(text)
    except SyntaxError as exc:
        try:
            return _parse_one(expression_from_words(text))
        except SyntaxError:
            raise CalculatorError(f"cannot read the expression: {exc.msg}") from exc
    if isinstance(tree.body, ast.Tuple):
        try:
            return _parse_one(expression_from_words(text))
        except SyntaxError:
            pass  # the whitelist says why a tuple is refused
    return tree


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression (``^`` means power).

    Raises:
        CalculatorError: a syntax error, something not on the whitelist,
            division by zero, a result too large or not a real number.
    """
    text = expression.strip()
    if not text:
        raise CalculatorError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise CalculatorError(f"the expression is longer than {MAX_LENGTH} characters")
    # small models write powers as x^2; Python's ^ (xor) is meaningless here
    text = text.replace("^", "**").replace("×", "*").replace("÷", "/").replace("−", "-")
    tree = _parse(text)
    try:
        return _Evaluator().eval(tree)
    except ZeroDivisionError as exc:
        raise CalculatorError("division by zero") from exc
    except OverflowError as exc:
        raise CalculatorError("the result is too large") from exc
    except RecursionError as exc:
        raise CalculatorError("the expression is too deeply nested") from exc


def format_number(value: Number) -> str:
    """Integers exactly; floats to 15 significant digits (``0.1+0.2`` is
    ``0.3``, ``10/2`` is ``5``)."""
    if isinstance(value, int):
        return str(value)
    text = f"{value:.15g}"
    return text
