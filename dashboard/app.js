// wsgate admin dashboard: plain JavaScript, no library, no network beyond this listener.
//
// Live updates are a short poll (every 2 s), not server-sent events: EventSource cannot send an
// Authorization header, and the admin token must never be put in a URL (URLs end up in logs and
// history). Every data call sends `Authorization: Bearer <token>` when a token is set; the token
// lives in sessionStorage (this tab only). Everything the gateway reports (subjects, paths,
// details are attacker-controlled) is written with textContent, never as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "wsgate.admin-token";
  const POLL_MS = 2000;
  const SLOW_EVERY = 5; // keys and config every 5th poll (10 s)
  const SVG = "http://www.w3.org/2000/svg";
  const authRequired = document.querySelector('meta[name="wsgate-admin-auth"]').content === "required";
  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let timer = null;
  let polls = 0;
  let config = null;
  let rejections = [];
  let pendingRevoke = null;

  class Unauthorized extends Error {}

  async function api(path, options = {}) {
    const headers = {Accept: "application/json"};
    if (token) headers.Authorization = "Bearer " + token;
    if (options.body) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {method: options.method || "GET", headers, body: options.body,
                                        cache: "no-store", credentials: "omit", redirect: "error"});
    if (response.status === 401 || response.status === 403) throw new Unauthorized(String(response.status));
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
    return body;
  }

  // ---- small DOM helpers ----
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) tr.appendChild(cell instanceof Node ? wrapCell(cell) : el("td", cell));
    return tr;
  }
  function wrapCell(node) {
    if (node.tagName === "TD") return node;
    const td = document.createElement("td");
    td.appendChild(node);
    return td;
  }
  function fill(tbody, rows, emptyText, columns) {
    tbody.replaceChildren(...rows);
    if (!rows.length) {
      const td = el("td", emptyText, "note");
      td.colSpan = columns;
      tbody.appendChild(row([td]));
    }
  }
  function time(seconds) {
    if (seconds === undefined || seconds === null) return "–";
    const d = new Date(seconds * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function ms(value) {
    if (value === undefined || value === null) return "off";
    return value % 1000 === 0 ? (value / 1000) + " s" : value + " ms";
  }
  function bytes(value) {
    if (value >= 1048576 && value % 1048576 === 0) return (value / 1048576) + " MiB";
    if (value >= 1024 && value % 1024 === 0) return (value / 1024) + " KiB";
    return value + " B";
  }
  function setStatus(text, bad) {
    const status = $("status");
    status.textContent = text;
    status.className = bad ? "error" : "";
  }
  // A shell word: safe to paste whatever the route or path holds.
  function shellQuote(text) {
    return /^[A-Za-z0-9_\/.:=,+-]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\\''") + "'";
  }

  // ---- charts: small SVG drawings (no chart library to ship or keep patched) ----
  const W = 600, H = 180, PAD_L = 34, PAD_B = 16, PAD_T = 6;
  function svgNode(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    return node;
  }
  function niceMax(value) {
    if (value <= 1) return 1;
    const magnitude = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 5, 10]) if (value <= step * magnitude) return step * magnitude;
    return 10 * magnitude;
  }
  function frame(svg, max, n) {
    const x = (i) => PAD_L + (i / Math.max(1, n - 1)) * (W - PAD_L - 4);
    const y = (v) => PAD_T + (1 - v / max) * (H - PAD_T - PAD_B);
    svg.appendChild(svgNode("line", {x1: PAD_L, y1: y(0), x2: W - 4, y2: y(0), class: "axis"}));
    svg.appendChild(svgNode("line", {x1: PAD_L, y1: y(max), x2: W - 4, y2: y(max), class: "axis"}));
    const top = svgNode("text", {x: PAD_L - 4, y: y(max) + 8, "text-anchor": "end"});
    top.textContent = String(max);
    const zero = svgNode("text", {x: PAD_L - 4, y: y(0), "text-anchor": "end"});
    zero.textContent = "0";
    const start = svgNode("text", {x: PAD_L, y: H - 2});
    start.textContent = "-" + Math.round(n / 60) + " min";
    const end = svgNode("text", {x: W - 4, y: H - 2, "text-anchor": "end"});
    end.textContent = "now";
    svg.append(top, zero, start, end);
    return {x, y};
  }
  function lineChart(container, series, n) {
    const svg = svgNode("svg", {viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img"});
    const max = niceMax(Math.max(1, ...series.flatMap((s) => s.values)));
    const {x, y} = frame(svg, max, n);
    for (const s of series) {
      const d = s.values.map((v, i) => (i ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1)).join("");
      svg.appendChild(svgNode("path", {d, class: "line " + s.cls, "data-series": s.name}));
    }
    container.replaceChildren(svg);
  }
  function stackedChart(container, series, n) {
    const svg = svgNode("svg", {viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img"});
    const totals = new Array(n).fill(0);
    for (const s of series) s.values.forEach((v, i) => { totals[i] += v; });
    const max = niceMax(Math.max(1, ...totals));
    const {x, y} = frame(svg, max, n);
    const base = new Array(n).fill(0);
    for (const s of series) {
      const upper = s.values.map((v, i) => base[i] + v);
      const top = upper.map((v, i) => (i ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1)).join("");
      const bottom = base.map((v, i) => "L" + x(i).toFixed(1) + " " + y(v).toFixed(1)).reverse().join("");
      svg.appendChild(svgNode("path", {d: top + bottom + "Z", class: "area " + s.cls, "data-series": s.name}));
      upper.forEach((v, i) => { base[i] = v; });
    }
    container.replaceChildren(svg);
  }
  function legend(list, series) {
    list.replaceChildren(...series.map((s) => {
      const li = el("li", null, s.cls);
      li.appendChild(el("span", s.name));
      return li;
    }));
  }

  // ---- panels ----
  const reasonColours = new Map();
  function reasonClass(reason) {
    if (!reasonColours.has(reason)) reasonColours.set(reason, "c" + (1 + reasonColours.size % 9));
    return reasonColours.get(reason);
  }
  function sum(arrays, n) {
    const out = new Array(n).fill(0);
    for (const values of arrays) values.forEach((v, i) => { out[i] += v; });
    return out;
  }
  function recentRate(values) {
    const tail = values.slice(-10);
    return (tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length)).toFixed(1);
  }

  function renderStats(stats) {
    const n = stats.seconds;
    const accepted = sum(stats.routes.map((r) => r.accepted), n);
    const rejected = sum(Object.values(stats.reasons), n);
    const traffic = [{name: "handshakes/s", values: accepted, cls: "c0"}, {name: "rejections/s", values: rejected, cls: "c1"}];
    lineChart($("chart-traffic"), traffic, n);
    legend($("legend-traffic"), traffic);
    const reasons = Object.keys(stats.reasons).sort().map((reason) => ({name: reason, values: stats.reasons[reason], cls: reasonClass(reason)}));
    stackedChart($("chart-reasons"), reasons, n);
    legend($("legend-reasons"), reasons.length ? reasons : [{name: "no rejections", cls: "c6"}]);
    fill($("routes-now").tBodies[0], stats.routes.map((r) => {
      const rejectedHere = sum(Object.values(r.rejected), n);
      return row([el("td", r.route), el("td", r.open, "num"), el("td", recentRate(r.accepted), "num"), el("td", recentRate(rejectedHere), "num")]);
    }), "no routes", 4);
  }

  function renderSessions(listing) {
    $("session-count").textContent = listing.count === listing.sessions.length ? `${listing.count} open` : `${listing.count} open, ${listing.sessions.length} shown`;
    fill($("session-table").tBodies[0], listing.sessions.map((s) => {
      const button = el("button", "Revoke", "danger revoke");
      button.type = "button";
      button.dataset.session = s.id;
      button.addEventListener("click", () => askRevoke(s));
      const tr = row([el("td", s.sub || "–"), el("td", s.route), el("td", s.client), el("td", time(s.opened_at)),
                      el("td", time(s.exp)), el("code", s.id), el("td", s.instance || ""), button]);
      tr.dataset.session = s.id;
      return tr;
    }), "no live sessions match", 8);
  }

  function verifyCommands(r) {
    const details = document.createElement("details");
    details.appendChild(el("summary", "wsgate verify"));
    const seconds = Math.floor(Date.parse(r.time) / 1000);
    const route = r.route && r.route !== "-" ? r.path || r.route : r.path;
    let verify = "wsgate verify --config wsgate.yaml";
    if (route) verify += " --route " + shellQuote(route);
    if (Number.isFinite(seconds)) verify += " --now " + seconds;
    details.appendChild(el("code", verify + " -  # paste the client's token"));
    if (r.token_fp) details.appendChild(el("code", "wsgate rejections --config wsgate.yaml --token-fp " + shellQuote(r.token_fp)));
    return details;
  }

  function renderRejections() {
    const reason = $("filter-reason").value;
    const route = $("filter-route").value.trim();
    const sub = $("filter-sub").value.trim();
    const client = $("filter-client").value.trim();
    const shown = rejections.filter((r) => (!reason || r.reason === reason) && (!route || (r.route || "").includes(route) || (r.path || "").includes(route))
      && (!sub || (r.sub || "").includes(sub)) && (!client || (r.client || "").includes(client)));
    $("rejection-count").textContent = `${shown.length} of the last ${rejections.length}`;
    fill($("rejection-table").tBodies[0], shown.slice().reverse().map((r) => row([
      el("td", r.time.replace("T", " ").replace("Z", " UTC")), el("td", r.status, "num"), el("td", r.reason), el("td", r.route || "–"),
      el("td", r.client || "–"), el("td", r.sub || "–"), el("td", r.detail || ""), verifyCommands(r),
    ])), "no rejections match", 8);
    const select = $("filter-reason");
    const known = new Set([...select.options].map((o) => o.value));
    for (const r of rejections) if (!known.has(r.reason)) { known.add(r.reason); select.appendChild(el("option", r.reason)); }
  }

  function renderKeys(keys) {
    fill($("local-keys").tBodies[0], keys.local.map((k) => row([el("td", k.kid || "(no kid)"), el("td", k.type), el("td", k.algorithms.join(", "))])),
      "no local keys", 3);
    fill($("remote-keys").tBodies[0], keys.remote.map((set) => {
      const errors = set.last_error ? `${set.failures} failed: ${set.last_error}` : "none";
      return row([el("code", set.url), el("td", set.keys.map((k) => `${k.kid || "(no kid)"} (${k.algorithms.join(", ")})`).join("; ") || "none"),
                  el("td", time(set.last_attempt !== undefined ? set.last_attempt : set.installed_at)), el("td", time(set.next_fetch)),
                  el("td", errors, set.last_error ? "error" : "")]);
    }), "no remote key sets", 5);
  }

  function renderConfig(cfg) {
    $("instance").textContent = `${cfg.instance} · up since ${time(cfg.started_at)}`;
    fill($("route-table").tBodies[0], cfg.routes.map((r) => row([
      el("code", r.path), el("td", r.auth), el("td", r.upstreams.join(", ")),
      el("td", Object.entries(r.claims_to_headers).map(([c, h]) => `${c} → ${h}`).join(", ") || "–"),
      el("td", r.max_connections === undefined ? "–" : r.max_connections, "num"),
      el("td", r.token_refresh ? `notify ${ms(r.token_refresh.notify_before_ms)}, grace ${ms(r.token_refresh.grace_ms)}` : "off"),
    ])), "no routes", 6);
    const l = cfg.limits;
    const items = [
      ["max connections", l.max_connections], ["per subject", l.max_connections_per_subject ?? "no cap"],
      ["handshakes per IP per second", l.max_handshakes_per_ip_per_second ?? "no limit"],
      ["handshake timeout", ms(l.handshake_timeout_ms)], ["upstream timeout", ms(l.upstream_timeout_ms)],
      ["idle timeout", ms(l.idle_timeout_ms)], ["drain timeout", ms(l.drain_timeout_ms)], ["keep-alive ping", ms(l.keepalive_interval_ms)],
      ["max header", bytes(l.max_header_bytes)], ["max frame", bytes(l.max_frame_bytes)], ["max message", bytes(l.max_message_bytes)],
      ["admin authentication", cfg.admin.authentication ? "on" : "off"],
      ["verified-token cache", cfg.auth.token_cache_size ? `${cfg.auth.token_cache_size} per event loop` : "off"],
      ["tokens without kid", cfg.auth.try_all_keys ? "tried against every key" : "first key of their algorithm"],
    ];
    $("limits").replaceChildren(...items.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
    $("cluster").hidden = !cfg.cluster;
  }

  async function refreshCluster() {
    const answer = await api("/cluster/instances");
    fill($("cluster-table").tBodies[0], (answer.instances || []).map((i) => row([
      el("td", i.name), el("code", i.admin_url || ""), el("td", time(i.started_at)), el("td", time(i.heartbeat_at)),
    ])), "no instances", 4);
  }

  function sessionQuery() {
    const params = new URLSearchParams({limit: "500"});
    const sub = $("session-sub").value.trim();
    const route = $("session-route").value.trim();
    if (sub) params.set("sub", sub);
    if (route) params.set("route", route);
    return "/sessions?" + params.toString();
  }

  async function refreshSessions() {
    renderSessions(await api(sessionQuery()));
  }

  async function poll() {
    timer = null;
    try {
      const slow = polls % SLOW_EVERY === 0;
      const [stats, listing, recent, keys, cfg] = await Promise.all([
        api("/api/stats"), api(sessionQuery()), api("/rejections?limit=500"),
        slow ? api("/api/keys") : null, slow ? api("/api/config") : null,
      ]);
      renderStats(stats);
      renderSessions(listing);
      rejections = recent;
      renderRejections();
      if (keys) renderKeys(keys);
      if (cfg) { config = cfg; renderConfig(cfg); }
      if (slow && config && config.cluster) await refreshCluster();
      polls += 1;
      setStatus("updated " + time(Date.now() / 1000).slice(11));
    } catch (error) {
      if (error instanceof Unauthorized) return showLogin("The admin listener refused the token (" + error.message + ").");
      setStatus("update failed: " + error.message, true);
    }
    timer = setTimeout(poll, POLL_MS);
  }

  // ---- revoke ----
  function askRevoke(session) {
    pendingRevoke = session;
    $("revoke-what").textContent = `${session.sub || "(no sub)"} on ${session.route} from ${session.client} (session ${session.id})`;
    $("revoke-dialog").showModal();
    $("revoke-reason").focus();
  }
  async function confirmRevoke() {
    const session = pendingRevoke;
    pendingRevoke = null;
    $("revoke-dialog").close();
    if (!session) return;
    try {
      const reason = $("revoke-reason").value.trim() || "revoked by operator";
      const answer = await api("/sessions/revoke", {method: "POST", body: JSON.stringify({session: session.id, reason})});
      setStatus(`revoked ${session.sub || session.id}: ${answer.closed} closed`);
      await refreshSessions();
    } catch (error) {
      if (error instanceof Unauthorized) return showLogin("The admin listener refused the token (" + error.message + ").");
      setStatus("revoke failed: " + error.message, true);
    }
  }

  // ---- token ----
  function showLogin(message) {
    if (timer) { clearTimeout(timer); timer = null; }
    token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    $("main").hidden = true;
    $("forget").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token").focus();
  }
  function showMain() {
    $("login").hidden = true;
    $("main").hidden = false;
    $("forget").hidden = !token;
    polls = 0;
    if (!timer) poll();
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    showMain();
  });
  $("forget").addEventListener("click", () => showLogin(""));
  $("revoke-cancel").addEventListener("click", () => { pendingRevoke = null; $("revoke-dialog").close(); });
  $("revoke-confirm").addEventListener("click", confirmRevoke);
  for (const id of ["filter-reason", "filter-route", "filter-sub", "filter-client"]) $(id).addEventListener("input", renderRejections);
  for (const id of ["session-sub", "session-route"]) $(id).addEventListener("change", () => refreshSessions().catch(() => {}));
  for (const id of ["session-filters", "rejection-filters"]) $(id).addEventListener("submit", (event) => event.preventDefault());

  if (authRequired && !token) showLogin(""); else showMain();
})();
