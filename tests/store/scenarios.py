"""Event sequences of typical calls, published on a bus in virtual time."""

from __future__ import annotations

from dataclasses import dataclass

from santral import events as ev
from santral.clock import VirtualClock


@dataclass
class Timeline:
    """A bus with a virtual clock; ``at(t)`` moves the clock before the next publish."""

    bus: ev.EventBus
    clock: VirtualClock

    def at(self, when: float) -> Timeline:
        self.clock.set(when)
        return self

    def publish(self, event: ev.Event) -> None:
        self.bus.publish(event)


def new_timeline(start: float = 1_700_000_000.0) -> Timeline:
    clock = VirtualClock(start)
    return Timeline(ev.EventBus(clock), clock)


def answered_call(
    line: Timeline, start: float, call_id: str, *, caller: str = "+905551112233",
    queue: str = "sales", agent: str = "ayse", wait: float = 12.0, talk: float = 100.0,
    hold: float = 0.0, wrapup: float = 20.0, survey: int | None = None,
    channel: str = "voice", outcome: str = "answered",
) -> None:
    """Publish a call through the IVR into ``queue``, answered after ``wait`` seconds."""
    interaction = f"i-{call_id}"
    line.at(start).publish(ev.CallStarted(call_id=call_id, connector="virtual", caller=caller,
                                          called="+902120000000", dialplan="main"))
    line.at(start + 1).publish(ev.IvrNodeEntered(call_id=call_id, dialplan="main",
                                                 node="welcome", kind="play"))
    line.at(start + 2).publish(ev.IvrNodeEntered(call_id=call_id, dialplan="main",
                                                 node="menu", kind="menu"))
    line.at(start + 3).publish(ev.IvrFinished(call_id=call_id, outcome="queued",
                                              path=["welcome", "menu"],
                                              variables={"choice": "1", "pin": "***"}))
    line.at(start + 3).publish(ev.InteractionQueued(interaction_id=interaction, channel=channel,
                                                    queue=queue, caller=caller,
                                                    call_id=call_id))
    answer_at = start + 3 + wait
    line.at(answer_at - 1).publish(ev.OfferCreated(offer_id=f"o-{call_id}",
                                                   interaction_id=interaction, agent_id=agent,
                                                   queue=queue, channel=channel, timeout=15))
    line.at(answer_at).publish(ev.InteractionConnected(interaction_id=interaction,
                                                       agent_id=agent, queue=queue,
                                                       channel=channel))
    end_at = answer_at + talk + hold
    if hold:
        line.at(answer_at + 10).publish(ev.InteractionHeld(interaction_id=interaction,
                                                           agent_id=agent, on_hold=True))
        line.at(answer_at + 10 + hold).publish(ev.InteractionHeld(interaction_id=interaction,
                                                                  agent_id=agent,
                                                                  on_hold=False))
    line.at(end_at).publish(ev.InteractionEnded(interaction_id=interaction, outcome=outcome,
                                                queue=queue, agent_id=agent))
    line.at(end_at).publish(ev.WrapupStarted(agent_id=agent, interaction_id=interaction,
                                             duration=wrapup))
    line.at(end_at).publish(ev.CallEnded(call_id=call_id, outcome="completed"))
    if survey is not None:
        line.at(end_at + 5).publish(ev.SurveyAnswered(call_id=call_id, question="csat",
                                                      score=survey, interaction_id=interaction))
    line.at(end_at + wrapup).publish(ev.WrapupEnded(agent_id=agent, interaction_id=interaction,
                                                    disposition="sale"))


def abandoned_in_queue(
    line: Timeline, start: float, call_id: str, *, wait: float, caller: str = "+905559990000",
    queue: str = "sales",
) -> None:
    interaction = f"i-{call_id}"
    line.at(start).publish(ev.CallStarted(call_id=call_id, connector="virtual", caller=caller,
                                          called="+902120000000"))
    line.at(start + 1).publish(ev.IvrFinished(call_id=call_id, outcome="queued"))
    line.at(start + 1).publish(ev.InteractionQueued(interaction_id=interaction, channel="voice",
                                                    queue=queue, caller=caller,
                                                    call_id=call_id))
    line.at(start + 1 + wait).publish(ev.InteractionEnded(interaction_id=interaction,
                                                          outcome="abandoned_in_queue",
                                                          queue=queue))
    line.at(start + 1 + wait).publish(ev.CallEnded(call_id=call_id, outcome="caller_hangup"))


def abandoned_in_ivr(line: Timeline, start: float, call_id: str, caller: str) -> None:
    line.at(start).publish(ev.CallStarted(call_id=call_id, connector="virtual", caller=caller,
                                          called="+902120000000"))
    line.at(start + 2).publish(ev.IvrNodeEntered(call_id=call_id, dialplan="main",
                                                 node="welcome", kind="play"))
    line.at(start + 4).publish(ev.CallEnded(call_id=call_id, outcome="caller_hangup"))
