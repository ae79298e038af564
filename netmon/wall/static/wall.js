// The NOC wall: polls /api/v1/wall (docs/wall.md) and draws the map and problem list.
// Hand-written, no libraries: everything the wall needs is served by netmon, so it
// keeps working when the internet (the usual culprit) is down.
"use strict";

const API = "/api/v1/wall";
const POLL_MS = 5000;          // the daemon refreshes its document as often
const FETCH_TIMEOUT_MS = 4000; // an answer later than this counts as no answer
const STALE_MS = 12000;        // no fresh document for this long: say the data is stale
const W = 1360, H = 1000;      // the map's viewBox
const SVG = "http://www.w3.org/2000/svg";

const TEXT = {
  id: {
    title: "Peta jaringan NOC", devices: "perangkat", up: "aktif", down: "mati",
    cut_off: "terputus", unknown: "belum diketahui", links_down: "link putus",
    links_over: "lewat kontrak",
    problems: "Masalah", none: "Semua normal",
    stale: "DATA TIDAK MUTAKHIR — netmon tidak menjawab sejak {t}",
    stale_polls: "DATA TIDAK MUTAKHIR — tidak ada poll sejak {t}",
    device_down: "{d} tidak menjawab", link_down: "Link {l} putus",
    over_contract: "{l} melebihi kontrak: {v} {dir}",
    near_contract: "{l} hampir penuh: {v} kontrak {dir}",
    optics_low: "Daya optik {l} rendah: {v} dBm", radio_rate_low: "Radio {l}: {v} kontrak {dir}",
    poll_failing: "{d}: poll {x} gagal",
    cut_list: "{n} perangkat terputus: {k}", since: "{t}",
    downstream: "↓ turun", upstream: "↑ naik",
    contract: "Kontrak", traffic: "Trafik sekarang", of_contract: "% kontrak",
    port: "Kecepatan port", last_poll: "Poll terakhir", state: "Status", site: "Lokasi",
    role: "Peran", cut_by: "Terputus karena", reason: "Alasan", grafana: "Buka di Grafana",
    behind: "Perangkat di belakangnya", medium: "Media", ago: "{t} lalu",
    optics: "Daya optik Rx", signal: "Sinyal radio", memory: "Memori",
    s_up: "aktif", s_down: "mati", s_cut_off: "terputus", s_unknown: "belum diketahui",
    legend_ok: "< 50 % kontrak", legend_busy: "50–80 %", legend_high: "80–100 %",
    legend_over: "≥ 100 %", legend_down: "putus", legend_cut: "terputus / tak diketahui",
    sec: "dtk", min: "mnt", hour: "jam", day: "hari",
  },
  en: {
    title: "NOC network map", devices: "devices", up: "up", down: "down",
    cut_off: "cut off", unknown: "unknown", links_down: "links down",
    links_over: "over contract",
    problems: "Problems", none: "All normal",
    stale: "DATA IS STALE — netmon has not answered since {t}",
    stale_polls: "DATA IS STALE — no poll since {t}",
    device_down: "{d} does not answer", link_down: "Link {l} is down",
    over_contract: "{l} over contract: {v} {dir}",
    near_contract: "{l} nearly full: {v} of contract {dir}",
    optics_low: "Optical power on {l} low: {v} dBm", radio_rate_low: "Radio {l}: {v} of contract {dir}",
    poll_failing: "{d}: {x} poll failing",
    cut_list: "{n} devices cut off: {k}", since: "{t}",
    downstream: "↓ down", upstream: "↑ up",
    contract: "Contract", traffic: "Traffic now", of_contract: "% of contract",
    port: "Port speed", last_poll: "Last poll", state: "State", site: "Site",
    role: "Role", cut_by: "Cut off by", reason: "Reason", grafana: "Open in Grafana",
    behind: "Devices behind it", medium: "Medium", ago: "{t} ago",
    optics: "Optical Rx", signal: "Radio signal", memory: "Memory",
    s_up: "up", s_down: "down", s_cut_off: "cut off", s_unknown: "unknown",
    legend_ok: "< 50 % of contract", legend_busy: "50–80 %", legend_high: "80–100 %",
    legend_over: "≥ 100 %", legend_down: "down", legend_cut: "cut off / unknown",
    sec: "s", min: "min", hour: "h", day: "d",
  },
};

