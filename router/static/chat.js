/* Switchboard customer web chat.
 *
 * Protocol (see docs/agent-protocol.md, "Customer web chat WebSocket"):
 *   server -> client: welcome, ack, message, session_closed, error
 *   client -> server: {"type":"message","id":<uuid>,"text":..,"name"?,"email"?}
 * Unacknowledged messages are kept (also across reloads) and re-sent with the same id
 * after every (re)connect; the server dedupes by id.
 * All user text is rendered with textContent, never as HTML.
 */
(function () {
  "use strict";

  var root = document.getElementById("chat");
  if (!root) return;

  var list = document.getElementById("chat-messages");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var nameInput = document.getElementById("chat-name");
  var emailInput = document.getElementById("chat-email");
  var statusEl = document.getElementById("chat-status");
  var noticeEl = document.getElementById("chat-notice");

  var wsPath = root.dataset.wsUrl;
  var keyBase = "switchboard.chat." + (root.dataset.tenant || "") + "." + (root.dataset.stream || wsPath);
  var KEY_VISITOR = keyBase + ".visitor";
  var KEY_PENDING = keyBase + ".pending";
  var KEY_PROFILE = keyBase + ".profile";

  var ws = null;
  var retryDelay = 1000;
  var retryTimer = null;
  var sessionId = null;
  var pending = loadJSON(KEY_PENDING, []);      // [{id, text, name?, email?}]
  var seenIds = new Set();                      // message ids / client ids already rendered

  // ---------------------------------------------------------------- helpers

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID needs a secure context; getRandomValues does not.
    var b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function loadJSON(key, fallback) {
    try {
      var v = JSON.parse(window.localStorage.getItem(key));
      return v === null || v === undefined ? fallback : v;
    } catch (e) {
      return fallback;
    }
  }

  function saveJSON(key, value) {
    try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode */ }
  }

  function wsUrl() {
    var url = new URL(wsPath, window.location.href);
    if (url.protocol === "http:") url.protocol = "ws:";
    if (url.protocol === "https:") url.protocol = "wss:";
    var visitor = window.localStorage.getItem(KEY_VISITOR);
    if (visitor) url.searchParams.set("visitor", visitor);
    return url.toString();
  }

  function safeUrl(raw) {
    try {
      var u = new URL(raw, window.location.href);
      return (u.protocol === "http:" || u.protocol === "https:") ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function formatTime(iso) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) return "";
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function setStatus(state, text) {
    statusEl.dataset.status = state;
    statusEl.className = "conn conn-" + state;
    statusEl.textContent = text;
  }

  function showNotice(text) {
    noticeEl.textContent = text;
    noticeEl.hidden = !text;
  }

  function scrollToEnd() {
    list.scrollTop = list.scrollHeight;
  }

  // -------------------------------------------------------------- rendering

  function senderLabel(msg) {
    var s = msg.sender || {};
    if (s.kind === "customer") return "You";
    if (s.kind === "bot") return s.name || "Assistant";
    if (s.kind === "agent") return s.name || "Agent";
    return s.name || "";
  }

  function renderAttachments(container, attachments) {
    (attachments || []).forEach(function (att) {
      var href = safeUrl(att.url);
      if (!href) return;
      var wrap = el("div", "attachment");
      var link = el("a", null, att.name || att.url);
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      if ((att.content_type || "").indexOf("image/") === 0) {
        var img = document.createElement("img");
        img.src = href;
        img.alt = att.name || "Image";
        img.loading = "lazy";
        link.textContent = "";
        link.appendChild(img);
      }
      wrap.appendChild(link);
      container.appendChild(wrap);
    });
  }

  function renderChoices(container, choices) {
    if (!choices || !choices.length) return;
    var group = el("div", "choices");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Suggested replies");
    choices.forEach(function (choice) {
      var btn = el("button", "choice", choice);
      btn.type = "button";
      btn.dataset.testid = "chat-choice";
      btn.addEventListener("click", function () {
        Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) { b.disabled = true; });
        btn.classList.add("chosen");
        sendText(choice);
      });
      group.appendChild(btn);
    });
    container.appendChild(group);
  }

  /** Render one protocol <message>; returns the <li>. */
  function renderMessage(msg, opts) {
    opts = opts || {};
    var kind = (msg.sender && msg.sender.kind) || (msg.direction === "inbound" ? "customer" : "agent");
    var li = el("li", "msg msg-" + msg.direction + " msg-" + kind);
    li.dataset.testid = "chat-message";
    li.dataset.direction = msg.direction;
    li.dataset.senderKind = kind;
    if (msg.id) li.dataset.id = msg.id;
    if (msg.seq !== undefined && msg.seq !== null) li.dataset.seq = msg.seq;

    if (kind !== "system") {
      var meta = el("div", "msg-meta");
      meta.appendChild(el("span", "msg-sender", senderLabel(msg)));
      meta.appendChild(el("time", "msg-time", formatTime(msg.created_at)));
      li.appendChild(meta);
    }
    if (msg.text) li.appendChild(el("div", "msg-text", msg.text));
    renderAttachments(li, msg.attachments);
    if (!opts.history) renderChoices(li, msg.choices);
    if (opts.pending) {
      li.classList.add("msg-pending");
      li.appendChild(el("div", "msg-status", "Sending…"));
    }
    list.appendChild(li);
    scrollToEnd();
    return li;
  }

  function renderPending(p) {
    seenIds.add(p.id);
    var li = renderMessage({
      id: p.id, direction: "inbound", sender: { kind: "customer" }, text: p.text,
    }, { pending: true });
    li.dataset.clientId = p.id;
  }

  function markAcked(id, seq) {
    var li = list.querySelector('li[data-client-id="' + CSS.escape(id) + '"]');
    if (!li) return;
    li.classList.remove("msg-pending");
    if (seq !== undefined && seq !== null) li.dataset.seq = seq;
    var st = li.querySelector(".msg-status");
    if (st) st.remove();
  }

  // ------------------------------------------------------------- protocol

  function onWelcome(frame) {
    if (frame.visitor) window.localStorage.setItem(KEY_VISITOR, frame.visitor);
    sessionId = frame.session_id || null;
    list.textContent = "";
    seenIds.clear();
    var history = frame.history || [];
    history.forEach(function (m, i) {
      seenIds.add(m.id);
      if (m.client_id) seenIds.add(m.client_id);
      // Only the newest message keeps clickable choices.
      renderMessage(m, { history: i !== history.length - 1 });
    });
    // Drop pending messages the server already has; show and re-send the rest.
    pending = pending.filter(function (p) { return !seenIds.has(p.id); });
    saveJSON(KEY_PENDING, pending);
    pending.forEach(function (p) { renderPending(p); transmit(p); });
    showNotice("");
    retryDelay = 1000;
    setStatus("online", "Connected");
  }

  function onAck(frame) {
    pending = pending.filter(function (p) { return p.id !== frame.id; });
    saveJSON(KEY_PENDING, pending);
    markAcked(frame.id, frame.seq);
  }

  function onMessage(frame) {
    var m = frame.message;
    if (!m) return;
    if (m.id && seenIds.has(m.id)) return;
    if (m.client_id && seenIds.has(m.client_id)) return;
    if (m.id) seenIds.add(m.id);
    if (m.session_id) sessionId = m.session_id;
    renderMessage(m);
  }

  function onFrame(event) {
    var frame;
    try { frame = JSON.parse(event.data); } catch (e) { return; }
    switch (frame.type) {
      case "welcome": onWelcome(frame); break;
      case "ack": onAck(frame); break;
      case "message": onMessage(frame); break;
      case "session_closed":
        sessionId = null;
        renderMessage({ direction: "outbound", sender: { kind: "system" },
                        text: "The conversation has ended. Send a message to start a new one." });
        break;
      case "error":
        showNotice(frame.message || frame.code || "Something went wrong.");
        break;
      default: break;
    }
  }

  function transmit(p) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    var frame = { type: "message", id: p.id, text: p.text };
    if (p.name) frame.name = p.name;
    if (p.email) frame.email = p.email;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function sendText(text) {
    text = (text || "").trim();
    if (!text) return;
    var p = { id: uuid(), text: text };
    var name = nameInput.value.trim();
    var email = emailInput.value.trim();
    if (name) p.name = name;
    if (email) p.email = email;
    pending.push(p);
    saveJSON(KEY_PENDING, pending);
    saveJSON(KEY_PROFILE, { name: name, email: email });
    renderPending(p);
    transmit(p); // otherwise sent after the next welcome
  }

  function connect() {
    clearTimeout(retryTimer);
    setStatus("connecting", "Connecting…");
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws.addEventListener("message", onFrame);
    ws.addEventListener("close", function () {
      ws = null;
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    var delay = retryDelay;
    retryDelay = Math.min(retryDelay * 2, 10000);
    setStatus("offline", "Offline, reconnecting in " + Math.round(delay / 1000) + "s…");
    retryTimer = setTimeout(connect, delay);
  }

  // ------------------------------------------------------------------ wiring

  var profile = loadJSON(KEY_PROFILE, {});
  if (profile.name) nameInput.value = profile.name;
  if (profile.email) emailInput.value = profile.email;

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    sendText(input.value);
    input.value = "";
    input.focus();
  });

  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });

  window.addEventListener("online", function () {
    if (!ws) { retryDelay = 1000; connect(); }
  });

  connect();
})();
