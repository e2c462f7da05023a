// switchyard live dashboard: polls /api/v1/state every second and renders it.
//
// Counters in the state document are totals, so rates (requests/s, error rate, each
// server's share of traffic) come from deltas against a sample a few seconds old. The
// DOM is built once per listener/pool/server and then only updated, so inputs keep
// their focus and text while data refreshes underneath them.
"use strict";

const POLL_MS = 1000;
const WINDOW_MS = 3000; // rates are computed over about this much history
const TOKEN_KEY = "switchyard.admin.token";
const ALGORITHMS = [
  "round_robin", "weighted_round_robin", "least_connections", "weighted_least_connections",
  "random", "power_of_two", "peak_ewma", "ring_hash", "maglev",
];
const PALETTE = ["#2f6fed", "#1f9d55", "#d98e04", "#9b5de5", "#e4572e", "#17becf", "#bc5090", "#7f8c8d"];

const history = []; // [{t, doc}] oldest first
const $ = (id) => document.getElementById(id);

// ---------- helpers ----------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
function fmtRate(v) {
  if (v == null || !isFinite(v)) return "–";
  if (v >= 1000) return (v / 1000).toFixed(1) + "k";
  return v >= 10 ? v.toFixed(0) : v.toFixed(1);
}
function fmtPct(v) { return v == null || !isFinite(v) ? "–" : (v * 100).toFixed(v < 0.1 ? 2 : 1) + "%"; }
function fmtMs(v) {
  if (v == null) return "–";
  if (v >= 1000) return (v / 1000).toFixed(2) + " s";
  return (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + " ms";
}
function fmtBytes(v) {
  if (v == null || !isFinite(v)) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (v >= 10 || i === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
}
function fmtAgo(ms) {
  if (!ms) return "–";
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return s.toFixed(0) + "s ago";
  if (s < 3600) return (s / 60).toFixed(0) + "m ago";
  if (s < 86400) return (s / 3600).toFixed(1) + "h ago";
  return (s / 86400).toFixed(1) + "d ago";
}
function toast(message, isError) {
  const node = el("div", { class: "toast" + (isError ? " error" : "") }, message);
  $("toasts").append(node);
  setTimeout(() => node.remove(), isError ? 6000 : 3000);
}

// ---------- rates ----------
function baseline(now) {
  // The newest sample at least WINDOW_MS old, else the oldest we have.
  let base = null;
  for (const h of history) { if (now - h.t >= WINDOW_MS) base = h; }
  return base || (history.length > 1 ? history[0] : null);
}
function indexBy(doc) {
  const servers = new Map(), listeners = new Map();
  for (const p of doc.pools || []) for (const s of p.servers || []) servers.set(p.name + "\u0000" + s.name, s);
  for (const l of doc.listeners || []) listeners.set(l.name, l);
  return { servers, listeners };
}
function rates(doc, now) {
  const base = baseline(now);
  const out = { servers: new Map(), listeners: new Map(), dt: 0 };
  if (!base) return out;
  const dt = (now - base.t) / 1000;
  if (dt <= 0) return out;
  out.dt = dt;
  const old = indexBy(base.doc);
  for (const p of doc.pools || []) {
    for (const s of p.servers || []) {
      const key = p.name + "\u0000" + s.name;
      const o = old.servers.get(key);
      if (!o) continue;
      const req = Math.max(0, s.requests_total - o.requests_total);
      const err = Math.max(0, s.errors_total - o.errors_total);
      out.servers.set(key, { req, rps: req / dt, errRate: req ? err / req : null });
    }
  }
  for (const l of doc.listeners || []) {
    const o = old.listeners.get(l.name);
    if (!o) continue;
    const req = Math.max(0, l.requests_total - o.requests_total);
    const err = Math.max(0, l.errors_total - o.errors_total);
    out.listeners.set(l.name, {
      rps: req / dt, errRate: req ? err / req : null,
      inps: Math.max(0, l.received_bytes_total - o.received_bytes_total) / dt,
      outps: Math.max(0, l.sent_bytes_total - o.sent_bytes_total) / dt,
    });
  }
  return out;
}

// ---------- API calls ----------
async function call(method, path, body) {
  const headers = {};
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    toast("Admin API unreachable: " + e.message, true);
    return false;
  }
  if (resp.ok) { poll(); return true; }
  let message = resp.status + " " + resp.statusText;
  try { const j = await resp.json(); if (j.error) message = j.error; } catch (_) { /* not JSON */ }
  if (resp.status === 401) { message += " — enter the admin token at the top"; $("token").focus(); }
  toast(message, true);
  return false;
}
function serverPath(pool, server, action) {
  return "/api/v1/pools/" + encodeURIComponent(pool) + "/servers/" + encodeURIComponent(server) + "/" + action;
}
async function serverAction(pool, server, action) {
  if (await call("POST", serverPath(pool, server, action))) toast(action + " " + pool + "/" + server);
}
async function setWeight(pool, server, input) {
  const weight = Number(input.value);
  if (!Number.isInteger(weight) || weight < 1 || weight > 1000) { toast("weight must be 1..1000", true); return; }
  if (await call("PUT", serverPath(pool, server, "weight"), { weight })) { toast(pool + "/" + server + " weight " + weight); input.blur(); }
}
async function setAlgorithm(pool, select) {
  const algorithm = select.value;
  if (await call("PUT", "/api/v1/pools/" + encodeURIComponent(pool) + "/algorithm", { algorithm })) toast(pool + " now uses " + algorithm);
}

// ---------- rendering: listeners ----------
const listenerRows = new Map();
function renderListeners(doc, r) {
  const body = $("listeners").tBodies[0];
  const seen = new Set();
  for (const l of doc.listeners || []) {
    seen.add(l.name);
    let row = listenerRows.get(l.name);
    if (!row) {
      row = el("tr", { "data-listener": l.name });
      for (let i = 0; i < 10; i++) row.append(el("td"));
      [4, 5, 6, 7, 8].forEach((i) => row.cells[i].classList.add("num"));
      row.cells[9].append(el("div", { class: "stack" }));
      listenerRows.set(l.name, row);
      body.append(row);
    }
    const c = row.cells, lr = r.listeners.get(l.name) || {};
    setText(c[0], l.name); setText(c[1], l.protocol); setText(c[2], l.listen); setText(c[3], l.pool || "–");
    setText(c[4], fmtRate(lr.rps)); setText(c[5], fmtPct(lr.errRate)); setText(c[6], String(l.active_connections));
    setText(c[7], fmtBytes(lr.inps)); setText(c[8], fmtBytes(lr.outps));
    c[5].classList.toggle("err-high", (lr.errRate || 0) > 0.05);
    renderStack(c[9].firstChild, (doc.pools || []).find((p) => p.name === l.pool), r);
  }
  for (const [name, row] of listenerRows) if (!seen.has(name)) { row.remove(); listenerRows.delete(name); }
  $("listeners-empty").hidden = seen.size > 0;
}
function renderStack(stack, pool, r) {
  stack.hidden = !pool;
  if (!pool) { stack.replaceChildren(); return; }
  const parts = pool.servers.map((s) => ({ name: s.name, req: (r.servers.get(pool.name + "\u0000" + s.name) || {}).req || 0 }));
  const total = parts.reduce((a, p) => a + p.req, 0);
  while (stack.children.length < parts.length) stack.append(el("span"));
  while (stack.children.length > parts.length) stack.lastChild.remove();
  parts.forEach((p, i) => {
    const seg = stack.children[i];
    seg.style.width = (total ? (100 * p.req) / total : 0) + "%";
    seg.style.background = PALETTE[i % PALETTE.length];
    seg.title = p.name + ": " + (total ? fmtPct(p.req / total) : "idle");
  });
  stack.title = total ? "" : "no traffic in the last few seconds";
}

// ---------- rendering: pools ----------
const poolCards = new Map();
function poolCard(pool) {
  const select = el("select", { "aria-label": "algorithm of pool " + pool.name, "data-pool": pool.name });
  for (const a of ALGORITHMS) select.append(el("option", { value: a }, a));
  select.addEventListener("change", () => setAlgorithm(pool.name, select));
  const head = el("div", { class: "pool-head" },
    el("span", { class: "title" }, pool.name),
    el("span", { class: "badge ok" }), el("span", { class: "meta" }),
    el("canvas", { class: "spark", width: "160", height: "28", title: "requests/s (errors in red), last 2 minutes" }),
    el("label", { class: "algo" }, "algorithm ", select));
  const table = el("table", { class: "grid" });
  table.append(el("thead", {}, el("tr", {}, ...["Server", "State", "Weight", "Traffic share", "Req/s", "Errors",
    "p50", "p99", "Active", "Ejections", "Health check", "Actions"].map((h, i) =>
    el("th", { class: [4, 5, 6, 7, 8, 9].includes(i) ? "num" : "" }, h)))), el("tbody"));
  const canvas = el("canvas", { class: "flow", "data-pool": pool.name, "aria-hidden": "true" });
  const card = el("div", { class: "pool", "data-pool": pool.name }, head, canvas, el("div", { class: "table-wrap" }, table));
  const flow = { canvas, servers: [], particles: [], acc: [], name: pool.name };
  flows.add(flow);
  return { card, select, flow, badge: head.children[1], meta: head.children[2], spark: head.children[3],
    series: [], body: table.tBodies[0], rows: new Map() };
}
function serverRow(pool, server) {
  const weight = el("input", { type: "number", min: "1", max: "1000", "aria-label": "weight of " + server });
  weight.addEventListener("keydown", (e) => { if (e.key === "Enter") setWeight(pool, server, weight); });
  const btn = (action, label) => el("button", { class: action, "data-action": action, type: "button",
    onclick: () => serverAction(pool, server, action) }, label);
  const actions = el("td", {}, el("div", { class: "actions" }, btn("drain", "Drain"), btn("enable", "Enable"),
    btn("disable", "Disable"), weight,
    el("button", { type: "button", "data-action": "weight", onclick: () => setWeight(pool, server, weight) }, "Set")));
  const row = el("tr", { "data-pool": pool, "data-server": server });
  for (let i = 0; i < 11; i++) row.append(el("td", { class: [4, 5, 6, 7, 8, 9].includes(i) ? "num" : "" }));
  row.cells[1].append(el("span", { class: "state" }));
  row.cells[3].append(el("div", { class: "bar" }, el("div", { class: "fill" }), el("span", { class: "pct" })));
  row.append(actions);
  return { row, weight };
}
function renderPools(doc, r) {
  const root = $("pools");
  const seen = new Set();
  for (const p of doc.pools || []) {
    seen.add(p.name);
    let card = poolCards.get(p.name);
    if (!card) { card = poolCard(p); poolCards.set(p.name, card); root.append(card.card); }
    if (document.activeElement !== card.select) {
      if (![...card.select.options].some((o) => o.value === p.algorithm)) card.select.append(el("option", { value: p.algorithm }, p.algorithm));
      card.select.value = p.algorithm;
    }
    const up = p.servers.filter((s) => s.state === "up").length;
    card.badge.className = "badge " + (p.panic ? "panic" : up === p.servers.length ? "ok" : up ? "warn" : "panic");
    setText(card.badge, p.panic ? "PANIC" : up + "/" + p.servers.length + " up");
    card.badge.title = p.panic ? "too few healthy servers: balancing over all of them" : "";
    const total = p.servers.reduce((a, s) => a + ((r.servers.get(p.name + "\u0000" + s.name) || {}).req || 0), 0);
    const rps = r.dt ? total / r.dt : null;
    const errs = p.servers.reduce((a, s) => {
      const sr = r.servers.get(p.name + "\u0000" + s.name) || {};
      return a + (sr.errRate ? sr.errRate * sr.req : 0);
    }, 0);
    setText(card.meta, fmtRate(rps) + " req/s · " + (total ? fmtPct(errs / total) : "–") + " errors");
    if (rps != null) {
      card.series.push({ rps, eps: errs / r.dt });
      if (card.series.length > SPARK_POINTS) card.series.shift();
      drawSpark(card.spark, card.series);
    }
    renderServers(card, p, r, total);
    updateFlow(card.flow, p, r);
  }
  for (const [name, card] of poolCards) if (!seen.has(name)) { card.card.remove(); flows.delete(card.flow); poolCards.delete(name); }
  $("pools-empty").hidden = seen.size > 0;
}
function renderServers(card, pool, r, total) {
  const seen = new Set();
  for (const s of pool.servers) {
    seen.add(s.name);
    let entry = card.rows.get(s.name);
    if (!entry) { entry = serverRow(pool.name, s.name); card.rows.set(s.name, entry); card.body.append(entry.row); }
    const { row, weight } = entry, c = row.cells;
    const sr = r.servers.get(pool.name + "\u0000" + s.name) || {};
    row.dataset.state = s.state;
    if (!c[0].firstChild) c[0].append(el("div", {}, s.name), el("div", { class: "sub mono" }, s.address));
    c[0].firstChild.replaceChildren(s.name, ...(s.backup ? [el("span", { class: "backup" }, "backup")] : []));
    setText(c[0].lastChild, s.address);
    const state = c[1].firstChild;
    state.dataset.state = s.state;
    setText(state, s.state);
    setText(c[2], s.effective_weight !== s.weight ? +s.effective_weight.toFixed(2) + " / " + s.weight : String(s.weight));
    c[2].title = "effective / configured weight";
    const share = total ? (sr.req || 0) / total : 0;
    const fill = c[3].querySelector(".fill");
    fill.style.width = (share * 100).toFixed(1) + "%";
    fill.style.background = PALETTE[pool.servers.indexOf(s) % PALETTE.length];
    setText(c[3].querySelector(".pct"), total ? fmtPct(share) : "idle");
    setText(c[4], fmtRate(sr.rps));
    setText(c[5], fmtPct(sr.errRate));
    c[5].classList.toggle("err-high", (sr.errRate || 0) > 0.05);
    setText(c[6], fmtMs(s.latency && s.latency.p50_ms));
    setText(c[7], fmtMs(s.latency && s.latency.p99_ms));
    c[7].title = "p90 " + fmtMs(s.latency && s.latency.p90_ms);
    setText(c[8], String(s.active));
    setText(c[9], String(s.ejections));
    renderHealth(c[10], s.health || {}, s.ejected_until, pool.check);
    if (document.activeElement !== weight) weight.value = s.weight;
    row.querySelector('[data-action="drain"]').disabled = s.state === "draining";
    row.querySelector('[data-action="disable"]').disabled = s.state === "disabled";
  }
  for (const [name, entry] of card.rows) if (!seen.has(name)) { entry.row.remove(); card.rows.delete(name); }
}
function renderHealth(cell, h, ejectedUntil, check) {
  const last = h.last;
  let text = last ? (last.ok ? "✓ " : "✗ ") + last.detail + (last.latency_ms != null ? " · " + fmtMs(last.latency_ms) : "") : check === "none" ? "no active checks" : "no checks yet";
  // An ejected server is down whatever its checks say: say so, and for how long.
  const checkText = text;
  if (ejectedUntil) text = "ejected, back in " + Math.max(0, Math.ceil((ejectedUntil - Date.now()) / 1000)) + "s";
  setText(cell, text);
  cell.className = ejectedUntil ? "health-bad" : last ? (last.ok ? "health-ok" : "health-bad") : "sub";
  cell.title = (ejectedUntil ? "ejected by outlier detection (failing real traffic); last check: " + checkText + "\n" : "") +
    (last ? "checked " + fmtAgo(last.at) + "\n" : "") +
    "consecutive successes " + (h.consecutive_successes || 0) + ", failures " + (h.consecutive_failures || 0) +
    (h.last_transition ? "\nlast transition " + fmtAgo(h.last_transition) : "");
}

// ---------- sparkline: a pool's request rate over the last two minutes ----------
const SPARK_POINTS = 120;
function drawSpark(c, series) {
  const dpr = window.devicePixelRatio || 1, w = 160, h = 28;
  if (c.width !== w * dpr) { c.width = w * dpr; c.height = h * dpr; }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.strokeStyle = cssVar("--line"); g.lineWidth = 1;
  g.beginPath(); g.moveTo(0, h - 1.5); g.lineTo(w, h - 1.5); g.stroke();
  const max = Math.max(1, ...series.map((p) => p.rps));
  const x = (i) => w - (series.length - 1 - i) * (w / (SPARK_POINTS - 1));
  const y = (v) => h - 2 - (v / max) * (h - 4);
  const line = (key, color, fill) => {
    g.beginPath();
    series.forEach((p, i) => (i ? g.lineTo(x(i), y(p[key])) : g.moveTo(x(i), y(p[key]))));
    g.strokeStyle = color; g.lineWidth = 1.5; g.stroke();
    if (fill) {
      g.lineTo(x(series.length - 1), h); g.lineTo(x(0), h); g.closePath();
      g.globalAlpha = 0.15; g.fillStyle = color; g.fill(); g.globalAlpha = 1;
    }
  };
  line("rps", cssVar("--accent"), true);
  if (series.some((p) => p.eps > 0)) line("eps", cssVar("--down"), false);
}

// ---------- traffic flow: requests drawn as dots travelling to their server ----------
// The lesson's load-balancer animation, on real numbers: each server gets dots at its
// measured request rate (capped so the picture stays readable), red for the measured
// share of errors; a dot's travel time grows with the server's p50 latency; squares next
// to a server are its requests in flight.
const flows = new Set();
const MAX_DOTS_PER_SEC = 40;
const MAX_FLOW_SERVERS = 12;
let lastFrame = 0, lastMark = 0;
function updateFlow(flow, pool, r) {
  flow.servers = pool.servers.map((s, i) => {
    const sr = r.servers.get(pool.name + "\u0000" + s.name) || {};
    return { name: s.name, state: s.state, rps: sr.rps || 0, errRate: sr.errRate || 0, active: s.active,
      p50: (s.latency && s.latency.p50_ms) || 0, color: PALETTE[i % PALETTE.length] };
  });
  flow.canvas.hidden = pool.servers.length === 0 || pool.servers.length > MAX_FLOW_SERVERS;
  flow.acc.length = flow.servers.length;
}
function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
function drawFlow(flow, dt, colors) {
  const c = flow.canvas;
  if (c.hidden) return;
  const rowH = 30, n = flow.servers.length, dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = n * rowH + 16;
  if (c.height !== Math.round(h * dpr) || c.width !== Math.round(w * dpr)) {
    c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); c.style.height = h + "px";
  }
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const sx = 90, sy = h / 2, tx = Math.max(sx + 120, w - 280);
  const ty = (i) => 8 + i * rowH + rowH / 2;
  // spawn and move dots
  flow.servers.forEach((s, i) => {
    if (s.state === "down" || s.state === "disabled") { flow.acc[i] = 0; return; }
    flow.acc[i] = (flow.acc[i] || 0) + Math.min(s.rps, MAX_DOTS_PER_SEC) * dt;
    while (flow.acc[i] >= 1) {
      flow.acc[i] -= 1;
      flow.particles.push({ i, t: Math.random() * 0.05, err: Math.random() < s.errRate,
        dur: 0.6 + Math.min(1.4, s.p50 / 250) });
    }
  });
  flow.particles = flow.particles.filter((p) => (p.t += dt / p.dur) < 1 && p.i < n);
  // links
  g.lineWidth = 1.5;
  flow.servers.forEach((s, i) => {
    g.strokeStyle = colors.line;
    g.setLineDash(s.state === "up" ? [] : [4, 4]);
    g.beginPath(); g.moveTo(sx, sy); g.lineTo(tx, ty(i)); g.stroke();
  });
  g.setLineDash([]);
  for (const p of flow.particles) {
    const s = flow.servers[p.i];
    g.fillStyle = p.err ? colors.down : s.color;
    g.beginPath(); g.arc(sx + (tx - sx) * p.t, sy + (ty(p.i) - sy) * p.t, 3, 0, Math.PI * 2); g.fill();
  }
  // balancer node
  g.fillStyle = colors.accent;
  g.beginPath(); g.roundRect(8, sy - 13, sx - 8, 26, 6); g.fill();
  g.fillStyle = "#fff"; g.font = "600 12px system-ui, sans-serif"; g.textBaseline = "middle";
  g.fillText(flow.name.length > 10 ? flow.name.slice(0, 9) + "…" : flow.name, 16, sy);
  // server nodes, in-flight squares, labels
  flow.servers.forEach((s, i) => {
    const y = ty(i);
    g.fillStyle = colors[s.state] || colors.disabled;
    g.beginPath(); g.arc(tx, y, 8, 0, Math.PI * 2); g.fill();
    g.fillStyle = colors.text; g.font = "12px system-ui, sans-serif";
    const label = s.name.length > 14 ? s.name.slice(0, 13) + "…" : s.name;
    g.fillText(label, tx + 14, y);
    g.fillStyle = colors.muted;
    g.fillText(s.state === "up" || s.state === "draining" ? fmtRate(s.rps) + "/s" : s.state, tx + 14 + g.measureText(label).width + 8, y);
    const squares = Math.min(s.active, 20);
    g.fillStyle = s.color;
    for (let k = 0; k < squares; k++) g.fillRect(tx + 150 + k * 5, y - 4, 3, 8);
    if (s.active > 20) { g.fillStyle = colors.muted; g.fillText("+" + (s.active - 20), tx + 150 + 20 * 5 + 4, y); }
  });
}
function animate(ts) {
  const dt = Math.min(0.1, lastFrame ? (ts - lastFrame) / 1000 : 0);
  lastFrame = ts;
  if (!document.hidden && flows.size) {
    const colors = { line: cssVar("--line"), down: cssVar("--down"), up: cssVar("--up"), draining: cssVar("--draining"),
      disabled: cssVar("--disabled"), accent: cssVar("--accent"), text: cssVar("--text"), muted: cssVar("--muted") };
    for (const flow of flows) drawFlow(flow, dt, colors);
    if (ts - lastMark > 500) {
      lastMark = ts;
      for (const flow of flows) flow.canvas.dataset.particles = String(flow.particles.length);
    }
  }
  requestAnimationFrame(animate);
}

