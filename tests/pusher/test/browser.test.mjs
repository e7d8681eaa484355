// pusher-js's browser build in Debian's Chromium: connect, a public channel, a private channel
// through a cross-origin auth endpoint (the pusher SDK's authorizeChannel), presence, and a
// client event between two tabs.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { KEY, PUSHER_WEB, authEndpoint, launchChromium, serverSDK, startServer, waitFor } from "./helpers.mjs";

describe("pusher-js in Chromium", () => {
  let srv, sdk, auth, browser;
  before(async () => {
    srv = await startServer();
    sdk = serverSDK(srv);
    auth = await authEndpoint(sdk);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await auth?.close();
    await srv?.stop();
  });

  /** tab opens a page of the server's origin with pusher-js connected as user. */
  async function tab(user) {
    const page = await browser.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(`${srv.http}/healthz`);
    await page.addScriptTag({ path: PUSHER_WEB });
    await page.evaluate(
      ({ key, host, port, authBase, user }) => {
        window.got = [];
        window.pusher = new Pusher(key, {
          wsHost: host, wsPort: port, forceTLS: false, enabledTransports: ["ws"], cluster: "mt1", disableStats: true,
          channelAuthorization: { endpoint: `${authBase}/pusher/auth?user=${user}`, transport: "ajax" },
        });
        window.sub = (name) =>
          new Promise((res, rej) => {
            const ch = window.pusher.subscribe(name);
            ch.bind("pusher:subscription_succeeded", (d) => res(JSON.parse(JSON.stringify(d ?? {}))));
            ch.bind("pusher:subscription_error", (e) => rej(new Error(JSON.stringify(e))));
            ch.bind_global((ev, data) => window.got.push({ channel: name, ev, data }));
          });
      },
      { key: KEY, host: srv.host, port: srv.port, authBase: auth.base, user },
    );
    await page.waitForFunction(() => window.pusher.connection.state === "connected", null, { timeout: 10_000 });
    return { page, problems };
  }

  it("public, private and presence channels; a client event between two tabs", { timeout: 60_000 }, async () => {
    const a = await tab("amy");
    const b = await tab("ben");
    const socketID = await a.page.evaluate(() => window.pusher.connection.socket_id);
    assert.match(socketID, /^\d+\.\d+$/);

    await a.page.evaluate(() => window.sub("web-news"));
    await sdk.trigger("web-news", "headline", { t: "hello" });
    await a.page.waitForFunction(() => window.got.some((g) => g.ev === "headline"), null, { timeout: 5000 });

    await a.page.evaluate(() => window.sub("private-web"));
    await b.page.evaluate(() => window.sub("private-web"));
    await b.page.evaluate(() => window.pusher.channel("private-web").trigger("client-wave", { from: "ben" }));
    await a.page.waitForFunction(() => window.got.some((g) => g.ev === "client-wave" && g.data.from === "ben"), null, { timeout: 5000 });

    const pa = await a.page.evaluate(() => window.sub("presence-web"));
    assert.equal(pa.count, 1);
    const pb = await b.page.evaluate(() => window.sub("presence-web"));
    assert.equal(pb.count, 2);
    await a.page.waitForFunction(() => window.got.some((g) => g.ev === "pusher:member_added" && g.data.id === "ben"), null, { timeout: 5000 });

    const got = await a.page.evaluate(() => window.got.filter((g) => !g.ev.startsWith("pusher")));
    assert.deepEqual(got.map((g) => g.ev), ["headline", "client-wave"]);
    await waitFor(() => true);
    assert.deepEqual([...a.problems, ...b.problems], []);
    await a.page.close();
    await b.page.close();
  });
});
