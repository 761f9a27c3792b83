"""Checks across nodes and files: targets, prompts, options, expressions, cycles, reachability."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ivr import digits, expressions, templates
from ivr.dialplans import Dialplan, DialplanSet
from ivr.model import (
    WAITING_KINDS,
    BranchNode,
    GotoNode,
    HttpNode,
    InputNode,
    LanguageNode,
    MenuNode,
    MenuOption,
    NodeModel,
    PlayNode,
    PromptItem,
    QueueNode,
    RecordNode,
    SayNode,
    ScheduleNode,
    SetNode,
    SurveyNode,
    TransferNode,
)
from santral.errors import Problem, SourcePosition

Location = tuple[str | int, ...]
PROMPT_FIELDS = ("greeting", "prompt", "invalid_prompt", "no_input_prompt", "thanks", "hold_prompt")


def problem(plan: Dialplan, location: Location, message: str, *, key: bool = False) -> Problem:
    return Problem(plan.document.position(location, key=key), message)


def warning(plan: Dialplan, location: Location, message: str) -> Problem:
    return Problem(plan.document.position(location, key=True), message, severity="warning")


# Targets


def targets_of(node: NodeModel) -> Iterator[tuple[str, Location]]:
    """Yield every target a node can go to, with its location inside the node."""
    for field_name in ("next", "failure", "error", "answered", "open", "closed", "holiday"):
        value = getattr(node, field_name, None)
        if isinstance(value, str):
            yield value, (field_name,)
    if isinstance(node, GotoNode):
        yield node.target, ("target",)
    if isinstance(node, MenuNode):
        for key, option in node.options.items():
            target = option.target if isinstance(option, MenuOption) else option
            yield target, ("options", key)
    if isinstance(node, BranchNode):
        for index, condition in enumerate(node.conditions):
            yield condition.target, ("conditions", index, "target")
        yield node.otherwise, ("else",)
    if isinstance(node, QueueNode):
        for outcome, target in node.on.items():
            yield target, ("on", outcome)


def ends_call_without_target(node: NodeModel) -> bool:
    """True for nodes whose missing ``next`` means the call ends there."""
    return isinstance(node, PlayNode | SayNode | RecordNode | SurveyNode | QueueNode)


def check_targets(plans: Mapping[str, Dialplan], lookup: DialplanSet) -> list[Problem]:
    problems: list[Problem] = []
    for plan in plans.values():
        if plan.header.start not in plan.nodes and plan.header.start not in plan.invalid_nodes:
            hint = _suggest(plan.header.start, plan.nodes)
            message = f"start node {plan.header.start!r} not found{hint}"
            problems.append(problem(plan, ("start",), message))
        for name, node in plan.nodes.items():
            for target, location in targets_of(node):
                if lookup.resolve(target, plan.name) is None and not _invalid(target, plan, plans):
                    message = _missing_target(target, plan, plans)
                    problems.append(problem(plan, ("nodes", name, *location), message))
    return problems


def _invalid(target: str, plan: Dialplan, plans: Mapping[str, Dialplan]) -> bool:
    """True when ``target`` names a node that exists but failed validation (reported already)."""
    dialplan_name, _, node = target.rpartition(".")
    owner = plans.get(dialplan_name) if dialplan_name else plan
    return owner is not None and node in owner.invalid_nodes


def _missing_target(target: str, plan: Dialplan, plans: Mapping[str, Dialplan]) -> str:
    if "." in target:
        dialplan_name, node = target.split(".", 1)
        if dialplan_name not in plans:
            hint = _suggest(dialplan_name, plans)
            return f"target {target!r} not found: no dialplan {dialplan_name!r}{hint}"
        hint = _suggest(node, plans[dialplan_name].nodes)
        return f"target {target!r} not found: dialplan {dialplan_name!r} has no node {node!r}{hint}"
    names = list(plan.nodes) + list(plans)
    return (
        f"target {target!r} not found: no node of that name in dialplan {plan.name!r} "
        f"and no dialplan of that name{_suggest(target, names)}"
    )


def _suggest(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# Prompts


def prompt_references(node: NodeModel) -> Iterator[tuple[Any, Location]]:
    """Yield each prompt item of a node (a name or a ``PromptItem``) with its location."""
    for field_name in (*PROMPT_FIELDS, "prompts"):
        yield from _items(getattr(node, field_name, None), (field_name,))
    if isinstance(node, InputNode) and node.confirm is not None:
        yield from _items(node.confirm.prompt, ("confirm", "prompt"))
        yield from _items(node.confirm.instructions, ("confirm", "instructions"))


def _items(spec: Any, location: Location) -> Iterator[tuple[Any, Location]]:
    if spec is None:
        return
    if isinstance(spec, list):
        for index, item in enumerate(spec):
            yield item, (*location, index)
    else:
        yield spec, location


def check_prompts(plans: Mapping[str, Dialplan], lookup: DialplanSet) -> list[Problem]:
    problems: list[Problem] = []
    languages = lookup.settings.languages
    for plan in plans.values():
        problems.extend(_declared_prompts(plan))
        for name, node in plan.nodes.items():
            for item, location in prompt_references(node):
                where = ("nodes", name, *location)
                problems.extend(_check_prompt_item(plan, where, item, languages, lookup))
            if isinstance(node, SayNode) and isinstance(node.text, dict):
                problems.extend(_per_language(plan, ("nodes", name, "text"), node.text, languages))
    return problems


def _declared_prompts(plan: Dialplan) -> Iterator[Problem]:
    for name, texts in plan.header.prompts.items():
        for language, text in texts.items():
            if templates.is_template(text):
                yield problem(
                    plan,
                    ("prompts", name, language),
                    f"prompt {name!r} text is a template; recordings are rendered once, so "
                    "write plain text here and use a tts item for text with variables",
                )


def _check_prompt_item(
    plan: Dialplan, where: Location, item: Any, languages: list[str], lookup: DialplanSet
) -> Iterator[Problem]:
    name = item if isinstance(item, str) else getattr(item, "file", None)
    if isinstance(item, PromptItem) and isinstance(item.tts, dict):
        yield from _per_language(plan, (*where, "tts"), item.tts, languages)
    if name is None:
        return
    if not digits_name(name):
        yield problem(
            plan,
            where,
            f"prompt {name!r} is not a recording name; use letters, digits, _ and -, "
            "or write {tts: 'text'} to speak text",
        )
        return
    for language in languages:
        if not lookup.has_recording(language, name) and not lookup.prompt_text(name, language):
            yield problem(
                plan,
                where,
                f"prompt {name!r} has no recording for language {language!r} "
                f"({language}/{name}.wav) and no TTS text; add prompts.{name}.{language} "
                "to a dialplan and run 'santral prompts render', or add the WAV file",
            )


def digits_name(name: str) -> bool:
    return bool(name) and all(character.isalnum() or character in "_-" for character in name)


def _per_language(
    plan: Dialplan, where: Location, texts: dict[str, str], languages: list[str]
) -> Iterator[Problem]:
    for language in languages:
        if language not in texts:
            message = f"TTS text for language {language!r} is missing; add a {language}: entry"
            yield problem(plan, where, message)


# Node contents


def check_nodes(plans: Mapping[str, Dialplan], lookup: DialplanSet) -> list[Problem]:
    problems: list[Problem] = []
    for plan in plans.values():
        for name, node in plan.nodes.items():
            where: Location = ("nodes", name)
            problems.extend(_check_templates(plan, where, plan.document.data["nodes"][name]))
            if isinstance(node, MenuNode):
                problems.extend(_check_menu(plan, where, node))
            if isinstance(node, BranchNode):
                problems.extend(_check_branch(plan, where, node))
            if isinstance(node, ScheduleNode):
                problems.extend(_check_schedule(plan, where, node, lookup))
            if isinstance(node, LanguageNode):
                problems.extend(_check_language(plan, where, node, lookup))
            if isinstance(node, InputNode):
                problems.extend(_check_input(plan, where, node))
            if isinstance(node, HttpNode | QueueNode | SetNode):
                problems.extend(_check_variables(plan, where, node))
            if isinstance(node, TransferNode):
                problems.extend(_check_transfer(plan, where, node))
    return problems


def _check_templates(plan: Dialplan, where: Location, raw: Any) -> Iterator[Problem]:
    if isinstance(raw, str):
        if templates.is_template(raw):
            try:
                templates.check(raw)
            except templates.TemplateSyntaxError as error:
                yield problem(plan, where, f"{error}; write variables as {{{{ name }}}}")
    elif isinstance(raw, Mapping):
        for key, value in raw.items():
            if key not in ("if", "pattern"):
                yield from _check_templates(plan, (*where, key), value)
    elif isinstance(raw, list):
        for index, value in enumerate(raw):
            yield from _check_templates(plan, (*where, index), value)


def _check_menu(plan: Dialplan, where: Location, node: MenuNode) -> Iterator[Problem]:
    keys = list(node.options)
    for index, key in enumerate(keys):
        location = (*where, "options", key)
        if node.terminator and node.terminator in key:
            yield problem(
                plan,
                location,
                f"option {key!r} contains the terminator {node.terminator!r}, so it can never "
                "be chosen; change the option or set another terminator",
                key=True,
            )
        for other in keys[index + 1 :]:
            if digits.overlap(key, other):
                yield problem(
                    plan,
                    location,
                    f"options {key!r} and {other!r} are ambiguous: the same keys match both; "
                    "make the patterns disjoint",
                    key=True,
                )
    raw_keys = [str(key) for key in plan.document.data["nodes"][where[1]].get("options", {})]
    duplicates = {key for key in raw_keys if raw_keys.count(key) > 1}
    for key in sorted(duplicates):
        yield problem(
            plan,
            (*where, "options"),
            f"option {key!r} is given twice (once as a number, once as text); quote menu keys",
        )


def _check_branch(plan: Dialplan, where: Location, node: BranchNode) -> Iterator[Problem]:
    for index, condition in enumerate(node.conditions):
        try:
            expressions.parse(condition.condition)
        except expressions.ExpressionError as error:
            position = plan.document.position((*where, "conditions", index, "if"))
            yield Problem(
                _shift(plan, position, error.offset),
                f"invalid expression {condition.condition!r}: {error}; "
                "use comparisons (==, !=, <, >, in) joined by and/or/not",
            )


def _shift(plan: Dialplan, position: SourcePosition, offset: int) -> SourcePosition:
    """Move a scalar's position to a character inside it (after an opening quote)."""
    lines = plan.document.text.splitlines()
    if not 0 < position.line <= len(lines):
        return position
    line = lines[position.line - 1]
    quote = 1 if line[position.column - 1 : position.column] in ("'", '"') else 0
    return SourcePosition(position.path, position.line, position.column + quote + offset)


