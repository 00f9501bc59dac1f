/* TaxGuide taxpayer web chat.
 *
 * Plain browser JavaScript, no framework, no build step.
 * Talks to the TaxGuide gateway with Rasa's socket.io channel protocol:
 *   client -> session_request {session_id?}      server -> session_confirm (session id)
 *   client -> user_uttered {message, session_id}  server -> bot_uttered {text, quick_replies|buttons, custom}
 * and reads the transcript from GET /conversations/{session_id}/history.
 *
 * SECURITY: every piece of user or bot text is put in the page with
 * textContent / createTextNode. Never use innerHTML with message text.
 */
(function () {
  "use strict";

  /* ------------------------------------------------------------------ *
   * UI strings: the message catalogue's `page.*` keys (knowledge/messages/page.<lang>.yml),
   * loaded before this script by /i18n.js. Without it the page keeps its HTML texts.
   * ------------------------------------------------------------------ */
  var STRINGS = (window.TAXGUIDE_I18N && window.TAXGUIDE_I18N.page) || { en: {}, zh: {} };

  var STORAGE_SESSION = "taxguide.session_id";
  var STORAGE_LANG = "taxguide.lang";
  var SOCKET_PATH = "/socket.io";
  var TYPING_TIMEOUT_MS = 45000;

  /* ------------------------------------------------------------------ *
   * State                                                              *
   * ------------------------------------------------------------------ */
  var state = {
    lang: "en",
    sessionId: null,
    sessionReady: false,
    socket: null,
    pending: [],           // messages typed while the session was not confirmed
    typingTimer: null,
    everConnected: false,
    lastChoices: null,     // the newest group of clarification buttons
    lastSent: null,        // last payload sent, resent once if the gateway lost our session
    resent: false,
    withAgent: false       // a tax officer answers (no typing indicator for the bot)
  };

  var $ = function (id) { return document.getElementById(id); };
  var ui = {};

  /* ------------------------------------------------------------------ *
   * Small helpers                                                      *
   * ------------------------------------------------------------------ */
  function t(key, vars) {
    var dict = STRINGS[state.lang] || STRINGS.en || {};
    var s = Object.prototype.hasOwnProperty.call(dict, key) ? dict[key] : ((STRINGS.en || {})[key] || key);
    if (vars) {
      Object.keys(vars).forEach(function (k) { s = s.replace("{" + k + "}", String(vars[k])); });
    }
    return s;
  }

  /* Create an element. `text` is always set as textContent (never HTML). */
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /* Element whose text is a UI string; re-translated on language switch. */
  function i18nEl(tag, className, key) {
    var node = el(tag, className, t(key));
    node.setAttribute("data-i18n", key);
    return node;
  }

  function storageGet(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function storageSet(key, value) {
    try {
      if (value === null || value === undefined) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, value);
    } catch (e) { /* private mode: keep going without persistence */ }
  }

  function asText(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    try { return JSON.stringify(v); } catch (e) { return String(v); }
  }

  function parseTime(v) {
    if (v === null || v === undefined || v === "") return null;
    var d;
    if (typeof v === "number") {
      d = new Date(v < 1e12 ? v * 1000 : v);   // seconds (Rasa) or milliseconds
    } else {
      d = new Date(v);
    }
    return isNaN(d.getTime()) ? null : d;
  }

  function formatTime(d) {
    if (!d) return "";
    var locale = state.lang === "zh" ? "zh-CN" : "en-GB";
    try {
      var sameDay = new Date().toDateString() === d.toDateString();
      var opts = sameDay ? { hour: "2-digit", minute: "2-digit" }
                         : { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
      return d.toLocaleString(locale, opts);
    } catch (e) {
      return d.toISOString();
    }
  }

  /* ------------------------------------------------------------------ *
   * Message shapes                                                     *
   * ------------------------------------------------------------------ */

  /* Buttons come as `buttons` or Rasa `quick_replies`: [{title, payload}]. */
  function normalizeButtons(list) {
    if (!Array.isArray(list)) return [];
    return list.map(function (b) {
      if (b === null || typeof b !== "object") return { title: asText(b), payload: asText(b) };
      var title = asText(b.title !== undefined ? b.title : b.payload);
      var payload = asText(b.payload !== undefined ? b.payload : b.title);
      return { title: title, payload: payload };
    }).filter(function (b) { return b.title || b.payload; });
  }

  /* One bot_uttered event -> {sender, text, buttons, custom, time}. */
  function normalizeBotUttered(data) {
    if (typeof data === "string") data = { text: data };
    data = data || {};
    var custom = null;
    if (data.custom && typeof data.custom === "object") custom = data.custom;
    else if (typeof data.kind === "string") custom = data;   // Rasa send_custom_json emits the json as-is
    var buttons = normalizeButtons(data.buttons || data.quick_replies ||
                                   (custom && (custom.buttons || custom.quick_replies)));
    var text = data.text;
    if ((text === undefined || text === null) && custom && typeof custom.text === "string") text = custom.text;
    return {
      sender: custom && custom.kind === "agent_message" ? "agent" : "bot",
      text: asText(text),
      buttons: buttons,
      custom: custom,
      time: parseTime(data.time || data.timestamp) || new Date()
    };
  }

  /* Live-agent handoff: who answers now, from the handoff kinds of the bot's messages. */
  function trackHandoff(custom) {
    var kind = custom && custom.kind;
    if (kind === "handoff_claimed" || kind === "agent_message") state.withAgent = true;
    else if (kind === "handoff_returned" || kind === "handoff_resolved" || kind === "handoff_requeued" ||
             kind === "handoff_cancelled") state.withAgent = false;
    document.body.setAttribute("data-handoff", state.withAgent ? "agent" : "bot");
    if (kind === "handoff_queued" && custom.position) showQueuePosition(custom.position);
    else if (kind && kind.indexOf("handoff_") === 0 || kind === "agent_message") showQueuePosition(null);
  }

  /* The live queue position while waiting for an officer (handoff_status events update it). */
  function showQueuePosition(position) {
    var node = $("queue-status");
    if (!node) return;
    var n = parseInt(position, 10);
    if (!n || n < 1 || state.withAgent) {
      node.hidden = true;
      node.textContent = "";
      return;
    }
    node.textContent = t("queuePosition", { n: n });
    node.hidden = false;
  }

  /* Outside service hours or with nobody online: a form to leave a message and a contact preference. */
  function renderTicketForm(custom) {
    var form = el("form", "ticket-form");
    var uid = "t" + Math.random().toString(36).slice(2, 8);
    function field(tag, key, id) {
      var label = i18nEl("label", null, key);
      label.setAttribute("for", id);
      var input = el(tag);
      input.id = id;
      form.appendChild(label);
      form.appendChild(input);
      return input;
    }
    var message = field("textarea", "ticketMessage", uid + "-msg");
    message.maxLength = 2000; message.rows = 3; message.required = true;
    var method = field("select", "ticketMethod", uid + "-method");
    [["chat", "ticketChat"], ["phone", "ticketPhone"], ["email", "ticketEmail"]].forEach(function (o) {
      var opt = i18nEl("option", null, o[1]);
      opt.value = o[0];
      method.appendChild(opt);
    });
    var contact = field("input", "ticketContact", uid + "-contact");
    var send = i18nEl("button", "choice-btn", "ticketSend");
    send.type = "submit";
    form.appendChild(send);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!message.value.trim() || !state.sessionId) return;
      send.disabled = true;
      fetch(String(custom.ticket_url || ("/conversations/" + encodeURIComponent(state.sessionId) + "/handoff/ticket")), {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + state.sessionId },
        body: JSON.stringify({ message: message.value.trim(), contact_method: method.value, contact: contact.value.trim() || null })
      }).then(function (res) {
        return res.json().then(function (data) {
          if (!res.ok) throw new Error("HTTP " + res.status);
          var done = el("p", "ticket-done", data.text);
          done.setAttribute("role", "status");
          form.replaceWith(done);
        });
      }).catch(function () {
        send.disabled = false;
        renderNotice("ticketFailed");
      });
    });
    return form;
  }

  /* The history endpoint's shape is read HERE and only here.
   * Expected: JSON list of {sender: taxpayer|bot|agent, text, buttons?, custom?, time}.
   * Also tolerated: an object wrapping that list as history/messages/transcript/events,
   * sender "user" for taxpayer, `timestamp` for time, `quick_replies` for buttons. */
  function parseHistory(json) {
    var list = json;
    if (list && !Array.isArray(list) && typeof list === "object") {
      list = list.history || list.messages || list.transcript || list.events || [];
    }
    if (!Array.isArray(list)) return [];
    var out = [];
    list.forEach(function (item) {
      if (!item || typeof item !== "object") return;
      var sender = String(item.sender || item.event || "bot").toLowerCase();
      if (sender === "user" || sender === "customer") sender = "taxpayer";
      if (sender !== "taxpayer" && sender !== "agent") sender = "bot";
      var custom = item.custom && typeof item.custom === "object" ? item.custom : null;
      out.push({
        sender: sender,
        text: asText(item.text),
        buttons: normalizeButtons(item.buttons || item.quick_replies || (custom && custom.buttons)),
        custom: custom,
        time: parseTime(item.time !== undefined ? item.time : item.timestamp)
      });
    });
    return out;
  }

  /* ------------------------------------------------------------------ *
   * Rendering (textContent only)                                       *
   * ------------------------------------------------------------------ */
  function scrollToEnd() {
    ui.chat.scrollTop = ui.chat.scrollHeight;
  }

  function senderKey(sender) {
    if (sender === "taxpayer") return "senderTaxpayer";
    if (sender === "agent") return "senderAgent";
    return "senderBot";
  }

  function renderSources(sources) {
    var list = el("ul", "sources");
    list.setAttribute("aria-label", t("sourcesLabel"));
    list.setAttribute("data-i18n-aria-label", "sourcesLabel");
    sources.forEach(function (src) {
      if (!src || typeof src !== "object") return;
      var li = el("li", "source");
      li.appendChild(i18nEl("span", "source-label", "sourceLabel"));
      li.appendChild(document.createTextNode(" "));
      var parts = [src.authority, src.document || src.title].filter(function (p) { return p; }).map(asText);
      var url = typeof src.url === "string" && /^https?:\/\//i.test(src.url) ? src.url : null;
      var doc = el(url ? "a" : "span", "source-doc", parts.join(", ") || (url || ""));
      if (url) {
        doc.href = url;                       // only http(s) links; text stays textContent
        doc.target = "_blank";
        doc.rel = "noopener noreferrer";
      }
      li.appendChild(doc);
      if (src.effective_date) {
        li.appendChild(document.createTextNode(" · "));
        var date = el("span", "source-date");
        date.appendChild(i18nEl("span", "source-date-label", "effectiveLabel"));
        date.appendChild(document.createTextNode(" "));
        var time = el("time", "source-date-value", asText(src.effective_date));
        time.setAttribute("datetime", asText(src.effective_date));
        date.appendChild(time);
        li.appendChild(date);
      }
      list.appendChild(li);
    });
    return list;
  }

  function renderCalculation(result, inputRows) {
    var box = el("div", "calc");
    var wrap = el("div", "calc-table-wrap");

    var inputs = inputRows && inputRows.length ? inputRows : result.inputs;  // labelled rows in the reply's language
    if (inputs && typeof inputs === "object") {
      var rows = Array.isArray(inputs)
        ? inputs.map(function (i) { return [i && (i.label || i.name), i && i.value]; })
        : Object.keys(inputs).map(function (k) { return [k, inputs[k]]; });
      if (rows.length) {
        var it = el("table", "calc-inputs");
        var icap = i18nEl("caption", null, "calcInputs");
        it.appendChild(icap);
        var ibody = el("tbody");
        rows.forEach(function (r) {
          var tr = el("tr");
          var th = el("th", null, asText(r[0]));
          th.setAttribute("scope", "row");
          tr.appendChild(th);
          tr.appendChild(el("td", "num", asText(r[1])));
          ibody.appendChild(tr);
        });
        it.appendChild(ibody);
        wrap.appendChild(it);
      }
    }

    var steps = Array.isArray(result.steps) ? result.steps : [];
    if (steps.length) {
      var table = el("table", "calc-steps");
      table.appendChild(i18nEl("caption", null, "calcCaption"));
      var thead = el("thead");
      var htr = el("tr");
      ["calcStep", "calcValue", "calcExplanation"].forEach(function (k) {
        var th = i18nEl("th", null, k);
        th.setAttribute("scope", "col");
        htr.appendChild(th);
      });
      thead.appendChild(htr);
      table.appendChild(thead);
      var tbody = el("tbody");
      steps.forEach(function (s) {
        s = s || {};
        var tr = el("tr");
        tr.appendChild(el("td", null, asText(s.label)));
        tr.appendChild(el("td", "num", asText(s.value)));
        tr.appendChild(el("td", null, asText(s.explanation)));
        tbody.appendChild(tr);
      });
      table.appendChild(tbody);
      wrap.appendChild(table);
    }
    box.appendChild(wrap);

    if (result.result !== undefined && result.result !== null) {
      var r = result.result;
      var p = el("p", "calc-result");
      p.appendChild(i18nEl("span", null, "calcResult"));
      p.appendChild(document.createTextNode(" "));
      var value = (r && typeof r === "object")
        ? [r.label, r.value !== undefined ? r.value : r.amount, r.unit].filter(function (x) { return x !== undefined && x !== null && x !== ""; }).map(asText).join(" ")
        : asText(r);
      p.appendChild(el("span", "calc-result-value", value));
      box.appendChild(p);
    }
    return box;
  }

  function renderChoices(buttons, opts) {
    var group = el("div", "choices");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", t("clarifyLabel"));
    group.setAttribute("data-i18n-aria-label", "clarifyLabel");
    buttons.forEach(function (b) {
      var btn = el("button", "choice-btn", b.title);
      btn.type = "button";
      btn.setAttribute("data-payload", b.payload);
      if (opts.chosenPayload !== undefined) {
        btn.disabled = true;
        if (b.payload === opts.chosenPayload) btn.classList.add("is-chosen");
      }
      btn.addEventListener("click", function () { onChoice(group, btn, b); });
      group.appendChild(btn);
    });
    if (opts.chosenPayload === undefined) state.lastChoices = group;
    return group;
  }

  /* msg: {sender, text, buttons, custom, time}; opts.chosenPayload: render buttons as used. */

  /* An answer's text ends with a plain "Source: ..." line for text-only clients; the page shows the
   * structured sources instead, so that line is dropped here (it may arrive as its own text part). */
  function displayText(text, custom, kind) {
    var value = text === undefined || text === null ? "" : String(text);
    if (kind === "answer" && Array.isArray(custom.sources) && custom.sources.length) {
      var cut = value.indexOf("\n\nSource: ");
      if (cut >= 0) return value.slice(0, cut);
      if (value.indexOf("Source: ") === 0) return "";
    }
    return value;
  }

  function renderMessage(msg, opts) {
    opts = opts || {};
    var custom = msg.custom || {};
    var kind = typeof custom.kind === "string" ? custom.kind : "";
    var li = el("li", "msg msg--" + msg.sender + (kind ? " msg--" + kind.replace(/[^a-z_]/gi, "") : ""));
    if (kind) li.setAttribute("data-kind", kind);
    if (custom.article_id) li.setAttribute("data-article-id", asText(custom.article_id));

    var bubble = el("div", "bubble");
    bubble.appendChild(i18nEl("span", "visually-hidden", senderKey(msg.sender)));
    if (msg.sender === "agent") {
      var who = i18nEl("strong", "agent-name", "agentName");
      bubble.appendChild(who);
      bubble.appendChild(document.createTextNode(": "));
    }
    var textNode = el("span", "msg-text", displayText(msg.text, custom, kind));
    bubble.appendChild(textNode);

    if (kind === "calculation" && custom.result && typeof custom.result === "object") {
      bubble.appendChild(renderCalculation(custom.result, custom.input_rows));
    }
    if (Array.isArray(custom.sources) && custom.sources.length) {
      bubble.appendChild(renderSources(custom.sources));
    }
    li.appendChild(bubble);

    if (msg.buttons && msg.buttons.length) {
      li.appendChild(renderChoices(msg.buttons, opts));
    }
    if (kind === "handoff_offline" && !opts.fromHistory) li.appendChild(renderTicketForm(custom));
    trackHandoff(custom);

    var when = msg.time || new Date();
    var meta = el("time", "msg-meta", formatTime(when));
    meta.setAttribute("datetime", when.toISOString());
    li.appendChild(meta);
    (window.TaxGuideChatHooks || []).forEach(function (hook) {  // e.g. ratings and thumbs (analytics/feedback.js)
      try { hook(li, msg, opts); } catch (e) { /* a decoration never breaks the chat */ }
    });

    ui.messages.appendChild(li);
    scrollToEnd();
    return li;
  }

  /* Disable older clarification buttons once the conversation moves on. */
  function retireChoices() {
    if (state.lastChoices) {
      Array.prototype.forEach.call(state.lastChoices.querySelectorAll("button"), function (b) { b.disabled = true; });
      state.lastChoices = null;
    }
  }

  /* A short system notice in the conversation (errors from the gateway). */
  function renderNotice(key, vars) {
    var li = el("li", "msg msg--notice");
    li.setAttribute("role", "alert");
    var bubble = el("div", "bubble", t(key, vars));
    li.appendChild(bubble);
    ui.messages.appendChild(li);
    scrollToEnd();
    return li;
  }

  function renderHistory(items) {
    for (var i = 0; i < items.length; i++) {
      var msg = items[i];
      var opts = {};
      if (msg.sender !== "taxpayer" && msg.buttons.length) {
        // Find the taxpayer's reply to these buttons (if any) to mark it as chosen.
        var next = null;
        for (var j = i + 1; j < items.length; j++) {
          if (items[j].sender === "taxpayer") { next = items[j]; break; }
        }
        if (next) {
          opts.chosenPayload = null;
          msg.buttons.forEach(function (b) {
            if (b.payload === next.text || b.title === next.text) {
              opts.chosenPayload = b.payload;
              next.text = b.title;          // show the title, not the raw payload
            }
          });
        }
      }
      retireChoices();
      opts.fromHistory = i < items.length - 1;   // only the newest offline offer keeps its form
      renderMessage(msg, opts);
    }
  }

  /* ------------------------------------------------------------------ *
   * Typing indicator, banner, status                                   *
   * ------------------------------------------------------------------ */
  function showTyping(on) {
    clearTimeout(state.typingTimer);
    ui.typing.hidden = !on;
    ui.chat.setAttribute("aria-busy", on ? "true" : "false");
    if (on) {
      state.typingTimer = setTimeout(function () { showTyping(false); }, TYPING_TIMEOUT_MS);
      scrollToEnd();
    }
  }

  var bannerKey = null, bannerVars = null;
  function showBanner(key, vars) {
    bannerKey = key; bannerVars = vars || null;
    ui.bannerText.textContent = t(key, vars);
    ui.banner.hidden = false;
    document.body.setAttribute("data-connection", "disconnected");
  }
  function hideBanner() {
    bannerKey = null;
    ui.banner.hidden = true;
  }

  function announce(key) {
    ui.status.textContent = "";
    // next tick so screen readers notice a repeated message
    setTimeout(function () { ui.status.textContent = t(key); }, 50);
  }

  /* ------------------------------------------------------------------ *
   * Language                                                           *
   * ------------------------------------------------------------------ */
  function applyLanguage(lang) {
    if (!STRINGS[lang]) lang = "en";
    state.lang = lang;
    storageSet(STORAGE_LANG, lang);
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    // a key without a text (no /i18n.js) leaves the page's own text in place
    function each(attr, apply) {
      Array.prototype.forEach.call(document.querySelectorAll("[" + attr + "]"), function (node) {
        var key = node.getAttribute(attr), value = t(key);
        if (value !== key) apply(node, value);
      });
    }
    if (t("pageTitle") !== "pageTitle") document.title = t("pageTitle");
    each("data-i18n", function (node, value) { node.textContent = value; });
    each("data-i18n-placeholder", function (node, value) { node.setAttribute("placeholder", value); });
    each("data-i18n-aria-label", function (node, value) { node.setAttribute("aria-label", value); });
    Array.prototype.forEach.call(document.querySelectorAll(".lang-btn"), function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-lang") === lang ? "true" : "false");
    });
    if (bannerKey) ui.bannerText.textContent = t(bannerKey, bannerVars);
  }

  /* ------------------------------------------------------------------ *
   * Sending                                                            *
   * ------------------------------------------------------------------ */
  function transmit(payload) {
    state.lastSent = payload;
    // the page language is the preference for messages without a clear language ("ok", numbers, buttons)
    state.socket.emit("user_uttered", { message: payload, session_id: state.sessionId, metadata: { language: state.lang } });
  }

  function flushPending() {
    while (state.sessionReady && state.pending.length) transmit(state.pending.shift());
  }

  /* shown: what appears as the taxpayer's message; payload: what the bot receives. */
  function send(shown, payload) {
    if (payload === undefined) payload = shown;
    state.resent = false;
    if (!String(payload).trim()) return;
    retireChoices();
    renderMessage({ sender: "taxpayer", text: shown, buttons: [], custom: null, time: new Date() });
    showTyping(!state.withAgent);
    if (state.sessionReady && state.socket && state.socket.connected) transmit(payload);
    else state.pending.push(payload);
  }

  /* For page add-ons (analytics/feedback.js): send a message, read the session and language. */
  window.TaxGuideChat = {
    send: function (shown, payload) { send(shown, payload); },
    sessionId: function () { return state.sessionId; },
    lang: function () { return state.lang; }
  };

  function onChoice(group, btn, b) {
    if (btn.disabled) return;
    Array.prototype.forEach.call(group.querySelectorAll("button"), function (x) { x.disabled = true; });
    btn.classList.add("is-chosen");
    if (state.lastChoices === group) state.lastChoices = null;
    send(b.title, b.payload);
    ui.input.focus();
  }

  function autoGrow() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 160) + "px";
  }

  /* ------------------------------------------------------------------ *
   * Connection                                                         *
   * ------------------------------------------------------------------ */
  function requestSession() {
    state.sessionReady = false;
    var body = {};
    if (state.sessionId) body.session_id = state.sessionId;
    state.socket.emit("session_request", body);
  }

  function connect() {
    if (typeof window.io !== "function") {
      showBanner("connLost");
      return;
    }
    var socket = window.io(window.location.origin, {
      path: SOCKET_PATH,
      transports: ["websocket", "polling"],
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 8000
    });
    state.socket = socket;

    socket.on("connect", function () {
      var wasDown = !ui.banner.hidden;
      hideBanner();
      document.body.setAttribute("data-connection", "connected");
      if (wasDown && state.everConnected) announce("connBack");
      state.everConnected = true;
      requestSession();
    });

    socket.on("session_confirm", function (data) {
      var id = data && typeof data === "object" ? (data.session_id || data.sessionId) : data;
      if (id) {
        state.sessionId = String(id);
        storageSet(STORAGE_SESSION, state.sessionId);
        document.body.setAttribute("data-session", state.sessionId);
      }
      state.sessionReady = true;
      flushPending();
    });

    socket.on("bot_uttered", function (data) {
      showTyping(false);
      renderMessage(normalizeBotUttered(data));
    });

    socket.on("handoff_status", function (data) {
      if (data && data.status === "queued") showQueuePosition(data.position);
      else showQueuePosition(null);
    });

    /* The gateway reports problems as gateway_error {error: {code, message, retry_after?}}. */
    socket.on("gateway_error", function (data) {
      var err = (data && data.error) || {};
      if (err.code === "no_session" && state.lastSent !== null && !state.resent) {
        state.resent = true;                 // our session was lost (e.g. a gateway restart): confirm again, resend once
        state.pending.push(state.lastSent);
        requestSession();
        return;
      }
      showTyping(false);
      var key = "errGeneric", vars = null;
      if (err.code === "rate_limited") { key = "errRateLimited"; vars = { s: err.retry_after || 10 }; }
      else if (err.code === "message_too_long") key = "errTooLong";
      else if (err.code === "invalid_message" || err.code === "empty_message" || err.code === "invalid_type") key = "errInvalid";
      renderNotice(key, vars);
    });

    socket.on("disconnect", function (reason) {
      state.sessionReady = false;
      if (reason === "io client disconnect") return;
      showBanner(navigator.onLine === false ? "connOffline" : "connLost");
    });

    socket.on("connect_error", function () {
      state.sessionReady = false;
      if (ui.banner.hidden) showBanner(navigator.onLine === false ? "connOffline" : "connLost");
    });

    socket.io.on("reconnect_attempt", function (n) {
      showBanner(navigator.onLine === false ? "connOffline" : "connRetry", { n: n });
    });
  }

  /* The session id is the bearer credential for its own transcript. */
  function loadHistory(sessionId) {
    if (!sessionId || !window.fetch) return Promise.resolve([]);
    return fetch("/conversations/" + encodeURIComponent(sessionId) + "/history", {
      headers: { "Accept": "application/json", "Authorization": "Bearer " + sessionId },
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (res) {
      if (res.status === 401 || res.status === 403 || res.status === 404) {
        // not (or no longer) a valid session of this gateway: start afresh
        state.sessionId = null;
        storageSet(STORAGE_SESSION, null);
        return [];
      }
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json().then(parseHistory);
    });
  }

  function showWelcome() {
    var li = renderMessage({ sender: "bot", text: t("welcome"), buttons: [], custom: null, time: new Date() });
    li.classList.add("msg--welcome");
    var span = li.querySelector(".msg-text");
    span.setAttribute("data-i18n", "welcome");
  }

  function newConversation() {
    retireChoices();
    state.pending = [];
    state.sessionId = null;
    storageSet(STORAGE_SESSION, null);
    document.body.removeAttribute("data-session");
    ui.messages.textContent = "";
    showTyping(false);
    showWelcome();
    announce("newChatStarted");
    if (state.socket && state.socket.connected) requestSession();
    ui.input.focus();
  }

  /* ------------------------------------------------------------------ *
   * Start                                                              *
   * ------------------------------------------------------------------ */
  function init() {
    ui.chat = $("chat");
    ui.messages = $("messages");
    ui.typing = $("typing");
    ui.status = $("status");
    ui.banner = $("conn-banner");
    ui.bannerText = $("conn-banner-text");
    ui.form = $("composer");
    ui.input = $("message-input");
    ui.newChat = $("new-chat");

    var savedLang = storageGet(STORAGE_LANG);
    if (!savedLang) savedLang = (navigator.language || "").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
    applyLanguage(savedLang);

    Array.prototype.forEach.call(document.querySelectorAll(".lang-btn"), function (b) {
      b.addEventListener("click", function () { applyLanguage(b.getAttribute("data-lang")); });
    });
    ui.newChat.addEventListener("click", newConversation);

    ui.form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = ui.input.value;
      if (!text.trim()) return;
      ui.input.value = "";
      autoGrow();
      send(text.trim());
    });
    ui.input.addEventListener("keydown", function (e) {
      // Enter sends; Shift+Enter is a new line; never send while an IME (e.g. pinyin) is composing.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        if (typeof ui.form.requestSubmit === "function") ui.form.requestSubmit();
        else ui.form.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    });
    ui.input.addEventListener("input", autoGrow);
    window.addEventListener("offline", function () { showBanner("connOffline"); });

    state.sessionId = storageGet(STORAGE_SESSION);
    ui.chat.setAttribute("aria-busy", "true");
    loadHistory(state.sessionId)
      .then(function (items) {
        if (items.length) renderHistory(items);
        else showWelcome();
      }, function () {
        showWelcome();
        announce("historyError");
      })
      .then(function () {
        ui.chat.setAttribute("aria-busy", "false");
        document.body.setAttribute("data-history", "loaded");
        connect();
      });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
