"""DTMF key strings and menu option patterns.

An option is either literal keys (``"1"``, ``"12"``, ``"*9"``) or a pattern in the
Asterisk extension style, which starts with ``_``. In a pattern ``X`` is any digit, ``Z``
is 1-9, ``N`` is 2-9 and ``[1-4]`` is a set of keys. Other characters match themselves,
so ``_9XX`` matches ``900`` to ``999``.
"""

from __future__ import annotations

from functools import lru_cache

KEYS = frozenset("0123456789*#")
_CLASSES = {"X": "0123456789", "Z": "123456789", "N": "23456789"}


@lru_cache(maxsize=1024)
def key_sets(option: str) -> tuple[frozenset[str], ...]:
    """Return the set of keys each position of ``option`` accepts.

    Raise ``ValueError`` if the option is empty or uses a key that DTMF does not have.
    """
    if not option.startswith("_"):
        _check_literal(option)
        return tuple(frozenset(key) for key in option)
    return _pattern_sets(option)


def _check_literal(option: str) -> None:
    if not option or set(option) - KEYS:
        raise ValueError(
            f"invalid option {option!r}: use DTMF keys 0-9, * and #, "
            "or a pattern that starts with '_' such as '_9XX'"
        )


def _pattern_sets(option: str) -> tuple[frozenset[str], ...]:
    sets: list[frozenset[str]] = []
    position = 1
    while position < len(option):
        character = option[position]
        if character == "[":
            end = option.find("]", position)
            if end < 0:
                raise ValueError(f"invalid pattern {option!r}: '[' without a closing ']'")
            sets.append(_bracket(option, option[position + 1 : end]))
            position = end + 1
            continue
        if character in _CLASSES:
            sets.append(frozenset(_CLASSES[character]))
        elif character in KEYS:
            sets.append(frozenset(character))
        else:
            raise ValueError(f"invalid pattern {option!r}: {character!r} is not a key or X, Z, N")
        position += 1
    if not sets:
        raise ValueError(f"invalid pattern {option!r}: it matches no keys")
    return tuple(sets)


def _bracket(option: str, body: str) -> frozenset[str]:
    keys: set[str] = set()
    index = 0
    while index < len(body):
        if index + 2 < len(body) and body[index + 1] == "-":
            low, high = body[index], body[index + 2]
            keys.update(chr(code) for code in range(ord(low), ord(high) + 1))
            index += 3
        else:
            keys.add(body[index])
            index += 1
    if not keys or keys - KEYS:
        raise ValueError(f"invalid pattern {option!r}: [{body}] must list DTMF keys")
    return frozenset(keys)


def matches(option: str, keys: str) -> bool:
    """True when ``keys`` is exactly what ``option`` accepts."""
    sets = key_sets(option)
    return len(sets) == len(keys) and all(
        key in allowed for key, allowed in zip(keys, sets, strict=False)
    )


def continues(option: str, keys: str) -> bool:
    """True when ``option`` is longer than ``keys`` and begins with them."""
    sets = key_sets(option)
    return len(sets) > len(keys) and all(
        key in allowed for key, allowed in zip(keys, sets, strict=False)
    )


def length(option: str) -> int:
    return len(key_sets(option))


def overlap(first: str, second: str) -> bool:
    """True when some key string matches both options (an ambiguous menu)."""
    a, b = key_sets(first), key_sets(second)
    return len(a) == len(b) and all(x & y for x, y in zip(a, b, strict=True))


def luhn_valid(number: str) -> bool:
    """True when ``number`` (digits only) passes the Luhn (mod 10) check."""
    if not number.isdigit():
        return False
    total = 0
    for index, character in enumerate(reversed(number)):
        digit = int(character)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
