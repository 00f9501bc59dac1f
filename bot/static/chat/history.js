/* The transcript shown when the page opens: GET /conversations/{session_id}/history (the session id is
 * the bearer credential for its own transcript), rendered with the buttons the taxpayer already used. */

import { parseHistory } from "./messages.js";
import { renderMessage, retireChoices } from "./render.js";
import { state, STORAGE_SESSION } from "./state.js";
import * as storage from "/static/shared/storage.js";

/* The session's messages; [] (and a forgotten session) when the gateway does not know it. */
export function loadHistory(sessionId) {
  if (!sessionId || !window.fetch) return Promise.resolve([]);
  return fetch("/conversations/" + encodeURIComponent(sessionId) + "/history", {
    headers: { "Accept": "application/json", "Authorization": "Bearer " + sessionId },
    credentials: "same-origin",
    cache: "no-store"
  }).then(function (res) {
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      // not (or no longer) a valid session of this gateway: start afresh
      state.sessionId = null;
      storage.save(STORAGE_SESSION, null);
      return [];
    }
    if (!res.ok) throw new Error("HTTP " + res.status);
    return res.json().then(parseHistory);
  });
}

export function renderHistory(items) {
  for (let i = 0; i < items.length; i++) {
    const msg = items[i];
    const opts = {};
    if (msg.sender !== "taxpayer" && msg.buttons.length) {
      // Find the taxpayer's reply to these buttons (if any) to mark it as chosen.
      let next = null;
      for (let j = i + 1; j < items.length; j++) {
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
