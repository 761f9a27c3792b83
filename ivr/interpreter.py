"""The IVR interpreter: pure and deterministic, events in, actions out.

``start`` begins a call at its entry node, ``handle`` feeds it the result of the last
action. Both return the new state and the actions to carry out. The state is plain JSON
(store it between webhooks); time comes only from the injected clock. Sensitive values
are sealed in the state and masked in ``SetVariables`` (see ``ivr.sealing``).

The interpreter runs nodes that need no caller (set, branch, schedule, goto, ...) in one
step. A step that runs more than ``ivr.max_steps`` nodes hangs up with reason
``ivr_loop``. Validation rejects dialplans where that can happen, so the limit only
guards against a set that was built without the loader's checks.
"""

from __future__ import annotations

from typing import Any

import structlog

from ivr.actions import Action, CallerHangup, CallInfo, Event, PromptFinished
from ivr.dialplans import DialplanSet
from ivr.nodes import ENTER, RESUME, resume_play
from ivr.session import Session
from santral.clock import Clock
from santral.errors import SantralError

log = structlog.get_logger(__name__)

State = dict[str, Any]


class EntryNotFoundError(SantralError):
    """No dialplan entry for a call: the called number is not mapped and no entry given."""


def start(
    dialplans: DialplanSet, call: CallInfo, clock: Clock, entry: str | None = None
) -> tuple[State, list[Action]]:
    """Start the IVR for ``call`` at ``entry`` (``dialplan`` or ``dialplan.node``).

    Without ``entry`` the called number is looked up (``ivr.numbers``, the dialplans'
    ``numbers``, then ``ivr.default_entry``). Raise ``EntryNotFoundError`` if none fits.
    """
    entry = entry or dialplans.entry_for(call.called)
    found = _resolve_entry(dialplans, entry)
    if entry is None or found is None:
        raise EntryNotFoundError(
            f"no IVR entry for called number {call.called!r} (entry {entry!r}); map the "
            "number under ivr.numbers in config.yaml or list it in a dialplan's numbers"
        )

    session = Session(dialplans, _initial_state(dialplans, call, found[0], clock), clock)
    session.assign(dict(call.variables))
    _run(session, f"{found[0]}.{found[1]}")
    return session.state, session.actions


def handle(
    dialplans: DialplanSet, state: State, event: Event, clock: Clock
) -> tuple[State, list[Action]]:
    """Feed ``event`` (the result of the last action) and return the new state and actions."""
    session = Session(dialplans, state, clock)
    if session.state["done"]:
        return session.state, []
    if isinstance(event, CallerHangup):
        session.log.info("ivr_caller_hung_up", node=session.node_name)
        session.finish("caller_hangup")
        return session.state, []

    if session.state["version"] != dialplans.version:
        session.log.warning(
            "ivr_version_changed", started=session.state["version"], now=dialplans.version
        )
    node = dialplans.node(session.dialplan, session.node_name)
    if node is None:
        session.log.error("ivr_node_missing", dialplan=session.dialplan, node=session.node_name)
        session.hang_up("dialplan_changed")
        return session.state, session.actions

    target = _resume(session, node, event)
    if target is not None:
        _run(session, target)
    return session.state, session.actions


def _resume(session: Session, node: Any, event: Event) -> str | None:
    if session.step == "play":
        return resume_play(session, event)
    resume = RESUME.get(type(node))
    if resume is None or isinstance(event, PromptFinished):
        session.log.warning("ivr_event_unexpected", node=session.node_name, event_kind=event.kind)
        return None
    return resume(session, node, event)


def _run(session: Session, target: str) -> None:
    """Enter ``target`` and every node after it until one waits or the call ends."""
    limit = session.dialplans.settings.max_steps
    next_target: str | None = target
    while next_target is not None:
        session.steps += 1
        if session.steps > limit:
            session.log.error("ivr_loop", node=session.node_name, steps=session.steps)
            session.hang_up("ivr_loop")
            return
        found = session.dialplans.resolve(next_target, session.dialplan)
        if found is None:
            session.log.error("ivr_target_missing", target=next_target, node=session.node_name)
            session.hang_up("dialplan_changed")
            return
        next_target = _enter(session, *found)


def _enter(session: Session, dialplan: str, name: str) -> str | None:
    node = session.dialplans.dialplans[dialplan].nodes[name]
    session.enter(dialplan, name)
    session.log.debug("ivr_node_entered", dialplan=dialplan, node=name, kind=node.kind)
    return ENTER[type(node)](session, node)


def _resolve_entry(dialplans: DialplanSet, entry: str | None) -> tuple[str, str] | None:
    if not entry:
        return None
    if "." in entry:
        return dialplans.resolve(entry, "")
    plan = dialplans.dialplans.get(entry)
    return (entry, plan.header.start) if plan else None


def _initial_state(dialplans: DialplanSet, call: CallInfo, dialplan: str, clock: Clock) -> State:
    language = call.language or dialplans.settings.default_language
    if language not in dialplans.settings.languages:
        language = dialplans.settings.default_language
    return {
        "version": dialplans.version,
        "call": {
            "call_id": call.call_id,
            "caller": call.caller,
            "called": call.called,
            "channel": call.channel,
            "connector": call.connector,
        },
        "language": language,
        "variables": {
            "call_id": call.call_id,
            "caller": call.caller,
            "called": call.called,
            "language": language,
        },
        "sealed": {},
        "sensitive": [],
        "dialplan": dialplan,
        "node": "",
        "step": "",
        "pending": {},
        "tries": {},
        "path": [],
        "dialplans": [],
        "counter": 0,
        "started_at": clock.now(),
        "done": False,
        "outcome": "",
    }


def is_finished(state: State) -> bool:
    """True when the call left the IVR (hung up, transferred) and no event is expected."""
    return bool(state["done"])