def _check_schedule(
    plan: Dialplan, where: Location, node: ScheduleNode, lookup: DialplanSet
) -> Iterator[Problem]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if node.time_zone is None:
        return
    try:
        ZoneInfo(node.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        yield problem(
            plan,
            (*where, "time_zone"),
            f"unknown time zone {node.time_zone!r}; use an IANA name such as 'Europe/Istanbul'",
        )


def _check_language(
    plan: Dialplan, where: Location, node: LanguageNode, lookup: DialplanSet
) -> Iterator[Problem]:
    if templates.is_template(node.language):
        return
    if node.language not in lookup.settings.languages:
        yield problem(
            plan,
            (*where, "language"),
            f"language {node.language!r} is not in ivr.languages "
            f"{lookup.settings.languages}; add it there or use one of them",
        )


def _check_input(plan: Dialplan, where: Location, node: InputNode) -> Iterator[Problem]:
    if node.confirm is not None and node.confirm.yes_key == node.confirm.no_key:
        yield problem(plan, (*where, "confirm"), "confirm yes_key and no_key must differ")
    if (
        node.terminator
        and node.confirm is not None
        and node.terminator
        in (
            node.confirm.yes_key,
            node.confirm.no_key,
        )
    ):
        yield problem(plan, (*where, "confirm"), "a confirm key must not be the terminator")


def _check_variables(plan: Dialplan, where: Location, node: NodeModel) -> Iterator[Problem]:
    priority = node.priority if isinstance(node, QueueNode) else None
    if isinstance(priority, str) and not templates.is_template(priority):
        yield problem(
            plan,
            (*where, "priority"),
            f"priority {priority!r} is neither a number nor a template; "
            "write 5 or '{{ 10 if vip else 0 }}'",
        )


_TRANSFER_TARGET = re.compile(r"^(\+?[0-9*#]+|sips?:[^\s@]+@[^\s]+|sips?:[^\s]+)$")


def _check_transfer(plan: Dialplan, where: Location, node: TransferNode) -> Iterator[Problem]:
    if templates.is_template(node.target) or _TRANSFER_TARGET.match(node.target):
        return
    yield problem(
        plan,
        (*where, "target"),
        f"invalid transfer target {node.target!r}; write a number ('+902120000000'), "
        "an extension ('9000') or a SIP URI ('sip:desk@example.com')",
    )


# The graph


def node_id(dialplan: str, node: str) -> str:
    return f"{dialplan}.{node}"


def edges(lookup: DialplanSet) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for plan in lookup.dialplans.values():
        for name, node in plan.nodes.items():
            found = [lookup.resolve(target, plan.name) for target, _ in targets_of(node)]
            graph[node_id(plan.name, name)] = [node_id(*pair) for pair in found if pair]
    return graph


def check_cycles(lookup: DialplanSet) -> list[Problem]:
    """Find loops made only of nodes that do not wait for the caller (or the ACD)."""
    graph = edges(lookup)
    kinds = {
        node_id(plan.name, name): node.kind
        for plan in lookup.dialplans.values()
        for name, node in plan.nodes.items()
    }
    passive = {
        node: [target for target in targets if kinds.get(target) not in WAITING_KINDS]
        for node, targets in graph.items()
        if kinds[node] not in WAITING_KINDS
    }
    problems: list[Problem] = []
    for cycle in _cycles(passive):
        dialplan, name = cycle[0].split(".", 1)
        plan = lookup.dialplans[dialplan]
        loop = " -> ".join([*cycle, cycle[0]])
        problems.append(
            problem(
                plan,
                ("nodes", name),
                f"cycle without caller input: {loop}; put a menu or input node in the loop "
                "or end it (hangup, queue, transfer)",
                key=True,
            )
        )
    return problems


def silent_targets(node: NodeModel) -> list[str]:
    """Return where a node leads when the caller presses nothing at all."""
    if isinstance(node, MenuNode | InputNode):
        return [node.failure] if node.failure else []
    if isinstance(node, SurveyNode | RecordNode):
        return [node.next] if node.next else []
    if isinstance(node, QueueNode):
        return []
    return [target for target, _ in targets_of(node)]


def check_silent_loops(lookup: DialplanSet) -> list[Problem]:
    """Find loops that a caller who presses nothing never leaves (failure paths)."""
    graph: dict[str, list[str]] = {}
    waiting: set[str] = set()
    for plan in lookup.dialplans.values():
        for name, node in plan.nodes.items():
            found = [lookup.resolve(target, plan.name) for target in silent_targets(node)]
            graph[node_id(plan.name, name)] = [node_id(*pair) for pair in found if pair]
            if node.kind in WAITING_KINDS:
                waiting.add(node_id(plan.name, name))

    problems: list[Problem] = []
    for cycle in _cycles(graph):
        if not waiting & set(cycle):
            continue  # reported by check_cycles
        dialplan, name = cycle[0].split(".", 1)
        loop = " -> ".join([*cycle, cycle[0]])
        message = (
            f"a caller who presses nothing loops forever: {loop}; send the failure "
            "(or next) of one of these nodes to a hangup, transfer or queue"
        )
        problems.append(problem(lookup.dialplans[dialplan], ("nodes", name), message, key=True))
    return problems


def _cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Return one cycle per strongly connected component that loops (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, []):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, []):
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def check_reachable(lookup: DialplanSet, roots: list[str]) -> list[Problem]:
    graph = edges(lookup)
    seen: set[str] = set()
    pending = [root for root in roots if root in graph]
    while pending:
        node = pending.pop()
        if node in seen:
            continue
        seen.add(node)
        pending.extend(graph.get(node, []))
    problems = []
    for node in sorted(set(graph) - seen):
        dialplan, name = node.split(".", 1)
        plan = lookup.dialplans[dialplan]
        problems.append(
            warning(plan, ("nodes", name), f"node {node!r} is unreachable; no node goes to it")
        )
    return problems
