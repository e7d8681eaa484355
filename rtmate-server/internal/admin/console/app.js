// The RTMate admin console: plain ES modules, no build step. Every figure comes from the
// admin API (/admin/api/, bearer token kept in sessionStorage for this tab only).
import { barChart, fmt, lineChart, sparkline } from "./chart.js";

const main = document.getElementById("main");
const TOKEN_KEY = "rtmate-admin-token";
let token = sessionStorage.getItem(TOKEN_KEY) || "";

// ---- API ----------------------------------------------------------------------------------

class APIError extends Error {
  constructor(status, env) {
    super((env?.data?.errors || [env?.message || `HTTP ${status}`]).join("; "));
    this.status = status;
    this.problems = env?.data?.errors || [];
  }
}

async function api(method, path, body) {
  const r = await fetch(`api/${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const env = await r.json().catch(() => null);
  if (r.status === 401 && sessionStorage.getItem(TOKEN_KEY)) {
    // The token was revoked (or the server restarted with another): back to the login.
    logout();
    throw new APIError(401, env);
  }
  if (!r.ok) throw new APIError(r.status, env);
  return env.data;
}

// ---- live stream: one per tab, fanned out to the page's listeners --------------------------

const listeners = new Set();
let streamAbort = null;

async function runStream() {
  streamAbort?.abort();
  const ctl = new AbortController();
  streamAbort = ctl;
  while (!ctl.signal.aborted && token) {
    try {
      const r = await fetch("api/stream", { headers: { Authorization: `Bearer ${token}` }, signal: ctl.signal });
      if (!r.ok) throw new Error(`stream: HTTP ${r.status}`);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = ev.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) {
            const frame = JSON.parse(data);
            for (const f of listeners) f(frame);
          }
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function onFrame(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

// ---- helpers ------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "testid") e.dataset.testid = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  e.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return e;
}

function svg(cls, testid, label) {
  const s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  s.setAttribute("class", cls);
  s.setAttribute("role", "img");
  if (label) s.setAttribute("aria-label", label);
  if (testid) s.dataset.testid = testid;
  return s;
}

function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 2500);
}

function errorList(err) {
  return h("ul", { class: "errors", role: "alert", testid: "errors" }, ...(err.problems?.length ? err.problems : [err.message]).map((p) => h("li", {}, p)));
}

/** guarded runs f and shows its error next to the form instead of losing it. */
function guarded(box, f) {
  return async (ev) => {
    ev?.preventDefault?.();
    box.replaceChildren();
    try {
      await f();
    } catch (e) {
      box.append(errorList(e));
    }
  };
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied");
  } catch {
    toast("Select the text and copy it");
  }
}

function secretBox(label, value, testid) {
  return h("div", { class: "card" },
    h("p", {}, `${label} — shown once, keep it now:`),
    h("p", { class: "secret", testid }, value),
    h("button", { type: "button", class: "secondary", onclick: () => copy(value) }, "Copy"));
}

// A page registers its stream listeners in pending while it is built; page() shows it and
// removes the previous page's.
let cleanup = [];
let pending = [];
function page(...children) {
  for (const f of cleanup) f();
  cleanup = pending;
  pending = [];
  main.replaceChildren(...children);
  main.focus({ preventScroll: true });
}

// ---- login --------------------------------------------------------------------------------

function logout() {
  token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  streamAbort?.abort();
  document.querySelector("nav").hidden = true;
  showLogin();
}
document.getElementById("logout").addEventListener("click", logout);

function showLogin() {
  const input = h("input", { type: "password", id: "token", autocomplete: "current-password", required: true, testid: "login-token" });
  const errs = h("div");
  const form = h("form", { class: "card login", testid: "login-form" },
    h("h1", {}, "Log in"),
    h("label", { for: "token" }, "Admin token", input),
    h("p", {}, h("button", { type: "submit", testid: "login-button" }, "Log in")),
    errs);
  form.addEventListener("submit", guarded(errs, async () => {
    token = input.value.trim();
    const who = await api("GET", "whoami").catch((e) => {
      token = "";
      throw e;
    });
    sessionStorage.setItem(TOKEN_KEY, token);
    toast(`Logged in as ${who.name}`);
    start();
  }));
  page(form);
  input.focus();
}

function start() {
  document.querySelector("nav").hidden = false;
  runStream();
  if (!location.hash || location.hash === "#/") location.hash = "#/apps";
  else route();
}

// ---- apps ---------------------------------------------------------------------------------

async function showApps() {
  const { apps } = await api("GET", "apps");
  const rows = new Map();
  const tbody = h("tbody");
  for (const a of apps) {
    const spark = svg("spark", undefined, `messages per second of ${a.id}`);
    const conns = h("td", { class: "num", testid: "app-connections" }, String(a.connections));
    const rate = h("td", { class: "num hide-small" }, "0");
    rows.set(a.id, { spark, conns, rate, points: [] });
    tbody.append(h("tr", { testid: "app-row", "data-app": a.id },
      h("td", {}, h("a", { href: `#/apps/${encodeURIComponent(a.id)}` }, a.id), " ",
        h("span", { class: `badge ${a.source}` }, a.source), a.disabled ? h("span", { class: "badge off" }, "disabled") : null),
      conns, rate, h("td", { class: "hide-small" }, spark)));
  }
  pending.push(onFrame((f) => {
    for (const [id, r] of rows) {
      const p = f.apps[id] || { connections: 0, in: 0, out: 0 };
      r.conns.textContent = String(p.connections);
      r.rate.textContent = fmt(p.in + p.out);
      r.points.push([f.t, p.in + p.out]);
      if (r.points.length > 120) r.points.shift();
      sparkline(r.spark, r.points);
    }
  }));

  const errs = h("div");
  const created = h("div");
  const id = h("input", { id: "new-id", placeholder: "generated when empty", testid: "new-app-id", pattern: "[A-Za-z0-9_.\\-]{1,64}" });
  const form = h("form", { class: "inline", testid: "create-form" },
    h("label", { for: "new-id" }, "App id", id),
    h("button", { type: "submit", testid: "create-app" }, "Create app"));
  form.addEventListener("submit", guarded(errs, async () => {
    const res = await api("POST", "apps", id.value.trim() ? { id: id.value.trim() } : {});
    created.replaceChildren(
      h("p", {}, "Created ", h("a", { href: `#/apps/${encodeURIComponent(res.app.id)}`, testid: "created-link" }, res.app.id)),
      secretBox(`HS256 secret (kid ${res.kid})`, res.secret, "created-secret"),
      secretBox("API key", res.api_key, "created-api-key"));
    toast(`App ${res.app.id} created`);
  }));
  page(
    h("h1", {}, "Apps"),
    h("section", {}, h("h2", {}, "New app"), form, errs, created),
    h("section", {}, h("div", { class: "table-wrap" }, h("table", { testid: "apps-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "App"), h("th", { class: "num" }, "Connections"), h("th", { class: "num hide-small" }, "msg/s"), h("th", { class: "hide-small" }, "last 2 min"))),
      tbody))));
}

