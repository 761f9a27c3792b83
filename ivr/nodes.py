"""Node handlers: what each kind does when a call enters it and when its action completes.

An ``enter`` handler returns the next target to run at once, or None when it waits for an
event (its action is in ``session.actions``) or ended the call. A ``resume`` handler takes
the event the waiting action produced and returns the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ivr import digits, expressions, schedules, templates
from ivr.actions import (
    DigitsCollected,
    Enqueue,
    Event,
    HttpRequest,
    HttpResult,
    PauseRecording,
    QueueResult,
    Record,
    RecordingFinished,
    SpeechResult,
    SurveyAnswer,
    Transfer,
)
from ivr.model import (
    BranchNode,
    EnvValue,
    GotoNode,
    HangupNode,
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
from ivr.session import Session

Next = str | None
SURVEY_KEYS = ["1", "2", "3", "4", "5"]


def keys_of(event: Event) -> str | None:
    """Return the keys of a digits or speech event (spoken digits count), else None."""
    if isinstance(event, DigitsCollected):
        return event.digits
    if isinstance(event, SpeechResult):
        spoken = event.text.replace(" ", "")
        if spoken and not spoken.isdigit():
            return "?"  # words match no option, so the menu counts them as invalid
        return spoken
    return None


def then_or_hang_up(session: Session, target: str | None, reason: str = "normal") -> Next:
    if target is None:
        session.hang_up(reason)
    return target


# menu


def enter_menu(session: Session, node: MenuNode) -> Next:
    _menu_gather(session, node, session.prompts(node.greeting))
    return None


def _menu_gather(session: Session, node: MenuNode, prompts: list[Any]) -> None:
    options = list(node.options)
    session.gather(
        "menu",
        prompts=prompts,
        max_digits=max(digits.length(option) for option in options),
        min_digits=1,
        timeout=node.timeout,
        inter_digit_timeout=node.inter_digit_timeout,
        terminator=node.terminator,
        barge_in=node.barge_in,
        complete=options,
        prefixes=options,
    )


def resume_menu(session: Session, node: MenuNode, event: Event) -> Next:
    keys = keys_of(event)
    if keys is None:
        return _ignore(session, event)
    if keys == "":
        return _menu_retry(session, node, "no_input", node.max_no_input, node.no_input_prompt)

    option = _choose(node, keys)
    if option is None:
        return _menu_retry(session, node, "invalid", node.max_invalid, node.invalid_prompt)
    if isinstance(option, MenuOption):
        session.assign(_set_values(session, option.set))
        return option.target
    return option


def _choose(node: MenuNode, keys: str) -> str | MenuOption | None:
    if keys in node.options:
        return node.options[keys]
    for option, target in node.options.items():
        if digits.matches(option, keys):
            return target
    return None


def _menu_retry(session: Session, node: MenuNode, counter: str, limit: int, prompt: Any) -> Next:
    if session.count(counter) >= limit:
        session.log.info("ivr_menu_failed", node=session.node_name, counter=counter)
        return then_or_hang_up(session, node.failure, "ivr_failure")
    _menu_gather(session, node, session.prompts(prompt, node.prompt or node.greeting))
    return None


# input


def enter_input(session: Session, node: InputNode) -> Next:
    if node.sensitive:
        session.actions.append(PauseRecording(paused=True))
    _input_gather(session, node, session.prompts(node.prompt))
    return None


def _input_gather(session: Session, node: InputNode, prompts: list[Any]) -> None:
    session.gather(
        "input",
        prompts=prompts,
        max_digits=node.max_digits,
        min_digits=node.min_digits,
        timeout=node.timeout,
        inter_digit_timeout=node.inter_digit_timeout,
        terminator=node.terminator,
        sensitive=node.sensitive,
    )


def resume_input(session: Session, node: InputNode, event: Event) -> Next:
    keys = keys_of(event)
    if keys is None:
        return _ignore(session, event)
    if session.step == "confirm":
        return _resume_confirm(session, node, keys)
    if keys == "":
        return _input_retry(session, node, "no_input", node.no_input_prompt)
    if not _valid_input(node, keys):
        return _input_retry(session, node, "invalid", node.invalid_prompt)
    if node.confirm is None:
        return _accept_input(session, node, keys)

    session.pending["candidate"] = _keep(session, node, keys)
    _confirm_gather(session, node, keys)
    return None


def _valid_input(node: InputNode, keys: str) -> bool:
    if not node.min_digits <= len(keys) <= node.max_digits:
        return False
    if node.pattern is not None and re.fullmatch(node.pattern, keys) is None:
        return False
    return not (node.luhn and not digits.luhn_valid(keys))


def _keep(session: Session, node: InputNode, keys: str) -> str:
    return session.dialplans.sealer.seal(keys) if node.sensitive else keys


def _candidate(session: Session, node: InputNode) -> str:
    stored = str(session.pending.get("candidate", ""))
    if not node.sensitive:
        return stored
    return session.dialplans.sealer.unseal(stored) or ""


def _confirm_gather(session: Session, node: InputNode, keys: str) -> None:
    assert node.confirm is not None
    confirm = node.confirm
    read_back: list[str | PromptItem] = [PromptItem(digits=keys)]
    session.gather(
        "confirm",
        prompts=session.prompts(confirm.prompt, read_back, confirm.instructions),
        timeout=node.timeout,
        complete=[confirm.yes_key, confirm.no_key],
        prefixes=[confirm.yes_key, confirm.no_key],
        terminator="",
        sensitive=node.sensitive,
    )


def _resume_confirm(session: Session, node: InputNode, keys: str) -> Next:
    assert node.confirm is not None
    candidate = _candidate(session, node)
    if keys == node.confirm.yes_key:
        return _accept_input(session, node, candidate)
    if keys == node.confirm.no_key:
        session.pending.pop("candidate", None)
        return _input_retry(session, node, "invalid", None)

    session.count("no_input" if keys == "" else "invalid")
    if session.tries("no_input") + session.tries("invalid") >= node.tries:
        return _input_failure(session, node)
    _confirm_gather(session, node, candidate)
    return None


def _input_retry(session: Session, node: InputNode, counter: str, prompt: Any) -> Next:
    session.count(counter)
    if session.tries("no_input") + session.tries("invalid") >= node.tries:
        return _input_failure(session, node)
    _input_gather(session, node, session.prompts(prompt, node.prompt))
    return None


def _input_failure(session: Session, node: InputNode) -> Next:
    session.log.info("ivr_input_failed", node=session.node_name)
    if node.sensitive:
        session.actions.append(PauseRecording(paused=False))
    return then_or_hang_up(session, node.failure, "ivr_failure")


def _accept_input(session: Session, node: InputNode, keys: str) -> Next:
    session.assign({node.variable: keys}, sensitive=node.sensitive)
    if node.sensitive:
        session.actions.append(PauseRecording(paused=False))
    return node.next


# play, say


def enter_play(session: Session, node: PlayNode) -> Next:
    prompts = session.prompts(node.prompts)
    if not prompts:
        return then_or_hang_up(session, node.next)
    session.play(prompts, node.next)
    return None


def enter_say(session: Session, node: SayNode) -> Next:
    if node.text is not None:
        item = PromptItem(tts=node.text)
    else:
        item = PromptItem(digits=node.digits, number=node.number, date=node.date)
    session.play(session.prompts(item), node.next)
    return None


def resume_play(session: Session, event: Event) -> Next:
    """Continue after a ``Play`` (of any node) finished."""
    if event.kind != "prompt_finished":
        return _ignore(session, event)
    target = session.pending.get("then")
    return then_or_hang_up(session, target, str(session.pending.get("reason", "normal")))


# set, branch, goto, language, schedule


def enter_set(session: Session, node: SetNode) -> Next:
    values = _set_values(session, node.variables)
    secret = session.sensitive_names()
    derived = {
        name
        for name, value in node.variables.items()
        if isinstance(value, str) and templates.referenced(value) & secret
    }
    session.assign({name: value for name, value in values.items() if name not in derived})
    session.assign({name: values[name] for name in derived}, sensitive=True)
    return node.next


def _set_values(session: Session, variables: dict[str, Any]) -> dict[str, Any]:
    return {
        name: session.render(value) if isinstance(value, str) else value
        for name, value in variables.items()
    }


def enter_branch(session: Session, node: BranchNode) -> Next:
    values = session.values()
    for condition in node.conditions:
        if expressions.evaluate(condition.condition, values):
            return condition.target
    return node.otherwise


def enter_goto(session: Session, node: GotoNode) -> Next:
    return node.target


def enter_language(session: Session, node: LanguageNode) -> Next:
    language = session.render(node.language).strip()
    if language in session.dialplans.settings.languages:
        session.state["language"] = language
        session.assign({"language": language})
    else:
        session.log.warning("ivr_language_unknown", node=session.node_name, language=language)
    return node.next


def enter_schedule(session: Session, node: ScheduleNode) -> Next:
    zone = node.time_zone or session.dialplans.settings.time_zone
    moment = schedules.local_time(session.clock.now(), zone)
    if schedules.is_holiday(moment, node.holiday_dates()):
        return node.holiday or node.closed
    if schedules.is_open(moment, node.hour_ranges()):
        return node.open
    return node.closed


# http


def enter_http(session: Session, node: HttpNode) -> Next:
    session.state["counter"] += 1
    request_id = f"{session.state['call']['call_id']}-{session.state['counter']}"
    session.actions.append(
        HttpRequest(
            request_id=request_id,
            method=node.method,
            url=session.render(node.url),
            headers={name: _header(session, value) for name, value in node.headers.items()},
            body=_render_body(session, node.body),
            timeout=node.timeout,
            hold_prompts=session.prompts(node.hold_prompt),
            display_url=session.render_masked(node.url),
        )
    )
    session.step = "http"
    session.pending["request_id"] = request_id
    return None


def _header(session: Session, value: str | EnvValue) -> str:
    if isinstance(value, EnvValue):
        return session.dialplans.environment.get(value.env, "")
    return session.render(value)


def _render_body(session: Session, body: Any) -> Any:
    if isinstance(body, str):
        return session.render(body)
    if isinstance(body, dict):
        return {key: _render_body(session, value) for key, value in body.items()}
    if isinstance(body, list):
        return [_render_body(session, value) for value in body]
    return body


def resume_http(session: Session, node: HttpNode, event: Event) -> Next:
    if not isinstance(event, HttpResult) or event.request_id != session.pending["request_id"]:
        return _ignore(session, event)
    if event.error or not 200 <= event.status < 300:
        session.log.warning(
            "ivr_http_failed", node=session.node_name, status=event.status, error=event.error
        )
        return node.error or node.next
    session.assign({name: json_path(event.body, path) for name, path in node.assign.items()})
    return node.next


def json_path(data: Any, path: str) -> Any:
    """Read ``customer.name`` or ``items[0].id`` from JSON data; None if absent."""
    value = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path.removeprefix("$.")):
        if part.startswith("["):
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and index < len(value) else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value


# queue, transfer, record, survey, hangup


def enter_queue(session: Session, node: QueueNode) -> Next:
    language = session.render(node.language) if node.language else session.language
    session.actions.append(
        Enqueue(
            queue=node.queue,
            skills=dict(node.skills),
            preferred_skills=dict(node.preferred_skills),
            language=language or session.language,
            priority=_priority(session, node.priority),
            attributes=_attributes(session, node.attributes),
        )
    )
    session.step = "queue"
    session.state["outcome"] = "queue"
    return None


def _priority(session: Session, priority: int | str) -> int:
    if isinstance(priority, int):
        return priority
    text = session.render(priority).strip()
    try:
        return int(float(text))
    except ValueError:
        session.log.warning("ivr_priority_invalid", node=session.node_name, value=text)
        return 0


def _attributes(session: Session, attributes: dict[str, Any] | list[str]) -> dict[str, Any]:
    """Attributes go to the ACD and agents' screens, so sensitive values stay masked."""
    masked = session.masked_values()
    if isinstance(attributes, list):
        return {name: masked.get(name) for name in attributes}
    return {
        name: session.render_masked(value) if isinstance(value, str) else value
        for name, value in attributes.items()
    }


