// Browser test of the admin console (rtmate-server/internal/admin/console) with the real
// server: Debian's chromium driven by playwright-core. It logs in with the admin token,
// creates an app, copies a token from the token generator, connects a real client with it,
// watches the connection appear in the live chart, rotates the key (the old token works until
// the old key is revoked), publishes from the console to the client and downloads the usage
// CSV. Screenshots of every page go to test-artifacts/admin-*.png.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";

import { RTMateClient } from "../dist/index.js";
import { REPO_ROOT, inbox, launchChromium, startServer, waitFor } from "./helpers.mjs";

const ARTIFACTS = join(REPO_ROOT, "test-artifacts");
const ADMIN_TOKEN = "console-test-admin-token-0123456789";
const WAIT = { timeout: 20_000 };
const APP = "console-app";

describe("admin console in chromium", () => {
  let server;
  let browser;
  let dataDir;
  const clients = [];
  const pageErrors = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), "rtmate-admin-test-"));
    server = await startServer({ env: { RTMATE_ADMIN_TOKEN: ADMIN_TOKEN, RTMATE_DATA_DIR: dataDir } });
    browser = await launchChromium();
  });

  after(async () => {
    for (const c of clients) c.close();
    await browser?.close();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  function client(token) {
    const c = new RTMateClient({ url: server.ws, appId: APP, getToken: () => token, WebSocket, reconnect: false });
    clients.push(c);
    return c;
  }

  it("manages an app end to end", { timeout: 180_000 }, async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.http });
    const page = await context.newPage();
    page.on("pageerror", (err) => pageErrors.push(err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error") pageErrors.push(`console: ${msg.text()}`);
    });
    page.on("dialog", (d) => d.accept());
    const shot = (name) => page.screenshot({ path: join(ARTIFACTS, `admin-${name}.png`), fullPage: true });
    const external = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(server.http) && !r.url().startsWith("blob:") && !r.url().startsWith("data:")) external.push(r.url());
    });

    // Log in (a wrong token first).
    await page.goto(`${server.http}/admin/`);
    await page.getByTestId("login-token").fill("wrong-token-wrong-token");
    await page.getByTestId("login-button").click();
    await page.getByTestId("errors").waitFor(WAIT);
    await shot("login");
    await page.getByTestId("login-token").fill(ADMIN_TOKEN);
    await page.getByTestId("login-token").press("Enter"); // the keyboard works as well as the mouse
    await page.getByTestId("apps-table").waitFor(WAIT);
    pageErrors.length = 0; // the wrong token's 401 is logged by the browser; it was expected

    // Create an app; its secret and API key are shown once.
    await page.getByTestId("new-app-id").fill(APP);
    await page.getByTestId("create-app").click();
    await page.getByTestId("created-secret").waitFor(WAIT);
    assert.ok((await page.getByTestId("created-api-key").textContent()).startsWith("rk_"));
    await shot("apps");

    // The app's page: generate and copy a token.
    await page.getByTestId("created-link").click();
    await page.getByTestId("app-title").waitFor(WAIT);
    await page.getByTestId("token-sub").fill("alice");
    await page.getByTestId("make-token").click();
    const out = page.getByTestId("token-output");
    await out.waitFor(WAIT);
    const oldKid = await out.getAttribute("data-kid");
    await page.getByTestId("copy-token").click();
    const oldToken = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(oldToken, await out.textContent());

    // A client connects with it; the live chart shows it within 2 s.
    const c1 = client(oldToken);
    await c1.connect();
    const box = inbox();
    await c1.subscribe("news", box).ready();
    const connectedAt = Date.now();
    await page.locator('[data-testid="live-chart"][data-connections="1"]').waitFor({ timeout: 2000 });
    assert.ok(Date.now() - connectedAt <= 2000, "the chart showed the connection within 2 s");
    await shot("app");

    // Rotate: add a key; tokens of both keys work until the old one is revoked.
    await page.getByTestId("add-key").click();
    await page.getByTestId("new-key-secret").waitFor(WAIT);
    await page.getByTestId("make-token").click();
    await page.locator(`[data-testid="token-output"]:not([data-kid="${oldKid}"])`).waitFor(WAIT);
    const newToken = await page.getByTestId("token-output").textContent();
    const c2 = client(oldToken);
    await c2.connect(); // old key, during the overlap
    const c3 = client(newToken);
    await c3.connect();
    await page.locator(`[data-testid="key-row"][data-kid="${oldKid}"] [data-testid="revoke-key"]`).click();
    await page.locator(`[data-testid="key-row"][data-kid="${oldKid}"]`).waitFor({ state: "detached", ...WAIT });
    await assert.rejects(client(oldToken).connect(), "the old token fails once its key is revoked");
    await client(newToken).connect();
    await shot("keys");

    // Publish from the console; the client receives it.
    await page.getByTestId("publish-channel").fill("news");
    await page.getByTestId("publish-data").fill('{"text":"from the console"}');
    await page.getByTestId("publish").click();
    await waitFor(() => box.messages.length === 1, 10_000, "the console's message");
    assert.deepEqual(box.messages[0].data, { text: "from the console" });

    // Channels with subscriber counts.
    await page.getByTestId("refresh-channels").click();
    await page.locator('[data-testid="channel-row"][data-channel="news"]').waitFor(WAIT);

    // Usage: flushed every 10 s; then the table has today's row and the CSV downloads.
    await waitFor(async () => {
      await page.getByTestId("load-usage").click();
      return (await page.getByTestId("usage-row").count()) > 0;
    }, 25_000, "a usage row");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("download-csv").click()]);
    const csvPath = join(ARTIFACTS, "admin-usage.csv");
    await download.saveAs(csvPath);
    const lines = readFileSync(csvPath, "utf8").trim().split("\n");
    assert.equal(lines[0], "start,connection_seconds,peak_connections,messages_in,messages_out,bytes_in,bytes_out,calls");
    const row = lines[1].split(",");
    assert.ok(Number(row[3]) >= 1 && Number(row[4]) >= 1, `usage row ${lines[1]}`);
    await shot("usage");

    // Nodes, and the app page on a phone-sized screen.
    await page.goto(`${server.http}/admin/#/nodes`);
    await page.getByTestId("node-row").waitFor(WAIT);
    await shot("nodes");
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${server.http}/admin/#/apps/${APP}`);
    await page.getByTestId("app-title").waitFor(WAIT);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no horizontal scrolling on a phone (overflow ${overflow}px)`);
    await shot("phone");

    assert.deepEqual(external, [], "no external requests");
    assert.deepEqual(pageErrors, []);
    await context.close();
  });
});
