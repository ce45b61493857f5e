/**
 * `GET /ui` (pgwarden addition): one self-contained dashboard page. It polls this node's `/cluster` and
 * `/history` and redraws members (role, state, timeline, lags, sync state), Citus groups when the node is a
 * coordinator, and recent timeline history. A switchover form posts to `/switchover` with Basic auth taken
 * from the form, so the page holds no credentials of its own and the API's access checks apply unchanged.
 *
 * Everything (markup, style, script) is inline and the Content-Security-Policy forbids loading anything else,
 * so the page works on an isolated network and cannot be made to pull third-party code.
 */
import type { AgentView } from "../agent/status.ts";
import type { ApiResponse } from "./http.ts";

/** Connections only to this API; inline style/script only; no framing. */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'unsafe-inline'",
  "style-src 'unsafe-inline'",
  "img-src data:",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** `GET /ui`: the page; `?refresh=<seconds>` sets the poll interval (default 2, 0.2 to 60). */
export function getUi(view: AgentView, query: URLSearchParams): ApiResponse {
  const asked = Number(query.get("refresh") ?? "2");
  const refreshMs = Math.round(Math.min(60, Math.max(0.2, Number.isFinite(asked) ? asked : 2)) * 1000);
  const title = `${view.config.scope} · pgwarden`;
  const values: Record<string, string> = {
    TITLE: escapeHtml(title),
    SCOPE: escapeHtml(view.config.scope),
    NODE: escapeHtml(view.config.name),
    REFRESH_MS: String(refreshMs),
  };
  // A replacer function: names may contain `$`, which a replacement string would interpret.
  const body = PAGE.replace(/__([A-Z_]+)__/g, (all, k: string) => values[k] ?? all);
  return {
    status: 200,
    body,
    contentType: "text/html; charset=utf-8",
    headers: {
      "Content-Security-Policy": UI_CSP,
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
    },
  };
}

