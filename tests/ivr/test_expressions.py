"""The branch condition language."""

from __future__ import annotations

import pytest

from ivr.expressions import ExpressionError, evaluate, parse, variables_of

VARIABLES = {
    "vip": True,
    "balance": "150",
    "language": "tr",
    "customer": {"tier": "gold"},
    "count": 3,
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("vip", True),
        ("vip == true and balance > 100", True),
        ("balance >= 150 and balance < 151", True),
        ("language in ['en', 'tr']", True),
        ("language not in ['en']", True),
        ("not vip or count == 3", True),
        ("customer.tier == 'gold'", True),
        ("customer.missing == null", True),
        ("unknown == null and not unknown", True),
        ("count != 3", False),
        ("(vip or false) and (count > 5 or count <= -1)", False),
        ('"ol" in "gold"', True),
        ("balance > 'abc'", False),
        ("count in []", False),
        ("1.5 < count", True),
    ],
)
def test_evaluate(source: str, expected: bool) -> None:
    assert evaluate(source, VARIABLES) is expected


@pytest.mark.parametrize(
    ("source", "offset"),
    [
        ("vip ==", 6),
        ("vip = 1", 4),
        ("(vip", 4),
        ("vip vip", 4),
        ("'open", 0),
        ("", 0),
        ("vip and", 7),
        ("[1, 2", 5),
    ],
)
def test_parse_errors_have_offsets(source: str, offset: int) -> None:
    with pytest.raises(ExpressionError) as raised:
        parse(source)

    assert raised.value.offset == offset


def test_no_python_evaluation() -> None:
    with pytest.raises(ExpressionError):
        parse("__import__('os').system('true')")


def test_variables_of() -> None:
    assert variables_of(parse("a == 1 and (b.c in [d] or not e)")) == {"a", "b", "d", "e"}
