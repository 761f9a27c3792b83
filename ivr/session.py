"""The working context of one interpreter step: state, variables, prompts, actions.

The interpreter copies the JSON state into a ``Session``, lets node handlers change it and
collect actions, and hands back the new state. Sensitive values live only sealed in the
state (see ``ivr.sealing``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import structlog

from ivr import templates
from ivr.actions import Action, Gather, Hangup, Play, Prompt, SetVariables
from ivr.dialplans import DialplanSet
from ivr.model import PromptItem, PromptSpec
from ivr.sealing import mask
from santral.clock import Clock

log = structlog.get_logger(__name__)

MAX_PATH = 500


class Session:
    """Mutable view of a call's state while the interpreter works on it."""

    def __init__(self, dialplans: DialplanSet, state: dict[str, Any], clock: Clock) -> None:
        self.dialplans = dialplans
        # A JSON round trip copies the caller's state (so it is never changed in place)
        # and fails early if anything in it could not be stored between webhooks.
        self.state = json.loads(json.dumps(state))
        self.clock = clock
        self.actions: list[Action] = []
        self.steps = 0
        self.spoke_secret = False
        self.log = log.bind(call_id=self.state["call"]["call_id"])

    # Where the call is

    @property
    def dialplan(self) -> str:
        return str(self.state["dialplan"])

    @property
    def node_name(self) -> str:
        return str(self.state["node"])

    @property
    def step(self) -> str:
        return str(self.state["step"])

    @step.setter
    def step(self, value: str) -> None:
        self.state["step"] = value

    @property
    def pending(self) -> dict[str, Any]:
        pending: dict[str, Any] = self.state["pending"]
        return pending

    @property
    def language(self) -> str:
        return str(self.state["language"])

    def count(self, name: str) -> int:
        """Add one to the try counter ``name`` (no_input, invalid) and return it."""
        tries: dict[str, int] = self.state["tries"]
        tries[name] = tries.get(name, 0) + 1
        return tries[name]

    def tries(self, name: str) -> int:
        return int(self.state["tries"].get(name, 0))

    def enter(self, dialplan: str, node: str) -> None:
        """Move to a node; the first visit to a dialplan sets its initial variables."""
        self.state.update(dialplan=dialplan, node=node, step="", pending={}, tries={})
        path: list[str] = self.state["path"]
        path.append(f"{dialplan}.{node}")
        del path[:-MAX_PATH]
        if dialplan not in self.state["dialplans"]:
            self.state["dialplans"].append(dialplan)
            self._initial_variables(dialplan)

    def _initial_variables(self, dialplan: str) -> None:
        """Set the dialplan's ``variables`` that the call does not have yet."""
        defaults = self.dialplans.dialplans[dialplan].header.variables
        known = self.state["variables"]
        self.assign({name: value for name, value in defaults.items() if name not in known})

    # Variables

    def sensitive_names(self) -> set[str]:
        return set(self.dialplans.sensitive) | set(self.state["sensitive"])

    def values(self) -> dict[str, Any]:
        """Return every variable in clear, for templates and conditions inside the interpreter."""
        values = dict(self.state["variables"])
        for name, token in self.state["sealed"].items():
            values[name] = self.dialplans.sealer.unseal(token)
        return values

    def masked_values(self) -> dict[str, Any]:
        return dict(self.state["variables"])

    def assign(self, values: dict[str, Any], *, sensitive: bool = False) -> None:
        """Set variables and report them (masked) with one ``SetVariables`` action."""
        if not values:
            return
        reported: dict[str, Any] = {}
        secret_names = self.sensitive_names()
        for name, value in values.items():
            reported[name] = self._store(name, value, sensitive or name in secret_names)
        self.actions.append(SetVariables(variables=reported))

    def _store(self, name: str, value: Any, sensitive: bool) -> Any:
        value = _json_value(value)
        variables: dict[str, Any] = self.state["variables"]
        sealed: dict[str, str] = self.state["sealed"]
        if not sensitive:
            sealed.pop(name, None)
            variables[name] = value
            return value
        text = "" if value is None else str(value)
        sealed[name] = self.dialplans.sealer.seal(text)
        variables[name] = mask(text)
        if name not in self.state["sensitive"]:
            self.state["sensitive"].append(name)
        return variables[name]

    def render(self, text: str) -> str:
        """Render a template with clear values; only for the action that needs them.

        Rendering a sensitive variable marks the session, so the next ``Play`` carries
        ``sensitive=True``.
        """
        if templates.referenced(text) & self.sensitive_names():
            self.spoke_secret = True
        try:
            return templates.render(text, self.values())
        except Exception as error:  # a sandbox violation or a failing filter
            self.log.warning("ivr_template_failed", node=self.node_name, error=str(error))
            return ""

    def render_masked(self, text: str) -> str:
        """Render a template with masked values, for data that leaves the IVR (CTI, ACD)."""
        try:
            return templates.render(text, self.masked_values())
        except Exception as error:
            self.log.warning("ivr_template_failed", node=self.node_name, error=str(error))
            return ""

    # Prompts

    def prompts(self, *specs: PromptSpec | None) -> list[Prompt]:
        """Build the prompts of one or more prompt specs in the call's language."""
        self.spoke_secret = False
        result: list[Prompt] = []
        for spec in specs:
            if spec is None:
                continue
            items = spec if isinstance(spec, list) else [spec]
            result.extend(self._prompt(item) for item in items)
        return result

    def _prompt(self, item: str | PromptItem) -> Prompt:
        language = self.language
        if isinstance(item, str) or item.file is not None:
            name = item if isinstance(item, str) else str(item.file)
            text = self.dialplans.prompt_text(name, language)
            return Prompt(type="file", value=name, language=language, text=text)
        if item.tts is not None:
            text = self.render(self.localized(item.tts))
            return Prompt(type="tts", value=text, language=language)
        if item.silence is not None:
            return Prompt(type="silence", value=str(item.silence), language=language)
        kind, template = _say_kind(item)
        return Prompt(type=kind, value=self.render(template), language=language)

    def localized(self, text: str | dict[str, str]) -> str:
        """Pick the text for the call's language (falling back to the default language)."""
        if isinstance(text, str):
            return text
        default = self.dialplans.settings.default_language
        return text.get(self.language) or text.get(default) or next(iter(text.values()), "")

    # Actions

    def play(self, prompts: list[Prompt], then: str | None, *, reason: str = "normal") -> None:
        """Play ``prompts`` (at least one), then go to ``then`` (or hang up with ``reason``)."""
        self.actions.append(Play(prompts=prompts, sensitive=self.spoke_secret))
        self.spoke_secret = False
        self.step = "play"
        self.pending.update(then=then, reason=reason)

    def gather(self, step: str, **options: Any) -> None:
        options["sensitive"] = bool(options.get("sensitive")) or self.spoke_secret
        self.actions.append(Gather(language=self.language, **options))
        self.step = step

    def hang_up(self, reason: str = "normal") -> None:
        self.actions.append(Hangup(reason=reason))
        self.finish("hangup")

    def finish(self, outcome: str) -> None:
        self.state.update(done=True, outcome=outcome, step="")


def _json_value(value: Any) -> Any:
    """Return ``value`` in a form JSON keeps: YAML dates become ISO strings."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return str(value)


def _say_kind(item: PromptItem) -> tuple[Any, str]:
    if item.digits is not None:
        return "digits", item.digits
    if item.number is not None:
        return "number", item.number
    return "date", str(item.date)