// The script only ever writes untrusted values through textContent/value, never as markup.
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>__TITLE__</title>
<style>
  :root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f6f7f9; --card:#fff; --lead:#0b6e4f;
          --sync:#1d4ed8; --warn:#b54708; --bad:#b42318; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg);
         background:var(--bg); }
  header { display:flex; gap:16px; align-items:baseline; flex-wrap:wrap; padding:14px 24px;
           background:#101828; color:#fff; }
  header h1 { font-size:18px; margin:0; }
  header .meta { color:#d0d5dd; }
  main { padding:16px 24px; display:grid; gap:16px; max-width:1200px; }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
  h2 { font-size:15px; margin:0 0 8px; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.03em; }
  td.num { text-align:right; font-variant-numeric:tabular-nums; }
  .badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600;
           background:#eef2f6; }
  .role-leader, .role-standby_leader { background:#dcfae6; color:var(--lead); }
  .role-sync_standby, .role-quorum_standby { background:#dbeafe; color:var(--sync); }
  .state-bad { color:var(--bad); font-weight:600; }
  .banner { padding:8px 12px; border-radius:6px; }
  .banner.warn { background:#fef0c7; color:var(--warn); }
  .banner.error { background:#fee4e2; color:var(--bad); }
  .hidden { display:none; }
  #leader-name { font-weight:700; }
  form { display:flex; gap:10px; flex-wrap:wrap; align-items:end; }
  label { display:grid; gap:2px; font-size:12px; color:var(--muted); }
  input, select, button { font:inherit; padding:5px 8px; border:1px solid #d0d5dd; border-radius:6px; }
  button { background:#101828; color:#fff; cursor:pointer; }
  button[disabled] { opacity:.6; cursor:progress; }
  #switchover-result { margin-top:10px; white-space:pre-wrap; }
  #switchover-result.ok { color:var(--lead); }
  #switchover-result.error { color:var(--bad); font-weight:600; }
  .muted { color:var(--muted); }
</style>
</head>
<body>
<header>
  <h1>pgwarden · <span id="scope">__SCOPE__</span></h1>
  <span class="meta">leader: <span id="leader-name">—</span></span>
  <span class="meta">served by <span id="node">__NODE__</span></span>
  <span class="meta" id="updated">loading…</span>
</header>
<main>
  <div id="conn-error" class="banner error hidden" role="alert"></div>
  <div id="pause" class="banner warn hidden">Maintenance mode: on (automatic failover is disabled)</div>
  <div id="scheduled" class="banner warn hidden"></div>
  <div id="groups"></div>
  <section>
    <h2>Recent history</h2>
    <table id="history">
      <thead><tr><th>TL</th><th>LSN</th><th>Reason</th><th>Timestamp</th><th>New leader</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="history-empty" class="muted hidden">No timeline changes yet.</p>
  </section>
  <section>
    <h2>Switchover</h2>
    <form id="switchover-form" autocomplete="off">
      <label>API user <input id="sw-user" name="username" autocomplete="username"></label>
      <label>API password <input id="sw-password" name="password" type="password"
        autocomplete="current-password"></label>
      <label>From leader <input id="sw-leader" name="leader" readonly></label>
      <label>To candidate <select id="sw-candidate" name="candidate"></select></label>
      <label>At (optional, ISO 8601 with zone) <input id="sw-at" name="scheduled_at"
        placeholder="2030-01-01T12:00:00+00:00"></label>
      <button id="sw-submit" type="submit">Switch over</button>
    </form>
    <div id="switchover-result" role="status"></div>
  </section>
</main>
<script>
"use strict";
const REFRESH_MS = __REFRESH_MS__;
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};
const fmtLsn = (n) => {
  if (typeof n !== "number") return n == null ? "" : String(n);
  return Math.floor(n / 4294967296).toString(16).toUpperCase() + "/" + (n % 4294967296).toString(16).toUpperCase();
};
const fmtBytes = (v) => {
  if (v === undefined || v === null) return "";
  if (typeof v !== "number") return String(v);
  const units = ["B", "kB", "MB", "GB", "TB"];
  let x = v, i = 0;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return (i === 0 ? String(x) : x.toFixed(1)) + " " + units[i];
};
const syncState = (m) => m.role === "leader" || m.role === "standby_leader" ? "—"
  : m.role === "sync_standby" ? "sync" : m.role === "quorum_standby" ? "quorum" : "async";
const GOOD_STATES = new Set(["running", "streaming"]);

function memberTable(members) {
  const head = el("tr", {}, ...["Member", "Host", "Role", "State", "TL", "Lag", "Receive lag", "Replay lag",
    "Sync", "Tags"].map((h) => el("th", {}, h)));
  const body = el("tbody");
  for (const m of members) {
    const host = m.host ? (m.port ? m.host + ":" + m.port : m.host) : "";
    const tags = m.tags ? Object.entries(m.tags).map(([k, v]) => k + "=" + JSON.stringify(v)).join(" ") : "";
    const state = (m.state || "") + (m.pending_restart ? " (pending restart)" : "");
    body.append(el("tr", { "data-member": m.name, "data-role": m.role },
      el("td", { class: "name" }, m.name),
      el("td", {}, host),
      el("td", {}, el("span", { class: "badge role role-" + m.role }, m.role)),
      el("td", { class: "state" + (GOOD_STATES.has(m.state) ? "" : " state-bad") }, state),
      el("td", { class: "num tl" }, m.timeline ?? ""),
      el("td", { class: "num lag" }, fmtBytes(m.lag)),
      el("td", { class: "num" }, fmtBytes(m.receive_lag)),
      el("td", { class: "num" }, fmtBytes(m.replay_lag)),
      el("td", { class: "sync" }, syncState(m)),
      el("td", { class: "muted" }, tags)));
  }
  return el("table", { class: "members" }, el("thead", {}, head), body);
}

let lastCluster = null;

function renderCluster(c) {
  lastCluster = c;
  const groups = [{ group: null, members: c.members }];
  for (const g of c.citus_groups ?? []) groups.push(g);
  const citus = groups.length > 1;
  const box = $("groups");
  box.replaceChildren(...groups.map((g) => {
    const title = !citus ? "Members" : g.group === null ? "Group 0 (coordinator)" : "Group " + g.group;
    return el("section", { class: "group", "data-group": g.group === null ? (citus ? "0" : "") : String(g.group) },
      el("h2", {}, title), memberTable(g.members));
  }));
  const leader = c.members.find((m) => m.role === "leader" || m.role === "standby_leader");
  $("leader-name").textContent = leader ? leader.name : "none";
  $("pause").classList.toggle("hidden", !c.pause);
  const s = c.scheduled_switchover;
  $("scheduled").classList.toggle("hidden", !s);
  $("scheduled").textContent = s ? "Switchover scheduled at " + s.at + (s.from ? " from " + s.from : "") +
    (s.to ? " to " + s.to : "") : "";
  // Keep what the operator picked while the options refresh.
  $("sw-leader").value = leader ? leader.name : "";
  const sel = $("sw-candidate");
  const picked = sel.value;
  const options = [el("option", { value: "" }, "any healthy replica")];
  for (const m of c.members) if (m !== leader) options.push(el("option", { value: m.name }, m.name));
  sel.replaceChildren(...options);
  if ([...sel.options].some((o) => o.value === picked)) sel.value = picked;
}

function renderHistory(h) {
  const rows = Array.isArray(h) ? h.slice(-10).reverse() : [];
  $("history").querySelector("tbody").replaceChildren(...rows.map((e) => el("tr", {},
    el("td", { class: "num" }, e[0]), el("td", {}, fmtLsn(e[1])), el("td", {}, e[2] ?? ""),
    el("td", {}, e[3] ?? ""), el("td", {}, e[4] ?? ""))));
  $("history-empty").classList.toggle("hidden", rows.length > 0);
}

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store", credentials: "omit" });
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()).slice(0, 200));
  return await r.json();
}

async function poll() {
  try {
    const [c, h] = await Promise.all([getJson("/cluster"), getJson("/history")]);
    renderCluster(c);
    renderHistory(h);
    $("conn-error").classList.add("hidden");
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("conn-error").textContent = "Cannot refresh from this node: " + e.message;
    $("conn-error").classList.remove("hidden");
  } finally {
    setTimeout(poll, REFRESH_MS);
  }
}

function basic(user, password) {
  const bytes = new TextEncoder().encode(user + ":" + password);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return "Basic " + btoa(bin);
}

$("switchover-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("switchover-result");
  const btn = $("sw-submit");
  const body = { leader: $("sw-leader").value };
  if ($("sw-candidate").value) body.candidate = $("sw-candidate").value;
  if ($("sw-at").value.trim()) body.scheduled_at = $("sw-at").value.trim();
  const headers = { "Content-Type": "application/json" };
  const user = $("sw-user").value;
  if (user || $("sw-password").value) headers.Authorization = basic(user, $("sw-password").value);
  out.className = "";
  out.textContent = "Switching over from " + body.leader + "…";
  btn.disabled = true;
  try {
    // credentials: "omit" keeps the browser from popping its own login dialog on 401.
    const r = await fetch("/switchover", { method: "POST", headers, body: JSON.stringify(body),
      credentials: "omit", cache: "no-store" });
    const text = (await r.text()).trim();
    out.dataset.status = String(r.status);
    if (r.status === 401) {
      out.className = "error";
      out.textContent = "401 Unauthorized: the REST API refused these credentials (" + text + ")";
    } else {
      out.className = r.ok ? "ok" : "error";
      out.textContent = r.status + " " + text;
    }
  } catch (e) {
    out.dataset.status = "0";
    out.className = "error";
    out.textContent = "Request failed: " + e.message;
  } finally {
    btn.disabled = false;
  }
});

poll();
</script>
</body>
</html>
`;
