/* TaxGuide satisfaction dashboard (analytics/index.html): plain JavaScript module, charts drawn as inline
 * SVG (no library, no CDN). Data: GET /agent/analytics/api/dashboard; sign-in through the agent console API
 * (/agent/api/login). Texts: the catalogue's `dashboard.*` keys (knowledge/messages/dashboard.<lang>.yml),
 * loaded before this module by /i18n.js; the 中文/EN switch renders the page again from the data it last
 * received. Everything is rendered with textContent / DOM nodes (conversation text is never parsed as HTML). */

import { all, byId as $, clear, el, svg } from "/static/shared/dom.js";
import { browserLanguage, catalogue, translatePage, translator } from "/static/shared/i18n.js";
import * as storage from "/static/shared/storage.js";

const API = "/agent/analytics/api/";
const STORAGE_LANG = "taxguide.staff.lang";   // shared with the agent console
let me = null;
let lang = "en";
const shown = { data: null, status: null, transcript: null };   // what is on screen, for a language switch

/* ------------------------------------------------------------------ texts */
const t = translator(catalogue("dashboard"), function () { return lang; });

/* The text of a code (role, language, sender, kind ...) or the code itself when the catalogue has none. */
function label(group, code) {
  if (code === null || code === undefined || code === "") return code;
  var key = group + "." + code, s = t(key);
  return s === key ? String(code) : s;
}
function locale() { return lang === "zh" ? "zh-CN" : "en-GB"; }

/* The status line: a catalogue key and its values, so a language switch can say it again. */
function status(key, vars) {
  shown.status = key ? { key: key, vars: vars || null } : null;
  $("status").textContent = key ? t(key, vars) : "";
}

function applyLanguage(next) {
  lang = next === "zh" ? "zh" : "en";
  storage.save(STORAGE_LANG, lang);
  document.body.setAttribute("data-lang", lang);
  translatePage(t, lang);
  if (me) showWho(me);
  if (shown.data) render(shown.data);
  if (shown.status) status(shown.status.key, shown.status.vars);
  if (shown.transcript) renderTranscript(shown.transcript.id, shown.transcript.data);
}

function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + " %"; }
function num(v) { return v === null || v === undefined ? "–" : Number(v).toLocaleString(lang === "zh" ? "zh-CN" : "en-US"); }
function secs(v) {
  if (v === null || v === undefined) return "–";
  return v < 90 ? t("seconds", { n: Math.round(v) }) : t("minutes", { n: (v / 60).toFixed(1) });
}
function when(iso) {
  if (!iso) return "";
  var d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString(locale(), { timeZone: "Asia/Shanghai", dateStyle: "medium", timeStyle: "short" });
}

function api(path, opts) {
  return fetch(path, Object.assign({ credentials: "same-origin", headers: { "Accept": "application/json" } }, opts || {}))
    .then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) {
        if (!res.ok) { var e = new Error((body.error && body.error.message) || res.statusText); e.status = res.status; throw e; }
        return body;
      });
    });
}

/* ------------------------------------------------------------------ tables */
/* columns: [{key, label, num?, fmt?(value,row) -> string|Node}] */
function table(caption, columns, rows) {
  if (!rows.length) return el("p", "empty", t("nothing"));
  var tbl = el("table");
  tbl.appendChild(el("caption", null, caption));
  var head = el("thead"), tr = el("tr");
  columns.forEach(function (c) { var th = el("th", c.num ? "num" : null, c.label); th.setAttribute("scope", "col"); tr.appendChild(th); });
  head.appendChild(tr); tbl.appendChild(head);
  var body = el("tbody");
  rows.forEach(function (r) {
    var row = el("tr");
    columns.forEach(function (c, i) {
      var v = c.fmt ? c.fmt(r[c.key], r) : r[c.key];
      var cell = el(i === 0 && !c.num ? "th" : "td", c.num ? "num" : null);
      if (cell.tagName === "TH") cell.setAttribute("scope", "row");
      if (v instanceof Node) cell.appendChild(v); else cell.textContent = v === null || v === undefined ? "–" : String(v);
      row.appendChild(cell);
    });
    body.appendChild(row);
  });
  tbl.appendChild(body);
  return tbl;
}

