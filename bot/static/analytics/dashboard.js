/* TaxGuide satisfaction dashboard: plain JS, charts drawn as inline SVG (no library, no CDN).
 * Data: GET /agent/analytics/api/dashboard; sign-in through the agent console API (/agent/api/login).
 * Everything is rendered with textContent / DOM nodes (conversation text is never parsed as HTML). */
(function () {
  "use strict";
  var API = "/agent/analytics/api/";
  var SVGNS = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };
  var me = null;

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }
  function svg(tag, attrs, text) {
    var n = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) n.textContent = String(text);
    return n;
  }
  function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + " %"; }
  function num(v) { return v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US"); }
  function secs(v) {
    if (v === null || v === undefined) return "–";
    return v < 90 ? Math.round(v) + " s" : (v / 60).toFixed(1) + " min";
  }
  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString("en-GB", { timeZone: "Asia/Shanghai", dateStyle: "medium", timeStyle: "short" });
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

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
    if (!rows.length) return el("p", "empty", "Nothing in this period.");
    var t = el("table");
    t.appendChild(el("caption", null, caption));
    var head = el("thead"), tr = el("tr");
    columns.forEach(function (c) { var th = el("th", c.num ? "num" : null, c.label); th.setAttribute("scope", "col"); tr.appendChild(th); });
    head.appendChild(tr); t.appendChild(head);
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
    t.appendChild(body);
    return t;
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
    s.appendChild(svg("title", { id: "trend-svg-title" }, "Conversations per day with CSAT and handoff rate, " +
      (points[0] ? points[0].day : "") + " to " + (n ? points[n - 1].day : "")));
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
      r.appendChild(svg("title", {}, p.day + ": " + p.conversations + " conversations, CSAT " + pct(p.csat) +
        ", average " + (p.avg_score === null ? "–" : p.avg_score) + ", handoff " + pct(p.handoff_rate)));
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
    [["#9ec3e6", "Conversations (left axis)"], ["#1a7f4b", "CSAT, share of 4–5 ratings (right)"], ["#a15c00", "Handoff rate (right, dashed)"]]
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
    s.appendChild(svg("title", { id: "dist-svg-title" }, "Ratings 1 to 5: " + dist.map(function (d) { return d.score + ": " + d.count; }).join(", ")));
    var bw = (W - L - 10) / 5, h = H - T - B;
    dist.forEach(function (d, i) {
      var bh = (d.count / max) * h, x = L + i * bw + bw * 0.15;
      var r = svg("rect", { x: x, y: T + h - bh, width: bw * 0.7, height: bh, fill: colors[i], rx: 3 });
      r.appendChild(svg("title", {}, d.score + " stars: " + d.count));
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

  function scoreBadge(v) { var b = el("span", "score s" + v, v); b.setAttribute("aria-label", v + " of 5"); return b; }

  function conversationLink(id) {
    var b = el("button", "link", id.length > 14 ? id.slice(0, 12) + "…" : id);
    b.type = "button";
    b.setAttribute("aria-label", "Open transcript of conversation " + id);
    b.setAttribute("data-conversation", id);
    b.addEventListener("click", function () { openTranscript(id); });
    return b;
  }

  function render(data) {
    var s = data.summary;
    var k = clear($("kpis"));
    k.appendChild(kpi("Conversations", num(s.conversations)));
    k.appendChild(kpi("CSAT (4–5 of 5)", pct(s.csat), num(s.rated) + " rated", s.csat === null ? null : s.csat >= 0.8 ? "good" : s.csat < 0.6 ? "bad" : null));
    k.appendChild(kpi("Average score", s.avg_score === null ? "–" : s.avg_score.toFixed(2), "of 5"));
    k.appendChild(kpi("Survey response rate", pct(s.response_rate), num(s.surveyed) + " asked"));
    k.appendChild(kpi("Containment", pct(s.containment), "without an agent"));
    k.appendChild(kpi("Handoff rate", pct(s.handoff_rate), num(s.handed_off) + " conversations"));
    k.appendChild(kpi("Median wait for agent", secs(s.wait_median_seconds), "p90 " + secs(s.wait_p90_seconds)));
    k.appendChild(kpi("Helpful answers", pct(s.helpful_share), num(s.thumbs_up) + " helpful, " + num(s.thumbs_down) + " not helpful"));

    clear($("trend-chart")).appendChild(trendChart(data.trend));
    clear($("trend-table")).appendChild(table("Per day (Beijing time)", [
      { key: "day", label: "Day" }, { key: "conversations", label: "Conversations", num: true },
      { key: "rated", label: "Rated", num: true }, { key: "csat", label: "CSAT", num: true, fmt: pct },
      { key: "avg_score", label: "Average", num: true }, { key: "handoff_rate", label: "Handoff rate", num: true, fmt: pct }
    ], data.trend));

    clear($("dist-chart")).appendChild(distributionChart(data.distribution));
    clear($("dist-table")).appendChild(table("Ratings by score", [
      { key: "score", label: "Score" }, { key: "count", label: "Conversations", num: true }], data.distribution));

    clear($("handoff")).appendChild(table("Conversations handed to a tax officer", [
      { key: "k", label: "Figure" }, { key: "v", label: "Value", num: true }], [
      { k: "Handoff requested", v: num(s.handed_off) }, { k: "Handoff rate", v: pct(s.handoff_rate) },
      { k: "Reached an agent", v: num(s.handoff_claimed) }, { k: "Abandoned while waiting", v: num(s.handoff_abandoned) },
      { k: "Average wait", v: secs(s.wait_avg_seconds) }, { k: "Median wait", v: secs(s.wait_median_seconds) },
      { k: "90th percentile wait", v: secs(s.wait_p90_seconds) }]));

    var maxTopic = Math.max.apply(null, data.topics.map(function (t) { return t.conversations; }).concat([1]));
    clear($("topics")).appendChild(table("Topics: the first article answered in each conversation", [
      { key: "article_id", label: "Article" },
      { key: "conversations", label: "Conversations", num: true, fmt: function (v) {
        var f = document.createDocumentFragment(); f.appendChild(document.createTextNode(num(v)));
        var bar = el("span", "bar"); bar.style.width = Math.round(60 * v / maxTopic) + "px"; bar.setAttribute("aria-hidden", "true"); f.appendChild(bar);
        var wrap = el("span"); wrap.appendChild(f); return wrap; } },
      { key: "rated", label: "Rated", num: true }, { key: "csat", label: "CSAT", num: true, fmt: pct },
      { key: "avg_score", label: "Average", num: true }, { key: "thumbs_up", label: "Helpful votes", num: true },
      { key: "thumbs_down", label: "Not helpful votes", num: true }, { key: "helpful_share", label: "Helpful share", num: true, fmt: pct }
    ], data.topics));

    clear($("low")).appendChild(table("Newest first; open one to read its masked transcript", [
      { key: "conversation_id", label: "Conversation", fmt: function (v) { return conversationLink(v); } },
      { key: "started_at", label: "Started", fmt: when }, { key: "score", label: "Score", fmt: scoreBadge },
      { key: "comment", label: "Comment" }, { key: "topic_article_id", label: "Topic" },
      { key: "channel", label: "Channel" }, { key: "language", label: "Language" },
      { key: "agent_joined", label: "Agent", fmt: function (v) { return v ? "yes" : "no"; } }
    ], data.low_rated));

    var u = clear($("unanswered"));
    u.appendChild(table("By reply", [{ key: "kind", label: "Bot reply" }, { key: "n", label: "Questions", num: true }], data.unanswered.by_kind));
    u.appendChild(table("Most frequent (same text)", [
      { key: "question", label: "Question (masked)" }, { key: "kind", label: "Reply" },
      { key: "n", label: "Times", num: true }, { key: "last_seen", label: "Last seen", fmt: when }], data.unanswered.top));
    u.appendChild(table("Most recent", [
      { key: "question", label: "Question (masked)" }, { key: "kind", label: "Reply" },
      { key: "created_at", label: "When", fmt: when },
      { key: "conversation_id", label: "Conversation", fmt: function (v) { return conversationLink(v); } }], data.unanswered.recent));

    fillSelect($("channel"), data.channels, data.filters.channel);
    fillSelect($("language"), data.languages, data.filters.language);
    updateExports();
  }

  function fillSelect(select, values, current) {
    var keep = current || select.value;
    while (select.options.length > 1) select.remove(1);
    values.forEach(function (v) { var o = el("option", null, v); o.value = v; select.appendChild(o); });
    select.value = keep || "";
  }

  function query() {
    var p = new URLSearchParams();
    ["from", "to", "channel", "language"].forEach(function (k) { if ($(k).value) p.set(k, $(k).value); });
    return p;
  }

  function updateExports() {
    var q = query();
    Array.prototype.forEach.call(document.querySelectorAll("a.csv"), function (a) {
      var p = new URLSearchParams(q); p.set("section", a.getAttribute("data-section"));
      a.href = API + "export.csv?" + p.toString();
      a.setAttribute("download", "");
    });
    var p = new URLSearchParams(q); p.set("section", "summary");
    $("export-summary").href = API + "export.csv?" + p.toString();
  }

  function load() {
    $("status").textContent = "Loading…";
    return api(API + "dashboard?" + query().toString()).then(function (data) {
      render(data);
      $("status").textContent = "Showing " + data.filters.from + " to " + data.filters.to + " (Beijing time): " + num(data.summary.conversations) + " conversations.";
    }, function (err) {
      if (err.status === 401) return showLogin();
      $("status").textContent = "Could not load: " + err.message;
    });
  }

  function openTranscript(id) {
    var dlg = $("transcript");
    clear($("transcript-messages"));
    clear($("transcript-meta")).textContent = "Loading…";
    if (dlg.showModal) dlg.showModal(); else dlg.setAttribute("open", "");
    api(API + "conversations/" + encodeURIComponent(id)).then(function (data) {
      var meta = clear($("transcript-meta"));
      var c = data.conversation || {};
      $("transcript-title").textContent = "Conversation " + id;
      var facts = [["Started", when(c.started_at)], ["Channel", c.channel], ["Language", c.language],
        ["Ended", c.end_reason ? c.end_reason + " " + when(c.ended_at) : "–"],
        ["Rating", data.rating ? (data.rating.score === null ? "skipped" : data.rating.score + " of 5") : "none"],
        ["Comment", data.rating && data.rating.comment]];
      var dl = el("dl");
      facts.forEach(function (f) { if (f[1]) { dl.appendChild(el("dt", null, f[0])); dl.appendChild(el("dd", null, f[1])); } });
      meta.appendChild(dl);
      var list = $("transcript-messages");
      data.messages.forEach(function (m) {
        var li = el("li", m.sender_type);
        li.appendChild(el("span", "meta", m.sender_type + (m.kind ? " · " + m.kind : "") + (m.article_id ? " · " + m.article_id : "") + " · " + when(m.created_at)));
        li.appendChild(document.createTextNode(m.text || ""));
        list.appendChild(li);
      });
      if (!data.messages.length) list.appendChild(el("li", "system", "No stored messages."));
      $("transcript-close").focus();
    }, function (err) { clear($("transcript-meta")).textContent = "Could not load: " + err.message; });
  }

  function showLogin() {
    $("app").hidden = true; $("who").hidden = true; $("login").hidden = false;
    $("username").focus();
  }

  function showApp(user) {
    me = user;
    $("login").hidden = true; $("app").hidden = false; $("who").hidden = false;
    $("who-name").textContent = user.display_name + " (" + user.role + ")";
    if (user.role !== "analyst" && user.role !== "admin") {
      $("status").textContent = "Your role (" + user.role + ") may not see the analytics.";
      return;
    }
    load();
  }

  function init() {
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
        .then(showApp, function (err) { $("login-error").textContent = err.message || "Sign-in failed"; });
    });
    $("logout").addEventListener("click", function () {
      api("/agent/api/logout", { method: "POST", headers: { "X-CSRF-Token": (me && me.csrf_token) || "", "Accept": "application/json" } })
        .then(showLogin, showLogin);
    });
    api("/agent/api/me").then(function (user) {
      if (user && user.authenticated !== false && user.username) showApp(user); else showLogin();
    }, showLogin);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
