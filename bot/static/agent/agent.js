/* TaxGuide agent console. Plain JavaScript, no framework, no CDN.
 * Live updates over the websocket /agent/ws; actions through /agent/api (CSRF token in X-CSRF-Token).
 * SECURITY: all taxpayer, bot and article text is rendered with textContent, never as HTML. */
(function () {
  "use strict";

  var state = { csrf: null, user: null, ws: null, wsRetry: 0, current: null, mine: {}, snapshotAt: 0, waiting: [], loggedOut: false };
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function announce(text) {
    var node = $("announce");
    node.textContent = "";
    setTimeout(function () { node.textContent = text; }, 30);
  }

  function api(method, url, body) {
    var headers = { "Accept": "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = state.csrf || "";
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, { method: method, headers: headers, credentials: "same-origin", cache: "no-store",
                        body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (data) {
          if (!res.ok) {
            var err = new Error((data.error && data.error.message) || ("HTTP " + res.status));
            err.status = res.status; err.code = data.error && data.error.code;
            throw err;
          }
          return data;
        });
      });
  }

  var REASONS = { requested: "Asked for a person", not_understood: "Bot did not understand twice", sensitive_topic: "Sensitive topic" };
  var LANGS = { en: "English", zh: "Chinese" };

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  /* ------------------------------------------------------------ views */
  function showLogin() {
    document.body.setAttribute("data-state", "login");
    $("console-view").hidden = true;
    $("login-view").hidden = false;
    $("login-username").focus();
  }

  function showConsole(user) {
    state.user = user; state.csrf = user.csrf_token; state.loggedOut = false;
    document.body.setAttribute("data-state", "console");
    document.body.setAttribute("data-user", user.username);
    $("login-view").hidden = true;
    $("console-view").hidden = false;
    $("who").textContent = user.display_name + " (" + user.role + ")";
    if (user.role === "analyst") {
      $("main").textContent = "";
      $("main").appendChild(el("p", "muted", "Analysts see aggregate statistics at /agent/api/stats; the live queue is for agents."));
      return;
    }
    connect();
    loadTickets();
  }

  function entryCard(entry, mine) {
    var li = el("li", entry.priority ? "priority" : "");
    li.setAttribute("data-conversation-id", entry.conversation_id);
    if (state.current === entry.conversation_id) li.classList.add("selected");
    var title = el("strong", "topic", entry.topic || "(no topic)");
    li.appendChild(title);
    var meta = el("p", "meta");
    var waited = el("span", "waiting");
    waited.setAttribute("data-queued-at", entry.queued_at || "");
    waited.textContent = (mine ? "Waited " : "Waiting ") + duration(entry.waiting_seconds);
    meta.appendChild(waited);
    meta.appendChild(document.createTextNode(" · " + (LANGS[entry.language] || entry.language || "?") + " · " +
      (REASONS[entry.reason] || entry.reason || "") + (entry.priority ? " · returned to queue (priority)" : "")));
    li.appendChild(meta);
    if (entry.last_answers && entry.last_answers.length) {
      var ul = el("ul", "answers");
      ul.setAttribute("aria-label", "The bot's last answers");
      entry.last_answers.forEach(function (a) {
        var conf = typeof a.confidence === "number" ? " (confidence " + a.confidence.toFixed(2) + ")" : "";
        ul.appendChild(el("li", null, (a.kind || "bot") + conf + ": " + (a.text || "").slice(0, 160)));
      });
      li.appendChild(ul);
    }
    var btn;
    if (mine) {
      btn = el("button", "open-btn", "Open");
      btn.setAttribute("aria-label", "Open conversation about " + (entry.topic || "no topic"));
      btn.addEventListener("click", function () { openConversation(entry.conversation_id); });
    } else {
      btn = el("button", "claim-btn", "Claim");
      btn.setAttribute("aria-label", "Claim conversation about " + (entry.topic || "no topic"));
      btn.addEventListener("click", function () { claim(entry.conversation_id, btn); });
    }
    btn.type = "button";
    li.appendChild(btn);
    return li;
  }

  function renderSnapshot(snap) {
    state.snapshotAt = Date.now();
    state.waiting = snap.waiting;
    var queue = $("queue"); queue.textContent = "";
    snap.waiting.forEach(function (e) { queue.appendChild(entryCard(e, false)); });
    $("queue-count").textContent = String(snap.waiting.length);
    $("queue-empty").hidden = snap.waiting.length > 0;
    var mine = $("mine"); mine.textContent = "";
    state.mine = {};
    snap.mine.forEach(function (e) { state.mine[e.conversation_id] = e; mine.appendChild(entryCard(e, true)); });
    $("mine-count").textContent = snap.mine.length + " / " + snap.capacity;
    if (snap.presence) $("presence").value = snap.presence;
    if (state.current && !state.mine[state.current] && $("reply-form").hidden === false) closePane("The conversation is no longer yours.");
  }

  function tick() {
    var elapsed = (Date.now() - state.snapshotAt) / 1000;
    Array.prototype.forEach.call(document.querySelectorAll("#queue .waiting"), function (node, i) {
      var e = state.waiting[i];
      if (e) node.textContent = "Waiting " + duration(e.waiting_seconds + elapsed);
    });
  }

  function senderLabel(sender) {
    return { taxpayer: "Taxpayer", bot: "Bot", agent: "Agent", system: "System" }[sender] || sender;
  }

  function appendLine(m) {
    var li = el("li", "from-" + (m.sender || "bot"));
    li.appendChild(el("span", "who", senderLabel(m.sender) + ":"));
    li.appendChild(el("span", "text", m.text || ""));
    if (m.sender === "bot" && typeof m.confidence === "number") li.appendChild(el("span", "meta", " (confidence " + m.confidence.toFixed(2) + ")"));
    $("transcript").appendChild(li);
    $("transcript").scrollTop = $("transcript").scrollHeight;
  }

  function renderNote(n) {
    $("notes-title").hidden = false;
    $("notes").appendChild(el("li", null, (n.agent || "") + ": " + (n.text || "")));
  }

  function openConversation(id) {
    return api("GET", "/agent/api/conversations/" + encodeURIComponent(id)).then(function (data) {
      state.current = id;
      document.body.setAttribute("data-open-conversation", id);
      $("transcript").textContent = ""; $("notes").textContent = ""; $("notes-title").hidden = true;
      data.transcript.forEach(appendLine);
      data.notes.forEach(renderNote);
      var c = data.conversation || {};
      $("conv-info").textContent = (c.topic || "(no topic)") + " · " + (REASONS[c.reason] || c.reason || "") + " · " + (LANGS[c.language] || c.language || "");
      var mine = c.status === "claimed" && c.agent === state.user.username;
      $("reply-form").hidden = !mine; $("conv-actions").hidden = !mine; $("note-form").hidden = !mine;
      Array.prototype.forEach.call(document.querySelectorAll(".cards li"), function (li) {
        li.classList.toggle("selected", li.getAttribute("data-conversation-id") === id);
      });
      if (mine) $("reply-input").focus();
    }).catch(function (err) { announce("Could not open the conversation: " + err.message); });
  }

  function closePane(message) {
    state.current = null;
    document.body.removeAttribute("data-open-conversation");
    $("reply-form").hidden = true; $("conv-actions").hidden = true; $("note-form").hidden = true;
    $("transcript").textContent = ""; $("notes").textContent = ""; $("notes-title").hidden = true;
    $("conv-info").textContent = message || "Claim a conversation from the queue to chat.";
    announce(message || "Conversation closed.");
  }

  function claim(id, btn) {
    btn.disabled = true;
    api("POST", "/agent/api/conversations/" + encodeURIComponent(id) + "/claim").then(function () {
      announce("Conversation claimed.");
      return openConversation(id);
    }).catch(function (err) {
      btn.disabled = false;
      announce(err.code === "already_claimed" ? "Another agent claimed it first." : "Could not claim: " + err.message);
    });
  }

  function loadTickets() {
    api("GET", "/agent/api/tickets").then(function (data) {
      var list = $("tickets"); list.textContent = "";
      $("tickets-count").textContent = String(data.tickets.length);
      data.tickets.forEach(function (t) {
        var li = el("li");
        li.setAttribute("data-ticket-id", String(t.id));
        li.appendChild(el("p", null, t.message));
        var how = t.contact_method === "chat" ? "reply in the chat" : t.contact_method + ": " + (t.contact || "");
        li.appendChild(el("p", "meta", "Contact: " + how + " · reply by " + (t.reply_by || "").replace("T", " ").slice(0, 16)));
        var done = el("button", "secondary", "Mark done");
        done.type = "button";
        done.addEventListener("click", function () {
          api("POST", "/agent/api/tickets/" + t.id + "/close").then(loadTickets).catch(function (e) { announce(e.message); });
        });
        li.appendChild(done);
        list.appendChild(li);
      });
    }).catch(function () { /* not fatal */ });
  }

  /* ------------------------------------------------------------ live updates */
  function connect() {
    if (state.loggedOut) return;
    var proto = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + window.location.host + "/agent/ws");
    state.ws = ws;
    ws.onopen = function () {
      state.wsRetry = 0;
      $("conn").textContent = "Live";
      document.body.setAttribute("data-connection", "connected");
    };
    ws.onmessage = function (ev) {
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (data.type === "snapshot") renderSnapshot(data);
      else if (data.type === "tickets_changed") loadTickets();
      else if (data.type === "conversation") {
        if (data.closed) {
          if (state.current === data.conversation_id) closePane("The taxpayer left the conversation.");
        } else if (data.message && state.current === data.conversation_id) {
          appendLine(data.message);
        } else if (data.message) {
          announce("New message in another conversation.");
        }
      }
    };
    ws.onclose = function () {
      document.body.setAttribute("data-connection", "disconnected");
      if (state.loggedOut) return;
      $("conn").textContent = "Reconnecting…";
      state.wsRetry = Math.min(state.wsRetry + 1, 5);
      setTimeout(connect, 500 * state.wsRetry);
    };
  }

  /* ------------------------------------------------------------ start */
  function init() {
    $("login-form").addEventListener("submit", function (e) {
      e.preventDefault();
      $("login-error").textContent = "";
      api("POST", "/agent/api/login", { username: $("login-username").value.trim(), password: $("login-password").value })
        .then(function (user) { $("login-password").value = ""; showConsole(user); })
        .catch(function (err) { $("login-error").textContent = err.status === 401 ? "Wrong username or password." : err.message; });
    });
    $("logout").addEventListener("click", function () {
      state.loggedOut = true;
      api("POST", "/agent/api/logout").finally(function () { if (state.ws) state.ws.close(); showLogin(); });
    });
    $("presence").addEventListener("change", function () {
      api("POST", "/agent/api/presence", { status: $("presence").value }).then(function () {
        announce("Presence: " + $("presence").value);
      }).catch(function (e) { announce(e.message); });
    });
    $("reply-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var text = $("reply-input").value.trim();
      if (!text || !state.current) return;
      api("POST", "/agent/api/conversations/" + encodeURIComponent(state.current) + "/messages", { text: text })
        .then(function (m) { $("reply-input").value = ""; appendLine(m); })
        .catch(function (err) { announce("Not sent: " + err.message); });
    });
    $("reply-input").addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("reply-form").requestSubmit(); }
    });
    $("note-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var text = $("note-input").value.trim();
      if (!text || !state.current) return;
      api("POST", "/agent/api/conversations/" + encodeURIComponent(state.current) + "/notes", { text: text })
        .then(function (n) { $("note-input").value = ""; renderNote(n); })
        .catch(function (err) { announce("Note not saved: " + err.message); });
    });
    function closeAs(outcome) {
      if (!state.current) return;
      api("POST", "/agent/api/conversations/" + encodeURIComponent(state.current) + "/close", { outcome: outcome })
        .then(function () { closePane(outcome === "bot" ? "Returned to the bot." : "Resolved and closed."); })
        .catch(function (err) { announce(err.message); });
    }
    $("return-bot").addEventListener("click", function () { closeAs("bot"); });
    $("resolve").addEventListener("click", function () { closeAs("resolved"); });
    $("kb-form").addEventListener("submit", function (e) {
      e.preventDefault();
      api("GET", "/agent/api/knowledge?q=" + encodeURIComponent($("kb-input").value)).then(function (data) {
        var list = $("kb-results"); list.textContent = "";
        if (!data.results.length) list.appendChild(el("li", "muted", "No article found."));
        data.results.forEach(function (r) {
          var li = el("li");
          li.setAttribute("data-article-id", r.article_id);
          li.appendChild(el("strong", null, r.title));
          li.appendChild(el("p", null, r.answer));
          var src = r.source || {};
          li.appendChild(el("p", "meta", "Source: " + [src.authority, src.document].filter(Boolean).join(", ") + " (effective " + (src.effective_date || "?") + ")"));
          var ins = el("button", "secondary insert-btn", "Insert answer");
          ins.type = "button";
          ins.setAttribute("aria-label", "Insert the answer of " + r.title);
          ins.addEventListener("click", function () {
            var box = $("reply-input");
            box.value = (box.value ? box.value + "\n\n" : "") + r.answer;
            box.focus();
          });
          li.appendChild(ins);
          list.appendChild(li);
        });
      }).catch(function (err) { announce(err.message); });
    });
    setInterval(tick, 1000);
    api("GET", "/agent/api/me").then(function (me) { if (me.authenticated) showConsole(me); else showLogin(); }, showLogin);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
