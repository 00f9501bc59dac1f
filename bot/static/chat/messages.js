/* The shapes of the chat's messages: a bot_uttered event or a history entry read into
 * {sender, text, buttons, custom, time}. No DOM here. */

/* Any value as display text. */
export function asText(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  try { return JSON.stringify(v); } catch (e) { return String(v); }
}

/* A Date from seconds (Rasa), milliseconds or an ISO string; null when there is none. */
export function parseTime(v) {
  if (v === null || v === undefined || v === "") return null;
  let d;
  if (typeof v === "number") {
    d = new Date(v < 1e12 ? v * 1000 : v);   // seconds (Rasa) or milliseconds
  } else {
    d = new Date(v);
  }
  return isNaN(d.getTime()) ? null : d;
}

/* Buttons come as `buttons` or Rasa `quick_replies`: [{title, payload}]. */
export function normalizeButtons(list) {
  if (!Array.isArray(list)) return [];
  return list.map(function (b) {
    if (b === null || typeof b !== "object") return { title: asText(b), payload: asText(b) };
    const title = asText(b.title !== undefined ? b.title : b.payload);
    const payload = asText(b.payload !== undefined ? b.payload : b.title);
    return { title: title, payload: payload };
  }).filter(function (b) { return b.title || b.payload; });
}

/* True for a bot_uttered event that carries only a message's custom json: Rasa's socket.io channel
 * emits it as its own event right after the message's text (send_custom_json emits the json as-is;
 * {custom: {...}} is read too). */
export function isCustomOnly(data) {
  if (!data || typeof data !== "object") return false;
  if ("text" in data || "quick_replies" in data || "buttons" in data || "attachment" in data) return false;
  return typeof data.kind === "string" || (data.custom !== null && typeof data.custom === "object");
}

/* A message completed by the custom json that followed it. */
export function withCustom(msg, custom) {
  return {
    sender: custom && custom.kind === "agent_message" ? "agent" : msg.sender,
    text: msg.text,
    buttons: msg.buttons.length ? msg.buttons : normalizeButtons(custom && (custom.buttons || custom.quick_replies)),
    custom: custom,
    time: msg.time
  };
}

/* One bot_uttered event -> {sender, text, buttons, custom, time}. */
export function normalizeBotUttered(data) {
  if (typeof data === "string") data = { text: data };
  data = data || {};
  let custom = null;
  if (data.custom && typeof data.custom === "object") custom = data.custom;
  else if (typeof data.kind === "string") custom = data;   // Rasa send_custom_json emits the json as-is
  const buttons = normalizeButtons(data.buttons || data.quick_replies ||
                                   (custom && (custom.buttons || custom.quick_replies)));
  let text = data.text;
  if ((text === undefined || text === null) && custom && typeof custom.text === "string") text = custom.text;
  return {
    sender: custom && custom.kind === "agent_message" ? "agent" : "bot",
    text: asText(text),
    buttons: buttons,
    custom: custom,
    time: parseTime(data.time || data.timestamp) || new Date()
  };
}

/* The history endpoint's shape is read HERE and only here.
 * Expected: JSON list of {sender: taxpayer|bot|agent, text, buttons?, custom?, time}.
 * Also tolerated: an object wrapping that list as history/messages/transcript/events,
 * sender "user" for taxpayer, `timestamp` for time, `quick_replies` for buttons. */
export function parseHistory(json) {
  let list = json;
  if (list && !Array.isArray(list) && typeof list === "object") {
    list = list.history || list.messages || list.transcript || list.events || [];
  }
  if (!Array.isArray(list)) return [];
  const out = [];
  list.forEach(function (item) {
    if (!item || typeof item !== "object") return;
    let sender = String(item.sender || item.event || "bot").toLowerCase();
    if (sender === "user" || sender === "customer") sender = "taxpayer";
    if (sender !== "taxpayer" && sender !== "agent") sender = "bot";
    const custom = item.custom && typeof item.custom === "object" ? item.custom : null;
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

/* An answer's text ends with a plain "Source: ..." line for text-only clients; the page shows the
 * structured sources instead, so that line is dropped here (it may arrive as its own text part). */
export function displayText(text, custom, kind) {
  const value = text === undefined || text === null ? "" : String(text);
  if (kind === "answer" && Array.isArray(custom.sources) && custom.sources.length) {
    const cut = value.indexOf("\n\nSource: ");
    if (cut >= 0) return value.slice(0, cut);
    if (value.indexOf("Source: ") === 0) return "";
  }
  return value;
}