// ---------- rendering: GSLB and anycast ----------
function renderDatacenters(doc) {
  const dcs = doc.datacenters || [];
  $("dcs-section").hidden = dcs.length === 0;
  $("datacenters").replaceChildren(...dcs.map((d) => el("div", { class: "dc", "data-up": String(d.up), "data-datacenter": d.name },
    el("div", { class: "title" }, d.name, el("span", { class: "badge " + (d.up ? "ok" : "panic") }, d.up ? "up" : "down")),
    el("div", { class: "sub mono" }, (d.addresses || []).join(", ") || "no addresses"),
    el("div", { class: "sub" }, d.pool ? "health from pool " + d.pool : "no pool"))));
}
function renderAnycast(doc) {
  const list = doc.anycast || [];
  $("anycast-section").hidden = list.length === 0;
  $("anycast").tBodies[0].replaceChildren(...list.map((a) => el("tr", { "data-prefix": a.prefix },
    el("td", { class: "mono" }, a.prefix), el("td", { class: "mono" }, a.bird_protocol),
    el("td", {}, el("span", { class: "badge " + (a.announced ? "ok" : "panic") }, a.announced ? "announced" : "withdrawn")),
    el("td", {}, a.reason || ""), el("td", {}, fmtAgo(a.since)))));
}
function renderTiles(doc, r) {
  let rps = 0, req = 0, err = 0, known = false;
  for (const l of doc.listeners || []) {
    const lr = r.listeners.get(l.name);
    if (lr) { known = true; rps += lr.rps; }
  }
  for (const v of r.servers.values()) { req += v.req; err += v.errRate ? v.errRate * v.req : 0; }
  const servers = (doc.pools || []).flatMap((p) => p.servers);
  setText($("t-rps"), known ? fmtRate(rps) : "–");
  setText($("t-err"), req ? fmtPct(err / req) : "–");
  setText($("t-conn"), String((doc.listeners || []).reduce((a, l) => a + l.active_connections, 0)));
  setText($("t-healthy"), servers.filter((s) => s.state === "up").length + " / " + servers.length);
  setText($("t-panic"), String((doc.pools || []).filter((p) => p.panic).length));
}