// ---- one app ------------------------------------------------------------------------------

async function showApp(id) {
  const app = await api("GET", `apps/${encodeURIComponent(id)}`);
  const ro = app.source === "config";
  const enc = encodeURIComponent(id);
  const sections = [];

  // Live chart of the last hour.
  const chart = svg("chart", "live-chart", "connections and messages per second over the last hour");
  const liveConns = h("span", { testid: "live-connections" }, String(app.connections));
  const series = { c: [], i: [], o: [] };
  const draw = () => {
    const now = Math.floor(Date.now() / 1000);
    lineChart(chart, [
      { points: series.c, cls: "l-conn", axis: "left" },
      { points: series.i, cls: "l-in", axis: "right" },
      { points: series.o, cls: "l-out", axis: "right" },
    ], now - 3600, now);
    chart.dataset.connections = String(series.c.at(-1)?.[1] ?? 0);
  };
  if (!app.disabled) {
    const s = await api("GET", `apps/${enc}/series`);
    for (const p of s.points) {
      series.c.push([p.t, p.connections]); series.i.push([p.t, p.in]); series.o.push([p.t, p.out]);
    }
  }
  pending.push(onFrame((f) => {
    const p = f.apps[id];
    if (!p) return;
    series.c.push([p.t, p.connections]); series.i.push([p.t, p.in]); series.o.push([p.t, p.out]);
    for (const k of ["c", "i", "o"]) while (series[k].length && series[k][0][0] < p.t - 3600) series[k].shift();
    liveConns.textContent = String(p.connections);
    draw();
  }));
  sections.push(h("section", { "aria-labelledby": "live-h" },
    h("h2", { id: "live-h" }, "Last hour"),
    h("p", {}, "Connections now: ", liveConns),
    h("div", { class: "legend" }, h("span", { class: "l-conn" }, "connections (left)"), h("span", { class: "l-in" }, "messages in/s"), h("span", { class: "l-out" }, "messages out/s")),
    chart));

  // Keys.
  const keyErrs = h("div"), keyOut = h("div");
  const keyRows = app.keys.map((k) => h("tr", { testid: "key-row", "data-kid": k.kid },
    h("td", { class: "mono" }, k.kid || "(no kid)"), h("td", {}, k.alg || ""), h("td", {}, k.type),
    h("td", {}, ro || !k.kid ? null : h("button", { type: "button", class: "danger", testid: "revoke-key", onclick: guarded(keyErrs, async () => {
      if (!confirm(`Revoke key ${k.kid}? Tokens signed with it stop working.`)) return;
      await api("DELETE", `apps/${enc}/keys/${encodeURIComponent(k.kid)}`);
      toast(`Key ${k.kid} revoked`);
      route();
    }) }, "Revoke"))));
  const pubKey = h("textarea", { id: "pubkey", placeholder: "PEM public key or JWKS document (empty: new HS256 secret)", testid: "key-material" });
  sections.push(h("section", {},
    h("h2", {}, "Signing keys"),
    h("div", { class: "table-wrap" }, h("table", { testid: "keys-table" }, h("thead", {}, h("tr", {}, h("th", {}, "kid"), h("th", {}, "alg"), h("th", {}, "type"), h("th", {}, ""))), h("tbody", {}, keyRows))),
    ro ? h("p", { class: "muted" }, "Defined in the config file: read-only here.") : h("div", {},
      h("p", { class: "muted" }, "Rotate: add a key, move your token issuer to it, then revoke the old one. Both work in between."),
      h("label", { for: "pubkey" }, "New key", pubKey),
      h("p", {}, h("button", { type: "button", testid: "add-key", onclick: guarded(keyErrs, async () => {
        const m = pubKey.value.trim();
        const body = !m ? {} : m.startsWith("{") ? { jwks: m } : { public_key: m };
        const res = await api("POST", `apps/${enc}/keys`, body);
        keyOut.replaceChildren(res.secret ? secretBox(`HS256 secret (kid ${res.kid})`, res.secret, "new-key-secret") : h("p", {}, `Key ${res.kid || ""} added`));
        keyOut.dataset.kid = res.kid || "";
        toast("Key added");
        await refreshKeys();
      }) }, "Add key / rotate"))),
    keyErrs, keyOut));
  async function refreshKeys() {
    const a = await api("GET", `apps/${enc}`);
    const tbody = main.querySelector('[data-testid="keys-table"] tbody');
    tbody.replaceChildren(...a.keys.map((k) => h("tr", { testid: "key-row", "data-kid": k.kid },
      h("td", { class: "mono" }, k.kid || "(no kid)"), h("td", {}, k.alg || ""), h("td", {}, k.type),
      h("td", {}, h("button", { type: "button", class: "danger", testid: "revoke-key", onclick: guarded(keyErrs, async () => {
        await api("DELETE", `apps/${enc}/keys/${encodeURIComponent(k.kid)}`);
        toast(`Key ${k.kid} revoked`);
        await refreshKeys();
      }) }, "Revoke")))));
  }

  // API keys.
  const akErrs = h("div"), akOut = h("div");
  sections.push(h("section", {},
    h("h2", {}, "API keys"),
    h("ul", { testid: "api-keys" }, app.api_keys.map((k) => h("li", {}, h("code", {}, k.hint), " ", h("span", { class: "muted" }, k.id), " ",
      ro ? null : h("button", { type: "button", class: "danger", onclick: guarded(akErrs, async () => {
        if (!confirm("Revoke this API key?")) return;
        await api("DELETE", `apps/${enc}/api-keys/${k.id}`);
        route();
      }) }, "Revoke")))),
    ro ? null : h("button", { type: "button", class: "secondary", testid: "add-api-key", onclick: guarded(akErrs, async () => {
      const res = await api("POST", `apps/${enc}/api-keys`, {});
      akOut.replaceChildren(secretBox("API key", res.api_key, "new-api-key"));
    }) }, "New API key"),
    akErrs, akOut));

  // Token generator.
  const tSub = h("input", { id: "t-sub", value: "user-1", testid: "token-sub" });
  const tCh = h("input", { id: "t-ch", placeholder: "all channels", testid: "token-channels" });
  const tTTL = h("input", { id: "t-ttl", type: "number", min: 1, value: 3600, testid: "token-ttl" });
  const tKid = h("select", { id: "t-kid", testid: "token-kid" }, h("option", { value: "" }, "newest key"), ...app.keys.filter((k) => k.type === "secret" && k.kid).map((k) => h("option", { value: k.kid }, k.kid)));
  const tOut = h("div"), tErrs = h("div");
  const tForm = h("form", { class: "inline", testid: "token-form" },
    h("label", { for: "t-sub" }, "sub (user id)", tSub),
    h("label", { for: "t-ch" }, "channels (comma separated)", tCh),
    h("label", { for: "t-ttl" }, "ttl (s)", tTTL),
    h("label", { for: "t-kid" }, "key", tKid),
    h("button", { type: "submit", testid: "make-token" }, "Generate token"));
  tForm.addEventListener("submit", guarded(tErrs, async () => {
    const channels = tCh.value.split(",").map((s) => s.trim()).filter(Boolean);
    const res = await api("POST", `apps/${enc}/token`, { sub: tSub.value.trim(), channels: channels.length ? channels : undefined, ttl: Number(tTTL.value), kid: tKid.value || undefined });
    tOut.replaceChildren(h("p", { class: "secret", testid: "token-output", "data-kid": res.kid }, res.token),
      h("button", { type: "button", class: "secondary", testid: "copy-token", onclick: () => copy(res.token) }, "Copy token"),
      h("p", { class: "muted" }, `kid ${res.kid || "-"}, expires ${new Date(res.exp * 1000).toLocaleString()}`));
  }));
  sections.push(h("section", {}, h("h2", {}, "Token generator"), tForm, tErrs, tOut));

  // Publish box.
  const pCh = h("input", { id: "p-ch", value: "news", testid: "publish-channel" });
  const pData = h("textarea", { id: "p-data", testid: "publish-data" }, '{"text":"hello"}');
  const pErrs = h("div");
  const pForm = h("form", { testid: "publish-form" },
    h("div", { class: "row" }, h("label", { for: "p-ch" }, "Channel", pCh)),
    h("label", { for: "p-data" }, "Data (JSON)", pData),
    h("p", {}, h("button", { type: "submit", testid: "publish" }, "Publish")));
  pForm.addEventListener("submit", guarded(pErrs, async () => {
    let data;
    try { data = JSON.parse(pData.value); } catch (e) { throw new APIError(400, { data: { errors: [`data is not JSON: ${e.message}`] } }); }
    await api("POST", `apps/${enc}/publish`, { channel: pCh.value.trim(), data });
    toast(`Published to ${pCh.value.trim()}`);
  }));
  sections.push(h("section", {}, h("h2", {}, "Publish"), pForm, pErrs));

  // Channels and presence.
  const chBody = h("tbody"), presOut = h("div"), presErrs = h("div");
  const presCh = h("input", { id: "pres-ch", placeholder: "presence-room", testid: "presence-channel" });
  async function loadChannels() {
    const res = await api("GET", `apps/${enc}/channels`);
    chBody.replaceChildren(...res.channels.map((c) => h("tr", { testid: "channel-row", "data-channel": c.channel },
      h("td", { class: "mono" }, c.channel), h("td", { class: "num" }, String(c.subscribers)),
      h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => { presCh.value = c.channel; showPresence(); } }, "Presence")))));
    if (!res.channels.length) chBody.append(h("tr", {}, h("td", { colspan: 3, class: "muted" }, "No channel has subscribers on this node.")));
  }
  const showPresence = guarded(presErrs, async () => {
    const res = await api("GET", `apps/${enc}/presence?channel=${encodeURIComponent(presCh.value.trim())}`);
    presOut.replaceChildren(h("p", {}, `${res.count} member(s)`),
      h("ul", { testid: "presence-members" }, res.members.map((m) => h("li", {}, h("code", {}, m.user_id || "(anonymous)"), " ", h("span", { class: "muted" }, m.client_id)))));
  });
  const presForm = h("form", { class: "inline" }, h("label", { for: "pres-ch" }, "Presence of channel", presCh), h("button", { type: "submit", class: "secondary" }, "Show"));
  presForm.addEventListener("submit", showPresence);
  sections.push(h("section", {},
    h("h2", {}, "Channels"),
    h("p", {}, h("button", { type: "button", class: "secondary", testid: "refresh-channels", onclick: loadChannels }, "Refresh")),
    h("div", { class: "table-wrap" }, h("table", { testid: "channels-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Channel"), h("th", { class: "num" }, "Subscribers"), h("th", {}, ""))), chBody)),
    presForm, presErrs, presOut));
  if (!app.disabled) loadChannels().catch(() => {});

  // Settings: limits form, origins, presence patterns, webhook, and the rest as JSON.
  if (!ro) {
    const lim = app.settings.limits || {};
    const limInputs = Object.keys(lim).sort().map((k) => {
      const input = h("input", { id: `lim-${k}`, name: k, value: String(lim[k]), testid: `limit-${k}` });
      return [k, input, h("label", { for: `lim-${k}` }, k, input)];
    });
    const origins = h("textarea", { id: "origins", testid: "origins" }, (app.settings.allowed_origins || []).join("\n"));
    const presence = h("textarea", { id: "presence-pats", testid: "presence-patterns" }, (app.settings.presence_channels || []).join("\n"));
    const other = { ...app.settings };
    delete other.limits; delete other.allowed_origins; delete other.presence_channels;
    const rest = h("textarea", { id: "other", testid: "other-settings", rows: 8 }, JSON.stringify(other, null, 2));
    const sErrs = h("div");
    const lines = (t) => t.value.split("\n").map((s) => s.trim()).filter(Boolean);
    const sForm = h("form", { testid: "settings-form" },
      h("h2", {}, "Limits"), h("p", { class: "muted" }, "0 means the default; durations like 10s."),
      h("div", { class: "grid" }, limInputs.map((l) => l[2])),
      h("h2", {}, "Allowed origins (one per line, empty: any)"), origins,
      h("h2", {}, "Presence channel patterns (one per line)"), presence,
      h("h2", {}, "Webhook, scripts and other settings (JSON)"), rest,
      h("p", {}, h("button", { type: "submit", testid: "save-settings" }, "Save")));
    sForm.addEventListener("submit", guarded(sErrs, async () => {
      const limits = {};
      for (const [k, input] of limInputs) {
        const v = input.value.trim();
        limits[k] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
      }
      let more;
      try { more = JSON.parse(rest.value || "{}"); } catch (e) { throw new APIError(400, { data: { errors: [`other settings: ${e.message}`] } }); }
      if (more.webhook && more.webhook.secret_set !== undefined) delete more.webhook.secret_set;
      await api("PATCH", `apps/${enc}`, { ...more, limits, allowed_origins: lines(origins), presence_channels: lines(presence) });
      toast("Saved");
    }));
    sections.push(h("section", {}, sForm, sErrs));

    const dErrs = h("div");
    sections.push(h("section", {}, h("h2", {}, "State"),
      h("div", { class: "row" },
        h("button", { type: "button", class: "secondary", testid: "toggle-disabled", onclick: guarded(dErrs, async () => {
          await api("PATCH", `apps/${enc}`, { disabled: !app.disabled });
          route();
        }) }, app.disabled ? "Enable" : "Disable (closes its connections)"),
        h("button", { type: "button", class: "danger", testid: "delete-app", onclick: guarded(dErrs, async () => {
          if (!confirm(`Delete ${id}? Its connections are closed; its usage stays.`)) return;
          await api("DELETE", `apps/${enc}`);
          location.hash = "#/apps";
        }) }, "Delete")), dErrs));
  }

  // Usage.
  const uChart = svg("chart", "usage-chart", "messages per day");
  const uBody = h("tbody");
  const uErrs = h("div");
  const uFrom = h("input", { id: "u-from", type: "date", testid: "usage-from", value: new Date(Date.now() - 30 * 864e5).toISOString().slice(0, 10) });
  const uTo = h("input", { id: "u-to", type: "date", testid: "usage-to", value: new Date(Date.now() + 864e5).toISOString().slice(0, 10) });
  const query = () => `from=${uFrom.value}&to=${uTo.value}&granularity=day`;
  const loadUsage = guarded(uErrs, async () => {
    const u = await api("GET", `apps/${enc}/usage?${query()}`);
    barChart(uChart, u.rows.map((r) => [r.start.slice(0, 10), r.messages_in + r.messages_out]));
    uBody.replaceChildren(...u.rows.map((r) => h("tr", { testid: "usage-row" },
      h("td", {}, r.start.slice(0, 10)), h("td", { class: "num" }, String(r.connection_seconds)), h("td", { class: "num" }, String(r.peak_connections)),
      h("td", { class: "num" }, String(r.messages_in)), h("td", { class: "num" }, String(r.messages_out)),
      h("td", { class: "num hide-small" }, fmt(r.bytes_in)), h("td", { class: "num hide-small" }, fmt(r.bytes_out)), h("td", { class: "num hide-small" }, String(r.calls)))));
    if (!u.rows.length) uBody.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No usage flushed yet (every 10 s).")));
  });
  const download = guarded(uErrs, async () => {
    const r = await fetch(`api/apps/${enc}/usage?${query()}&format=csv`, { headers: { Authorization: `Bearer ${token}` } });
    if (!r.ok) throw new APIError(r.status, await r.json().catch(() => null));
    const url = URL.createObjectURL(await r.blob());
    const a = h("a", { href: url, download: `usage-${id}-${uFrom.value}-${uTo.value}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  const uForm = h("form", { class: "inline" }, h("label", { for: "u-from" }, "From", uFrom), h("label", { for: "u-to" }, "To", uTo),
    h("button", { type: "submit", class: "secondary", testid: "load-usage" }, "Show"),
    h("button", { type: "button", class: "secondary", testid: "download-csv", onclick: download }, "Download CSV"));
  uForm.addEventListener("submit", loadUsage);
  sections.push(h("section", {}, h("h2", {}, "Usage per day (messages in + out)"), uForm, uErrs, uChart,
    h("div", { class: "table-wrap" }, h("table", { testid: "usage-table" }, h("thead", {}, h("tr", {},
      h("th", {}, "Day"), h("th", { class: "num" }, "conn·s"), h("th", { class: "num" }, "peak"), h("th", { class: "num" }, "msgs in"),
      h("th", { class: "num" }, "msgs out"), h("th", { class: "num hide-small" }, "bytes in"), h("th", { class: "num hide-small" }, "bytes out"), h("th", { class: "num hide-small" }, "calls"))), uBody))));

  page(h("h1", { testid: "app-title" }, id, " ", h("span", { class: `badge ${app.source}` }, app.source), app.disabled ? h("span", { class: "badge off" }, "disabled") : null),
    h("p", {}, h("a", { href: "#/apps" }, "← all apps")), ...sections);
  draw();
  loadUsage();
}

// ---- nodes --------------------------------------------------------------------------------

async function showNodes() {
  const { nodes } = await api("GET", "nodes");
  page(h("h1", {}, "Nodes"), h("section", {}, h("div", { class: "table-wrap" }, h("table", { testid: "nodes-table" },
    h("thead", {}, h("tr", {}, ...["Node", "Engine", "Connections", "Channels", "Subscriptions", "Goroutines", "Heap", "Up since"].map((t) => h("th", {}, t)))),
    h("tbody", {}, nodes.map((n) => h("tr", { testid: "node-row" },
      h("td", { class: "mono" }, n.id), h("td", {}, n.engine), h("td", { class: "num" }, String(n.connections)), h("td", { class: "num" }, String(n.channels)),
      h("td", { class: "num" }, String(n.subscriptions)), h("td", { class: "num" }, String(n.goroutines)), h("td", { class: "num" }, fmt(n.heap_bytes) + "B"),
      h("td", {}, new Date(n.started_at * 1000).toLocaleString())))))))); 
}

// ---- router -------------------------------------------------------------------------------

async function route() {
  if (!token) return showLogin();
  const hash = location.hash.slice(1);
  try {
    if (hash.startsWith("/apps/")) await showApp(decodeURIComponent(hash.slice(6)));
    else if (hash === "/nodes") await showNodes();
    else await showApps();
  } catch (e) {
    if (e.status !== 401) page(h("h1", {}, "Error"), errorList(e));
  }
}
window.addEventListener("hashchange", route);

if (token) start();
else showLogin();
