"""Load dialplan files into an immutable ``DialplanSet``, or report every problem found.

Each problem is ``file:line:column: message`` with the fix in the message, so an engineer
can jump straight to it. ``check`` also returns warnings (unreachable nodes).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import os
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import structlog
from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap

from ivr import validation
from ivr.dialplans import Dialplan, DialplanSet
from ivr.model import NAME_PATTERN, NODE_KINDS, TARGET_PATTERN, DialplanHeader, NodeModel
from ivr.sealing import Sealer
from ivr.settings import IvrSettings
from ivr.sources import YamlDocument, YamlProblem, read_yaml
from santral.errors import DialplanError, Problem, SourcePosition

log = structlog.get_logger(__name__)

SCENARIO_SUFFIX = ".test.yaml"
Source = Path | str | Iterable[Path | str]


def dialplan_files(source: Source) -> list[Path]:
    """Return the dialplan files of a directory (scenario files excluded) or a file list."""
    paths = [Path(source)] if isinstance(source, str | Path) else [Path(p) for p in source]
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            files.extend(file for file in found if not file.name.endswith(SCENARIO_SUFFIX))
        else:
            files.append(path)
    return files


def load_dialplans(
    source: Source, settings: IvrSettings, *, environment: Mapping[str, str] | None = None
) -> DialplanSet:
    """Load and validate dialplans; raise ``DialplanError`` listing every error."""
    dialplans, problems = check(source, settings, environment=environment)
    errors = [item for item in problems if item.severity == "error"]
    if errors or dialplans is None:
        raise DialplanError(errors)
    return dialplans


def check(
    source: Source, settings: IvrSettings, *, environment: Mapping[str, str] | None = None
) -> tuple[DialplanSet | None, list[Problem]]:
    """Validate dialplans; return the set (None if there are errors) and all problems."""
    files = dialplan_files(source)
    problems: list[Problem] = []
    if not files:
        problems.append(Problem(SourcePosition(str(source)), "no dialplan files (*.yaml) found"))
        return None, problems

    plans: dict[str, Dialplan] = {}
    for path in files:
        plan = _load_file(path, problems)
        if plan is not None:
            _add_plan(plans, plan, problems)

    candidate = _assemble(plans, files, settings, environment)
    problems.extend(_cross_checks(plans, candidate, settings))
    problems.sort(key=lambda item: (item.position.path, item.position.line, item.position.column))
    if any(item.severity == "error" for item in problems):
        return None, problems
    problems.extend(validation.check_reachable(candidate, _roots(candidate)))
    return candidate, problems


def reload_dialplans(
    previous: DialplanSet, source: Source, settings: IvrSettings
) -> tuple[DialplanSet, list[Problem]]:
    """Validate changed dialplans before they replace ``previous``.

    Return the new set, or ``previous`` unchanged with the problems when the new files are
    invalid (the errors are logged). Calls in progress keep whichever set they hold.
    """
    candidate, problems = check(source, settings, environment=previous.environment)
    if candidate is None:
        errors = [str(item) for item in problems if item.severity == "error"]
        log.error("dialplan_reload_rejected", errors=errors, serving=previous.version)
        return previous, problems
    if candidate.version != previous.version:
        log.info("dialplan_reloaded", old=previous.version, new=candidate.version)
    return candidate, problems


def _load_file(path: Path, problems: list[Problem]) -> Dialplan | None:
    try:
        document = read_yaml(path)
    except YamlProblem as error:
        problems.append(error.problem)
        return None
    except OSError as error:
        problems.append(Problem(SourcePosition(str(path)), f"cannot read file: {error.strerror}"))
        return None

    if not isinstance(document.data, CommentedMap):
        message = "a dialplan file must be a mapping with 'start' and 'nodes'"
        problems.append(Problem(SourcePosition(str(path), 1, 1), message))
        return None
    return _build_plan(path, document, problems)


def _build_plan(path: Path, document: YamlDocument, problems: list[Problem]) -> Dialplan | None:
    data = document.data
    header_data = {key: value for key, value in data.items() if key != "nodes"}
    header = _validate(DialplanHeader, header_data, document, (), problems)

    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, CommentedMap) or not raw_nodes:
        message = "missing or empty 'nodes'; add a mapping of node names to nodes"
        problems.append(Problem(document.position(("nodes",), key=True), message))
        return None

    nodes: dict[str, NodeModel] = {}
    for name, raw in raw_nodes.items():
        node = _build_node(str(name), raw, document, problems)
        if node is not None:
            nodes[str(name)] = node
    if not isinstance(header, DialplanHeader):
        return None
    name = header.dialplan or path.name.split(".")[0]
    invalid = frozenset(str(key) for key in raw_nodes) - set(nodes)
    return Dialplan(name, str(path), header, types.MappingProxyType(nodes), document, invalid)


def _build_node(
    name: str, raw: Any, document: YamlDocument, problems: list[Problem]
) -> NodeModel | None:
    location = ("nodes", name)
    if not _valid_name(name):
        message = f"invalid node name {name!r}; use letters, digits, _ and -, first a letter"
        problems.append(Problem(document.position(location, key=True), message))
        return None
    if not isinstance(raw, Mapping):
        message = f"node {name!r} must be a mapping with a 'kind'"
        problems.append(Problem(document.position(location), message))
        return None

    kind = raw.get("kind")
    model = NODE_KINDS.get(str(kind)) if kind is not None else None
    if model is None:
        problems.append(Problem(document.position((*location, "kind")), _kind_message(kind)))
        return None
    return cast(NodeModel | None, _validate(model, raw, document, location, problems))


def _kind_message(kind: Any) -> str:
    kinds = sorted(NODE_KINDS)
    if kind is None:
        return f"missing 'kind'; set it to one of {', '.join(kinds)}"
    close = difflib.get_close_matches(str(kind), kinds, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; use one of {', '.join(kinds)}"
    return f"unknown node kind {kind!r}{hint}"


def _valid_name(name: str) -> bool:
    import re

    return re.match(NAME_PATTERN, name) is not None


def _validate(
    model: type[BaseModel],
    data: Any,
    document: YamlDocument,
    location: tuple[str, ...],
    problems: list[Problem],
) -> BaseModel | None:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            where = (*location, *item["loc"])
            key = item["type"] in ("extra_forbidden", "missing")
            position = document.position(where, key=key)
            problems.append(Problem(position, _message(item, model, where)))
        return None


def _message(item: Any, model: type[BaseModel], where: tuple[Any, ...]) -> str:
    kind = item["type"]
    field = str(where[-1]) if where else ""
    if kind == "extra_forbidden":
        allowed = _fields(model) if len(item["loc"]) == 1 else []
        close = difflib.get_close_matches(field, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listed = f"; allowed: {', '.join(allowed)}" if allowed and not close else ""
        return f"unknown field {field!r}{hint}{listed}"
    if kind == "missing":
        return f"missing required field {field!r}"
    if kind == "string_pattern_mismatch":
        return _pattern_message(item)
    text = str(item["msg"]).removeprefix("Value error, ")
    return f"{field}: {text}" if field and not isinstance(where[-1], int) else text


def _pattern_message(item: Any) -> str:
    pattern = item.get("ctx", {}).get("pattern")
    value = item.get("input")
    if pattern == TARGET_PATTERN:
        return f"invalid target {value!r}; write 'node', 'dialplan' or 'dialplan.node'"
    if pattern == NAME_PATTERN:
        return f"invalid name {value!r}; use letters, digits, _ and -, starting with a letter"
    return f"invalid value {value!r}; it must match {pattern}"


def _fields(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _add_plan(plans: dict[str, Dialplan], plan: Dialplan, problems: list[Problem]) -> None:
    if plan.name in plans:
        message = f"dialplan {plan.name!r} is also defined in {plans[plan.name].path}; rename one"
        problems.append(Problem(SourcePosition(plan.path, 1, 1), message))
        return
    plans[plan.name] = plan


def _assemble(
    plans: dict[str, Dialplan],
    files: list[Path],
    settings: IvrSettings,
    environment: Mapping[str, str] | None,
) -> DialplanSet:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        if path.exists():
            digest.update(path.read_bytes())
    sealer = Sealer.from_environment(settings.secret_key_env)
    if sealer.ephemeral:
        _warn_ephemeral_key(settings.secret_key_env)
    return DialplanSet(
        dialplans=types.MappingProxyType(dict(plans)),
        settings=settings,
        version=digest.hexdigest()[:16],
        sealer=sealer,
        recordings=_recordings(settings),
        environment=os.environ if environment is None else environment,
    )


@functools.cache
def _warn_ephemeral_key(variable: str) -> None:
    """Log once per process that sensitive values use a key no other process shares."""
    log.warning(
        "ivr_secret_key_missing",
        variable=variable,
        effect="sensitive values of calls continued by another process or after a restart "
        "read as empty; set the variable to the same random value in every process",
    )


def _recordings(settings: IvrSettings) -> frozenset[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for language in settings.languages:
        folder = settings.recordings / language
        if folder.is_dir():
            found.update((language, file.stem) for file in folder.glob("*.wav"))
    return frozenset(found)


def _cross_checks(
    plans: dict[str, Dialplan], lookup: DialplanSet, settings: IvrSettings
) -> list[Problem]:
    problems = validation.check_targets(plans, lookup)
    problems += validation.check_nodes(plans, lookup)
    problems += validation.check_prompts(plans, lookup)
    problems += _check_numbers(plans)
    problems += _check_entries(lookup, settings)
    if not any(item.severity == "error" for item in problems):
        problems += validation.check_cycles(lookup)
        problems += validation.check_silent_loops(lookup)
    return problems


def _check_numbers(plans: dict[str, Dialplan]) -> list[Problem]:
    owner: dict[str, str] = {}
    problems: list[Problem] = []
    for plan in plans.values():
        for index, number in enumerate(plan.header.numbers):
            if number in owner:
                message = f"number {number!r} is already the entry of dialplan {owner[number]!r}"
                problems.append(validation.problem(plan, ("numbers", index), message))
            owner.setdefault(number, plan.name)
    return problems


def _check_entries(lookup: DialplanSet, settings: IvrSettings) -> list[Problem]:
    entries = [(f"ivr.numbers[{key!r}]", value) for key, value in settings.numbers.items()]
    entries += [(f"ivr.agi_scripts[{key!r}]", value) for key, value in settings.agi_scripts.items()]
    if settings.default_entry:
        entries.append(("ivr.default_entry", settings.default_entry))
    problems = []
    for label, entry in entries:
        if _resolve_entry(lookup, entry) is None:
            message = f"{label}: entry {entry!r} not found; name a dialplan or 'dialplan.node'"
            problems.append(Problem(SourcePosition("config.yaml"), message))
    return problems


def _resolve_entry(lookup: DialplanSet, entry: str) -> tuple[str, str] | None:
    if "." in entry:
        return lookup.resolve(entry, "")
    plan = lookup.dialplans.get(entry)
    return (entry, plan.header.start) if plan else None


def _roots(lookup: DialplanSet) -> list[str]:
    roots = [validation.node_id(name, plan.header.start) for name, plan in lookup.dialplans.items()]
    settings = lookup.settings
    for entry in [*settings.numbers.values(), *settings.agi_scripts.values()]:
        found = _resolve_entry(lookup, entry)
        if found:
            roots.append(validation.node_id(*found))
    return roots