// ---------- polling ----------
let timer = null, inFlight = false;
async function poll() {
  if (inFlight) return;
  inFlight = true;
  clearTimeout(timer);
  const started = performance.now();
  const ctrl = new AbortController();
  const abort = setTimeout(() => ctrl.abort(), 2500);
  try {
    const resp = await fetch("/api/v1/state", { cache: "no-store", signal: ctrl.signal });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    const doc = await resp.json();
    const now = performance.now();
    const r = rates(doc, now);
    history.push({ t: now, doc });
    while (history.length > 2 && now - history[1].t >= WINDOW_MS) history.shift();
    render(doc, r);
    setConn("live", "live · updated " + new Date().toLocaleTimeString());
  } catch (e) {
    setConn("error", "disconnected (" + (e.name === "AbortError" ? "timed out" : e.message) + "), retrying");
  } finally {
    clearTimeout(abort);
    inFlight = false;
    timer = setTimeout(poll, Math.max(100, POLL_MS - (performance.now() - started)));
  }
}
function setConn(status, text) {
  $("conn").dataset.status = status;
  setText($("conn-text"), text);
  document.body.classList.toggle("stale", status === "error");
}
function render(doc, r) {
  setText($("version"), doc.version ? "v" + doc.version : "");
  renderTiles(doc, r);
  renderListeners(doc, r);
  renderPools(doc, r);
  renderDatacenters(doc);
  renderAnycast(doc);
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = localStorage.getItem(TOKEN_KEY) || "";
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = $("token").value.trim();
    if (v) localStorage.setItem(TOKEN_KEY, v); else localStorage.removeItem(TOKEN_KEY);
    toast(v ? "token saved in this browser" : "token cleared");
  });
  poll();
  requestAnimationFrame(animate);
});
