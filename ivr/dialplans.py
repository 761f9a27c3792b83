"""The loaded, immutable set of dialplans the interpreter runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr.model import DialplanHeader, NodeModel
from ivr.sealing import Sealer
from ivr.settings import IvrSettings
from ivr.sources import YamlDocument


@dataclass(frozen=True)
class Dialplan:
    """One dialplan file after validation."""

    name: str
    path: str
    header: DialplanHeader
    nodes: Mapping[str, NodeModel]
    document: YamlDocument = field(repr=False, compare=False)
    invalid_nodes: frozenset[str] = frozenset()  # present in the file but failed validation


@dataclass(frozen=True)
class DialplanSet:
    """Every dialplan the engine serves, with the settings they were checked against.

    ``version`` is a hash of the files' content, so a call keeps the set it started with
    and the engine can tell whether a reload changed anything.
    """

    dialplans: Mapping[str, Dialplan]
    settings: IvrSettings
    version: str
    sealer: Sealer = field(repr=False, compare=False)
    recordings: frozenset[tuple[str, str]] = frozenset()
    environment: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def entry_for(self, number: str) -> str | None:
        """Return the entry for a called number: config first, then the dialplans' numbers."""
        if number in self.settings.numbers:
            return self.settings.numbers[number]
        for dialplan in self.dialplans.values():
            if number in dialplan.header.numbers:
                return dialplan.name
        return self.settings.default_entry

    def resolve(self, target: str, current: str) -> tuple[str, str] | None:
        """Return ``(dialplan, node)`` for a target written in dialplan ``current``."""
        if "." in target:
            dialplan_name, node = target.split(".", 1)
            dialplan = self.dialplans.get(dialplan_name)
            return (dialplan_name, node) if dialplan and node in dialplan.nodes else None
        current_plan = self.dialplans.get(current)
        if current_plan is not None and target in current_plan.nodes:
            return current, target
        other = self.dialplans.get(target)
        if other is not None:
            return target, other.header.start
        return None

    def node(self, dialplan: str, name: str) -> NodeModel | None:
        plan = self.dialplans.get(dialplan)
        return None if plan is None else plan.nodes.get(name)

    def prompt_text(self, name: str, language: str) -> str:
        """Return the TTS text declared for a recording in ``language``, or ''."""
        for dialplan in self.dialplans.values():
            texts = dialplan.header.prompts.get(name)
            if texts and language in texts:
                return texts[language]
        return ""

    def has_recording(self, language: str, name: str) -> bool:
        return (language, name) in self.recordings

    @property
    def sensitive(self) -> frozenset[str]:
        names: set[str] = set()
        for dialplan in self.dialplans.values():
            names.update(dialplan.header.sensitive)
        return frozenset(names)

    def recording_path(self, language: str, name: str) -> Path:
        return self.settings.recordings / language / f"{name}.wav"
