/* Chat page add-on (bot/analytics): thumbs up/down under each answer and the rating widget for the
 * gateway's rating request (custom.kind "survey"). Hooks into the chat (chat/main.js) through
 * window.TaxGuideChatHooks; ratings go through the chat (payload /rate{"score": n, "comment": "..."}),
 * thumbs through POST /conversations/{id}/feedback with the session id as bearer. */

import { el } from "/static/shared/dom.js";
import { catalogue, translator } from "/static/shared/i18n.js";
import * as storage from "/static/shared/storage.js";

const STORE = "taxguide.feedback.";
function chat() { return window.TaxGuideChat || null; }

/* Texts: the catalogue's `page.feedback.*` keys (knowledge/messages/page.<lang>.yml), from /i18n.js. */
const text = translator(catalogue("page"), function () { return chat() && chat().lang() === "zh" ? "zh" : "en"; });
function t(key, n) {
  const name = "feedback." + key, s = text(name, { n: n });
  return s === name ? key : s;
}

function remember(id, value) { storage.save(STORE + id, value); }
function recall(id) { return storage.load(STORE + id); }

function thumbs(li, custom) {
  var id = custom.feedback_id;
  var box = el("div", "fb");
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", t("helpful"));
  box.appendChild(el("span", "fb-q", t("helpful")));
  var status = el("span", "fb-status");
  status.setAttribute("role", "status");
  var buttons = [];
  [["up", true, t("yesShort"), t("yesLabel")], ["down", false, t("noShort"), t("noLabel")]].forEach(function (spec) {
    var b = el("button", "fb-btn fb-" + spec[0], spec[2]);
    b.type = "button";
    b.setAttribute("aria-label", spec[3]);
    b.setAttribute("aria-pressed", recall(id) === spec[0] ? "true" : "false");
    b.addEventListener("click", function () {
      var sid = chat() && chat().sessionId();
      if (!sid || !window.fetch) return;
      fetch("/conversations/" + encodeURIComponent(sid) + "/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + sid },
        body: JSON.stringify({ feedback_id: id, helpful: spec[1], article_id: custom.article_id || null })
      }).then(function (res) {
        if (!res.ok) throw new Error(String(res.status));
        buttons.forEach(function (x) { x.setAttribute("aria-pressed", x === b ? "true" : "false"); });
        remember(id, spec[0]);
        status.textContent = t("thanks");
      }).catch(function () { status.textContent = t("failed"); });
    });
    buttons.push(b);
    box.appendChild(b);
  });
  box.appendChild(status);
  li.appendChild(box);
}

function survey(li, msg, opts) {
  var old = li.querySelector(".choices");   // the chat's plain buttons (chat/render.js): replaced by the widget
  if (old) old.parentNode.removeChild(old);
  var form = el("form", "rating");
  form.setAttribute("aria-label", t("rate"));
  var fs = el("fieldset", "rating-stars");
  fs.appendChild(el("legend", "visually-hidden", t("rate")));
  var chosen = 0;
  var stars = [];
  for (var n = 1; n <= 5; n++) {
    (function (n) {
      var b = el("button", "rating-star", "★");
      b.type = "button";
      b.setAttribute("data-score", String(n));
      b.setAttribute("aria-label", t("stars", n));
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", function () {
        chosen = n;
        stars.forEach(function (s, i) { s.classList.toggle("is-on", i < n); s.setAttribute("aria-pressed", i === n - 1 ? "true" : "false"); });
        submit.disabled = false;
      });
      stars.push(b);
      fs.appendChild(b);
    })(n);
  }
  form.appendChild(fs);
  var label = el("label", "rating-label", t("comment"));
  var cid = "rating-comment-" + Math.random().toString(36).slice(2);
  label.setAttribute("for", cid);
  var comment = el("textarea", "rating-comment");
  comment.id = cid;
  comment.rows = 2;
  comment.maxLength = 1000;
  form.appendChild(label);
  form.appendChild(comment);
  var submit = el("button", "rating-send", t("send"));
  submit.type = "submit";
  submit.disabled = true;
  var skip = el("button", "rating-skip", t("skip"));
  skip.type = "button";
  form.appendChild(submit);
  form.appendChild(skip);
  function done() { Array.prototype.forEach.call(form.querySelectorAll("button, textarea"), function (x) { x.disabled = true; }); }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!chosen || !chat()) return;
    var text = comment.value.trim();
    var payload = { score: chosen };
    if (text) payload.comment = text;
    chat().send(t("rated", chosen) + (text ? " — " + text : ""), "/rate" + JSON.stringify(payload));
    done();
  });
  skip.addEventListener("click", function () { if (chat()) { chat().send(t("skip"), "/rate_skip"); done(); } });
  if (opts && opts.chosenPayload !== undefined) done();
  li.appendChild(form);
}

window.TaxGuideChatHooks = window.TaxGuideChatHooks || [];
window.TaxGuideChatHooks.push(function (li, msg, opts) {
  if (msg && msg.sender === "taxpayer" && typeof msg.text === "string" && msg.text.indexOf("/rate") === 0) {
    var shown = li.querySelector(".msg-text");   // a rating payload from the history: show it readably
    if (shown) {
      if (msg.text.indexOf("/rate_skip") === 0) shown.textContent = t("skip");
      else {
        try {
          var r = JSON.parse(msg.text.slice(5));
          shown.textContent = t("rated", r.score) + (r.comment ? " — " + r.comment : "");
        } catch (e) { /* leave it */ }
      }
    }
    return;
  }
  var custom = msg && msg.custom;
  if (!custom || msg.sender === "taxpayer") return;
  if (custom.kind === "survey") survey(li, msg, opts);
  else if (custom.feedback_id) thumbs(li, custom);
});

const css = document.createElement("link");   // its stylesheet, next to this module
css.rel = "stylesheet";
css.href = new URL("feedback.css", import.meta.url).href;
document.head.appendChild(css);
