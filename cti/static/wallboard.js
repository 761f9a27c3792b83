// The supervisor wallboard: queue statistics and agents, updated live, with status control.

import {
  ApiError, EventStream, element, formatSeconds, request, wireSession,
} from "/cti/static/cti.js";

const byId = (id) => document.getElementById(id);
const board = { stream: null, reasonCodes: [], refreshing: null };

function renderQueues(queues) {
  byId("queues").tBodies[0].replaceChildren(...queues.map((queue) => element("tr", { "data-queue": queue.queue },
    element("td", {}, queue.queue),
    element("td", { class: "waiting" }, queue.waiting),
    element("td", { class: "longest" }, formatSeconds(queue.longest_wait)),
    element("td", { class: "sl" }, queue.service_level === null ? "–" : `${Math.round(queue.service_level * 100)} %`),
    element("td", { class: "states" }, Object.entries(queue.agents || {}).map(([state, count]) => `${state} ${count}`).join(", ")),
  )));
}

function renderAgents(agents) {
  byId("agents").tBodies[0].replaceChildren(...agents.map((agent) => {
    const reason = element("select", { "aria-label": "Reason code" },
      ...board.reasonCodes.map((code) => element("option", { value: code }, code)));
    const set = (status) => setStatus(agent.agent_id, status, status === "not_ready" ? reason.value : "");
    return element("tr", { "data-agent": agent.agent_id },
      element("td", {}, agent.name || agent.agent_id),
      element("td", { class: "status" }, agent.status),
      element("td", {}, agent.reason || ""),
      element("td", { class: "state" }, agent.state),
      element("td", {},
        element("button", { type: "button", onclick: () => set("available") }, "Available"),
        reason,
        element("button", { type: "button", onclick: () => set("not_ready") }, "Not ready"),
        element("button", { type: "button", onclick: () => set("logged_out") }, "Log out")),
    );
  }));
}

async function setStatus(agentId, status, reasonCode) {
  byId("action-error").textContent = "";
  try {
    await request("POST", `/api/agents/${encodeURIComponent(agentId)}/status`, { status, reason_code: reasonCode });
  } catch (error) {
    byId("action-error").textContent = error instanceof ApiError ? error.message : String(error);
  }
}

function refreshAgentsSoon() {
  // Bursts of agent events lead to one request every 300 ms at most.
  if (board.refreshing) return;
  board.refreshing = setTimeout(async () => {
    board.refreshing = null;
    const body = await request("GET", "/api/agents").catch(() => null);
    if (body) renderAgents(body.agents);
  }, 300);
}

function onSnapshot(snapshot) {
  board.reasonCodes = snapshot.reason_codes;
  renderQueues(snapshot.queues || []);
  renderAgents(snapshot.agents || []);
}

function onEvent(message) {
  if (message.type === "queue_stats_updated") renderQueues(message.queues);
  else if (message.agent_id) refreshAgentsSoon();
}

function showBoard(user) {
  byId("login-panel").hidden = true;
  byId("board").hidden = false;
  byId("logout").hidden = false;
  byId("who").textContent = `${user.name} (${user.role})`;
  board.stream = new EventStream({ onSnapshot, onEvent, onStatus: (text) => { byId("connection").textContent = text; } });
  board.stream.start();
}

wireSession({
  accept: (user) => (user.role === "agent" ? "the wallboard is for supervisors; agents use /cti/" : ""),
  onLogin: showBoard,
  stream: () => board.stream,
});
