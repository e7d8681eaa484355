// Helpers of the Pusher compatibility suites: build and run the real rtmate-server (in
// development mode or with a YAML config), an authorization endpoint built on the pusher
// server SDK, a webhook receiver, and bounded waiting. Loopback only, free ports only.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";
import { promisify } from "node:util";

import Pusher from "pusher";
import PusherJS from "pusher-js";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, "..", "..", "..");
export const APP_ID = "demo-app";
export const KEY = "demo-key";
export const SECRET = "demo-secret";
export const DEV_JWT_SECRET = "rtmate-dev-secret-change-me";

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "rtmate-pusher-test-"));
const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
});

let built;
/** serverBinary builds rtmate-server once per process; RTMATE_SERVER_BIN names a prebuilt one. */
export function serverBinary() {
  if (process.env.RTMATE_SERVER_BIN) return Promise.resolve(process.env.RTMATE_SERVER_BIN);
  built ??= (async () => {
    const bin = join(tmp, "rtmate-server");
    await run("go", ["build", "-o", bin, "./rtmate-server/cmd/rtmate-server"], {
      cwd: REPO_ROOT,
      timeout: 300_000,
      maxBuffer: 16 << 20,
    });
    return bin;
  })();
  return built;
}

/** freePort asks the kernel for a free loopback port. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** waitFor polls cond until it returns truthy, at most ms. */
export async function waitFor(cond, ms = 5000, what = "condition") {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * startServer runs the real server on a free port: development mode (app demo-app with
 * Pusher key demo-key) unless config, a YAML text whose LISTEN is replaced by the address.
 */
export async function startServer({ config } = {}) {
  const bin = await serverBinary();
  const port = await freePort();
  const args = ["-listen", `127.0.0.1:${port}`];
  if (config) {
    const path = join(tmp, `config-${port}.yaml`);
    writeFileSync(path, config);
    args.push("-config", path);
  }
  const srv = {
    port,
    host: "127.0.0.1",
    http: `http://127.0.0.1:${port}`,
    log: "",
    child: null,
    async start() {
      const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
      children.add(child);
      srv.child = child;
      const append = (b) => {
        srv.log += b.toString();
        if (srv.log.length > 200_000) srv.log = srv.log.slice(-100_000);
      };
      child.stdout.on("data", append);
      child.stderr.on("data", append);
      child.on("exit", () => children.delete(child));
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${srv.log}`);
        try {
          return (await fetch(`${srv.http}/healthz`, { signal: AbortSignal.timeout(1000) })).ok;
        } catch {
          return false;
        }
      }, 20_000, "server /healthz");
    },
    async stop() {
      const child = srv.child;
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
    async restart() {
      await srv.stop();
      await srv.start();
    },
  };
  await srv.start();
  return srv;
}

/** serverSDK is the pusher server SDK pointed at srv. */
export function serverSDK(srv, { appId = APP_ID, key = KEY, secret = SECRET, ...extra } = {}) {
  return new Pusher({ appId, key, secret, host: srv.host, port: String(srv.port), useTLS: false, ...extra });
}

/**
 * useServer registers, in the calling describe block, a server (config: YAML text, or a
 * function returning it, evaluated in before), the pusher SDK pointed at it (sdkOptions) and
 * an authorization endpoint on that SDK; ctx.make makes pusher-js clients disconnected in after.
 */
export function useServer({ config, sdkOptions } = {}) {
  const ctx = { clients: [] };
  before(async () => {
    ctx.srv = await startServer({ config: typeof config === "function" ? config() : config });
    ctx.sdk = serverSDK(ctx.srv, sdkOptions);
    ctx.auth = await authEndpoint(ctx.sdk);
  });
  after(async () => {
    for (const p of ctx.clients) p.disconnect();
    await ctx.auth?.close();
    await ctx.srv?.stop();
  });
  ctx.make = (opts) => {
    const p = client(ctx.srv, { auth: ctx.auth, ...opts });
    ctx.clients.push(p);
    return p;
  };
  return ctx;
}

/**
 * authEndpoint serves pusher-js's channel authorization and user authentication through the
 * pusher SDK's authorizeChannel and authenticateUser, as an app's backend does. users maps a
 * socket's ?user= query (set by the test) to its presence data.
 */
export async function authEndpoint(sdk) {
  const calls = [];
  const server = http.createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    const form = new URLSearchParams(body);
    const url = new URL(req.url, "http://x");
    const socketId = form.get("socket_id");
    const user = url.searchParams.get("user") ?? "anonymous";
    calls.push({ path: url.pathname, socketId, channel: form.get("channel_name"), user });
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Content-Type", "application/json");
    try {
      if (url.pathname === "/pusher/user-auth") {
        res.end(JSON.stringify(sdk.authenticateUser(socketId, { id: user, name: `User ${user}` })));
        return;
      }
      const channel = form.get("channel_name");
      if (url.searchParams.get("deny") === channel) {
        res.statusCode = 403;
        res.end(JSON.stringify({ error: "forbidden" }));
        return;
      }
      const sign = url.searchParams.get("forge") ? new Pusher({ appId: APP_ID, key: KEY, secret: "wrong-secret" }) : sdk;
      const data = channel.startsWith("presence-") ? { user_id: user, user_info: { name: `User ${user}` } } : undefined;
      res.end(JSON.stringify(sign.authorizeChannel(socketId, channel, data)));
    } catch (err) {
      res.statusCode = 500;
      res.end(JSON.stringify({ error: String(err) }));
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, calls, close: () => new Promise((r) => server.close(r)) };
}

/** client makes a pusher-js client for srv, its auth through auth (optional). */
export function client(srv, { auth, user, query = "", key = KEY, ...opts } = {}) {
  const q = new URLSearchParams(query);
  if (user) q.set("user", user);
  const qs = q.toString() ? `?${q}` : "";
  return new PusherJS(key, {
    wsHost: srv.host,
    wsPort: srv.port,
    forceTLS: false,
    enabledTransports: ["ws"],
    cluster: "mt1",
    disableStats: true,
    channelAuthorization: auth ? { endpoint: `${auth.base}/pusher/auth${qs}`, transport: "ajax" } : undefined,
    userAuthentication: auth ? { endpoint: `${auth.base}/pusher/user-auth${qs}`, transport: "ajax" } : undefined,
    ...opts,
  });
}

/** connected resolves once p is connected. */
export function connected(p, ms = 5000) {
  return new Promise((res, rej) => {
    if (p.connection.state === "connected") return res(p.connection.socket_id);
    const t = setTimeout(() => rej(new Error(`not connected after ${ms} ms (state ${p.connection.state})`)), ms);
    p.connection.bind("connected", () => {
      clearTimeout(t);
      res(p.connection.socket_id);
    });
  });
}

/** subscribed subscribes p to name and resolves with the subscription data (or rejects). */
export function subscribed(p, name, ms = 5000) {
  return new Promise((res, rej) => {
    const ch = p.subscribe(name);
    const t = setTimeout(() => rej(new Error(`no subscription to ${name} after ${ms} ms`)), ms);
    ch.bind("pusher:subscription_succeeded", (data) => {
      clearTimeout(t);
      res({ ch, data });
    });
    ch.bind("pusher:subscription_error", (err) => {
      clearTimeout(t);
      const e = new Error(`subscription to ${name} failed: ${JSON.stringify(err)}`);
      e.status = err.status;
      e.detail = err;
      rej(e);
    });
  });
}

/** collect records the events named on channel ch. */
export function collect(ch, event) {
  const got = [];
  ch.bind(event, (data, meta) => got.push({ data, meta }));
  return got;
}

/** sleep waits ms: only to show that something did NOT happen within that time. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * nativeClient is a raw RTMate-protocol connection (the ws package), authenticated with a
 * development token for sub: push events are kept in pushes, replies resolve request().
 */
export async function nativeClient(srv, sub) {
  const { default: WebSocket } = await import("ws");
  const r = await fetch(`${srv.http}/dev/token?sub=${encodeURIComponent(sub)}`);
  const { data: dev } = await r.json();
  const ws = new WebSocket(`ws://${srv.host}:${srv.port}/ws`);
  await new Promise((res, rej) => {
    ws.once("open", res);
    ws.once("error", rej);
  });
  const pushes = [];
  const waiting = new Map();
  let nextID = 1;
  ws.on("message", (buf) => {
    const m = JSON.parse(buf.toString());
    if (m.id !== undefined && waiting.has(m.id)) {
      waiting.get(m.id)(m);
      waiting.delete(m.id);
    } else {
      pushes.push(m);
    }
  });
  const request = (event, payload) =>
    new Promise((res, rej) => {
      const id = nextID++;
      const t = setTimeout(() => rej(new Error(`no reply to ${event} after 5 s`)), 5000);
      waiting.set(id, (m) => {
        clearTimeout(t);
        res(m);
      });
      ws.send(JSON.stringify({ event, payload, id }));
    });
  const auth = await request("auth", { appId: dev.appId, token: dev.token });
  if (auth.code !== 200) throw new Error(`native auth: ${JSON.stringify(auth)}`);
  return { ws, pushes, request, clientId: auth.data.client_id, close: () => ws.close() };
}

/** launchChromium starts Debian's chromium (never a downloaded browser) through playwright-core. */
export async function launchChromium() {
  const { existsSync } = await import("node:fs");
  const { chromium } = await import("playwright-core");
  const path = "/usr/bin/chromium";
  if (!existsSync(path)) throw new Error(`${path} missing: run scripts/install-test-deps.sh as root`);
  return chromium.launch({
    executablePath: path,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-component-update", "--disable-sync"],
    timeout: 60_000,
  });
}

/** PUSHER_WEB is pusher-js's browser build, as a page loads it from a CDN. */
export const PUSHER_WEB = resolve(HERE, "..", "node_modules", "pusher-js", "dist", "web", "pusher.min.js");
