"""Explanations of routing: why each agent can or cannot take an interaction now."""

from __future__ import annotations

from collections.abc import Iterable

from acd.model import AgentRecord, AgentStatus, InteractionRecord
from acd.profiles import ineligibility
from acd.views import Explanation


def explain_interaction(
    interaction: InteractionRecord,
    agents: Iterable[AgentRecord],
    next_step_at: float | None,
    now: float,
) -> Explanation:
    """Build the explanation of ``interaction`` against every agent in ``agents``."""
    needs = interaction.requirements
    return Explanation(
        interaction_id=interaction.interaction_id,
        queue=interaction.queue,
        status=interaction.status.value,
        step=interaction.step,
        next_step_at=next_step_at,
        required_skills=dict(needs.skills),
        language=needs.language,
        queues=tuple(sorted(needs.queues)),
        groups=tuple(sorted(needs.groups)),
        preferred_agent=needs.agent_id,
        agents={agent.agent_id: agent_reason(agent, interaction, now) for agent in agents},
    )


def agent_reason(agent: AgentRecord, interaction: InteractionRecord, now: float) -> str:
    """Return ``"eligible"`` or why ``agent`` cannot be offered ``interaction`` now."""
    static = ineligibility(agent.agent_id, agent.settings, interaction.requirements)
    if static is not None:
        return static
    if agent.status is AgentStatus.LOGGED_OUT:
        return "logged out"
    if agent.status is AgentStatus.NOT_READY:
        return f"not ready ({agent.reason})" if agent.reason else "not ready"
    if any(offer.agent is agent for offer in interaction.offers):
        return "offered this interaction now"
    if agent.offer is not None:
        return "reserved for another offer"
    if agent.wrapup_until is not None:
        return f"in wrap-up until {agent.wrapup_until:g}"
    capacity = agent.capacity_reason(interaction.channel)
    if capacity is not None:
        return capacity
    if interaction.is_excluded(agent.agent_id, now):
        assert interaction.excluded is not None
        until = interaction.excluded[agent.agent_id]
        return f"missed this interaction, not offered it again until {until:g}"
    return "eligible"
