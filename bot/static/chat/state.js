/* The chat page's shared state: the conversation's session and connection, the page's elements,
 * and t() for the catalogue's `page.*` texts in the page's language. */

import { byId } from "/static/shared/dom.js";
import { catalogue, translator } from "/static/shared/i18n.js";

export const STORAGE_SESSION = "taxguide.session_id";
export const STORAGE_LANG = "taxguide.lang";

/* UI strings: the message catalogue's `page.*` keys (knowledge/messages/page.<lang>.yml). */
export const STRINGS = catalogue("page");

export const state = {
  lang: "en",
  sessionId: null,
  sessionReady: false,
  socket: null,
  pending: [],           // messages typed while the session was not confirmed
  typingTimer: null,
  everConnected: false,
  lastChoices: null,     // the newest group of clarification buttons
  lastBot: null,         // {li, msg}: the bot's newest message of this reply still without its custom json
  lastSent: null,        // last payload sent, resent once if the gateway lost our session
  resent: false,
  withAgent: false       // a tax officer answers (no typing indicator for the bot)
};

/* The page's fixed elements, filled by findElements() at start. */
export const ui = {};

export function findElements() {
  ui.chat = byId("chat");
  ui.messages = byId("messages");
  ui.typing = byId("typing");
  ui.status = byId("status");
  ui.banner = byId("conn-banner");
  ui.bannerText = byId("conn-banner-text");
  ui.queueStatus = byId("queue-status");
  ui.form = byId("composer");
  ui.input = byId("message-input");
  ui.newChat = byId("new-chat");
}

export const t = translator(STRINGS, function () { return state.lang; });
