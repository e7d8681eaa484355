// Browser test of the demo chat page (rtmate-server/internal/demo) with the real server:
// Debian's chromium driven by playwright-core (which never downloads a browser here). Two
// people join one room, see each other in the member list and read each other's messages.
// A screenshot is left in test-artifacts/demo.png.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import http from "node:http";
import { extname, join, normalize } from "node:path";
import { after, before, describe, it } from "node:test";


import { REPO_ROOT, launchChromium, startServer } from "./helpers.mjs";

const ARTIFACTS = join(REPO_ROOT, "test-artifacts");
const STATIC = join(REPO_ROOT, "rtmate-server", "internal", "demo", "static");
const WAIT = { timeout: 20_000 };

/**
 * serveStatic serves the page's files from the source tree, for a server that does not mount
 * /demo/ yet; the page then talks to the server given by ?server=.
 */
function serveStatic() {
  const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
  const srv = http.createServer((req, res) => {
    let p = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (p.endsWith("/")) p += "index.html";
    const file = normalize(join(STATIC, p));
    if (!file.startsWith(STATIC) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": `${types[extname(file)] ?? "application/octet-stream"}; charset=utf-8` });
    res.end(readFileSync(file));
  });
  return new Promise((r) => srv.listen(0, "127.0.0.1", () => r(srv)));
}

describe("demo page in chromium", () => {
  let server;
  let staticSrv;
  let browser;
  let pageURL;
  const pageErrors = [];

  before(async () => {
    server = await startServer();
    const r = await fetch(`${server.http}/demo/`);
    const body = await r.text();
    if (r.ok && body.includes('data-testid="join-form"')) {
      pageURL = `${server.http}/demo/`;
    } else {
      staticSrv = await serveStatic();
      pageURL = `http://127.0.0.1:${staticSrv.address().port}/?server=${encodeURIComponent(server.http)}`;
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    staticSrv?.close();
    await server?.stop();
  });

  async function openAs(name, room) {
    const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
    const page = await context.newPage();
    page.on("pageerror", (err) => pageErrors.push(`${name}: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") pageErrors.push(`${name} console: ${msg.text()}`);
    });
    await page.goto(pageURL);
    await page.getByTestId("name-input").fill(name);
    await page.getByTestId("room-input").fill(room);
    await page.getByTestId("join-button").click();
    await page.getByTestId("chat-view").waitFor({ state: "visible", ...WAIT });
    await page.locator('[data-testid="status"][data-state="connected"]').waitFor(WAIT);
    return page;
  }

  const member = (page, user) => page.locator(`[data-testid="member"][data-user-id="${user}"]`);
  const message = (page, from, text) =>
    page.locator(`[data-testid="message"][data-from-user="${from}"]`, { hasText: text });

  async function say(page, text) {
    await page.getByTestId("message-input").fill(text);
    await page.getByTestId("send-button").click();
  }

  it("two people join a room, see each other and chat", { timeout: 120_000 }, async (t) => {
    t.diagnostic(`page: ${pageURL}`);
    const room = `e2e-${Date.now()}`;
    const alice = await openAs("alice", room);
    await member(alice, "alice").waitFor(WAIT);
    const bob = await openAs("bob", room);

    // Each sees the other in the member list.
    await member(alice, "bob").waitFor(WAIT);
    await member(bob, "alice").waitFor(WAIT);
    await member(bob, "bob").waitFor(WAIT);
    assert.equal(await alice.getByTestId("member-count").textContent(), "2");
    assert.equal(await bob.getByTestId("member-count").textContent(), "2");
    await alice.getByTestId("system-message").filter({ hasText: "bob joined" }).waitFor(WAIT);

    // Each receives the other's message (and its own).
    await say(alice, "héllo from alice");
    await message(bob, "alice", "héllo from alice").waitFor(WAIT);
    await message(alice, "alice", "héllo from alice").waitFor(WAIT);
    await say(bob, "hi alice, bob here");
    await message(alice, "bob", "hi alice, bob here").waitFor(WAIT);
    await message(bob, "bob", "hi alice, bob here").waitFor(WAIT);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, "demo.png");
    await alice.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);

    // Bob leaves: alice sees him go.
    await bob.getByTestId("leave-button").click();
    await member(alice, "bob").waitFor({ state: "detached", ...WAIT });
    await alice.getByTestId("system-message").filter({ hasText: "bob left" }).waitFor(WAIT);
    assert.equal(await alice.getByTestId("member-count").textContent(), "1");

    assert.deepEqual(pageErrors, []);
  });
});
