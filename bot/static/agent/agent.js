/* TaxGuide agent console (agent/index.html). Plain JavaScript module, no framework, no CDN.
 * Live updates over the websocket /agent/ws; actions through /agent/api (CSRF token in X-CSRF-Token).
 * Texts: the catalogue's `console.*` keys (knowledge/messages/console.<lang>.yml), loaded before this
 * module by /i18n.js; the 中文/EN switch re-renders the page from the data it last received.
 * SECURITY: all taxpayer, bot and article text is rendered with textContent, never as HTML. */

import { all, byId as $, el } from "/static/shared/dom.js";
import { browserLanguage, catalogue, translatePage, translator } from "/static/shared/i18n.js";
import * as storage from "/static/shared/storage.js";

const STORAGE_LANG = "taxguide.staff.lang";   // shared with the analyst dashboard

const state = { csrf: null, user: null, ws: null, wsRetry: 0, current: null, mine: {}, snapshotAt: 0, waiting: [], loggedOut: false,
                lang: "en", snapshot: null, tickets: null, conversation: null, kb: null };

/* ------------------------------------------------------------ texts */
const t = translator(catalogue("console"), function () { return state.lang; });

/* The text of a code (reason, language, sender, role ...) or the code itself when the catalogue has none. */
function label(group, code) {
  if (code === null || code === undefined || code === "") return "";
  var key = group + "." + code;
  var s = t(key);
  return s === key ? String(code) : s;
}

/* A node showing the text of `key`; the language switch translates it again. */
function setText(node, key, vars) {
  node.setAttribute("data-i18n", key);
  if (vars) node.setAttribute("data-i18n-vars", JSON.stringify(vars)); else node.removeAttribute("data-i18n-vars");
  node.textContent = t(key, vars);
}

/* A node showing text that is not a catalogue key (data from the server). */
function setPlain(node, text) {
  node.removeAttribute("data-i18n");
  node.removeAttribute("data-i18n-vars");
  node.textContent = text;
}