/* ------------------------------------------------------------------ charts */
function niceMax(v) {
  if (v <= 0) return 1;
  var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* Conversations as bars (left axis) and CSAT / handoff rate as lines (right axis, 0-100 %). */
function trendChart(points) {
  var W = 900, H = 280, L = 48, R = 48, T = 14, B = 34;
  var w = W - L - R, h = H - T - B, n = points.length;
  var maxConv = niceMax(Math.max.apply(null, points.map(function (p) { return p.conversations; }).concat([4])));
  var s = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-labelledby": "trend-svg-title" });
  s.appendChild(svg("title", { id: "trend-svg-title" }, t("chart.trend", { from: points[0] ? points[0].day : "", to: n ? points[n - 1].day : "" })));
  for (var g = 0; g <= 4; g++) {
    var y = T + h - (h * g) / 4;
    s.appendChild(svg("line", { x1: L, x2: L + w, y1: y, y2: y, "class": "gridline" }));
    s.appendChild(svg("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, num(Math.round(maxConv * g / 4))));
    s.appendChild(svg("text", { x: L + w + 6, y: y + 4 }, (25 * g) + "%"));
  }
  var step = w / Math.max(n, 1), bw = Math.max(1, step * 0.7);
  points.forEach(function (p, i) {
    var bh = (p.conversations / maxConv) * h;
    var r = svg("rect", { x: L + i * step + (step - bw) / 2, y: T + h - bh, width: bw, height: Math.max(bh, 0), fill: "#9ec3e6" });
    r.appendChild(svg("title", {}, t("chart.trendBar", { day: p.day, n: p.conversations, csat: pct(p.csat),
      avg: p.avg_score === null ? "–" : p.avg_score, handoff: pct(p.handoff_rate) })));
    s.appendChild(r);
  });
  function line(key, color, dash) {
    var d = "", pen = false;
    points.forEach(function (p, i) {
      var v = p[key];
      if (v === null || v === undefined) { pen = false; return; }
      var x = L + i * step + step / 2, y = T + h - v * h;
      d += (pen ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1) + " ";
      pen = true;
      if (n <= 62) s.appendChild(svg("circle", { cx: x, cy: y, r: 2.5, fill: color }));
    });
    if (d) s.appendChild(svg("path", { d: d, fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": dash || "" }));
  }
  line("csat", "#1a7f4b");
  line("handoff_rate", "#a15c00", "5 4");
  var every = Math.max(1, Math.ceil(n / 10));
  points.forEach(function (p, i) {
    if (i % every === 0 || i === n - 1) {
      s.appendChild(svg("text", { x: L + i * step + step / 2, y: H - 12, "text-anchor": "middle" }, p.day.slice(5)));
    }
  });
  s.appendChild(svg("line", { x1: L, x2: L + w, y1: T + h, y2: T + h, "class": "axis" }));
  var box = el("div");
  box.appendChild(s);
  var legend = el("div", "legend");
  [["#9ec3e6", t("chart.legendConversations")], ["#1a7f4b", t("chart.legendCsat")], ["#a15c00", t("chart.legendHandoff")]]
    .forEach(function (x) { var sp = el("span"); var i = el("i"); i.style.background = x[0]; sp.appendChild(i); sp.appendChild(document.createTextNode(x[1])); legend.appendChild(sp); });
  box.appendChild(legend);
  return box;
}

function distributionChart(dist) {
  var W = 420, H = 200, L = 30, T = 22, B = 28, total = 0;
  dist.forEach(function (d) { total += d.count; });
  var max = niceMax(Math.max.apply(null, dist.map(function (d) { return d.count; }).concat([1])));
  var colors = ["#b3261e", "#d9534f", "#c98a12", "#4f9d69", "#1a7f4b"];
  var s = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-labelledby": "dist-svg-title" });
  s.appendChild(svg("title", { id: "dist-svg-title" }, t("chart.ratings", { counts: dist.map(function (d) { return d.score + ": " + d.count; }).join(", ") })));
  var bw = (W - L - 10) / 5, h = H - T - B;
  dist.forEach(function (d, i) {
    var bh = (d.count / max) * h, x = L + i * bw + bw * 0.15;
    var r = svg("rect", { x: x, y: T + h - bh, width: bw * 0.7, height: bh, fill: colors[i], rx: 3 });
    r.appendChild(svg("title", {}, t("chart.ratingsBar", { score: d.score, n: d.count })));
    s.appendChild(r);
    s.appendChild(svg("text", { x: x + bw * 0.35, y: H - 10, "text-anchor": "middle" }, d.score + "★"));
    s.appendChild(svg("text", { x: x + bw * 0.35, y: T + h - bh - 4, "text-anchor": "middle" },
      d.count ? d.count + (total ? " (" + Math.round(100 * d.count / total) + "%)" : "") : ""));
  });
  s.appendChild(svg("line", { x1: L, x2: W - 10, y1: T + h, y2: T + h, "class": "axis" }));
  return s;
}

/* ------------------------------------------------------------------ rendering */
function kpi(label, value, sub, tone) {
  var k = el("div", "kpi" + (tone ? " " + tone : ""));
  k.appendChild(el("div", "label", label));
  k.appendChild(el("div", "value", value));
  if (sub) k.appendChild(el("div", "sub", sub));
  return k;
}

function scoreBadge(v) { var b = el("span", "score s" + v, v); b.setAttribute("aria-label", t("ofFive", { n: v })); return b; }

function conversationLink(id) {
  var b = el("button", "link", id.length > 14 ? id.slice(0, 12) + "…" : id);
  b.type = "button";
  b.setAttribute("aria-label", t("openTranscript", { id: id }));
  b.setAttribute("data-conversation", id);
  b.addEventListener("click", function () { openTranscript(id); });
  return b;
}

function render(data) {
  shown.data = data;
  var s = data.summary;
  var k = clear($("kpis"));
  k.appendChild(kpi(t("kpi.conversations"), num(s.conversations)));
  k.appendChild(kpi(t("kpi.csat"), pct(s.csat), t("kpi.rated", { n: num(s.rated) }), s.csat === null ? null : s.csat >= 0.8 ? "good" : s.csat < 0.6 ? "bad" : null));
  k.appendChild(kpi(t("kpi.avgScore"), s.avg_score === null ? "–" : s.avg_score.toFixed(2), t("kpi.avgScoreSub")));
  k.appendChild(kpi(t("kpi.responseRate"), pct(s.response_rate), t("kpi.asked", { n: num(s.surveyed) })));
  k.appendChild(kpi(t("kpi.containment"), pct(s.containment), t("kpi.containmentSub")));
  k.appendChild(kpi(t("kpi.handoffRate"), pct(s.handoff_rate), t("kpi.handoffSub", { n: num(s.handed_off) })));
  k.appendChild(kpi(t("kpi.waitMedian"), secs(s.wait_median_seconds), t("kpi.waitP90", { value: secs(s.wait_p90_seconds) })));
  k.appendChild(kpi(t("kpi.helpful"), pct(s.helpful_share), t("kpi.helpfulSub", { up: num(s.thumbs_up), down: num(s.thumbs_down) })));

  function col(key, name, extra) {   // a table column headed by the catalogue's column.<name>
    var c = { key: key, label: t("column." + name) };
    Object.keys(extra || {}).forEach(function (x) { c[x] = extra[x]; });
    return c;
  }
  function conversation(v) { return conversationLink(v); }
  function language(v) { return label("languageName", v); }
  function kind(v) { return label("kind", v); }

  clear($("trend-chart")).appendChild(trendChart(data.trend));
  clear($("trend-table")).appendChild(table(t("table.perDay"), [
    col("day", "day"), col("conversations", "conversations", { num: true }),
    col("rated", "rated", { num: true }), col("csat", "csat", { num: true, fmt: pct }),
    col("avg_score", "average", { num: true }), col("handoff_rate", "handoffRate", { num: true, fmt: pct })
  ], data.trend));

  clear($("dist-chart")).appendChild(distributionChart(data.distribution));
  clear($("dist-table")).appendChild(table(t("table.byScore"), [
    col("score", "score"), col("count", "conversations", { num: true })], data.distribution));

  clear($("handoff")).appendChild(table(t("table.handoff"), [col("k", "figure"), col("v", "value", { num: true })], [
    { k: t("handoff.requested"), v: num(s.handed_off) }, { k: t("handoff.rate"), v: pct(s.handoff_rate) },
    { k: t("handoff.claimed"), v: num(s.handoff_claimed) }, { k: t("handoff.abandoned"), v: num(s.handoff_abandoned) },
    { k: t("handoff.waitAvg"), v: secs(s.wait_avg_seconds) }, { k: t("handoff.waitMedian"), v: secs(s.wait_median_seconds) },
    { k: t("handoff.waitP90"), v: secs(s.wait_p90_seconds) }]));

  var maxTopic = Math.max.apply(null, data.topics.map(function (x) { return x.conversations; }).concat([1]));
  clear($("topics")).appendChild(table(t("table.topics"), [
    col("article_id", "article"),
    col("conversations", "conversations", { num: true, fmt: function (v) {
      var f = document.createDocumentFragment(); f.appendChild(document.createTextNode(num(v)));
      var bar = el("span", "bar"); bar.style.width = Math.round(60 * v / maxTopic) + "px"; bar.setAttribute("aria-hidden", "true"); f.appendChild(bar);
      var wrap = el("span"); wrap.appendChild(f); return wrap; } }),
    col("rated", "rated", { num: true }), col("csat", "csat", { num: true, fmt: pct }),
    col("avg_score", "average", { num: true }), col("thumbs_up", "helpfulVotes", { num: true }),
    col("thumbs_down", "notHelpfulVotes", { num: true }), col("helpful_share", "helpfulShare", { num: true, fmt: pct })
  ], data.topics));

  clear($("low")).appendChild(table(t("table.lowRated"), [
    col("conversation_id", "conversation", { fmt: conversation }),
    col("started_at", "started", { fmt: when }), col("score", "score", { fmt: scoreBadge }),
    col("comment", "comment"), col("topic_article_id", "topic"),
    col("channel", "channel"), col("language", "language", { fmt: language }),
    col("agent_joined", "agent", { fmt: function (v) { return t(v ? "agentJoinedYes" : "agentJoinedNo"); } })
  ], data.low_rated));

  var u = clear($("unanswered"));
  u.appendChild(table(t("table.byReply"), [col("kind", "botReply", { fmt: kind }), col("n", "questions", { num: true })], data.unanswered.by_kind));
  u.appendChild(table(t("table.mostFrequent"), [
    col("question", "question"), col("kind", "reply", { fmt: kind }),
    col("n", "times", { num: true }), col("last_seen", "lastSeen", { fmt: when })], data.unanswered.top));
  u.appendChild(table(t("table.mostRecent"), [
    col("question", "question"), col("kind", "reply", { fmt: kind }),
    col("created_at", "when", { fmt: when }),
    col("conversation_id", "conversation", { fmt: conversation })], data.unanswered.recent));

  fillSelect($("channel"), data.channels, data.filters.channel);
  fillSelect($("language"), data.languages, data.filters.language, language);
  updateExports();
}

function fillSelect(select, values, current, name) {
  var keep = current || select.value;
  while (select.options.length > 1) select.remove(1);
  values.forEach(function (v) { var o = el("option", null, name ? name(v) : v); o.value = v; select.appendChild(o); });
  select.value = keep || "";
}

function query() {
  var p = new URLSearchParams();
  ["from", "to", "channel", "language"].forEach(function (k) { if ($(k).value) p.set(k, $(k).value); });
  return p;
}

function updateExports() {
  var q = query();
  all("a.csv").forEach(function (a) {
    var p = new URLSearchParams(q); p.set("section", a.getAttribute("data-section"));
    a.href = API + "export.csv?" + p.toString();
    a.setAttribute("download", "");
  });
  var p = new URLSearchParams(q); p.set("section", "summary");
  $("export-summary").href = API + "export.csv?" + p.toString();
}

function load() {
  status("loading");
  return api(API + "dashboard?" + query().toString()).then(function (data) {
    render(data);
    status("showing", { from: data.filters.from, to: data.filters.to, n: num(data.summary.conversations) });
  }, function (err) {
    if (err.status === 401) return showLogin();
    status("loadFailed", { error: err.message });
  });
}

function openTranscript(id) {
  var dlg = $("transcript");
  shown.transcript = null;
  clear($("transcript-messages"));
  clear($("transcript-meta")).textContent = t("loading");
  if (dlg.showModal) dlg.showModal(); else dlg.setAttribute("open", "");
  api(API + "conversations/" + encodeURIComponent(id)).then(function (data) {
    renderTranscript(id, data);
    $("transcript-close").focus();
  }, function (err) { clear($("transcript-meta")).textContent = t("loadFailed", { error: err.message }); });
}

/* The masked transcript of one conversation in the dialog. */
function renderTranscript(id, data) {
  shown.transcript = { id: id, data: data };
  var meta = clear($("transcript-meta"));
  var c = data.conversation || {};
  $("transcript-title").textContent = t("conversationId", { id: id });
  var facts = [["transcript.started", when(c.started_at)], ["transcript.channel", c.channel], ["transcript.language", label("languageName", c.language)],
    ["transcript.ended", c.end_reason ? label("endReason", c.end_reason) + " " + when(c.ended_at) : "–"],
    ["transcript.rating", data.rating ? (data.rating.score === null ? t("transcript.skipped") : t("ofFive", { n: data.rating.score })) : t("transcript.none")],
    ["transcript.comment", data.rating && data.rating.comment]];
  var dl = el("dl");
  facts.forEach(function (f) { if (f[1]) { dl.appendChild(el("dt", null, t(f[0]))); dl.appendChild(el("dd", null, f[1])); } });
  meta.appendChild(dl);
  var list = clear($("transcript-messages"));
  data.messages.forEach(function (m) {
    var li = el("li", m.sender_type);
    li.appendChild(el("span", "meta", label("sender", m.sender_type) + (m.kind ? " · " + label("kind", m.kind) : "") + (m.article_id ? " · " + m.article_id : "") + " · " + when(m.created_at)));
    li.appendChild(document.createTextNode(m.text || ""));
    list.appendChild(li);
  });
  if (!data.messages.length) list.appendChild(el("li", "system", t("transcript.noMessages")));
}

function showLogin() {
  me = null; shown.data = null; shown.status = null; shown.transcript = null;
  $("app").hidden = true; $("who").hidden = true; $("login").hidden = false;
  $("username").focus();
}

function showWho(user) {
  $("who-name").textContent = t("who", { name: user.display_name, role: label("role", user.role) });
}

function showApp(user) {
  me = user;
  $("login").hidden = true; $("app").hidden = false; $("who").hidden = false;
  showWho(user);
  if (user.role !== "analyst" && user.role !== "admin") {
    status("roleNotAllowed", { role: label("role", user.role) });
    return;
  }
  load();
}

function init() {
  var saved = storage.load(STORAGE_LANG);
  applyLanguage(saved === "zh" || saved === "en" ? saved : browserLanguage());
  all(".lang-btn").forEach(function (b) {
    b.addEventListener("click", function () { applyLanguage(b.getAttribute("data-lang")); });
  });
  var today = new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
  var from = new Date(Date.now() + 8 * 3600 * 1000 - 29 * 86400 * 1000).toISOString().slice(0, 10);
  $("from").value = from; $("to").value = today;
  $("filters").addEventListener("submit", function (e) { e.preventDefault(); load(); });
  ["from", "to", "channel", "language"].forEach(function (k) { $(k).addEventListener("change", updateExports); });
  $("transcript-close").addEventListener("click", function () { $("transcript").close ? $("transcript").close() : $("transcript").removeAttribute("open"); });
  $("login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    $("login-error").textContent = "";
    api("/agent/api/login", { method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ username: $("username").value, password: $("password").value }) })
      .then(showApp, function (err) { $("login-error").textContent = err.message || t("signInFailed"); });
  });
  $("logout").addEventListener("click", function () {
    api("/agent/api/logout", { method: "POST", headers: { "X-CSRF-Token": (me && me.csrf_token) || "", "Accept": "application/json" } })
      .then(showLogin, showLogin);
  });
  api("/agent/api/me").then(function (user) {
    if (user && user.authenticated !== false && user.username) showApp(user); else showLogin();
  }, showLogin);
}

init();   // a module runs once the document is parsed
