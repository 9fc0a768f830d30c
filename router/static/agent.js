/* Switchboard agent desktop.
 *
 * Signs in with the OAuth password grant (POST /oauth/token), keeps the token in
 * sessionStorage and talks to /agent/ws; see docs/agent-protocol.md for every frame.
 * All user text is rendered with textContent, never as HTML.
 */
(() => {
  "use strict";

  const app = document.getElementById("agent-app");
  if (!app) return;

  const AUTH_KEY = "switchboard.agent.auth";      // sessionStorage: {token, tenant, username, expiresAt}
  const LAST_KEY = "switchboard.agent.last";      // localStorage: {tenant, username} to prefill the form
  const STATE_LABELS = { ready: "Ready", not_ready: "Not ready", logged_out: "Logged out" };
  const RESYNC_GRACE_MS = 5000;
  const GONE_TEXT = "This conversation is no longer assigned to you.";
  const CLOSE_REASONS = {
    agent: "Conversation closed.",
    customer: "The customer left the conversation.",
    inactivity: "Conversation closed after inactivity.",
    transferred: "Conversation transferred.",
    escalated: "Conversation escalated.",
  };
  const BASE_TITLE = document.title;

  const $ = (id) => document.getElementById(id);
  const els = {
    banner: $("error-banner"), bannerText: $("error-text"), bannerClose: $("error-dismiss"),
    loginView: $("login-view"), loginForm: $("login-form"), loginError: $("login-error"),
    loginTenant: $("login-tenant"), loginUsername: $("login-username"),
    loginPassword: $("login-password"), loginSubmit: $("login-submit"),
    desktop: $("desktop-view"), agentName: $("agent-name"), agentTenant: $("agent-tenant"),
    state: $("agent-state"), load: $("agent-load"), conn: $("connection-status"),
    ready: $("state-ready"), notReady: $("state-not-ready"), reason: $("not-ready-reason"),
    logout: $("state-logout"), queuePanel: $("queue-panel"), queueRows: $("queue-rows"),
    offers: $("offers"), conversations: $("conversations"), empty: $("no-conversations"),
    queueOptions: $("queue-options"),
  };

  let auth = loadAuth();
  let ws = null;
  let retryDelay = 1000;
  let retryTimer = null;
  let agent = null;              // hello.agent
  let agentState = null;         // last "state" frame
  let loggingOut = false;
  let lastSent = null;           // {conv, clientId, pending}: an error with ref "send" is about this one
  let resyncTimer = null;        // after a reconnect: conversations not sent again are gone
  const offers = new Map();      // session_id -> {offerId, card, deadline, timer}
  const optIns = new Map();      // number -> opt-in prompt card
  const convs = new Map();       // session_id -> conversation (see createConversation)

  // ------------------------------------------------------------------ helpers

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    // randomUUID needs a secure context; getRandomValues does not.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function el(tag, className, text, attrs) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  function safeUrl(raw) {
    try {
      const u = new URL(raw, location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function fmtTime(iso) {
    const d = iso ? new Date(iso) : new Date();
    return isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function fmtDuration(seconds) {
    const s = Math.max(0, Math.round(seconds || 0));
    return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  }

  function showError(text) {
    els.bannerText.textContent = text;
    els.banner.hidden = false;
  }

  function setConn(status, text) {
    els.conn.dataset.status = status;
    els.conn.className = `conn conn-${status}`;
    els.conn.textContent = text;
  }

  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    showError("Not connected to the server; please wait for the connection to come back.");
    return false;
  }

  const SMS_CHANNELS = new Set(["sms", "vonage"]);

  // -- sms segments (mirrors channels/segments.py)
  const GSM7_BASIC = new Set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà");
  const GSM7_EXTENSION = new Set("\f^{}\\[~]|€");

  /** Parts for characters of these costs; no character is split across two parts. */
  function packSegments(costs, single, part) {
    const total = costs.reduce((a, b) => a + b, 0);
    if (total === 0) return 0;
    if (total <= single) return 1;
    let parts = 1;
    let used = 0;
    for (const cost of costs) {
      if (used + cost > part) { parts += 1; used = 0; }
      used += cost;
    }
    return parts;
  }

  /** {encoding, count, units}: GSM-7 160/153 septets (extension characters 2), else UCS-2
   *  70/67 UTF-16 units (a surrogate pair stays whole). */
  function smsSegments(text) {
    const chars = Array.from(text);
    const gsm = chars.every((ch) => GSM7_BASIC.has(ch) || GSM7_EXTENSION.has(ch));
    const costs = chars.map((ch) => (gsm ? (GSM7_EXTENSION.has(ch) ? 2 : 1) : ch.length));
    const units = costs.reduce((a, b) => a + b, 0);
    return gsm
      ? { encoding: "gsm7", count: packSegments(costs, 160, 153), units }
      : { encoding: "ucs2", count: packSegments(costs, 70, 67), units };
  }
  // -- end sms segments

  // --------------------------------------------------------------------- auth

  function loadAuth() {
    try {
      const a = JSON.parse(sessionStorage.getItem(AUTH_KEY));
      if (a && a.token && (!a.expiresAt || a.expiresAt > Date.now())) return a;
    } catch (e) { /* ignore */ }
    return null;
  }

  function showLoginError(text) {
    els.loginError.textContent = text || "";
    els.loginError.hidden = !text;
  }

  async function login(ev) {
    ev.preventDefault();
    const tenant = els.loginTenant.value.trim();
    const username = els.loginUsername.value.trim();
    const password = els.loginPassword.value;
    if (!tenant || !username || !password) {
      showLoginError("Please enter tenant, username and password.");
      return;
    }
    showLoginError("");
    els.loginSubmit.disabled = true;
    try {
      const res = await fetch("/oauth/token", {
        method: "POST",
        headers: { Accept: "application/json" },
        body: new URLSearchParams({ grant_type: "password", username, password, scope: tenant }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok || !body.access_token) {
        showLoginError(body.error_description || body.error || `Sign-in failed (HTTP ${res.status}).`);
        return;
      }
      auth = {
        token: body.access_token,
        tenant: body.scope || tenant,
        username,
        expiresAt: body.expires_in ? Date.now() + body.expires_in * 1000 : null,
      };
      sessionStorage.setItem(AUTH_KEY, JSON.stringify(auth));
      localStorage.setItem(LAST_KEY, JSON.stringify({ tenant, username }));
      els.loginPassword.value = "";
      startDesktop();
    } catch (e) {
      showLoginError("Could not reach the server. Please try again.");
    } finally {
      els.loginSubmit.disabled = false;
    }
  }

  function showLogin(message) {
    els.desktop.hidden = true;
    els.loginView.hidden = false;
    let last = {};
    try { last = JSON.parse(localStorage.getItem(LAST_KEY)) || {}; } catch (e) { /* ignore */ }
    const hint = app.dataset.tenantHint || new URLSearchParams(location.search).get("tenant");
    if (!els.loginTenant.value) els.loginTenant.value = hint || last.tenant || "";
    if (!els.loginUsername.value) els.loginUsername.value = last.username || "";
    showLoginError(message);
    (els.loginTenant.value ? (els.loginUsername.value ? els.loginPassword : els.loginUsername)
      : els.loginTenant).focus();
  }

  function startDesktop() {
    els.loginView.hidden = true;
    els.desktop.hidden = false;
    els.agentName.textContent = auth.username;
    els.agentTenant.textContent = auth.tenant;
    renderState(null);
    connect();
  }

  function signOut(message) {
    loggingOut = false;
    clearTimeout(retryTimer);
    const sock = ws;
    ws = null;
    if (sock) sock.close(1000, "logout");
    sessionStorage.removeItem(AUTH_KEY);
    auth = null;
    agent = null;
    for (const sid of [...offers.keys()]) removeOffer(sid);
    for (const conv of convs.values()) conv.pane.remove();
    convs.clear();
    updateEmpty();
    els.queueRows.textContent = "";
    els.queuePanel.hidden = true;
    els.banner.hidden = true;
    showLogin(message);
  }

  // --------------------------------------------------------------- connection

  function connect() {
    clearTimeout(retryTimer);
    const url = new URL("/agent/ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("access_token", auth.token);
    setConn("connecting", "Connecting…");
    const sock = new WebSocket(url);
    ws = sock;
    sock.addEventListener("message", (ev) => { if (sock === ws) onFrame(ev); });
    sock.addEventListener("close", (ev) => { if (sock === ws) { ws = null; onClose(ev); } });
  }

  function onClose(ev) {
    clearTimeout(resyncTimer);
    for (const conv of convs.values()) markUnconfirmed(conv);
    if (ev.code === 4401) {
      signOut("Your session has expired or is no longer valid. Please sign in again.");
    } else if (ev.code === 4409) {
      setConn("offline", "Disconnected");
      for (const sid of [...offers.keys()]) removeOffer(sid);
      showError("You signed in from another window or device, so this desktop was disconnected. Reload the page to use it here again.");
    } else {
      const delay = retryDelay;
      retryDelay = Math.min(retryDelay * 2, 10000);
      setConn("offline", `Offline, reconnecting in ${Math.round(delay / 1000)}s…`);
      retryTimer = setTimeout(connect, delay);
    }
  }

  function onFrame(ev) {
    let f;
    try { f = JSON.parse(ev.data); } catch (e) { return; }
    switch (f.type) {
      case "hello": onHello(f); break;
      case "state": renderState(f); break;
      case "offer": addOffer(f); break;
      case "offer_expired": {
        const o = offers.get(f.session_id);
        if (o && (!f.offer_id || o.offerId === f.offer_id)) removeOffer(f.session_id);
        break;
      }
      case "assigned": onAssigned(f); break;
      case "message": {
        const conv = convs.get(f.session_id);
        if (conv && f.message) addMessage(conv, { ...f.message, seq: f.seq ?? f.message.seq });
        break;
      }
      case "session_closed": onSessionClosed(f); break;
      case "blocked": onBlocked(f); break;
      case "suggestions": renderSuggestions(f); break;
      case "opt_in_request": addOptIn(f); break;
      case "opt_in_state": removeOptIn(f.number); break;
      case "queue_status": renderQueue(f); break;
      case "error": onError(f); break;
      default: break;
    }
  }

  function onHello(f) {
    agent = f.agent || {};
    retryDelay = 1000;
    setConn("online", "Connected");
    els.agentName.textContent = agent.name || agent.id || auth.username;
    els.agentTenant.textContent = agent.tenant || auth.tenant;
    const selected = els.reason.value;
    els.reason.textContent = "";
    for (const reason of f.not_ready_reasons || []) els.reason.appendChild(el("option", null, reason, { value: reason }));
    if ([...els.reason.options].some((o) => o.value === selected)) els.reason.value = selected;
    els.reason.hidden = !els.reason.options.length;
    els.queueOptions.textContent = "";
    for (const q of f.queues || []) els.queueOptions.appendChild(el("option", null, null, { value: q }));
    if (agent.role === "supervisor" || agent.role === "admin") els.queuePanel.hidden = false;
    for (const r of f.opt_in_requests || []) addOptIn(r);
    // Reconnected without a reload: the server now sends an `assigned` frame for every
    // session still ours. One closed or moved while we were away gets no session_closed,
    // so whatever is not sent again shortly is no longer ours.
    clearTimeout(resyncTimer);
    if (convs.size) {
      for (const conv of convs.values()) conv.resynced = false;
      resyncTimer = setTimeout(() => {
        for (const conv of convs.values()) {
          if (!conv.closed && !conv.resynced) showClosed(conv, GONE_TEXT, "gone");
        }
        refreshLoad();
      }, RESYNC_GRACE_MS);
    }
  }

  function onError(f) {
    showError(f.message || f.code || "Error");
    if (f.ref === "accept") {
      for (const o of offers.values()) setOfferBusy(o, false);
    }
    if (f.ref === "close" || f.ref === "transfer") {
      for (const conv of [...convs.values()]) {
        if (!conv.closing) continue;
        conv.closing = false;
        // Not ours any more (closed or moved elsewhere while we were away).
        if (f.code === "not_assigned") {
          if (f.ref === "close") removeConversation(conv);
          else showClosed(conv, GONE_TEXT, "gone");
        }
      }
    }
    if (f.ref === "set_state") loggingOut = false;
    if (f.ref === "send" && lastSent && lastSent.conv.pending.get(lastSent.clientId) === lastSent.pending) {
      markFailed(lastSent.pending);
      if (f.code === "not_assigned" && !lastSent.conv.closed) showClosed(lastSent.conv, GONE_TEXT, "gone");
    }
  }

  // -------------------------------------------------------------------- state

  function renderState(f) {
    agentState = f;
    const state = f ? f.state : "";
    let label = f ? STATE_LABELS[state] || state : "—";
    if (f && state === "not_ready" && f.reason) label += ` — ${f.reason}`;
    els.state.textContent = label;
    els.state.dataset.state = state;
    els.state.className = `state-pill state-${state || "unknown"}`;
    els.load.textContent = f ? `${f.load ?? 0}/${f.capacity ?? 0} sessions` : "";
    els.ready.setAttribute("aria-pressed", String(state === "ready"));
    els.notReady.setAttribute("aria-pressed", String(state === "not_ready"));
    if (f && state === "not_ready" && f.reason &&
        [...els.reason.options].some((o) => o.value === f.reason)) {
      els.reason.value = f.reason;
    }
    if (loggingOut && state === "logged_out") signOut();
  }

  function setNotReady() {
    const frame = { type: "set_state", state: "not_ready" };
    if (els.reason.value) frame.reason = els.reason.value;
    send(frame);
  }

  // ------------------------------------------------------------------- SMS opt-in

  // A number newly assigned to this user: nothing sent to it reaches the user before they accept.
  function addOptIn(r) {
    removeOptIn(r.number);
    const name = r.friendly_name && r.friendly_name !== r.number ? `${r.friendly_name} (${r.number})` : r.number;
    const card = el("article", "card offer-card", null, {
      "data-testid": "opt-in", "data-number": r.number, "aria-label": `Activate SMS on ${name}`,
    });
    card.appendChild(el("strong", null, `Activate SMS on ${name}?`));
    card.appendChild(el("p", "muted", "You will receive the SMS and MMS messages sent to this number, which may be unsolicited."));
    const actions = el("div", "actions");
    const accept = el("button", "button primary", "Accept", { type: "button", "data-testid": "opt-in-accept" });
    const decline = el("button", "button", "Decline", { type: "button", "data-testid": "opt-in-decline" });
    accept.addEventListener("click", () => send({ type: "opt_in", number: r.number, accept: true }));
    decline.addEventListener("click", () => send({ type: "opt_in", number: r.number, accept: false }));
    actions.append(accept, decline);
    card.appendChild(actions);
    optIns.set(r.number, card);
    els.offers.appendChild(card);
  }

  function removeOptIn(number) {
    const card = optIns.get(number);
    if (card) card.remove();
    optIns.delete(number);
  }

  // ------------------------------------------------------------------- offers

  function addOffer(f) {
    removeOffer(f.session_id);
    const customer = f.customer || {};
    const card = el("article", "card offer-card", null, {
      "data-testid": "offer", "data-session-id": f.session_id, "data-offer-id": f.offer_id,
      "aria-label": `Offer from ${customer.name || customer.id || "customer"}`,
    });
    const head = el("header", "offer-head");
    head.appendChild(el("strong", "offer-customer", customer.name || customer.id || "Customer"));
    head.appendChild(el("span", "badge", f.queue));
    head.appendChild(el("span", "badge subtle", f.channel));
    card.appendChild(head);
    if (customer.email) card.appendChild(el("div", "muted", customer.email));
    const preview = el("ul", "offer-preview");
    for (const m of (f.history || []).slice(-3)) {
      if (m.text) preview.appendChild(el("li", null, `${senderName(m)}: ${m.text}`));
    }
    if (preview.children.length) card.appendChild(preview);
    const countdown = el("div", "offer-countdown", null, { "data-testid": "offer-countdown" });
    const progress = el("progress", null, null, { max: "1", value: "1", "aria-label": "Time left" });
    card.append(countdown, progress);
    const actions = el("div", "actions");
    const accept = el("button", "button primary", "Accept", { type: "button", "data-testid": "offer-accept" });
    const reject = el("button", "button", "Reject", { type: "button", "data-testid": "offer-reject" });
    actions.append(accept, reject);
    card.appendChild(actions);

    let seconds = Number(f.expires_in);
    if (!isFinite(seconds)) seconds = (Date.parse(f.expires_at) - Date.now()) / 1000 || 0;
    const offer = {
      offerId: f.offer_id, card, accept, reject, countdown, progress,
      total: Math.max(seconds, 0.001), deadline: Date.now() + seconds * 1000, timer: null,
    };
    accept.addEventListener("click", () => {
      if (send({ type: "accept", session_id: f.session_id, offer_id: f.offer_id })) setOfferBusy(offer, true);
    });
    reject.addEventListener("click", () => {
      if (send({ type: "reject", session_id: f.session_id, offer_id: f.offer_id })) removeOffer(f.session_id);
    });
    offers.set(f.session_id, offer);
    els.offers.appendChild(card);
    tickOffer(f.session_id, offer);
    offer.timer = setInterval(() => tickOffer(f.session_id, offer), 250);
    updateTitle();
  }

  function tickOffer(sessionId, offer) {
    const left = (offer.deadline - Date.now()) / 1000;
    offer.progress.value = Math.max(left, 0) / offer.total;
    if (left > 0) {
      offer.countdown.textContent = `Expires in ${Math.ceil(left)}s`;
    } else {
      offer.countdown.textContent = "Expired";
      offer.card.classList.add("expired");
      offer.accept.disabled = true;
      offer.reject.disabled = true;
      // The server normally withdraws it with offer_expired; don't keep a stale card.
      if (left < -3) removeOffer(sessionId);
    }
  }

  function setOfferBusy(offer, busy) {
    offer.accept.disabled = busy;
    offer.reject.disabled = busy;
    offer.card.classList.toggle("accepting", busy);
  }

  function removeOffer(sessionId) {
    const offer = offers.get(sessionId);
    if (!offer) return;
    clearInterval(offer.timer);
    offer.card.remove();
    offers.delete(sessionId);
    updateTitle();
  }

  function updateTitle() {
    document.title = offers.size ? `(${offers.size}) ${BASE_TITLE}` : BASE_TITLE;
  }

  // ------------------------------------------------------------ conversations

  function onAssigned(f) {
    const session = f.session || {};
    removeOffer(session.id);
    let conv = convs.get(session.id);
    if (!conv) conv = createConversation(session);
    // A session closed here (e.g. from another tab, or by the customer) can be reopened
    // and assigned again under the same id: make its pane usable again.
    else if (conv.closed) reopenConversation(conv);
    conv.resynced = true;
    for (const m of f.history || []) addMessage(conv, m);
    // Anything still pending after a reconnect was not confirmed by the server.
    if (conv.pending.size) markUnconfirmed(conv);
    refreshLoad();
  }

  function reopenConversation(conv) {
    conv.closed = false;
    conv.closing = false;
    conv.pane.classList.remove("closed");
    delete conv.pane.dataset.closed;
    conv.notice.textContent = "";
    conv.notice.hidden = true;
    conv.input.disabled = false;
    for (const b of conv.pane.querySelectorAll("form button, form input, .msg-status button")) b.disabled = false;
    conv.closeBtn.hidden = false;
    conv.dismissBtn.hidden = true;
  }

  function createConversation(session) {
    const customer = session.customer || {};
    const who = customer.name || customer.id || "Customer";
    const pane = el("section", "card conversation", null, {
      "data-testid": "conversation", "data-session-id": session.id, "aria-label": `Conversation with ${who}`,
    });
    const head = el("header", "conv-head");
    const title = el("div", "conv-title");
    title.appendChild(el("h2", null, who));
    title.appendChild(el("div", "muted", [session.queue, session.channel, customer.email].filter(Boolean).join(" · ")));
    head.appendChild(title);
    const closeBtn = el("button", "button subtle", "Close", { type: "button", "data-testid": "conversation-close" });
    const dismissBtn = el("button", "button subtle", "Dismiss", { type: "button", "data-testid": "conversation-dismiss" });
    dismissBtn.hidden = true;
    head.append(closeBtn, dismissBtn);
    const sms = SMS_CHANNELS.has(session.channel);
    const blockBtn = sms ? el("button", "button subtle", "Block number", {
      type: "button", "data-testid": "conversation-block", title: "Drop every message this number sends",
    }) : null;
    if (blockBtn) head.insertBefore(blockBtn, closeBtn);
    pane.appendChild(head);

    const list = el("ol", "messages", null, {
      "data-testid": "messages", "aria-live": "polite", "aria-label": `Messages with ${who}`,
    });
    const notice = el("p", "notice", null, { "data-testid": "conversation-notice", role: "status" });
    notice.hidden = true;

    const transfer = el("form", "transfer-form");
    const tid = `transfer-${uuid()}`;
    const tInput = el("input", null, null, {
      id: tid, type: "text", list: "queue-options", placeholder: "Queue", required: "",
      autocomplete: "off", "data-testid": "transfer-queue",
    });
    transfer.append(el("label", null, "Transfer to", { for: tid }), tInput,
      el("button", "button", "Transfer", { type: "submit", "data-testid": "transfer-submit" }));

    const reply = el("form", "composer");
    const rid = `reply-${uuid()}`;
    const input = el("textarea", null, null, {
      id: rid, rows: "2", placeholder: "Type a reply…", "data-testid": "reply-input",
    });
    reply.append(el("label", "visually-hidden", `Reply to ${who}`, { for: rid }), input,
      el("button", "button primary", "Send", { type: "submit", "data-testid": "reply-send" }));

    pane.append(list, notice, reply, transfer);
    const segmentsEl = sms ? el("div", "sms-segments muted", null, {
      "data-testid": "sms-segments", "aria-live": "polite",
    }) : null;
    if (segmentsEl) reply.after(segmentsEl);
    const conv = {
      id: session.id, pane, list, notice, input, reply, transfer,
      closeBtn, dismissBtn, seqs: new Set(), pending: new Map(), closed: false, closing: false,
    };
    conv.blockBtn = blockBtn;
    conv.segments = segmentsEl;
    if (segmentsEl) {
      input.addEventListener("input", () => renderSegments(conv));
      renderSegments(conv);
    }
    if (blockBtn) {
      blockBtn.addEventListener("click", () => {
        if (window.confirm(`Block ${who}? Everything this number sends will be dropped until an administrator unblocks it.`)) {
          send({ type: "block", session_id: conv.id });
        }
      });
    }
    reply.addEventListener("submit", (ev) => { ev.preventDefault(); sendReply(conv); });
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendReply(conv); }
    });
    input.addEventListener("focus", () => pane.classList.remove("unread"));
    transfer.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const queue = tInput.value.trim();
      if (queue && send({ type: "transfer", session_id: conv.id, queue })) conv.closing = true;
    });
    closeBtn.addEventListener("click", () => {
      if (send({ type: "close", session_id: conv.id })) conv.closing = true;
    });
    dismissBtn.addEventListener("click", () => removeConversation(conv));
    convs.set(session.id, conv);
    els.conversations.appendChild(pane);
    updateEmpty();
    return conv;
  }

  function senderName(m) {
    const s = m.sender || {};
    if (s.kind === "agent") return agent && s.id && s.id === agent.id ? "You" : s.name || "Agent";
    if (s.kind === "bot") return s.name || "Bot";
    if (s.kind === "system") return "System";
    return s.name || "Customer";
  }

  function renderMessage(m) {
    const kind = (m.sender && m.sender.kind) || (m.direction === "inbound" ? "customer" : "agent");
    const li = el("li", `msg msg-${m.direction} msg-${kind}`, null, {
      "data-testid": "message", "data-direction": m.direction || "", "data-sender-kind": kind,
    });
    if (m.seq !== undefined && m.seq !== null) li.dataset.seq = m.seq;
    if (m.client_id) li.dataset.clientId = m.client_id;
    const meta = el("div", "msg-meta");
    meta.append(el("span", "msg-sender", senderName(m)), el("time", "msg-time", fmtTime(m.created_at)));
    li.appendChild(meta);
    if (m.text) li.appendChild(el("div", "msg-text", m.text));
    for (const att of m.attachments || []) {
      const href = safeUrl(att.url);
      if (!href) continue;
      const link = el("a", "attachment", att.name || att.url, { href, target: "_blank", rel: "noopener noreferrer" });
      if ((att.content_type || "").startsWith("image/")) {
        link.textContent = "";
        link.appendChild(el("img", null, null, { src: href, alt: att.name || "Image", loading: "lazy" }));
      }
      li.appendChild(link);
    }
    if (m.choices && m.choices.length) {
      const chips = el("div", "choices", null, { "aria-label": "Offered choices" });
      for (const c of m.choices) chips.appendChild(el("span", "chip", c));
      li.appendChild(chips);
    }
    return li;
  }

  function addMessage(conv, m) {
    if (m.client_id && conv.pending.has(m.client_id)) {
      conv.pending.get(m.client_id).li.remove();
      conv.pending.delete(m.client_id);
    }
    const seq = m.seq === undefined || m.seq === null ? null : Number(m.seq);
    if (seq !== null) {
      if (conv.seqs.has(seq)) return;
      conv.seqs.add(seq);
    }
    const li = renderMessage(m);
    // Keep seq order; pending (seq-less) messages stay at the end.
    const after = seq === null ? null : [...conv.list.children].find(
      (c) => c.dataset.seq === undefined || Number(c.dataset.seq) > seq);
    conv.list.insertBefore(li, after || null);
    conv.list.scrollTop = conv.list.scrollHeight;
    if (m.direction === "inbound" && document.activeElement !== conv.input) conv.pane.classList.add("unread");
  }

  /** Agent assist: the bot's suggested replies; a click fills the reply and sends it. */
  function renderSuggestions(f) {
    const conv = convs.get(f.session_id);
    if (!conv || conv.closed) return;
    if (!conv.suggestions) {
      conv.suggestions = el("div", "suggestions", null, { "data-testid": "suggestions", "aria-label": "Suggested replies" });
      conv.reply.before(conv.suggestions);
    }
    conv.suggestions.textContent = "";
    for (const text of f.suggestions || []) {
      const btn = el("button", "button subtle", text, { type: "button", "data-testid": "suggestion", "data-seq": String(f.seq ?? "") });
      btn.addEventListener("click", () => {
        conv.input.value = text;
        conv.suggestions.textContent = "";
        sendReply(conv);
      });
      conv.suggestions.appendChild(btn);
    }
  }

  function sendReply(conv) {
    const text = conv.input.value.trim();
    if (!text || conv.closed) return;
    const frame = { type: "send", session_id: conv.id, text, client_id: uuid() };
    if (!send(frame)) return;
    conv.input.value = "";
    if (conv.segments) renderSegments(conv);
    const li = renderMessage({
      direction: "outbound", client_id: frame.client_id, text,
      sender: { kind: "agent", id: agent && agent.id, name: agent && agent.name },
    });
    li.classList.add("msg-pending");
    const status = el("div", "msg-status", "Sending…");
    li.appendChild(status);
    const pending = { li, status, frame };
    conv.pending.set(frame.client_id, pending);
    lastSent = { conv, clientId: frame.client_id, pending };
    conv.list.appendChild(li);
    conv.list.scrollTop = conv.list.scrollHeight;
  }

  function markUnconfirmed(conv) {
    for (const p of conv.pending.values()) markFailed(p);
  }

  /** A reply the server did not confirm: offer to resend it with the same client_id. */
  function markFailed(p) {
    if (p.li.classList.contains("msg-failed")) return;
    p.li.classList.add("msg-failed");
    p.status.textContent = "Not delivered. ";
    const retry = el("button", "linkish", "Resend", { type: "button", "data-testid": "message-resend" });
    retry.addEventListener("click", () => {
      if (!send(p.frame)) return;
      p.li.classList.remove("msg-failed");
      p.status.textContent = "Sending…";
    });
    p.status.appendChild(retry);
  }

  /** What the reply box costs as SMS: parts and encoding, live under the box. */
  function renderSegments(conv) {
    const text = conv.input.value.trim();
    const s = smsSegments(text);
    const unit = s.encoding === "gsm7" ? "GSM-7 characters" : "Unicode (UCS-2) units";
    conv.segments.textContent = text ? `${s.count} SMS · ${s.units} ${unit}` : "";
    conv.segments.dataset.count = String(s.count);
    conv.segments.dataset.encoding = s.encoding;
  }

  function onBlocked(f) {
    const conv = convs.get(f.session_id);
    if (!conv || !conv.blockBtn) return;
    conv.blockBtn.textContent = "Blocked";
    conv.blockBtn.disabled = true;
    conv.pane.dataset.blocked = f.party || "true";
  }

  function onSessionClosed(f) {
    const conv = convs.get(f.session_id);
    if (!conv) return;
    if (conv.closing) {
      removeConversation(conv);
      return;
    }
    showClosed(conv, CLOSE_REASONS[f.reason] || "Conversation closed.", f.reason || "closed");
  }

  /** Keep a finished conversation on screen, read-only, until the agent dismisses it. */
  function showClosed(conv, text, why) {
    conv.closed = true;
    conv.closing = false;
    refreshLoad();
    conv.pane.classList.add("closed");
    conv.pane.dataset.closed = why;
    conv.notice.textContent = text;
    conv.notice.hidden = false;
    conv.input.disabled = true;
    for (const b of conv.pane.querySelectorAll("form button, form input, .msg-status button")) b.disabled = true;
    conv.closeBtn.hidden = true;
    conv.dismissBtn.hidden = false;
  }

  function removeConversation(conv) {
    conv.pane.remove();
    convs.delete(conv.id);
    updateEmpty();
    refreshLoad();
  }

  /** The server sends `load` only with `state` frames, which an accept or a close does not
   *  trigger; keep the shown load in step with the conversations this desktop holds. */
  function refreshLoad() {
    if (!agentState) return;
    let open = 0;
    for (const c of convs.values()) if (!c.closed) open++;
    agentState = { ...agentState, load: open };
    els.load.textContent = `${open}/${agentState.capacity ?? 0} sessions`;
  }

  function updateEmpty() {
    els.empty.hidden = convs.size > 0;
  }

  // ------------------------------------------------------------- queue panel

  function renderQueue(f) {
    const s = f.stats || {};
    els.queuePanel.hidden = false;
    let row = [...els.queueRows.rows].find((r) => r.dataset.queue === f.queue);
    if (!row) {
      row = el("tr", null, null, { "data-testid": "queue-row", "data-queue": f.queue });
      const rows = [...els.queueRows.rows];
      els.queueRows.insertBefore(row, rows.find((r) => r.dataset.queue > f.queue) || null);
    }
    const cells = [
      f.queue, s.queue_length, fmtDuration(s.longest_waiting_seconds), s.logged_on_agents,
      s.ready_idle_agents, s.not_ready_agents, s.working_agents, s.active_agents,
    ];
    row.textContent = "";
    cells.forEach((v, i) => row.appendChild(el(i === 0 ? "th" : "td", null, v ?? "–", i === 0 ? { scope: "row" } : {})));
  }

  // ------------------------------------------------------------------ wiring

  els.loginForm.addEventListener("submit", login);
  els.bannerClose.addEventListener("click", () => { els.banner.hidden = true; });
  els.ready.addEventListener("click", () => send({ type: "set_state", state: "ready" }));
  els.notReady.addEventListener("click", setNotReady);
  els.reason.addEventListener("change", () => {
    if (agentState && agentState.state === "not_ready") setNotReady();
  });
  els.logout.addEventListener("click", () => {
    if (!ws || ws.readyState !== WebSocket.OPEN) { signOut(); return; }
    loggingOut = true;
    send({ type: "set_state", state: "logged_out" });
    setTimeout(() => { if (loggingOut) signOut(); }, 2000);
  });

  if (auth) startDesktop();
  else showLogin();
})();
