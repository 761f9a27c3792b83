// The agent console: status, offer with screen pop and ring countdown, interactions with
// hold, blind and consult transfer and hang-up, written messages, and the wrap-up form.

import {
  ApiError, EventStream, element, formatSeconds, nowSeconds, request, wireSession,
} from "/cti/static/cti.js";

const POP_LABELS = [
  ["caller_name", "Name"], ["caller", "Caller"], ["called", "Called"], ["language", "Language"],
  ["queue", "Queue"], ["waited", "Waited"], ["subject", "Subject"],
];
const byId = (id) => document.getElementById(id);
const CONSULT_STATES = {
  requested: "waiting for the target to accept",
  ringing: "ringing, the caller holds",
  connected: "talking, the caller holds",
};

const desk = {
  user: null,
  view: null,
  history: new Map(), // offer id -> previous interactions
  stream: null,
  refreshes: 0,
  renderedInteractions: "",
  consultPending: false,
  lastPoll: 0,
};
// Seconds between view refreshes while a consultation waits for its target. The console
// also refreshes on consult_changed, but only where the CTI hub forwards that event.
const CONSULT_POLL = 1.0;

function agentPath(suffix = "") {
  return `/api/agents/${encodeURIComponent(desk.user.agent_id)}${suffix}`;
}

async function act(method, suffix, body) {
  byId("action-error").textContent = "";
  try {
    await request(method, agentPath(suffix), body);
    await refresh();
  } catch (error) {
    byId("action-error").textContent = error instanceof ApiError ? error.message : String(error);
  }
}

async function refresh() {
  // Only the newest of overlapping requests renders, so an older view never wins.
  const serial = ++desk.refreshes;
  const body = await request("GET", agentPath());
  if (serial === desk.refreshes) render(body.agent);
}

function fillCodes(select, codes) {
  select.replaceChildren(...codes.map((code) => element("option", { value: code }, code)));
}

function render(view) {
  desk.view = view;
  byId("status").textContent = view.status;
  byId("reason").textContent = view.reason ? `(${view.reason})` : "";
  byId("state").textContent = view.state;
  renderOffer(view.offer);
  renderInteractions(view.interactions || []);
  renderWrapup(view.wrapup);
  desk.consultPending = (view.interactions || []).some((item) => item.consult && item.consult.state !== "connected");
}

function renderOffer(offer) {
  const panel = byId("offer-panel");
  panel.hidden = !offer;
  if (!offer) return;

  const pop = offer.pop || {};
  byId("offer-channel").textContent = offer.channel;
  byId("offer-caller").textContent = pop.caller_name || pop.caller || "unknown";
  const consult = byId("offer-consult");
  consult.hidden = !pop.consult;
  if (pop.consult) {
    consult.textContent = `Consultation from ${pop.consult.from_agent_name || pop.consult.from_agent_id} about this caller`;
  }
  byId("pop").replaceChildren(...popRows(pop));
  byId("offer-messages").replaceChildren(
    ...(pop.messages && pop.messages.length ? [transcript(pop.messages, pop.subject)] : []));

  const link = byId("crm-link");
  link.hidden = !pop.crm_url;
  if (pop.crm_url) link.href = pop.crm_url;
  renderHistory(pop.previous_interactions || desk.history.get(offer.offer_id) || []);

  byId("accept").dataset.offer = offer.offer_id;
  byId("reject").dataset.offer = offer.offer_id;
  panel.dataset.expiresAt = offer.expires_at || nowSeconds() + (offer.timeout || 0);
}

function popRows(pop) {
  const rows = [];
  const row = (label, value, attributes) => rows.push(element("dt", {}, label), element("dd", attributes, value));
  for (const [key, label] of POP_LABELS) {
    if (pop[key] === undefined || pop[key] === "") continue;
    row(label, key === "waited" ? formatSeconds(pop[key]) : displayValue(pop[key]), { "data-field": key });
  }
  if (pop.ivr_path && pop.ivr_path.length) {
    row("IVR path", pop.ivr_path.join(" › "), { "data-field": "ivr_path" });
  }
  for (const [name, value] of Object.entries(pop.variables || {})) {
    row(name, displayValue(value), { "data-variable": name });
  }
  for (const [name, value] of Object.entries(pop.crm || {})) {
    row(`CRM ${name}`, displayValue(value), { "data-crm": name });
  }
  return rows;
}