const params = new URLSearchParams(location.search);
const LANG = params.get("lang") === "en" ? "en" : "id";
const T = TEXT[LANG];
const NUM = new Intl.NumberFormat(LANG === "id" ? "id-ID" : "en-GB", { maximumFractionDigits: 1 });
const GRAFANA = (() => {
  const g = params.get("grafana") || "";
  return /^https?:\/\/[^\s"'<>]+$/.test(g) ? g.replace(/\/+$/, "") : null;
})();

let doc = null;              // the last document received
let lastOk = 0;              // Date.now() of the last good answer
let lastGenerated = null;    // its generated_at, and when (our clock) it last moved
let generatedMovedAt = 0;
let selected = null;         // {kind: "device"|"link", name} shown in the card

function fmt(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, k) => (values[k] ?? ""));
}

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} ${T.sec}`;
  if (s < 3600) return `${Math.floor(s / 60)} ${T.min}`;
  if (s < 86400) return `${Math.floor(s / 3600)} ${T.hour} ${Math.floor((s % 3600) / 60)} ${T.min}`;
  return `${Math.floor(s / 86400)} ${T.day} ${Math.floor((s % 86400) / 3600)} ${T.hour}`;
}

function bps(value) {
  if (value === null || value === undefined) return "–";
  const units = [[1e9, "Gbit/s"], [1e6, "Mbit/s"], [1e3, "kbit/s"]];
  for (const [f, u] of units) if (value >= f) return `${NUM.format(value / f)} ${u}`;
  return `${NUM.format(value)} bit/s`;
}

function pct(ratio) {
  return ratio === null || ratio === undefined ? "–" : `${NUM.format(ratio * 100)} %`;
}

function clockTime(unix) {
  return unix ? new Date(unix * 1000).toLocaleTimeString(LANG === "id" ? "id-ID" : "en-GB") : "–";
}

function levelOf(link) {
  if (link.state !== "up" || link.worst_utilisation === null) return "none";
  if (link.level === "over") return "over";
  if (link.level === "high") return "high";
  return link.worst_utilisation >= 0.5 ? "busy" : "ok";
}

function label(device) {
  return device.role === "kecamatan" ? device.kecamatan : device.name;
}

// --- the map ------------------------------------------------------------------------

function drawMap(d) {
  const svg = document.getElementById("map");
  const pos = new Map();
  for (const dev of d.devices) pos.set(dev.name, [dev.x * W, dev.y * H]);
  for (const ext of d.externals) pos.set(ext.id, [ext.x * W, ext.y * H]);
  const frag = document.createDocumentFragment();
  const linkLayer = el("svg:g", { class: "links" });
  for (const link of d.links) {
    const a = pos.get(link.a.device || link.a.id), b = pos.get(link.b.device || link.b.id);
    if (!a || !b) continue;
    const g = el("svg:g", {
      class: `link ${link.medium} state-${link.state} level-${levelOf(link)}`,
      "data-link": link.name, "data-state": link.state, "data-level": link.level,
    });
    const coords = { x1: a[0], y1: a[1], x2: b[0], y2: b[1] };
    g.append(el("svg:line", { class: "wire", ...coords }));
    if (link.state === "down") {  // a cross in the middle: the cut
      const mx = (a[0] + b[0]) / 2, my = (a[1] + b[1]) / 2, r = 13;
      g.append(el("svg:line", { class: "cut-mark", x1: mx - r, y1: my - r, x2: mx + r, y2: my + r }));
      g.append(el("svg:line", { class: "cut-mark", x1: mx - r, y1: my + r, x2: mx + r, y2: my - r }));
    }
    g.append(el("svg:line", { class: "hit", ...coords }));
    g.addEventListener("mouseenter", (e) => select("link", link.name, e));
    g.addEventListener("click", (e) => select("link", link.name, e));
    linkLayer.append(g);
  }
  frag.append(linkLayer);
  const nodeLayer = el("svg:g", { class: "nodes" });
  for (const ext of d.externals) {
    const [x, y] = pos.get(ext.id);
    const g = el("svg:g", { class: "external", "data-external": ext.name });
    const short = ext.name.split(" ")[0];
    g.append(el("svg:rect", { x: x - 40, y: y - 20, width: 80, height: 40, rx: 18 }));
    g.append(el("svg:text", { x, y: y + 7, "text-anchor": "middle" }, short));
    g.append(el("svg:title", {}, ext.name));
    nodeLayer.append(g);
  }
  for (const dev of d.devices) {
    const [x, y] = pos.get(dev.name);
    const g = el("svg:g", {
      class: `node role-${dev.role} state-${dev.state}`, "data-device": dev.name,
      "data-state": dev.state, "data-kecamatan": dev.kecamatan,
    });
    const r = dev.role === "core" ? 20 : dev.role === "kecamatan" ? 14 : 10;
    if (dev.state === "down") g.append(el("svg:circle", { class: "ring", cx: x, cy: y, r: r + 9 }));
    g.append(el("svg:circle", { cx: x, cy: y, r }));
    // the label points away from the centre, so the ring's labels never cross the map
    const dx = x - W / 2, dy = y - H / 2, len = Math.hypot(dx, dy) || 1;
    const ux = dx / len, uy = dy / len;
    let anchor = ux > 0.12 ? "start" : ux < -0.12 ? "end" : "middle";
    let tx = x + ux * (r + 8), ty = y + uy * (r + 8) + 7;
    if (anchor === "middle") ty = y + (uy > 0 ? r + 26 : -(r + 10));
    if (len < 60) { anchor = "middle"; tx = x; ty = y - r - 12; }  // the centre node
    const cls = dev.role === "kecamatan" ? "label kecamatan" : dev.role === "core" ? "label core" : "label";
    g.append(el("svg:text", { class: cls, x: tx, y: ty, "text-anchor": anchor }, label(dev)));
    g.addEventListener("mouseenter", (e) => select("device", dev.name, e));
    g.addEventListener("click", (e) => select("device", dev.name, e));
    nodeLayer.append(g);
  }
  frag.append(nodeLayer);
  svg.replaceChildren(frag);
}

function drawLegend() {
  const legend = document.getElementById("legend");
  const items = [["ok", "--ok"], ["busy", "--busy"], ["high", "--high"], ["over", "--over"],
    ["down", "--down"], ["cut", "--cut"]];
  legend.replaceChildren(...items.map(([k, color]) => {
    const span = el("span");
    const swatch = el("i");
    swatch.style.background = `var(${color})`;
    span.append(swatch, T[`legend_${k}`]);
    return span;
  }));
}

// --- header and problem list ------------------------------------------------------------

function drawSummary(d) {
  const s = d.summary;
  const parts = [[s.devices, T.devices, ""], [s.up, T.up, ""], [s.down, T.down, s.down ? "bad" : ""],
    [s.cut_off, T.cut_off, s.cut_off ? "cut" : ""], [s.links_down, T.links_down, s.links_down ? "bad" : ""],
    [s.links_over, T.links_over, s.links_over ? "bad" : ""]];
  document.getElementById("summary").replaceChildren(...parts.map(([n, word, cls]) => {
    const span = el("span", { class: cls });
    span.append(el("span", { class: "n" }, String(n)), ` ${word}`);
    return span;
  }));
}

function problemText(p, d) {
  const dir = p.direction ? T[p.direction] : "";
  const v = p.kind === "optics_low" ? NUM.format(p.value) : pct(p.value);
  const x = (p.detail || "").split(":")[0];
  return fmt(T[p.kind] || p.kind, { d: p.device, l: p.link || p.device, v, dir, x });
}

function drawProblems(d) {
  const list = document.getElementById("problems");
  document.getElementById("problems-title").textContent = `${T.problems} (${d.problems.length})`;
  document.getElementById("all-ok").hidden = d.problems.length > 0;
  document.getElementById("all-ok").textContent = T.none;
  // as many as fit; the rest are counted in the title
  list.replaceChildren(...d.problems.slice(0, 12).map((p) => {
    const li = el("li", { class: `problem ${p.severity}`, "data-kind": p.kind, "data-key": p.key,
      "data-kecamatan": p.kecamatan });
    const where = el("div", { class: "where" }, p.kecamatan);
    if (p.since !== null) where.append(el("span", { class: "age" }, duration(d.generated_at - p.since)));
    li.append(where, el("div", { class: "what" }, problemText(p, d)));
    if (p.cut_off > 0) {
      const names = p.cut_off_kecamatan.slice(0, 6).join(", ") + (p.cut_off_kecamatan.length > 6 ? " …" : "");
      li.append(el("div", { class: "more" }, fmt(T.cut_list, { n: p.cut_off, k: names })));
    }
    return li;
  }));
}

// --- hover / tap card -------------------------------------------------------------------

function select(kind, name, event) {
  selected = { kind, name, x: event.clientX, y: event.clientY };
  drawCard();
}

function grafanaFor(kind, item) {
  if (!GRAFANA) return null;
  let link = kind === "link" ? item.name : null;
  if (kind === "device" && doc) {
    const up = doc.links.find((l) => l.b.device === item.name && l.a.device === item.parent);
    link = up ? up.name : null;
  }
  return link ? `${GRAFANA}/d/netmon-link-detail/link-detail?var-link=${encodeURIComponent(link)}`
    : `${GRAFANA}/d/netmon-noc-overview/noc-overview`;
}

function drawCard() {
  const card = document.getElementById("card");
  if (!selected || !doc) { card.hidden = true; return; }
  const list = selected.kind === "link" ? doc.links : doc.devices;
  const item = list.find((i) => i.name === selected.name);
  if (!item) { card.hidden = true; return; }
  const rows = [];
  const ago = (t) => (t ? `${clockTime(t)} (${fmt(T.ago, { t: duration(doc.generated_at - t) })})` : "–");
  if (selected.kind === "link") {
    rows.push([T.state, T[`s_${item.state}`] || item.state], [T.medium, item.medium]);
    for (const dir of ["downstream", "upstream"]) {
      rows.push([`${T[dir]}`, `${bps(item.traffic_bps[dir])} / ${bps(item.capacity_bps[dir])} ` +
        `(${pct(item.utilisation[dir])})`]);
    }
    rows.push([T.port, bps(item.port_speed_bps)]);
    // what the ends read over SSH, where they do: optical Rx power, radio signal
    for (const end of [item.a, item.b]) {
      const dev = end.device && doc.devices.find((x) => x.name === end.device);
      const r = dev ? dev.readings : {};
      const rx = (r.optics_rx_power_dbm || {})[item.name];
      const signal = (r.radio_signal_dbm || {})[item.name];
      if (rx !== undefined && rx !== null) rows.push([`${T.optics} ${dev.name}`, `${NUM.format(rx)} dBm`]);
      if (signal !== undefined && signal !== null) rows.push([`${T.signal} ${dev.name}`, `${NUM.format(signal)} dBm`]);
    }
    rows.push([T.last_poll, ago(item.last_poll)]);
  } else {
    rows.push([T.state, T[`s_${item.state}`] || item.state], [T.site, item.site],
      [T.role, item.role]);
    if (item.cut_off_by) rows.push([T.cut_by, item.cut_off_by]);
    for (const [c, p] of Object.entries(item.polls)) if (p.ok === false) rows.push([T.reason, `${c}: ${p.reason}`]);
    if (item.behind) rows.push([T.behind, String(item.behind)]);
    if (item.readings.cpu_ratio !== undefined) rows.push(["CPU", pct(item.readings.cpu_ratio)]);
    if (item.readings.memory_used_ratio !== undefined) rows.push([T.memory, pct(item.readings.memory_used_ratio)]);
    rows.push([T.last_poll, ago(item.last_poll)]);
  }
  const table = el("table");
  for (const [k, v] of rows) {
    const tr = el("tr");
    tr.append(el("td", {}, k), el("td", {}, v));
    table.append(tr);
  }
  card.replaceChildren(el("h3", {}, selected.kind === "link" ? `${item.name} · ${item.kecamatan}`
    : `${label(item)} · ${item.name}`), table);
  const g = grafanaFor(selected.kind, item);
  if (g) {
    const a = el("a", { href: g, target: "_blank", rel: "noopener" }, T.grafana);
    card.append(a);
  }
  card.hidden = false;
  const x = Math.min(selected.x + 16, window.innerWidth - card.offsetWidth - 8);
  const y = Math.min(selected.y + 16, window.innerHeight - card.offsetHeight - 8);
  card.style.left = `${Math.max(8, x)}px`;
  card.style.top = `${Math.max(8, y)}px`;
}

// --- polling and staleness --------------------------------------------------------------

function showStale() {
  const banner = document.getElementById("stale");
  const now = Date.now();
  let message = null;
  if (!lastOk || now - lastOk > STALE_MS || now - generatedMovedAt > STALE_MS) {
    message = fmt(T.stale, { t: lastOk ? new Date(lastOk).toLocaleTimeString() : "–" });
  } else if (doc && doc.newest_poll !== null && doc.generated_at - doc.newest_poll > doc.stale_after_s) {
    message = fmt(T.stale_polls, { t: clockTime(doc.newest_poll) });
  }
  banner.hidden = message === null;
  banner.textContent = message || "";
  document.body.classList.toggle("stale", message !== null);
  document.getElementById("clock").textContent = new Date().toLocaleTimeString(LANG === "id" ? "id-ID" : "en-GB");
}

async function poll() {
  try {
    const response = await fetch(API, { cache: "no-store", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const d = await response.json();
    doc = d;
    lastOk = Date.now();
    if (d.generated_at !== lastGenerated) { lastGenerated = d.generated_at; generatedMovedAt = lastOk; }
    drawSummary(d);
    drawMap(d);
    drawProblems(d);
    drawCard();
    document.body.dataset.generated = String(d.generated_at);
  } catch (err) {
    // no console error: a daemon that does not answer is a state the page shows
  } finally {
    showStale();
    setTimeout(poll, POLL_MS);
  }
}

document.documentElement.lang = LANG;
document.getElementById("title").textContent = T.title;
document.title = `netmon — ${T.title}`;
drawLegend();
document.addEventListener("keydown", (e) => { if (e.key === "Escape") { selected = null; drawCard(); } });
document.getElementById("map").addEventListener("click", (e) => {
  if (e.target.id === "map") { selected = null; drawCard(); }
});
setInterval(showStale, 1000);
poll();
