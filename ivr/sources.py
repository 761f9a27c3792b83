"""YAML files read with source positions for error messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from santral.errors import Problem, SourcePosition


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: plain data plus the round-trip tree that records positions."""

    path: str
    data: Any
    text: str

    def position(self, location: Sequence[str | int], *, key: bool = False) -> SourcePosition:
        """Return the position of the value at ``location``, or of its key with ``key``.

        Parts of ``location`` that are not in the file (defaults, pydantic's union tags)
        are skipped, so the position is that of the deepest part that exists.
        """
        line, column = 0, 0
        current = self.data
        for part in location:
            found = _child_position(current, part, key)
            if found is None:
                continue
            line, column = found
            current = current[part]
        return SourcePosition(self.path, line + 1, column + 1)


def _child_position(container: Any, part: str | int, key: bool) -> tuple[int, int] | None:
    found: Any = None
    if isinstance(container, CommentedMap) and part in container:
        nested = isinstance(container[part], CommentedMap | CommentedSeq)
        found = container.lc.key(part) if key or nested else container.lc.value(part)
    elif isinstance(container, CommentedSeq) and isinstance(part, int) and part < len(container):
        found = container.lc.item(part)
    return None if found is None else (int(found[0]), int(found[1]))


def read_yaml(path: Path) -> YamlDocument:
    """Read ``path``; raise a one-problem list (via ``YamlProblem``) if it is not YAML."""
    text = path.read_text(encoding="utf-8")
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 0
        column = mark.column + 1 if mark else 0
        message = f"invalid YAML: {error.problem or error.context}"
        raise YamlProblem(Problem(SourcePosition(str(path), line, column), message)) from error
    return YamlDocument(str(path), data, text)


class YamlProblem(Exception):
    """Internal: a file that is not valid YAML; the loader turns it into a problem list."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))
