// Test helpers: build and run the real rtmate-server, fetch dev tokens, a TCP proxy that can
// cut or black-hole connections, and small waiting utilities. Loopback only, everything bounded.
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import WebSocket from "ws";

import { RTMateClient } from "../dist/index.js";

export const SDK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_ROOT = resolve(SDK_DIR, "..", "..");
export const APP_ID = "demo-app";
export const API_KEY = "demo-api-key";

const run = promisify(execFile);

let built;
/**
 * serverBinary builds rtmate-server once per test process (the Go build cache makes later
 * builds cheap). RTMATE_SERVER_BIN points at a prebuilt binary instead.
 */
export function serverBinary() {
  if (process.env.RTMATE_SERVER_BIN) return Promise.resolve(process.env.RTMATE_SERVER_BIN);
  if (!built) {
    built = (async () => {
      const dir = mkdtempSync(join(tmpdir(), "rtmate-sdk-test-"));
      process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
      const bin = join(dir, "rtmate-server");
      await run("go", ["build", "-o", bin, "./rtmate-server/cmd/rtmate-server"], {
        cwd: REPO_ROOT,
        timeout: 300_000,
        maxBuffer: 16 << 20,
      });
      return bin;
    })();
  }
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

const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/**
 * startServer runs the real server in development mode on 127.0.0.1:<port> (with env added to
 * its environment) and waits until /healthz answers. The returned handle can stop and restart it on the same port.
 */
export async function startServer({ port, env, args = [] } = {}) {
  const bin = await serverBinary();
  port ??= await freePort();
  const srv = {
    port,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/ws`,
    log: "",
    child: null,
    async start() {
      const child = spawn(bin, ["-listen", `127.0.0.1:${port}`, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        env: env ? { ...process.env, ...env } : process.env,
      });
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
          const r = await fetch(`${srv.http}/healthz`, { signal: AbortSignal.timeout(1000) });
          return r.ok;
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
    /** token fetches a development token for sub. */
    async token(sub, extra = {}) {
      const q = new URLSearchParams({ sub, ...extra });
      const r = await fetch(`${srv.http}/dev/token?${q}`);
      if (!r.ok) throw new Error(`/dev/token: HTTP ${r.status}: ${await r.text()}`);
      const body = await r.json();
      if (body.code !== 200 || !body.data?.token) throw new Error(`/dev/token: ${JSON.stringify(body)}`);
      return body.data.token;
    },
    /** api calls the server HTTP API with the development app's key. */
    async api(method, path, body) {
      const r = await fetch(`${srv.http}${path}`, {
        method,
        headers: { Authorization: `Bearer ${API_KEY}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: r.status, text, json };
    },
  };
  await srv.start();
  return srv;
}

/**
 * client makes an RTMateClient for the server that fetches its token from /dev/token,
 * records its state changes in `states` and its errors in `errors`.
 */
export function makeClient(srv, sub, opts = {}) {
  const { tokenParams, url, ...rest } = opts;
  const c = new RTMateClient({
    url: url ?? srv.ws,
    appId: APP_ID,
    getToken: () => srv.token(sub, tokenParams),
    WebSocket,
    reconnect: { minDelayMs: 50, maxDelayMs: 400 },
    ...rest,
  });
  c.states = [];
  c.errors = [];
  c.on("state", (s, info) => c.states.push({ s, ...info }));
  c.on("error", (e) => c.errors.push(e));
  return c;
}

/** waitFor polls cond (sync or async) until it returns truthy, or fails after ms. */
export async function waitFor(cond, ms = 10_000, what = "condition") {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * nextState resolves with the info of the first `state` event recorded at or after index
 * `since` of c.states (default: from now on). Pass an index taken before the action that
 * triggers the change, so that a change that happens quickly is not missed.
 */
export async function nextState(c, state, ms = 15_000, since = c.states.length) {
  const found = await waitFor(
    () => c.states.slice(since).find((x) => x.s === state),
    ms,
    `state ${state}; states so far: ${JSON.stringify(c.states)}`,
  );
  return found;
}

/** inbox collects a subscription's messages; wait(n) resolves when n have arrived. */
export function inbox() {
  const box = {
    messages: [],
    joins: [],
    leaves: [],
    errors: [],
    subscribed: [],
    onMessage(data, pub) {
      box.messages.push({ data, pub });
    },
    onJoin(m) {
      box.joins.push(m);
    },
    onLeave(m) {
      box.leaves.push(m);
    },
    onError(e) {
      box.errors.push(e);
    },
    onSubscribe(info) {
      box.subscribed.push(info);
    },
    wait(n, ms = 10_000) {
      return waitFor(() => box.messages.length >= n, ms, `${n} messages (have ${box.messages.length})`);
    },
  };
  return box;
}

/**
 * startProxy forwards TCP from a loopback port to target. cut() resets every connection,
 * refuse(true) rejects new ones, blackhole(true) keeps connections open but forwards nothing
 * (a dead network path that TCP has not noticed).
 */
export async function startProxy(targetPort) {
  const conns = new Set();
  const state = { refuse: false, blackhole: false };
  const server = net.createServer((down) => {
    if (state.refuse) {
      down.destroy();
      return;
    }
    const up = net.connect(targetPort, "127.0.0.1");
    const pair = { down, up };
    conns.add(pair);
    const forward = (from, to) =>
      from.on("data", (b) => {
        if (!state.blackhole) to.write(b);
      });
    forward(down, up);
    forward(up, down);
    const end = () => {
      conns.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on("error", end).on("close", end);
    up.on("error", end).on("close", end);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const port = server.address().port;
  return {
    port,
    ws: `ws://127.0.0.1:${port}/ws`,
    cut() {
      for (const { down, up } of conns) {
        down.resetAndDestroy();
        up.destroy();
      }
      conns.clear();
    },
    refuse(on) {
      state.refuse = on;
    },
    blackhole(on) {
      state.blackhole = on;
    },
    close() {
      this.cut();
      return new Promise((r) => server.close(r));
    },
  };
}

// launchChromium starts Debian's chromium (never a downloaded browser) with the flags this
// machine needs; playwright gives every launch a fresh temporary profile.
export async function launchChromium() {
  const { existsSync } = await import("node:fs");
  const { chromium } = await import("playwright-core");
  const path = "/usr/bin/chromium";
  if (!existsSync(path)) throw new Error(`${path} missing: run scripts/install-test-deps.sh as root`);
  return chromium.launch({
    executablePath: path,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 60_000,
  });
}