function displayValue(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function renderHistory(entries) {
  const box = byId("offer-history");
  if (!entries.length) {
    box.replaceChildren();
    return;
  }
  box.replaceChildren(
    element("h3", {}, `Previous contacts (${entries.length})`),
    element("ul", {}, ...entries.map((entry) => element("li", {},
      `${new Date((entry.arrived_at ?? entry.started_at) * 1000).toLocaleString()} · ${entry.channel} · ${entry.queue} · ` +
      `${entry.outcome}${entry.disposition ? ` · ${entry.disposition}` : ""}`))),
  );
}

function renderInteractions(interactions) {
  // Cards are rebuilt only when an interaction changed, so typing in them survives events.
  const key = JSON.stringify(interactions);
  if (key === desk.renderedInteractions) return;
  desk.renderedInteractions = key;
  byId("no-interactions").hidden = interactions.length > 0;
  byId("interactions").replaceChildren(...interactions.map(interactionCard));
}

function interactionCard(item) {
  const id = item.interaction_id;
  const base = `/interactions/${encodeURIComponent(id)}`;
  const attributes = item.attributes || {};
  const card = element("article", { class: "interaction", "data-interaction": id },
    element("h3", {}, `${item.channel} · ${item.caller || ""} · ${item.queue || ""}`),
    element("p", {}, item.channel === "voice" ? "Talking " : "Open for ", element("strong", { class: "timer", "data-since": item.connected_at }, "0:00"),
      item.on_hold ? element("span", { class: "badge" }, " on hold") : null),
  );
  if (item.consulted_by) {
    card.append(element("p", { class: "consult-from" },
      `Consultation from ${item.consulted_by.agent_id}: the caller holds until ${item.consulted_by.agent_id} completes the transfer`));
  }
  if (item.channel === "email" || item.channel === "chat") card.append(writtenMessages(item, attributes, base));
  const kind = element("select", { "aria-label": "Transfer target kind" },
    ...["queue", "agent", "number"].map((value) => element("option", { value }, value)));
  const target = element("input", { placeholder: "target", "aria-label": "Transfer target" });
  const consulting = Boolean(item.consult) || Boolean(item.consulted_by);
  card.append(element("div", { class: "actions" },
    item.channel === "voice" && !consulting
      ? element("button", { type: "button", class: "hold", onclick: () => act("POST", `${base}/hold`, { on_hold: !item.on_hold }) },
          item.on_hold ? "Resume" : "Hold")
      : null,
    element("button", { type: "button", class: "hangup", onclick: () => act("POST", `${base}/hangup`) },
      item.channel === "voice" ? "Hang up" : "Close"),
    ...(consulting ? [] : [kind, target,
      element("button", { type: "button", class: "transfer", onclick: () => act("POST", `${base}/transfer`, {
        target_kind: kind.value, target: target.value,
      }) }, "Transfer"),
      item.channel === "voice"
        ? element("button", { type: "button", class: "consult", onclick: () => act("POST", `${base}/consult`, {
            target_kind: kind.value, target: target.value,
          }) }, "Consult")
        : null,
    ]),
  ));
  if (item.consult) card.append(consultPanel(item.consult, base));
  return card;
}

function consultPanel(consult, base) {
  // While consulting, the agent completes the transfer once the target answers, or cancels.
  return element("div", { class: "actions consulting", "data-consult-state": consult.state },
    element("span", { class: "consult-status" },
      `Consulting ${consult.target_kind} ${consult.target}: ${CONSULT_STATES[consult.state] || consult.state}`),
    element("button", { type: "button", class: "complete-consult primary", disabled: consult.state !== "connected",
      onclick: () => act("POST", `${base}/consult/complete`) }, "Complete transfer"),
    element("button", { type: "button", class: "cancel-consult", onclick: () => act("POST", `${base}/consult/cancel`) },
      "Cancel consult"),
  );
}

function transcript(messages, subject) {
  const box = element("div", { class: "messages" });
  if (subject) box.append(element("p", { class: "subject" }, subject));
  for (const message of messages) {
    if (message.subject && message.subject !== subject) {
      box.append(element("p", { class: "subject" }, message.subject));
    }
    box.append(element("p", { class: `message ${message.direction || "in"}` },
      element("span", { class: "muted" }, `${message.from || ""}: `), message.text));
  }
  return box;
}

function writtenMessages(item, attributes, base) {
  const box = transcript(attributes.messages || [], attributes.subject);
  const reply = element("textarea", { rows: 2, "aria-label": "Reply", maxlength: 32000 });
  box.append(reply, element("button", { type: "button", onclick: () => act("POST", `${base}/messages`, { text: reply.value }) }, "Send"));
  return box;
}

function renderWrapup(wrapup) {
  const panel = byId("wrapup-panel");
  panel.hidden = !wrapup;
  if (wrapup) panel.dataset.deadline = wrapup.deadline;
}

function tick() {
  const now = nowSeconds();
  const offer = byId("offer-panel");
  if (!offer.hidden) byId("countdown").textContent = formatSeconds(Number(offer.dataset.expiresAt) - now);
  for (const timer of document.querySelectorAll(".timer")) {
    timer.textContent = formatSeconds(now - Number(timer.dataset.since));
  }
  const wrapup = byId("wrapup-panel");
  if (!wrapup.hidden) byId("wrapup-left").textContent = `${formatSeconds(Number(wrapup.dataset.deadline) - now)} left`;
  if (desk.consultPending && now - desk.lastPoll >= CONSULT_POLL) {
    desk.lastPoll = now;
    refresh().catch((error) => { byId("action-error").textContent = String(error); });
  }
}

function onEvent(message) {
  if (message.type === "consult_changed") showConsultEnd(message);
  if (message.type === "typing_changed") {
    // Typing changes nothing in the view; a refresh would rebuild the card and lose a draft reply.
    if (message.sender === "customer") byId("action-error").textContent = message.typing ? "The customer is typing…" : "";
    return;
  }
  if (message.type === "offer_history_found") desk.history.set(message.offer_id, message.interactions);
  if (message.type === "offer_created" && desk.view) {
    render({ ...desk.view, offer: { ...message, expires_at: message.ts + message.timeout } });
  }
  refresh().catch((error) => { byId("action-error").textContent = String(error); });
}

const CONSULT_ENDINGS = {
  failed: (message) => `The consultation with ${message.target} failed (${message.reason}); you are back with the caller.`,
  target_left: (message) => `${message.target} hung up; you are back with the caller.`,
};

function showConsultEnd(message) {
  const text = CONSULT_ENDINGS[message.state];
  if (text) byId("action-error").textContent = text(message);
}

function onSnapshot(snapshot) {
  fillCodes(byId("reason-code"), snapshot.reason_codes);
  fillCodes(byId("disposition"), snapshot.disposition_codes);
  if (snapshot.agent) render(snapshot.agent);
}

function showDesk(user) {
  desk.user = user;
  byId("login-panel").hidden = true;
  byId("desk").hidden = false;
  byId("logout").hidden = false;
  byId("who").textContent = `${user.name} (${user.role})`;
  desk.stream = new EventStream({ onSnapshot, onEvent, onStatus: (text) => { byId("connection").textContent = text; } });
  desk.stream.start();
}

function wire() {
  wireSession({
    accept: (user) => (user.agent_id ? "" : "this user is not an agent; supervisors use /cti/wallboard"),
    onLogin: showDesk,
    stream: () => desk.stream,
  });
  byId("go-available").addEventListener("click", () => act("POST", "/status", { status: "available" }));
  byId("go-not-ready").addEventListener("click", () => act("POST", "/status", { status: "not_ready", reason_code: byId("reason-code").value }));
  byId("go-logged-out").addEventListener("click", () => act("POST", "/status", { status: "logged_out" }));
  byId("accept").addEventListener("click", (event) => act("POST", `/offers/${encodeURIComponent(event.target.dataset.offer)}/accept`));
  byId("reject").addEventListener("click", (event) => act("POST", `/offers/${encodeURIComponent(event.target.dataset.offer)}/reject`));
  byId("wrapup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act("POST", "/wrapup/end", { disposition: byId("disposition").value, notes: byId("notes").value })
      .then(() => { byId("notes").value = ""; });
  });
  byId("extend-wrapup").addEventListener("click", () => act("POST", "/wrapup/extend", { seconds: 30 }));
  setInterval(tick, 250);
}

wire();