def resume_queue(session: Session, node: QueueNode, event: Event) -> Next:
    if not isinstance(event, QueueResult):
        return _ignore(session, event)
    session.state["outcome"] = ""
    if event.outcome == "answered":
        return then_or_hang_up(session, node.answered)
    targets: dict[str, str] = {str(outcome): target for outcome, target in node.on.items()}
    target = targets.get(event.outcome) or node.next
    return then_or_hang_up(session, target, f"queue_{event.outcome}")


def enter_transfer(session: Session, node: TransferNode) -> Next:
    target = session.render(node.target).strip()
    session.actions.append(Transfer(target=target, timeout=node.timeout))
    session.finish("transfer")
    return None


def enter_record(session: Session, node: RecordNode) -> Next:
    name = session.render(node.name) or session.state["call"]["call_id"]
    session.actions.append(
        Record(
            name=name,
            max_length=node.max_length,
            beep=node.beep,
            finish_on_key=node.finish_key,
            prompts=session.prompts(node.prompt),
        )
    )
    session.step = "record"
    return None


def resume_record(session: Session, node: RecordNode, event: Event) -> Next:
    if not isinstance(event, RecordingFinished):
        return _ignore(session, event)
    if node.variable:
        session.assign({node.variable: event.name})
    return then_or_hang_up(session, node.next)


