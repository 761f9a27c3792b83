// Shared client code of the agent console and the wallboard: login, REST calls and the
// WebSocket with reconnect. Plain ES module, no build step.

const TOKEN_KEY = "santral.cti.token";
const MAX_RECONNECTS = 30;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export async function login(user, password) {
  const body = await request("POST", "/api/login", { user, password }, "");
  sessionStorage.setItem(TOKEN_KEY, body.token);
  return body.user;
}

export async function logout() {
  try {
    await request("POST", "/api/logout");
  } finally {
    sessionStorage.removeItem(TOKEN_KEY);
  }
}

export async function request(method, path, body = undefined, token = savedToken()) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    throw new ApiError(response.status, error.code || "failed", error.message || response.statusText);
  }
  return data;
}

// Follows /cti/ws: calls onSnapshot with the first message after each (re)connect and
// onEvent with every later one. Reconnects with a growing delay, sending the last seq.
export class EventStream {
  constructor({ onSnapshot, onEvent, onStatus }) {
    this.onSnapshot = onSnapshot;
    this.onEvent = onEvent;
    this.onStatus = onStatus || (() => {});
    this.lastSeq = 0;
    this.attempts = 0;
    this.stopped = false;
    this.socket = null;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close(1000, "logout");
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/cti/ws`);
    this.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "hello", token: savedToken(), last_seq: this.lastSeq }));
    });
    socket.addEventListener("message", (frame) => this.receive(JSON.parse(frame.data)));
    socket.addEventListener("close", (event) => this.closed(event));
  }

  receive(message) {
    if (typeof message.ts === "number") serverOffset = message.ts - Date.now() / 1000;
    if (message.type === "snapshot") {
      this.attempts = 0;
      this.onStatus("live");
      this.onSnapshot(message);
    } else if (message.type === "error") {
      this.onStatus(`error: ${message.message}`);
    } else if (message.type !== "pong") {
      this.onEvent(message);
    }
    if (typeof message.seq === "number") this.lastSeq = Math.max(this.lastSeq, message.seq);
    if (message.type === "snapshot") this.lastSeq = message.seq;
  }

  closed(event) {
    if (this.stopped) return;
    if (event.code === 4001) {
      this.onStatus("unauthorized");
      return;
    }
    this.attempts += 1;
    if (this.attempts > MAX_RECONNECTS) {
      this.onStatus("disconnected: reload the page");
      return;
    }
    const delay = Math.min(30000, 500 * 2 ** Math.min(this.attempts, 6));
    this.onStatus(`reconnecting in ${Math.round(delay / 1000)} s`);
    setTimeout(() => this.open(), delay);
  }
}

// Wires the login form and the log-out button that both pages share. `accept(user)`
// returns an error message for a user the page is not for, or "" to let them in.
export function wireSession({ accept, onLogin, stream }) {
  const byId = (id) => document.getElementById(id);
  byId("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    byId("login-error").textContent = "";
    try {
      const user = await login(byId("user").value, byId("password").value);
      const rejection = accept(user);
      if (rejection) throw new Error(rejection);
      onLogin(user);
    } catch (error) {
      byId("login-error").textContent = error.message;
    }
  });
  byId("logout").addEventListener("click", async () => {
    const current = stream();
    if (current) current.stop();
    await logout().catch(() => {});
    location.reload();
  });
  if (!savedToken()) return;
  request("GET", "/api/me")
    .then((body) => { if (!accept(body.user)) onLogin(body.user); })
    .catch(() => sessionStorage.clear());
}

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function formatSeconds(seconds) {
  if (!Number.isFinite(seconds)) return "0:00";
  const total = Math.max(0, Math.floor(seconds));
  const minutes = Math.floor(total / 60);
  return `${minutes}:${String(total % 60).padStart(2, "0")}`;
}

// Seconds the engine's clock is ahead of this browser's, from the last message's ts, so
// countdowns and timers follow the engine even when the two clocks differ.
let serverOffset = 0;

export function nowSeconds() {
  return Date.now() / 1000 + serverOffset;
}
