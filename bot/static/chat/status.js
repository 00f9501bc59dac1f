/* The chat's status lines: the typing indicator, the connection banner, the queue position while
 * waiting for a tax officer, and short announcements for screen readers (#status, aria-live). */

import { state, t, ui } from "./state.js";

const TYPING_TIMEOUT_MS = 45000;

export function scrollToEnd() {
  ui.chat.scrollTop = ui.chat.scrollHeight;
}

export function showTyping(on) {
  clearTimeout(state.typingTimer);
  ui.typing.hidden = !on;
  ui.chat.setAttribute("aria-busy", on ? "true" : "false");
  if (on) {
    state.typingTimer = setTimeout(function () { showTyping(false); }, TYPING_TIMEOUT_MS);
    scrollToEnd();
  }
}

/* The banner's text as a catalogue key and values, so a language switch can say it again. */
let bannerKey = null, bannerVars = null;

export function showBanner(key, vars) {
  bannerKey = key; bannerVars = vars || null;
  ui.bannerText.textContent = t(key, vars);
  ui.banner.hidden = false;
  document.body.setAttribute("data-connection", "disconnected");
}

export function hideBanner() {
  bannerKey = null;
  ui.banner.hidden = true;
}

/* The banner in the page's current language (after a language switch). */
export function translateBanner() {
  if (bannerKey) ui.bannerText.textContent = t(bannerKey, bannerVars);
}

export function announce(key) {
  ui.status.textContent = "";
  // next tick so screen readers notice a repeated message
  setTimeout(function () { ui.status.textContent = t(key); }, 50);
}

/* The live queue position while waiting for an officer (handoff_status events update it). */
export function showQueuePosition(position) {
  const node = ui.queueStatus;
  if (!node) return;
  const n = parseInt(position, 10);
  if (!n || n < 1 || state.withAgent) {
    node.hidden = true;
    node.textContent = "";
    return;
  }
  node.textContent = t("queuePosition", { n: n });
  node.hidden = false;
}

/* Live-agent handoff: who answers now, from the handoff kinds of the bot's messages. */
export function trackHandoff(custom) {
  const kind = custom && custom.kind;
  if (kind === "handoff_claimed" || kind === "agent_message") state.withAgent = true;
  else if (kind === "handoff_returned" || kind === "handoff_resolved" || kind === "handoff_requeued" ||
           kind === "handoff_cancelled") state.withAgent = false;
  document.body.setAttribute("data-handoff", state.withAgent ? "agent" : "bot");
  if (kind === "handoff_queued" && custom.position) showQueuePosition(custom.position);
  else if (kind && kind.indexOf("handoff_") === 0 || kind === "agent_message") showQueuePosition(null);
}
