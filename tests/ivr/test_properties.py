"""Random callers through the shipped and generated dialplans: no crash, every call ends."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from ivr.actions import CallInfo
from ivr.dialplans import DialplanSet
from ivr.loader import check, load_dialplans
from ivr.settings import IvrSettings
from ivr.simulator import FakeHttpReply, KeyInput, Simulator, scripted_keys
from santral.clock import VirtualClock
from tests.ivr.conftest import REPOSITORY, SHIPPED_DIALPLANS

ENDINGS = {"hangup", "transfer", "queue", "caller_hangup"}
MAX_ACTIONS = 300
SHIPPED = load_dialplans(
    SHIPPED_DIALPLANS,
    IvrSettings(dialplans=SHIPPED_DIALPLANS, recordings=REPOSITORY / "recordings"),
)

key_inputs = st.builds(
    KeyInput,
    keys=st.text(alphabet="0123456789*#", max_size=14),
    gap=st.sampled_from([0.1, 0.5, 1.5, 3.0, 6.0, 31.0]),
)
http_replies = st.one_of(
    st.builds(
        FakeHttpReply,
        url=st.just("*"),
        status=st.sampled_from([200, 404, 500]),
        body=st.fixed_dictionaries(
            {"customer": st.fixed_dictionaries({"vip": st.booleans(), "name": st.text(max_size=8)})}
        ),
    ),
    st.builds(FakeHttpReply, url=st.just("*"), error=st.sampled_from(["timeout", "connection"])),
)
queue_outcomes = st.lists(
    st.sampled_from(["answered", "overflow", "timeout", "no_agents", "full", "left"]), max_size=3
)
moments = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)).map(
    lambda moment: moment.replace(tzinfo=dt.UTC).timestamp()
)


def run_call(
    dialplans: DialplanSet,
    keys: list[KeyInput],
    http: list[FakeHttpReply],
    queue: list[str],
    at: float,
    entry: str | None = None,
) -> None:
    simulator = Simulator(
        dialplans, VirtualClock(at), scripted_keys(keys), http=http, queue_results=queue
    )
    call = CallInfo(call_id="property", caller="+905550000000", called="100")

    transcript = simulator.run(call, entry)

    assert transcript.outcome in ENDINGS, transcript.path
    assert len(transcript.actions) <= MAX_ACTIONS


@settings(max_examples=150, deadline=None)
@given(
    keys=st.lists(key_inputs, max_size=12),
    http=st.lists(http_replies, max_size=1),
    queue=queue_outcomes,
    at=moments,
    language=st.sampled_from(["", "en", "tr"]),
)
def test_shipped_dialplans_always_end(
    keys: list[KeyInput], http: list[FakeHttpReply], queue: list[str], at: float, language: str
) -> None:
    run_call(SHIPPED, keys, http, queue, at)


@settings(max_examples=40, deadline=None)
@given(keys=st.lists(key_inputs, max_size=8), hang_up_after=st.integers(0, 5))
def test_hangup_anywhere_ends_call(keys: list[KeyInput], hang_up_after: int) -> None:
    script = [*keys[:hang_up_after], KeyInput(hang_up=True)]

    run_call(SHIPPED, script, [], ["answered"], 1796626800.0)


KINDS = ["menu", "input", "set", "branch", "goto", "play", "hangup", "transfer", "queue"]


@st.composite
def generated_dialplans(draw: st.DrawFn) -> dict[str, Any]:
    """Draw a small dialplan of random nodes wired to random targets."""
    names = [f"n{index}" for index in range(draw(st.integers(2, 7)))]
    target = st.sampled_from(names)
    nodes = {name: draw(_node(draw(st.sampled_from(KINDS)), target)) for name in names}
    return {"start": "n0", "nodes": nodes}


def _node(kind: str, target: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    prompt = {"tts": "prompt"}
    options = st.dictionaries(
        st.sampled_from(["1", "2", "12", "9", "0", "_4X", "*"]), target, min_size=1, max_size=4
    )
    builders: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "menu": st.fixed_dictionaries(
            {
                "kind": st.just("menu"),
                "greeting": st.just(prompt),
                "options": options,
                "failure": target,
                "max_no_input": st.integers(1, 3),
                "max_invalid": st.integers(1, 3),
            }
        ),
        "input": st.fixed_dictionaries(
            {
                "kind": st.just("input"),
                "variable": st.sampled_from(["a", "b"]),
                "prompt": st.just(prompt),
                "max_digits": st.integers(1, 6),
                "next": target,
                "failure": target,
            }
        ),
        "set": st.fixed_dictionaries(
            {"kind": st.just("set"), "variables": st.just({"a": "1"}), "next": target}
        ),
        "branch": st.fixed_dictionaries(
            {
                "kind": st.just("branch"),
                "conditions": st.lists(
                    st.fixed_dictionaries(
                        {"if": st.sampled_from(["a == 1", "b > 5 or a", "not b"]), "target": target}
                    ),
                    min_size=1,
                    max_size=2,
                ),
                "else": target,
            }
        ),
        "goto": st.fixed_dictionaries({"kind": st.just("goto"), "target": target}),
        "play": st.fixed_dictionaries(
            {"kind": st.just("play"), "prompts": st.just(prompt), "next": target}
        ),
        "hangup": st.just({"kind": "hangup"}),
        "transfer": st.just({"kind": "transfer", "target": "1000"}),
        "queue": st.fixed_dictionaries(
            {"kind": st.just("queue"), "queue": st.just("q"), "next": target}
        ),
    }
    return builders[kind]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=generated_dialplans(),
    keys=st.lists(key_inputs, max_size=10),
    queue=queue_outcomes,
)
def test_valid_generated_dialplans_end(
    plan: dict[str, Any], keys: list[KeyInput], queue: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.yaml"
        with path.open("w", encoding="utf-8") as stream:
            YAML().dump(plan, stream)
        ivr = IvrSettings(dialplans=Path(folder), recordings=Path(folder) / "recordings")
        dialplans, _ = check(path, ivr)
        event("valid" if dialplans is not None else "rejected")
        if dialplans is None:
            return  # rejected by validation (for example a loop without input)

        run_call(dialplans, keys, [], queue, 1796626800.0, "generated")
