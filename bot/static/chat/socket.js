/* The conversation with the gateway over Rasa's socket.io channel protocol:
 *   client -> session_request {session_id?}      server -> session_confirm (session id)
 *   client -> user_uttered {message, session_id, metadata: {language}}
 *   server -> bot_uttered as Rasa's SocketIOOutput emits them: {text} per text part, {text, quick_replies}
 *             for buttons, then the message's custom json as its own event (it completes the message
 *             before it: sources, kind, article); handoff_status, gateway_error
 * The socket.io client is the vendored classic script vendor/socket.io.min.js (the global `io`). */

import { isCustomOnly, normalizeBotUttered, withCustom } from "./messages.js";
import { renderMessage, renderNotice, retireChoices } from "./render.js";
import { state, STORAGE_SESSION, ui } from "./state.js";
import { announce, hideBanner, showBanner, showQueuePosition, showTyping } from "./status.js";
import * as storage from "/static/shared/storage.js";

const SOCKET_PATH = "/socket.io";

function transmit(payload) {
  state.lastSent = payload;
  // the page language is the preference for messages without a clear language ("ok", numbers, buttons)
  state.socket.emit("user_uttered", { message: payload, session_id: state.sessionId, metadata: { language: state.lang } });
}

function flushPending() {
  while (state.sessionReady && state.pending.length) transmit(state.pending.shift());
}

/* shown: what appears as the taxpayer's message; payload: what the bot receives. Sent at once when
 * the session is confirmed, else when it is. */
export function send(shown, payload) {
  if (payload === undefined) payload = shown;
  state.resent = false;
  if (!String(payload).trim()) return;
  state.lastBot = null;
  retireChoices();
  renderMessage({ sender: "taxpayer", text: shown, buttons: [], custom: null, time: new Date() });
  showTyping(!state.withAgent);
  if (state.sessionReady && state.socket && state.socket.connected) transmit(payload);
  else state.pending.push(payload);
}

/* Ask for a session: the stored one again, or a new one. */
export function requestSession() {
  state.sessionReady = false;
  const body = {};
  if (state.sessionId) body.session_id = state.sessionId;
  state.socket.emit("session_request", body);
}

function offlineOr(key) {
  return navigator.onLine === false ? "connOffline" : key;
}

/* Connect (reconnecting on its own) and handle the gateway's events. */
export function connect() {
  if (typeof window.io !== "function") {
    showBanner("connLost");
    return;
  }
  const socket = window.io(window.location.origin, {
    path: SOCKET_PATH,
    transports: ["websocket", "polling"],
    reconnection: true,
    reconnectionDelay: 1000,
    reconnectionDelayMax: 8000
  });
  state.socket = socket;

  socket.on("connect", function () {
    const wasDown = !ui.banner.hidden;
    hideBanner();
    document.body.setAttribute("data-connection", "connected");
    if (wasDown && state.everConnected) announce("connBack");
    state.everConnected = true;
    requestSession();
  });

  socket.on("session_confirm", function (data) {
    const id = data && typeof data === "object" ? (data.session_id || data.sessionId) : data;
    if (id) {
      state.sessionId = String(id);
      storage.save(STORAGE_SESSION, state.sessionId);
      document.body.setAttribute("data-session", state.sessionId);
    }
    state.sessionReady = true;
    flushPending();
  });

  socket.on("bot_uttered", function (data) {
    showTyping(false);
    const msg = normalizeBotUttered(data);
    const last = state.lastBot;
    state.lastBot = null;
    if (isCustomOnly(data) && last && last.li.isConnected) {
      renderMessage(withCustom(last.msg, msg.custom), { replace: last.li });
      return;
    }
    const li = renderMessage(msg);
    if (!msg.custom) state.lastBot = { li: li, msg: msg };
  });

  socket.on("handoff_status", function (data) {
    if (data && data.status === "queued") showQueuePosition(data.position);
    else showQueuePosition(null);
  });

  /* The gateway reports problems as gateway_error {error: {code, message, retry_after?}}. */
  socket.on("gateway_error", function (data) {
    const err = (data && data.error) || {};
    if (err.code === "no_session" && state.lastSent !== null && !state.resent) {
      state.resent = true;                 // our session was lost (e.g. a gateway restart): confirm again, resend once
      state.pending.push(state.lastSent);
      requestSession();
      return;
    }
    showTyping(false);
    let key = "errGeneric", vars = null;
    if (err.code === "rate_limited") { key = "errRateLimited"; vars = { s: err.retry_after || 10 }; }
    else if (err.code === "message_too_long") key = "errTooLong";
    else if (err.code === "invalid_message" || err.code === "empty_message" || err.code === "invalid_type") key = "errInvalid";
    renderNotice(key, vars);
  });

  socket.on("disconnect", function (reason) {
    state.sessionReady = false;
    if (reason === "io client disconnect") return;
    showBanner(offlineOr("connLost"));
  });

  socket.on("connect_error", function () {
    state.sessionReady = false;
    if (ui.banner.hidden) showBanner(offlineOr("connLost"));
  });

  socket.io.on("reconnect_attempt", function (n) {
    showBanner(offlineOr("connRetry"), { n: n });
  });
}
