"""The projection from bus events to stored records.

Each event is appended to the ``events`` log and updates the tables that reports read.
``interactions`` has one row per call or written interaction, keyed by the call id when
the interaction started as a call. The other tables are ``ivr_steps``, ``ivr_variables``,
``offers``, ``agent_changes``, ``survey_answers`` and ``recordings``. Handlers run in the
store's worker thread, inside the batch's transaction.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from santral import events as ev
from santral.store.database import Database

MASK = "***"

# One encoder for every row: json.dumps with keyword arguments builds a new one per call.
_JSON = json.JSONEncoder(default=str, separators=(",", ":"))

# Outcome of a call that never reached a queue, from the IVR's own outcome.
_IVR_ONLY_OUTCOME = (
    "CASE WHEN ivr_outcome = 'transferred' THEN 'transferred'"
    " WHEN ivr_outcome = 'voicemail' THEN 'voicemail'"
    " WHEN ivr_outcome IN ('hangup', 'hung_up', 'completed') THEN 'completed_in_ivr'"
    " ELSE 'abandoned_in_ivr' END"
)

# Outcomes a ``call_ended`` event may carry that are record outcomes as they stand. Any
# other value (a connector's own word such as ``caller_hangup``) is derived from the record.
_CALL_OUTCOMES = ", ".join(
    f"'{outcome}'" for outcome in (
        "answered", "abandoned_in_ivr", "abandoned_in_queue", "overflowed", "transferred",
        "voicemail", "completed_in_ivr", "rejected",
    )
)

# Hold time including an open hold at time ``?``; used twice per statement.
_HOLD_UNTIL = (
    "(hold_seconds + CASE WHEN hold_started_at IS NULL THEN 0 ELSE ? - hold_started_at END)"
)


def mask_variables(variables: dict[str, Any], sensitive_names: Sequence[str]) -> dict[str, Any]:
    """Return ``variables`` with the value of every sensitive-looking name replaced by a mask.

    Events arrive already masked. This second check keeps a clear PIN or card number out
    of the store when a dialplan forgot to mark a variable sensitive. A name is sensitive
    when one of its words (split at ``_``, ``-``, digits and camelCase) starts with one of
    ``sensitive_names``, case-insensitively: ``account_pin`` and ``CardNumber`` are,
    ``shipping`` is not. Nested dicts are checked the same way.
    """
    prefixes = tuple(name.lower() for name in sensitive_names)
    return _mask(variables, prefixes)


def _mask(variables: dict[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    masked: dict[str, Any] = {}
    for name, value in variables.items():
        if _is_sensitive(str(name), prefixes):
            masked[name] = MASK
        elif isinstance(value, dict):
            masked[name] = _mask(value, prefixes)
        else:
            masked[name] = value
    return masked


_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _is_sensitive(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(word.lower().startswith(prefixes) for word in _WORD.findall(name))


class Projection:
    """Applies events to the tables; holds only the masking rule."""

    def __init__(self, sensitive_names: Sequence[str]) -> None:
        self._sensitive = list(sensitive_names)
        self._handlers: dict[type[ev.Event], Callable[[Database, Any], None]] = {
            ev.CallStarted: _call_started,
            ev.IvrFinished: self._ivr_finished,
            ev.CallEnded: _call_ended,
            ev.SurveyAnswered: _survey_answered,
            ev.InteractionQueued: _interaction_queued,
            ev.OfferCreated: _offer_created,
            ev.OfferEnded: _offer_ended,
            ev.InteractionConnected: _interaction_connected,
            ev.InteractionHeld: _interaction_held,
            ev.InteractionEnded: _interaction_ended,
            ev.WrapupStarted: _wrapup_started,
            ev.WrapupEnded: _wrapup_ended,
            ev.RecordingSaved: _recording_saved,
            # Kept only in the event log: the transcript of written interactions and the
            # telephony state behind agents' availability.
            ev.InteractionMessage: _log_only,
            ev.EndpointStateChanged: _log_only,
            ev.AgentLegChanged: _log_only,
        }

    def apply(self, database: Database, events: Sequence[ev.Event]) -> None:
        """Update the records ``events`` concern, in order, then append them to the log.

        IVR steps and agent changes are plain inserts that no later statement of the batch
        reads, so they are written together at the end, like the log.
        """
        log_rows = []
        steps: list[tuple[Any, ...]] = []
        agent_changes: list[tuple[Any, ...]] = []
        for event in events:
            if isinstance(event, ev.IvrNodeEntered):
                steps.append((event.call_id, event.ts, event.dialplan, event.node, event.kind))
            elif isinstance(event, ev.AgentStatusChanged | ev.AgentStateChanged):
                agent_changes.append(_agent_change_row(event))
            else:
                handler = self._handlers.get(type(event))
                if handler is None:
                    continue
                handler(database, event)
            log_rows.append(self._log_row(event))
        _insert_rows(database, _INSERT_STEP, steps)
        _insert_rows(database, _INSERT_AGENT_CHANGE, agent_changes)
        _insert_rows(database, _INSERT_EVENT, log_rows)

    def _log_row(self, event: ev.Event) -> tuple[Any, ...]:
        body = _event_body(event)
        if isinstance(event, ev.IvrFinished):
            body["variables"] = mask_variables(event.variables, self._sensitive)
        if isinstance(event, ev.OfferCreated):
            body["pop"] = mask_variables(event.pop, self._sensitive)
        record_key = getattr(event, "call_id", "") or getattr(event, "interaction_id", "")
        return (
            event.seq, event.ts, event.type, record_key, getattr(event, "agent_id", ""),
            _JSON.encode(body),
        )

    def _ivr_finished(self, database: Database, event: ev.IvrFinished) -> None:
        database.write(
            "UPDATE interactions SET ivr_exit_at = ?, ivr_outcome = ?,"
            " language = CASE WHEN ? <> '' THEN ? ELSE language END WHERE id = ?",
            (event.ts, event.outcome, event.language, event.language, event.call_id),
        )
        variables = mask_variables(event.variables, self._sensitive)
        database.executemany(
            "INSERT INTO ivr_variables (record_id, name, value, ts) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (record_id, name) DO UPDATE SET value = excluded.value, ts = excluded.ts",
            [
                (event.call_id, name, _JSON.encode(value), event.ts)
                for name, value in variables.items()
            ],
        )


_INSERT_STEP = "INSERT INTO ivr_steps (record_id, ts, dialplan, node, kind) VALUES (?, ?, ?, ?, ?)"
_INSERT_AGENT_CHANGE = (
    "INSERT INTO agent_changes (agent_id, ts, kind, old, new, reason) VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_EVENT = (
    "INSERT INTO events (seq, ts, type, record_key, agent_id, body) VALUES (?, ?, ?, ?, ?, ?)"
)


def _insert_rows(database: Database, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        database.executemany(sql, rows)


def _agent_change_row(event: ev.AgentStatusChanged | ev.AgentStateChanged) -> tuple[Any, ...]:
    if isinstance(event, ev.AgentStatusChanged):
        return (event.agent_id, event.ts, "status", event.old, event.new, event.reason)
    return (event.agent_id, event.ts, "state", event.old, event.new, "")


_FIELD_NAMES: dict[type[ev.Event], tuple[str, ...]] = {}


def _field_names(event_type: type[ev.Event]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(event_type)
    if names is None:
        names = tuple(item.name for item in dataclasses.fields(event_type))
        _FIELD_NAMES[event_type] = names
    return names


def _event_body(event: ev.Event) -> dict[str, Any]:
    """Return the same dict as ``event.to_dict()`` without its deep copy (several times faster)."""
    body: dict[str, Any] = {"type": event.type, "version": event.version}
    for name in _field_names(type(event)):
        body[name] = getattr(event, name)
    return body


def _call_started(database: Database, event: ev.CallStarted) -> None:
    database.write(
        "INSERT INTO interactions (id, call_id, channel, connector, dialplan, caller, called,"
        " arrived_at) VALUES (?, ?, 'voice', ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        (
            event.call_id, event.call_id, event.connector, event.dialplan,
            event.caller, event.called, event.ts,
        ),
    )


def _call_ended(database: Database, event: ev.CallEnded) -> None:
    database.write(
        "UPDATE interactions SET call_outcome = ?, ended_at = COALESCE(ended_at, ?),"
        " hold_seconds = " + _HOLD_UNTIL + ", hold_started_at = NULL,"
        " talk_seconds = CASE WHEN talk_seconds IS NOT NULL OR answered_at IS NULL"
        "   THEN talk_seconds ELSE ? - answered_at - " + _HOLD_UNTIL + " END,"
        " outcome = CASE WHEN outcome <> 'in_progress' THEN outcome"
        "   WHEN ? IN (" + _CALL_OUTCOMES + ") THEN ?"
        "   WHEN enqueued_at IS NOT NULL AND answered_at IS NULL THEN 'abandoned_in_queue'"
        "   WHEN enqueued_at IS NOT NULL THEN 'answered'"
        "   ELSE " + _IVR_ONLY_OUTCOME + " END"
        " WHERE call_id = ? AND ended_at IS NULL OR id = ?",
        (
            event.outcome, event.ts, event.ts, event.ts, event.ts, event.outcome, event.outcome,
            event.call_id, event.call_id,
        ),
    )


def _survey_answered(database: Database, event: ev.SurveyAnswered) -> None:
    record_id = _record_id_sql(event.interaction_id)
    database.write(
        "INSERT INTO survey_answers (record_id, question, score, ts) VALUES"
        f" ({record_id}, ?, ?, ?)",
        (*_record_id_params(event.interaction_id, event.call_id), event.question,
         event.score, event.ts),
    )
    database.write(
        f"UPDATE interactions SET survey_score = ? WHERE id = {record_id}",
        (event.score, *_record_id_params(event.interaction_id, event.call_id)),
    )


def _record_id_sql(interaction_id: str) -> str:
    if not interaction_id:
        return "?"
    return "COALESCE((SELECT id FROM interactions WHERE interaction_id = ? LIMIT 1), ?)"


def _record_id_params(interaction_id: str, call_id: str) -> tuple[str, ...]:
    return (interaction_id, call_id or interaction_id) if interaction_id else (call_id,)


def _interaction_queued(database: Database, event: ev.InteractionQueued) -> None:
    if event.call_id and _attach_to_call(database, event):
        return
    requeued = database.execute(
        "UPDATE interactions SET queue = ?, enqueued_at = COALESCE(enqueued_at, ?)"
        " WHERE interaction_id = ?",
        (event.queue, event.ts, event.interaction_id),
    )
    if requeued:
        return
    caller, called = event.caller, event.called
    if event.call_id and not caller:
        rows = database.query(
            "SELECT caller, called FROM interactions WHERE id = ?", (event.call_id,)
        )
        if rows:
            caller, called = rows[0]["caller"], called or rows[0]["called"]
    database.write(
        "INSERT INTO interactions (id, call_id, interaction_id, channel, caller, called, queue,"
        " priority, language, arrived_at, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO NOTHING",
        (
            event.interaction_id, event.call_id or None, event.interaction_id, event.channel,
            caller, called, event.queue, event.priority, event.language, event.ts, event.ts,
        ),
    )


def _attach_to_call(database: Database, event: ev.InteractionQueued) -> bool:
    attached = database.execute(
        "UPDATE interactions SET interaction_id = ?, channel = ?, queue = ?, priority = ?,"
        " language = CASE WHEN ? <> '' THEN ? ELSE language END, enqueued_at = ?,"
        " caller = CASE WHEN caller = '' THEN ? ELSE caller END,"
        " called = CASE WHEN called = '' THEN ? ELSE called END"
        " WHERE id = ? AND interaction_id IS NULL",
        (
            event.interaction_id, event.channel, event.queue, event.priority, event.language,
            event.language, event.ts, event.caller, event.called, event.call_id,
        ),
    )
    return attached > 0


def _offer_created(database: Database, event: ev.OfferCreated) -> None:
    database.write(
        "INSERT INTO offers (offer_id, interaction_id, agent_id, queue, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (offer_id) DO NOTHING",
        (event.offer_id, event.interaction_id, event.agent_id, event.queue, event.ts),
    )
    database.write(
        "UPDATE interactions SET first_offer_at = COALESCE(first_offer_at, ?),"
        " offers = offers + 1 WHERE interaction_id = ?",
        (event.ts, event.interaction_id),
    )


def _offer_ended(database: Database, event: ev.OfferEnded) -> None:
    database.write(
        "UPDATE offers SET ended_at = ?, reason = ? WHERE offer_id = ? AND ended_at IS NULL",
        (event.ts, event.reason, event.offer_id),
    )


def _interaction_connected(database: Database, event: ev.InteractionConnected) -> None:
    database.write(
        "UPDATE interactions SET answered_at = COALESCE(answered_at, ?), agent_id = ?,"
        " queue = CASE WHEN ? <> '' THEN ? ELSE queue END WHERE interaction_id = ?",
        (event.ts, event.agent_id, event.queue, event.queue, event.interaction_id),
    )
    database.write(
        "UPDATE offers SET ended_at = ?, reason = 'accepted'"
        " WHERE interaction_id = ? AND agent_id = ? AND ended_at IS NULL",
        (event.ts, event.interaction_id, event.agent_id),
    )


def _interaction_held(database: Database, event: ev.InteractionHeld) -> None:
    if event.on_hold:
        database.write(
            "UPDATE interactions SET hold_started_at = ?, holds = holds + 1"
            " WHERE interaction_id = ? AND hold_started_at IS NULL",
            (event.ts, event.interaction_id),
        )
        return
    database.write(
        "UPDATE interactions SET hold_seconds = hold_seconds + ? - hold_started_at,"
        " hold_started_at = NULL WHERE interaction_id = ? AND hold_started_at IS NOT NULL",
        (event.ts, event.interaction_id),
    )


def _interaction_ended(database: Database, event: ev.InteractionEnded) -> None:
    database.write(
        "UPDATE interactions SET ended_at = ?, outcome = ?,"
        " queue = CASE WHEN ? <> '' THEN ? ELSE queue END,"
        " agent_id = CASE WHEN ? <> '' THEN ? ELSE agent_id END,"
        " overflow_target = ?,"
        " transferred = CASE WHEN ? = 'transferred' THEN 1 ELSE transferred END,"
        " transfer_target = CASE WHEN ? <> '' THEN ? ELSE transfer_target END,"
        " talk_seconds = CASE WHEN answered_at IS NULL THEN NULL"
        "   ELSE ? - answered_at - " + _HOLD_UNTIL + " END,"
        " hold_seconds = " + _HOLD_UNTIL + ", hold_started_at = NULL"
        " WHERE interaction_id = ?",
        (
            event.ts, event.outcome, event.queue, event.queue, event.agent_id, event.agent_id,
            event.overflow_target, event.outcome, event.transfer_target, event.transfer_target,
            event.ts, event.ts, event.ts, event.interaction_id,
        ),
    )


def _wrapup_started(database: Database, event: ev.WrapupStarted) -> None:
    database.write(
        "UPDATE interactions SET wrapup_started_at = ? WHERE interaction_id = ?",
        (event.ts, event.interaction_id),
    )


def _wrapup_ended(database: Database, event: ev.WrapupEnded) -> None:
    database.write(
        "UPDATE interactions SET wrapup_ended_at = ?,"
        " wrapup_seconds = ? - COALESCE(wrapup_started_at, ?),"
        " disposition = CASE WHEN ? <> '' THEN ? ELSE disposition END"
        " WHERE interaction_id = ?",
        (
            event.ts, event.ts, event.ts, event.disposition, event.disposition,
            event.interaction_id,
        ),
    )


def _log_only(database: Database, event: ev.Event) -> None:
    """Write nothing beyond the event log row every recorded event gets."""


def _recording_saved(database: Database, event: ev.RecordingSaved) -> None:
    record_id = _record_id_sql(event.interaction_id)
    database.write(
        f"INSERT INTO recordings (record_id, path, duration, ts) VALUES ({record_id}, ?, ?, ?)",
        (*_record_id_params(event.interaction_id, event.call_id), event.path, event.duration,
         event.ts),
    )
