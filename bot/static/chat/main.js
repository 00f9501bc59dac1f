/* The taxpayer web chat page (index.html): starts the page, the language switch, the composer and
 * "new conversation", and window.TaxGuideChat for page add-ons (analytics/feedback.js).
 * Plain browser JavaScript modules, no framework, no build step. The gateway's protocol is described in
 * socket.js; the texts come from /i18n.js (shared/i18n.js). */

import { loadHistory, renderHistory } from "./history.js";
import { onChoice, renderMessage, retireChoices } from "./render.js";
import { connect, requestSession, send } from "./socket.js";
import { findElements, state, STORAGE_LANG, STORAGE_SESSION, STRINGS, t, ui } from "./state.js";
import { announce, showBanner, showTyping, translateBanner } from "./status.js";
import { all } from "/static/shared/dom.js";
import { browserLanguage, translatePage } from "/static/shared/i18n.js";
import * as storage from "/static/shared/storage.js";

function applyLanguage(lang) {
  if (!STRINGS[lang]) lang = "en";
  state.lang = lang;
  storage.save(STORAGE_LANG, lang);
  translatePage(t, lang);
  translateBanner();
}

function showWelcome() {
  const li = renderMessage({ sender: "bot", text: t("welcome"), buttons: [], custom: null, time: new Date() });
  li.classList.add("msg--welcome");
  li.querySelector(".msg-text").setAttribute("data-i18n", "welcome");
}

function newConversation() {
  retireChoices();
  state.pending = [];
  state.lastBot = null;
  state.sessionId = null;
  storage.save(STORAGE_SESSION, null);
  document.body.removeAttribute("data-session");
  ui.messages.textContent = "";
  showTyping(false);
  showWelcome();
  announce("newChatStarted");
  if (state.socket && state.socket.connected) requestSession();
  ui.input.focus();
}

/* A clarification button: the group's buttons are used up, its payload goes to the bot. */
function choose(group, btn, b) {
  if (btn.disabled) return;
  group.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
  btn.classList.add("is-chosen");
  if (state.lastChoices === group) state.lastChoices = null;
  send(b.title, b.payload);
  ui.input.focus();
}

function autoGrow() {
  ui.input.style.height = "auto";
  ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 160) + "px";
}

function init() {
  findElements();
  onChoice(choose);
  applyLanguage(storage.load(STORAGE_LANG) || browserLanguage());

  all(".lang-btn").forEach(function (b) {
    b.addEventListener("click", function () { applyLanguage(b.getAttribute("data-lang")); });
  });
  ui.newChat.addEventListener("click", newConversation);

  ui.form.addEventListener("submit", function (e) {
    e.preventDefault();
    const text = ui.input.value;
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

  state.sessionId = storage.load(STORAGE_SESSION);
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

/* For page add-ons (analytics/feedback.js): send a message, read the session and language. */
window.TaxGuideChat = {
  send: function (shown, payload) { send(shown, payload); },
  sessionId: function () { return state.sessionId; },
  lang: function () { return state.lang; }
};

init();   // a module runs once the document is parsed
