"""The condition language of ``branch`` nodes, parsed and evaluated without ``eval``.

Grammar (lowest precedence first)::

    expression := conjunction ("or" conjunction)*
    conjunction := negation ("and" negation)*
    negation   := "not" negation | comparison
    comparison := operand [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") operand]
    operand    := number | string | true | false | null | name("." name)*
                | "(" expression ")" | "[" [expression ("," expression)*] "]"

Names are call variables; a dotted name reads into a mapping (``customer.tier``). A missing
variable is ``null``. Comparing values of different types is false rather than an error,
except that a numeric string compares as a number, so a variable set from DTMF digits
(``"42"``) can be compared with ``40``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from santral.errors import SantralError


class ExpressionError(SantralError):
    """An expression does not parse; ``offset`` is the 0-based character position."""

    def __init__(self, message: str, offset: int) -> None:
        self.offset = offset
        super().__init__(message)


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<operator>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|-)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", "none"}
_COMPARISONS = {"==", "!=", "<", "<=", ">", ">=", "in", "not in"}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, keyword, operator, end
    text: str
    offset: int


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Variable:
    path: tuple[str, ...]


@dataclass(frozen=True)
class ListOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Logical:
    operator: str  # "and" or "or"
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Comparison:
    operator: str
    left: Node
    right: Node


Node = Literal | Variable | ListOf | Not | Logical | Comparison


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None or match.lastgroup is None:
            offset = len(source) - len(source[position:].lstrip())
            raise ExpressionError(f"unexpected character {source[offset]!r}", offset)
        kind = match.lastgroup
        text = match.group(kind)
        offset = match.start(kind)
        if kind == "name" and text in _KEYWORDS:
            kind = "keyword"
        tokens.append(_Token(kind, text, offset))
        position = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.current
        self.index += 1
        return token

    def accept(self, text: str) -> bool:
        if self.current.kind in ("keyword", "operator") and self.current.text == text:
            self.index += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            raise self.error(f"expected {text!r}")

    def error(self, message: str) -> ExpressionError:
        found = repr(self.current.text) if self.current.text else "the end of the expression"
        return ExpressionError(f"{message}, found {found}", self.current.offset)

    def parse(self) -> Node:
        node = self.disjunction()
        if self.current.kind != "end":
            raise self.error("expected 'and', 'or' or the end of the expression")
        return node

    def disjunction(self) -> Node:
        operands = [self.conjunction()]
        while self.accept("or"):
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Logical("or", tuple(operands))

    def conjunction(self) -> Node:
        operands = [self.negation()]
        while self.accept("and"):
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else Logical("and", tuple(operands))

    def negation(self) -> Node:
        if self.accept("not"):
            return Not(self.negation())
        return self.comparison()

    def comparison(self) -> Node:
        left = self.operand()
        operator = self.comparison_operator()
        if operator is None:
            return left
        return Comparison(operator, left, self.operand())

    def comparison_operator(self) -> str | None:
        token = self.current
        if token.text in _COMPARISONS and token.kind in ("operator", "keyword"):
            self.index += 1
            return token.text
        if token.text == "not" and self.tokens[self.index + 1].text == "in":
            self.index += 2
            return "not in"
        return None

    def operand(self) -> Node:
        token = self.advance()
        if token.kind == "number":
            return Literal(_number(token.text))
        if token.kind == "string":
            return Literal(_unquote(token.text))
        if token.kind == "name":
            return Variable(tuple(token.text.split(".")))
        if token.kind == "keyword" and token.text in ("true", "false"):
            return Literal(token.text == "true")
        if token.kind == "keyword" and token.text in ("null", "none"):
            return Literal(None)
        if token.text == "-" and self.current.kind == "number":
            return Literal(-_number(self.advance().text))
        if token.text == "(":
            inner = self.disjunction()
            self.expect(")")
            return inner
        if token.text == "[":
            return self.list_items()
        self.index -= 1
        raise self.error("expected a value, a variable name, '(' or '['")

    def list_items(self) -> Node:
        items: list[Node] = []
        if self.accept("]"):
            return ListOf(())
        items.append(self.disjunction())
        while self.accept(","):
            items.append(self.disjunction())
        self.expect("]")
        return ListOf(tuple(items))


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


@lru_cache(maxsize=1024)
def parse(source: str) -> Node:
    """Parse ``source``; raise ``ExpressionError`` with the offset of the first problem."""
    if not source.strip():
        raise ExpressionError("the expression is empty", 0)
    return _Parser(source).parse()


def variables_of(node: Node) -> set[str]:
    """Return the top-level variable names an expression reads."""
    if isinstance(node, Variable):
        return {node.path[0]}
    if isinstance(node, ListOf):
        return set().union(*(variables_of(item) for item in node.items))
    if isinstance(node, Not):
        return variables_of(node.operand)
    if isinstance(node, Logical):
        return set().union(*(variables_of(item) for item in node.operands))
    if isinstance(node, Comparison):
        return variables_of(node.left) | variables_of(node.right)
    return set()


def evaluate(source: str, variables: Mapping[str, Any]) -> bool:
    """Evaluate the expression ``source`` over ``variables`` and return its truth value."""
    return bool(_value(parse(source), variables))


def _value(node: Node, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Variable):
        return _lookup(node.path, variables)
    if isinstance(node, ListOf):
        return [_value(item, variables) for item in node.items]
    if isinstance(node, Not):
        return not _value(node.operand, variables)
    if isinstance(node, Logical):
        return _logical(node, variables)
    return _compare(node.operator, _value(node.left, variables), _value(node.right, variables))


def _lookup(path: tuple[str, ...], variables: Mapping[str, Any]) -> Any:
    value: Any = variables
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _logical(node: Logical, variables: Mapping[str, Any]) -> bool:
    if node.operator == "and":
        return all(_value(operand, variables) for operand in node.operands)
    return any(_value(operand, variables) for operand in node.operands)


def _compare(operator: str, left: Any, right: Any) -> bool:
    if operator in ("in", "not in"):
        found = _contains(right, left)
        return found if operator == "in" else not found

    left, right = _coerce(left, right)
    if operator == "==":
        return bool(left == right)
    if operator == "!=":
        return bool(left != right)
    try:
        if operator == "<":
            return bool(left < right)
        if operator == "<=":
            return bool(left <= right)
        if operator == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        return False


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list | tuple | set | Mapping):
        return any(_coerce(item, element)[0] == _coerce(item, element)[1] for element in container)
    return False


def _coerce(left: Any, right: Any) -> tuple[Any, Any]:
    """Turn a numeric string into a number when the other side is a number."""
    if _is_number(left) and isinstance(right, str):
        return left, _to_number(right, right)
    if _is_number(right) and isinstance(left, str):
        return _to_number(left, left), right
    return left, right


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _to_number(text: str, fallback: Any) -> Any:
    try:
        return _number(text.strip())
    except ValueError:
        return fallback
