"""``{{ variable }}`` templates in prompts, URLs and values, rendered in a Jinja sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ENVIRONMENT = ImmutableSandboxedEnvironment(autoescape=False, undefined=jinja2.Undefined)


class TemplateSyntaxError(ValueError):
    """A template does not parse; ``line`` counts from 1 within the template."""

    def __init__(self, message: str, line: int) -> None:
        self.line = line
        super().__init__(message)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


@lru_cache(maxsize=2048)
def _compile(text: str) -> jinja2.Template:
    return _ENVIRONMENT.from_string(text)


def check(text: str) -> None:
    """Raise ``TemplateSyntaxError`` if ``text`` is not a valid template."""
    try:
        _ENVIRONMENT.parse(text)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateSyntaxError(f"invalid template: {error.message}", error.lineno) from error


def referenced(text: str) -> set[str]:
    """Return the variable names ``text`` reads (empty for plain text)."""
    if not is_template(text):
        return set()
    return set(meta.find_undeclared_variables(_ENVIRONMENT.parse(text)))


def render(text: str, variables: Mapping[str, Any]) -> str:
    """Render ``text``; a missing variable renders empty and a sandbox violation raises."""
    if not is_template(text):
        return text
    return _compile(text).render(dict(variables))
