// santral web chat widget. Embed with one tag:
//   <script src="https://santral.example.com/chat/widget.js" defer></script>
// It adds a chat button to the page; the customer gives a name and a topic, sees the
// queue position while waiting, then the agent's messages and typing.
(() => {
  const script = document.currentScript;
  const base = new URL(".", script ? script.src : window.location.href);
  const socketUrl = new URL("ws", base);
  socketUrl.protocol = socketUrl.protocol === "https:" ? "wss:" : "ws:";

  const root = document.createElement("div");
  root.id = "santral-chat";
  root.innerHTML = `
    <style>
      #santral-chat { position: fixed; right: 1rem; bottom: 1rem; font: 14px sans-serif; z-index: 2147483000; }
      #santral-chat .panel { width: 300px; background: #fff; border: 1px solid #bbb; border-radius: 8px; padding: .75rem; box-shadow: 0 2px 8px #0003; }
      #santral-chat .log { height: 220px; overflow-y: auto; margin: .5rem 0; }
      #santral-chat .log p { margin: .25rem 0; }
      #santral-chat .agent { color: #064; }
      #santral-chat .me { color: #036; text-align: right; }
      #santral-chat .status { color: #555; font-size: 12px; min-height: 1em; }
      #santral-chat input, #santral-chat select { width: 100%; box-sizing: border-box; margin: .2rem 0; }
      #santral-chat [hidden] { display: none; }
    </style>
    <button type="button" class="open">Chat with us</button>
    <div class="panel" hidden>
      <form class="start">
        <label>Your name <input name="name" required maxlength="80"></label>
        <label>Topic <select name="topic"></select></label>
        <button type="submit">Start chat</button>
      </form>
      <div class="talk" hidden>
        <div class="log" aria-live="polite"></div>
        <div class="status"></div>
        <form class="send"><input name="text" autocomplete="off" placeholder="Type a message">
          <button type="submit">Send</button></form>
        <button type="button" class="leave">End chat</button>
      </div>
    </div>`;
  document.body.append(root);

  const find = (selector) => root.querySelector(selector);
  const panel = find(".panel");
  const log = find(".log");
  const status = find(".status");
  let socket = null;
  let typingTimer = null;

  function show(text, kind) {
    const line = document.createElement("p");
    line.className = kind;
    line.textContent = text;
    log.append(line);
    log.scrollTop = log.scrollHeight;
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  function receive(frame) {
    if (frame.type === "queued") {
      const wait = frame.estimated_wait == null ? "" : `, about ${Math.ceil(frame.estimated_wait / 60)} min`;
      status.textContent = `You are number ${frame.position} in the queue${wait}.`;
    } else if (frame.type === "agent_joined") {
      status.textContent = "";
      show(`${frame.agent} joined the chat.`, "status");
    } else if (frame.type === "message") {
      status.textContent = "";
      show(frame.text, "agent");
    } else if (frame.type === "transferred") {
      status.textContent = "You are being transferred to another agent.";
    } else if (frame.type === "typing") {
      status.textContent = frame.typing ? "The agent is typing…" : "";
    } else if (frame.type === "ended") {
      status.textContent = "The chat has ended.";
      find(".send").hidden = true;
    } else if (frame.type === "error") {
      status.textContent = frame.message;
    }
  }

  async function loadTopics() {
    const response = await fetch(new URL("topics", base));
    const { topics } = await response.json();
    const select = find("select[name=topic]");
    for (const topic of topics) select.append(new Option(topic.label, topic.id));
  }

  find(".open").addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    if (!panel.hidden && !find("select[name=topic]").options.length) loadTopics();
  });

  find(".start").addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const form = new FormData(submitted.target);
    socket = new WebSocket(socketUrl);
    socket.addEventListener("open", () => send({
      type: "start", name: form.get("name"), topic: form.get("topic"),
      language: document.documentElement.lang || "",
    }));
    socket.addEventListener("message", (message) => receive(JSON.parse(message.data)));
    socket.addEventListener("close", () => { find(".send").hidden = true; });
    find(".start").hidden = true;
    find(".talk").hidden = false;
    status.textContent = "Connecting…";
  });

  find(".send").addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const input = submitted.target.elements.text;
    if (!input.value.trim()) return;
    send({ type: "message", text: input.value });
    show(input.value, "me");
    input.value = "";
    send({ type: "typing", typing: false });
  });

  find(".send input").addEventListener("input", () => {
    if (!typingTimer) send({ type: "typing", typing: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { typingTimer = null; send({ type: "typing", typing: false }); }, 2000);
  });

  find(".leave").addEventListener("click", () => {
    send({ type: "leave" });
    if (socket) socket.close();
  });
})();