def enter_survey(session: Session, node: SurveyNode) -> Next:
    _survey_gather(session, node, session.prompts(node.prompt))
    return None


def _survey_gather(session: Session, node: SurveyNode, prompts: list[Any]) -> None:
    session.gather(
        "survey",
        prompts=prompts,
        timeout=node.timeout,
        complete=SURVEY_KEYS,
        prefixes=SURVEY_KEYS,
        terminator="",
    )


def resume_survey(session: Session, node: SurveyNode, event: Event) -> Next:
    keys = keys_of(event)
    if keys is None:
        return _ignore(session, event)
    if keys not in SURVEY_KEYS:
        if session.count("tries") >= node.tries:
            return then_or_hang_up(session, node.next)
        _survey_gather(session, node, session.prompts(node.invalid_prompt, node.prompt))
        return None

    session.actions.append(SurveyAnswer(question=node.question, score=int(keys)))
    session.assign({node.question: int(keys)})
    thanks = session.prompts(node.thanks)
    if thanks:
        session.play(thanks, node.next)
        return None
    return then_or_hang_up(session, node.next)


def enter_hangup(session: Session, node: HangupNode) -> Next:
    prompts = session.prompts(node.prompt)
    if prompts:
        session.play(prompts, None, reason=node.reason)
    else:
        session.hang_up(node.reason)
    return None


def _ignore(session: Session, event: Event) -> Next:
    session.log.warning(
        "ivr_event_unexpected", node=session.node_name, step=session.step, event_kind=event.kind
    )
    return None


Enter = Callable[[Session, Any], Next]
Resume = Callable[[Session, Any, Event], Next]

ENTER: dict[type[NodeModel], Enter] = {
    MenuNode: enter_menu,
    InputNode: enter_input,
    PlayNode: enter_play,
    SayNode: enter_say,
    SetNode: enter_set,
    BranchNode: enter_branch,
    ScheduleNode: enter_schedule,
    LanguageNode: enter_language,
    HttpNode: enter_http,
    QueueNode: enter_queue,
    TransferNode: enter_transfer,
    RecordNode: enter_record,
    SurveyNode: enter_survey,
    GotoNode: enter_goto,
    HangupNode: enter_hangup,
}
RESUME: dict[type[NodeModel], Resume] = {
    MenuNode: resume_menu,
    InputNode: resume_input,
    HttpNode: resume_http,
    QueueNode: resume_queue,
    RecordNode: resume_record,
    SurveyNode: resume_survey,
}
