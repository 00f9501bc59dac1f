/* Messages in the conversation list (#messages): text, cited sources, calculations, clarification
 * buttons, the offline ticket form and notices. SECURITY: every piece of user or bot text is put in
 * the page with textContent / createTextNode (through el()); never innerHTML. */

import { el } from "/static/shared/dom.js";
import { asText, displayText } from "./messages.js";
import { state, t, ui } from "./state.js";
import { scrollToEnd, trackHandoff } from "./status.js";

/* What a click on a clarification button does: choose(group, button, {title, payload}), set by main.js. */
let choose = function () {};
export function onChoice(handler) { choose = handler; }

export function formatTime(d) {
  if (!d) return "";
  const locale = state.lang === "zh" ? "zh-CN" : "en-GB";
  try {
    const sameDay = new Date().toDateString() === d.toDateString();
    const opts = sameDay ? { hour: "2-digit", minute: "2-digit" }
                         : { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    return d.toLocaleString(locale, opts);
  } catch (e) {
    return d.toISOString();
  }
}

/* Element whose text is a UI string; re-translated on language switch. */
function i18nEl(tag, className, key) {
  const node = el(tag, className, t(key));
  node.setAttribute("data-i18n", key);
  return node;
}

function senderKey(sender) {
  if (sender === "taxpayer") return "senderTaxpayer";
  if (sender === "agent") return "senderAgent";
  return "senderBot";
}

function renderSources(sources) {
  const list = el("ul", "sources");
  list.setAttribute("aria-label", t("sourcesLabel"));
  list.setAttribute("data-i18n-aria-label", "sourcesLabel");
  sources.forEach(function (src) {
    if (!src || typeof src !== "object") return;
    const li = el("li", "source");
    li.appendChild(i18nEl("span", "source-label", "sourceLabel"));
    li.appendChild(document.createTextNode(" "));
    const parts = [src.authority, src.document || src.title].filter(function (p) { return p; }).map(asText);
    const url = typeof src.url === "string" && /^https?:\/\//i.test(src.url) ? src.url : null;
    const doc = el(url ? "a" : "span", "source-doc", parts.join(", ") || (url || ""));
    if (url) {
      doc.href = url;                       // only http(s) links; text stays textContent
      doc.target = "_blank";
      doc.rel = "noopener noreferrer";
    }
    li.appendChild(doc);
    if (src.effective_date) {
      li.appendChild(document.createTextNode(" · "));
      const date = el("span", "source-date");
      date.appendChild(i18nEl("span", "source-date-label", "effectiveLabel"));
      date.appendChild(document.createTextNode(" "));
      const time = el("time", "source-date-value", asText(src.effective_date));
      time.setAttribute("datetime", asText(src.effective_date));
      date.appendChild(time);
      li.appendChild(date);
    }
    list.appendChild(li);
  });
  return list;
}

/* A calculator's result: its inputs, the steps and the result line. */
function renderCalculation(result, inputRows) {
  const box = el("div", "calc");
  const wrap = el("div", "calc-table-wrap");

  const inputs = inputRows && inputRows.length ? inputRows : result.inputs;  // labelled rows in the reply's language
  if (inputs && typeof inputs === "object") {
    const rows = Array.isArray(inputs)
      ? inputs.map(function (i) { return [i && (i.label || i.name), i && i.value]; })
      : Object.keys(inputs).map(function (k) { return [k, inputs[k]]; });
    if (rows.length) {
      const it = el("table", "calc-inputs");
      it.appendChild(i18nEl("caption", null, "calcInputs"));
      const ibody = el("tbody");
      rows.forEach(function (r) {
        const tr = el("tr");
        const th = el("th", null, asText(r[0]));
        th.setAttribute("scope", "row");
        tr.appendChild(th);
        tr.appendChild(el("td", "num", asText(r[1])));
        ibody.appendChild(tr);
      });
      it.appendChild(ibody);
      wrap.appendChild(it);
    }
  }

  const steps = Array.isArray(result.steps) ? result.steps : [];
  if (steps.length) {
    const table = el("table", "calc-steps");
    table.appendChild(i18nEl("caption", null, "calcCaption"));
    const thead = el("thead");
    const htr = el("tr");
    ["calcStep", "calcValue", "calcExplanation"].forEach(function (k) {
      const th = i18nEl("th", null, k);
      th.setAttribute("scope", "col");
      htr.appendChild(th);
    });
    thead.appendChild(htr);
    table.appendChild(thead);
    const tbody = el("tbody");
    steps.forEach(function (s) {
      s = s || {};
      const tr = el("tr");
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
    const r = result.result;
    const p = el("p", "calc-result");
    p.appendChild(i18nEl("span", null, "calcResult"));
    p.appendChild(document.createTextNode(" "));
    const value = (r && typeof r === "object")
      ? [r.label, r.value !== undefined ? r.value : r.amount, r.unit].filter(function (x) { return x !== undefined && x !== null && x !== ""; }).map(asText).join(" ")
      : asText(r);
    p.appendChild(el("span", "calc-result-value", value));
    box.appendChild(p);
  }
  return box;
}

/* Clarification buttons; opts.chosenPayload (from the history) renders them as already used. */
function renderChoices(buttons, opts) {
  const group = el("div", "choices");
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", t("clarifyLabel"));
  group.setAttribute("data-i18n-aria-label", "clarifyLabel");
  buttons.forEach(function (b) {
    const btn = el("button", "choice-btn", b.title);
    btn.type = "button";
    btn.setAttribute("data-payload", b.payload);
    if (opts.chosenPayload !== undefined) {
      btn.disabled = true;
      if (b.payload === opts.chosenPayload) btn.classList.add("is-chosen");
    }
    btn.addEventListener("click", function () { choose(group, btn, b); });
    group.appendChild(btn);
  });
  if (opts.chosenPayload === undefined) state.lastChoices = group;
  return group;
}

/* Outside service hours or with nobody online: a form to leave a message and a contact preference. */
function renderTicketForm(custom) {
  const form = el("form", "ticket-form");
  const uid = "t" + Math.random().toString(36).slice(2, 8);
  function field(tag, key, id) {
    const label = i18nEl("label", null, key);
    label.setAttribute("for", id);
    const input = el(tag);
    input.id = id;
    form.appendChild(label);
    form.appendChild(input);
    return input;
  }
  const message = field("textarea", "ticketMessage", uid + "-msg");
  message.maxLength = 2000; message.rows = 3; message.required = true;
  const method = field("select", "ticketMethod", uid + "-method");
  [["chat", "ticketChat"], ["phone", "ticketPhone"], ["email", "ticketEmail"]].forEach(function (o) {
    const opt = i18nEl("option", null, o[1]);
    opt.value = o[0];
    method.appendChild(opt);
  });
  const contact = field("input", "ticketContact", uid + "-contact");
  const send = i18nEl("button", "choice-btn", "ticketSend");
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
        const done = el("p", "ticket-done", data.text);
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

/* msg: {sender, text, buttons, custom, time}; opts.chosenPayload: render buttons as used;
 * opts.fromHistory: an older message of the transcript (no ticket form); opts.replace: the message
 * element this one takes the place of (else it is added at the end). Page add-ons
 * (analytics/feedback.js) decorate each message through window.TaxGuideChatHooks. */
export function renderMessage(msg, opts) {
  opts = opts || {};
  const custom = msg.custom || {};
  const kind = typeof custom.kind === "string" ? custom.kind : "";
  const li = el("li", "msg msg--" + msg.sender + (kind ? " msg--" + kind.replace(/[^a-z_]/gi, "") : ""));
  if (kind) li.setAttribute("data-kind", kind);
  if (custom.article_id) li.setAttribute("data-article-id", asText(custom.article_id));

  const bubble = el("div", "bubble");
  bubble.appendChild(i18nEl("span", "visually-hidden", senderKey(msg.sender)));
  if (msg.sender === "agent") {
    bubble.appendChild(i18nEl("strong", "agent-name", "agentName"));
    bubble.appendChild(document.createTextNode(": "));
  }
  bubble.appendChild(el("span", "msg-text", displayText(msg.text, custom, kind)));

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

  const when = msg.time || new Date();
  const meta = el("time", "msg-meta", formatTime(when));
  meta.setAttribute("datetime", when.toISOString());
  li.appendChild(meta);
  (window.TaxGuideChatHooks || []).forEach(function (hook) {  // e.g. ratings and thumbs (analytics/feedback.js)
    try { hook(li, msg, opts); } catch (e) { /* a decoration never breaks the chat */ }
  });

  if (opts.replace && opts.replace.parentNode === ui.messages) ui.messages.replaceChild(li, opts.replace);
  else ui.messages.appendChild(li);
  scrollToEnd();
  return li;
}

/* Disable older clarification buttons once the conversation moves on. */
export function retireChoices() {
  if (state.lastChoices) {
    state.lastChoices.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    state.lastChoices = null;
  }
}

/* A short system notice in the conversation (errors from the gateway). */
export function renderNotice(key, vars) {
  const li = el("li", "msg msg--notice");
  li.setAttribute("role", "alert");
  li.appendChild(el("div", "bubble", t(key, vars)));
  ui.messages.appendChild(li);
  scrollToEnd();
  return li;
}