function applyLanguage(lang) {
  if (lang !== "zh" && lang !== "en") lang = "en";
  state.lang = lang;
  storage.save(STORAGE_LANG, lang);
  document.body.setAttribute("data-lang", lang);
  translatePage(t, lang);
  // the parts built from data: built again in the new language
  if (state.user) showWho(state.user);
  if (state.user && state.user.role === "analyst") showAnalystNote();
  if (state.snapshot) { renderQueues(); tick(); }
  if (state.tickets) renderTickets(state.tickets);
  if (state.conversation) renderConversation(state.conversation);
  if (state.kb) renderKnowledge(state.kb);
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

function showWho(user) {
  $("who").textContent = t("who", { name: user.display_name, role: label("role", user.role) });
}

function showAnalystNote() {
  $("main").textContent = "";
  $("main").appendChild(el("p", "muted", t("analystNote")));
}

function showConsole(user) {
  state.user = user; state.csrf = user.csrf_token; state.loggedOut = false;
  document.body.setAttribute("data-state", "console");
  document.body.setAttribute("data-user", user.username);
  $("login-view").hidden = true;
  $("console-view").hidden = false;
  showWho(user);
  if (user.role === "analyst") {
    showAnalystNote();
    return;
  }
  connect();
  loadTickets();
}

function entryCard(entry, mine) {
  var li = el("li", entry.priority ? "priority" : "");
  li.setAttribute("data-conversation-id", entry.conversation_id);
  if (state.current === entry.conversation_id) li.classList.add("selected");
  var title = el("strong", "topic", entry.topic || t("noTopic"));
  li.appendChild(title);
  var meta = el("p", "meta");
  var waited = el("span", "waiting");
  waited.setAttribute("data-queued-at", entry.queued_at || "");
  waited.textContent = t(mine ? "waited" : "waiting", { time: duration(entry.waiting_seconds) });
  meta.appendChild(waited);
  meta.appendChild(document.createTextNode(" · " + (label("language", entry.language) || "?") + " · " +
    label("reason", entry.reason) + (entry.priority ? " · " + t("requeued") : "")));
  li.appendChild(meta);
  if (entry.last_answers && entry.last_answers.length) {
    var ul = el("ul", "answers");
    ul.setAttribute("aria-label", t("lastAnswers"));
    entry.last_answers.forEach(function (a) {
      var conf = typeof a.confidence === "number" ? " " + t("confidence", { value: a.confidence.toFixed(2) }) : "";
      ul.appendChild(el("li", null, t("said", { who: label("kind", a.kind || "bot") + conf }) + " " + (a.text || "").slice(0, 160)));
    });
    li.appendChild(ul);
  }
  var btn, topic = entry.topic || t("noTopicShort");
  if (mine) {
    btn = el("button", "open-btn", t("open"));
    btn.setAttribute("aria-label", t("openLabel", { topic: topic }));
    btn.addEventListener("click", function () { openConversation(entry.conversation_id); });
  } else {
    btn = el("button", "claim-btn", t("claim"));
    btn.setAttribute("aria-label", t("claimLabel", { topic: topic }));
    btn.addEventListener("click", function () { claim(entry.conversation_id, btn); });
  }
  btn.type = "button";
  li.appendChild(btn);
  return li;
}

function renderSnapshot(snap) {
  state.snapshotAt = Date.now();
  state.snapshot = snap;
  state.waiting = snap.waiting;
  renderQueues();
  if (snap.presence) $("presence").value = snap.presence;
  if (state.current && !state.mine[state.current] && $("reply-form").hidden === false) closePane("notYours");
}

function renderQueues() {
  var snap = state.snapshot;
  var queue = $("queue"); queue.textContent = "";
  snap.waiting.forEach(function (e) { queue.appendChild(entryCard(e, false)); });
  $("queue-count").textContent = String(snap.waiting.length);
  $("queue-empty").hidden = snap.waiting.length > 0;
  var mine = $("mine"); mine.textContent = "";
  state.mine = {};
  snap.mine.forEach(function (e) { state.mine[e.conversation_id] = e; mine.appendChild(entryCard(e, true)); });
  $("mine-count").textContent = snap.mine.length + " / " + snap.capacity;
}

function tick() {
  var elapsed = (Date.now() - state.snapshotAt) / 1000;
  all("#queue .waiting").forEach(function (node, i) {
    var e = state.waiting[i];
    if (e) node.textContent = t("waiting", { time: duration(e.waiting_seconds + elapsed) });
  });
}

function appendLine(m) {
  if (state.conversation && state.conversation.transcript.indexOf(m) < 0) state.conversation.transcript.push(m);
  var li = el("li", "from-" + (m.sender || "bot"));
  li.appendChild(el("span", "who", t("said", { who: label("sender", m.sender) })));
  li.appendChild(el("span", "text", m.text || ""));
  if (m.sender === "bot" && typeof m.confidence === "number") li.appendChild(el("span", "meta", " " + t("confidence", { value: m.confidence.toFixed(2) })));
  $("transcript").appendChild(li);
  $("transcript").scrollTop = $("transcript").scrollHeight;
}

function renderNote(n) {
  if (state.conversation && state.conversation.notes.indexOf(n) < 0) state.conversation.notes.push(n);
  $("notes-title").hidden = false;
  $("notes").appendChild(el("li", null, t("said", { who: n.agent || "" }) + " " + (n.text || "")));
}

function openConversation(id) {
  return api("GET", "/agent/api/conversations/" + encodeURIComponent(id)).then(function (data) {
    state.current = id;
    document.body.setAttribute("data-open-conversation", id);
    renderConversation(data);
    all(".cards li").forEach(function (li) {
      li.classList.toggle("selected", li.getAttribute("data-conversation-id") === id);
    });
    if (!$("reply-form").hidden) $("reply-input").focus();
  }).catch(function (err) { announce(t("openFailed", { error: err.message })); });
}

/* The open conversation (transcript, notes, actions) from GET /agent/api/conversations/{id}. */
function renderConversation(data) {
  data.transcript = data.transcript || []; data.notes = data.notes || [];
  state.conversation = data;
  $("transcript").textContent = ""; $("notes").textContent = ""; $("notes-title").hidden = true;
  data.transcript.forEach(appendLine);
  data.notes.forEach(renderNote);
  var c = data.conversation || {};
  setPlain($("conv-info"), (c.topic || t("noTopic")) + " · " + label("reason", c.reason) + " · " + label("language", c.language));
  var mine = c.status === "claimed" && c.agent === state.user.username;
  $("reply-form").hidden = !mine; $("conv-actions").hidden = !mine; $("note-form").hidden = !mine;
}

/* Close the pane; `key` says why (a catalogue key). */
function closePane(key) {
  state.current = null;
  state.conversation = null;
  document.body.removeAttribute("data-open-conversation");
  $("reply-form").hidden = true; $("conv-actions").hidden = true; $("note-form").hidden = true;
  $("transcript").textContent = ""; $("notes").textContent = ""; $("notes-title").hidden = true;
  setText($("conv-info"), key || "conversationHint");
  announce(t(key || "closed"));
}

function claim(id, btn) {
  btn.disabled = true;
  api("POST", "/agent/api/conversations/" + encodeURIComponent(id) + "/claim").then(function () {
    announce(t("claimed"));
    return openConversation(id);
  }).catch(function (err) {
    btn.disabled = false;
    announce(err.code === "already_claimed" ? t("claimedByOther") : t("claimFailed", { error: err.message }));
  });
}

function loadTickets() {
  api("GET", "/agent/api/tickets").then(renderTickets).catch(function () { /* not fatal */ });
}

function renderTickets(data) {
  state.tickets = data;
  var list = $("tickets"); list.textContent = "";
  $("tickets-count").textContent = String(data.tickets.length);
  data.tickets.forEach(function (ticket) {
    var li = el("li");
    li.setAttribute("data-ticket-id", String(ticket.id));
    li.appendChild(el("p", null, ticket.message));
    var how = ticket.contact_method === "chat" ? label("contactMethod", "chat")
      : t("contactVia", { method: label("contactMethod", ticket.contact_method), contact: ticket.contact || "" });
    var meta = el("p", "meta", t("contact", { how: how, date: (ticket.reply_by || "").replace("T", " ").slice(0, 16) }));
    li.appendChild(meta);
    if (ticket.contact) {  /* listed masked; the clear contact comes from the reveal endpoint, which logs the look */
      var reveal = el("button", "secondary", t("revealContact"));
      reveal.type = "button";
      reveal.addEventListener("click", function () {
        api("POST", "/agent/api/tickets/" + ticket.id + "/contact").then(function (data) {
          var shown = t("contactVia", { method: label("contactMethod", data.contact_method), contact: data.contact || "" });
          meta.textContent = t("contact", { how: shown, date: (ticket.reply_by || "").replace("T", " ").slice(0, 16) });
          reveal.remove();
        }).catch(function (e) { announce(e.message); });
      });
      li.appendChild(reveal);
    }
    var done = el("button", "secondary", t("markDone"));
    done.type = "button";
    done.addEventListener("click", function () {
      api("POST", "/agent/api/tickets/" + ticket.id + "/close").then(loadTickets).catch(function (e) { announce(e.message); });
    });
    li.appendChild(done);
    list.appendChild(li);
  });
}

/* Knowledge-base search results, with a button that inserts an answer into the reply box. */
function renderKnowledge(data) {
  state.kb = data;
  var list = $("kb-results"); list.textContent = "";
  if (!data.results.length) list.appendChild(el("li", "muted", t("noArticle")));
  data.results.forEach(function (r) {
    var li = el("li");
    li.setAttribute("data-article-id", r.article_id);
    li.appendChild(el("strong", null, r.title));
    li.appendChild(el("p", null, r.answer));
    var src = r.source || {};
    li.appendChild(el("p", "meta", t("source", { source: [src.authority, src.document].filter(Boolean).join(", "), date: src.effective_date || "?" })));
    var ins = el("button", "secondary insert-btn", t("insertAnswer"));
    ins.type = "button";
    ins.setAttribute("aria-label", t("insertLabel", { title: r.title }));
    ins.addEventListener("click", function () {
      var box = $("reply-input");
      box.value = (box.value ? box.value + "\n\n" : "") + r.answer;
      box.focus();
    });
    li.appendChild(ins);
    list.appendChild(li);
  });
}

/* ------------------------------------------------------------ live updates */
function connect() {
  if (state.loggedOut) return;
  var proto = window.location.protocol === "https:" ? "wss://" : "ws://";
  var ws = new WebSocket(proto + window.location.host + "/agent/ws");
  state.ws = ws;
  ws.onopen = function () {
    state.wsRetry = 0;
    setText($("conn"), "live");
    document.body.setAttribute("data-connection", "connected");
  };
  ws.onmessage = function (ev) {
    var data;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    if (data.type === "snapshot") renderSnapshot(data);
    else if (data.type === "tickets_changed") loadTickets();
    else if (data.type === "conversation") {
      if (data.closed) {
        if (state.current === data.conversation_id) closePane("taxpayerLeft");
      } else if (data.message && state.current === data.conversation_id) {
        appendLine(data.message);
      } else if (data.message) {
        announce(t("newMessageElsewhere"));
      }
    }
  };
  ws.onclose = function (ev) {
    document.body.setAttribute("data-connection", "disconnected");
    if (state.loggedOut) return;
    if (ev.code === 4401) {  // the session ended on the server (logout elsewhere, account disabled, new role)
      state.loggedOut = true;
      state.user = null; state.snapshot = null; state.tickets = null; state.conversation = null; state.kb = null;
      showLogin();
      return;
    }
    setText($("conn"), "reconnecting");
    state.wsRetry = Math.min(state.wsRetry + 1, 5);
    setTimeout(connect, 500 * state.wsRetry);
  };
}

/* ------------------------------------------------------------ start */
function init() {
  var saved = storage.load(STORAGE_LANG);
  applyLanguage(saved === "zh" || saved === "en" ? saved : browserLanguage());
  all(".lang-btn").forEach(function (b) {
    b.addEventListener("click", function () { applyLanguage(b.getAttribute("data-lang")); });
  });
  $("login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    $("login-error").textContent = "";
    api("POST", "/agent/api/login", { username: $("login-username").value.trim(), password: $("login-password").value })
      .then(function (user) { $("login-password").value = ""; showConsole(user); })
      .catch(function (err) { $("login-error").textContent = err.status === 401 ? t("wrongPassword") : err.message; });
  });
  $("logout").addEventListener("click", function () {
    state.loggedOut = true;
    api("POST", "/agent/api/logout").finally(function () {
      if (state.ws) state.ws.close();
      state.user = null; state.snapshot = null; state.tickets = null; state.conversation = null; state.kb = null;
      showLogin();
    });
  });
  $("presence").addEventListener("change", function () {
    api("POST", "/agent/api/presence", { status: $("presence").value }).then(function () {
      announce(t("presenceChanged", { status: t($("presence").value === "away" ? "presenceAway" : "presenceOnline") }));
    }).catch(function (e) { announce(e.message); });
  });
  $("reply-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("reply-input").value.trim();
    if (!text || !state.current) return;
    api("POST", "/agent/api/conversations/" + encodeURIComponent(state.current) + "/messages", { text: text })
      .then(function (m) { $("reply-input").value = ""; appendLine(m); })
      .catch(function (err) { announce(t("notSent", { error: err.message })); });
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
      .catch(function (err) { announce(t("noteNotSaved", { error: err.message })); });
  });
  function closeAs(outcome) {
    if (!state.current) return;
    api("POST", "/agent/api/conversations/" + encodeURIComponent(state.current) + "/close", { outcome: outcome })
      .then(function () { closePane(outcome === "bot" ? "returnedToBot" : "resolved"); })
      .catch(function (err) { announce(err.message); });
  }
  $("return-bot").addEventListener("click", function () { closeAs("bot"); });
  $("resolve").addEventListener("click", function () { closeAs("resolved"); });
  $("kb-form").addEventListener("submit", function (e) {
    e.preventDefault();
    api("GET", "/agent/api/knowledge?q=" + encodeURIComponent($("kb-input").value)).then(renderKnowledge)
      .catch(function (err) { announce(err.message); });
  });
  setInterval(tick, 1000);
  api("GET", "/agent/api/me").then(function (me) { if (me.authenticated) showConsole(me); else showLogin(); }, showLogin);
}

init();   // a module runs once the document is parsed
