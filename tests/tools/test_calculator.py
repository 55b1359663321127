"""The calculator: exact integers, the whitelist, and refusing what would
hang or escape (huge powers, names, attributes, calls outside the list)."""

from __future__ import annotations

import math
import time

import pytest

from backend.common.errors import AssistantError
from backend.tools.calculator import CalculatorError, evaluate, format_number


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1234*5678", 7006652),
        ("2**100", 1267650600228229401496703205376),
        ("2^10", 1024),  # small models write powers with ^
        ("2^3*2", 16),  # ... with the precedence of a power
        ("-2**2", -4),
        ("(-2)**2", 4),
        ("-3 + 4 * 2", 5),
        ("(1 + 2) * 3", 9),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("+5", 5),
        ("12345678901234567890 + 1", 12345678901234567891),
        ("abs(-5)", 5),
        ("floor(2.7)", 2),
        ("ceil(2.1)", 3),
        ("round(2.567, 2)", 2.57),
        ("round(7.5)", 8),
        ("max(1, 5, 3)", 5),
        ("min(4, -2)", -2),
        ("3 × 4 ÷ 2", 6.0),
    ],
)
def test_exact_results(expression: str, expected: float) -> None:
    result = evaluate(expression)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("7 / 2", 3.5),
        ("sqrt(16)", 4.0),
        ("sqrt(2)", math.sqrt(2)),
        ("pi", math.pi),
        ("e", math.e),
        ("sin(pi / 2)", 1.0),
        ("cos(0)", 1.0),
        ("tan(0)", 0.0),
        ("log(e)", 1.0),
        ("log(8, 2)", 3.0),
        ("log10(1000)", 3.0),
        ("exp(1)", math.e),
        ("1e3 + 0.5", 1000.5),
        ("2 ** -1", 0.5),
        ("10 ** -3", 0.001),
    ],
)
def test_float_results(expression: str, expected: float) -> None:
    assert evaluate(expression) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("5 // 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("sqrt(-1)", "math domain error"),
        ("log(0)", "math domain error"),
        ("exp(1000)", "too large"),
        ("1e308 * 10", "too large"),
        ("10.0 ** 400", "too large"),
        ("(-8) ** (1/3)", "not a real number"),
        ("", "empty"),
        ("1 +", "cannot read"),
        ("x + 1", "unknown name 'x'"),
        ("sqrt", "sqrt is a function"),
        ("__import__('os')", "unknown function '__import__'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("(1).__class__", "attribute access is not allowed"),
        ("().__class__.__bases__", "attribute access is not allowed"),
        ("math.sqrt(4)", "unknown function"),
        ("[1, 2][0]", "indexing is not allowed"),
        ("lambda: 1", "lambda is not allowed"),
        ("'a' * 3", "'a' is not a number"),
        ("True + 1", "True is not a number"),
        ("1 if 1 else 2", "not allowed"),
        ("1 < 2", "not allowed"),
        ("1 << 10", "not allowed"),
        ("1, 2", "a tuple"),
        ("sqrt(x=4)", "name=value"),
        ("max()", "at least one number"),
        ("sqrt(1, 2)", "sqrt()"),
        ("round(5, -10**9)", "round(x, n)"),
        ("round(5, 1.5)", "whole number"),
        ("1j", "not a number"),
    ],
)
def test_refused_with_a_clear_message(expression: str, message: str) -> None:
    with pytest.raises(CalculatorError, match=None) as info:
        evaluate(expression)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "expression",
    [
        "9**9**9",
        "10**100000",
        "2**2**2**2**2",
        "9**9**9**9",
        "(10**3000) * (10**3000)",
        "(-3) ** 10**8",
        "10**3000 / 3",
        "factorial(100000)",
        "(" * 240 + "1" + ")" * 240,
        "-" * 400 + "1",
        "1+" * 240 + "1",
        "9" * 600,
    ],
)
def test_huge_or_hostile_input_is_refused_quickly(expression: str) -> None:
    started = time.perf_counter()
    with pytest.raises(CalculatorError):
        evaluate(expression)
    assert time.perf_counter() - started < 1.0


def test_deep_but_legal_nesting() -> None:
    assert evaluate("(" * 150 + "1" + ")" * 150) == 1
    assert evaluate("-" * 100 + "1") == 1


def test_largest_accepted_integer_is_still_exact() -> None:
    value = evaluate("2**9999")
    assert value == 2**9999 and isinstance(value, int)
    with pytest.raises(CalculatorError, match="too large"):
        evaluate("2**10001")


def test_calculator_error_is_user_facing() -> None:
    """A bad expression is an ``AssistantError`` with its own title and a
    message that says what is wrong (the UI shows both; the model gets it
    back as the call's result)."""
    with pytest.raises(AssistantError) as caught:
        evaluate("1/0")
    assert type(caught.value) is CalculatorError
    assert caught.value.title == "Calculation failed"
    assert "zero" in str(caught.value).lower()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (7006652, "7006652"),
        (2**70, "1180591620717411303424"),
        (5.0, "5"),
        (0.1 + 0.2, "0.3"),
        (1 / 3, "0.333333333333333"),
        (-2.5, "-2.5"),
        (1e20, "1e+20"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("2 to the power of 10", 1024),
        ("15 percent of 240", 36),
        ("What is the square root of 1764?", 42),
        ("Add 345 and 789", 1134),
        ("subtract 5 from 12", 7),
        ("3 plus 4 times 2", 11),
        ("7 squared", 49),
        ("1,234 * 2", 2468),
        ("100 divided by 8", 12.5),
        ("multiply 6 by 7", 42),
        ("the sum of 2 and 3", 5),
        ("12 mod 5", 2),
        ("3 x 4", 12),
    ],
)
def test_arithmetic_in_words(words: str, expected: float) -> None:
    assert evaluate(words) == pytest.approx(expected)


def test_words_that_are_not_arithmetic_still_fail_clearly() -> None:
    with pytest.raises(CalculatorError, match="cannot read"):
        evaluate("hello world")
    with pytest.raises(CalculatorError, match="tuple"):
        evaluate("1,2")  # not a thousands separator
    assert evaluate("max(1,234)") == 234  # a comma in a call stays an argument separator
