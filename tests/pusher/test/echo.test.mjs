// Laravel Echo with its pusher connector, as a Laravel front end uses it: a private channel
// and a presence channel authorized by an endpoint built on the pusher SDK, server events
// broadcast with the SDK (as Laravel's pusher broadcaster does), and whispers.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import Echo from "laravel-echo";
import PusherJS from "pusher-js";

import { KEY, authEndpoint, serverSDK, sleep, startServer, waitFor } from "./helpers.mjs";

describe("laravel-echo", () => {
  let srv, sdk, auth;
  const echos = [];
  const echo = (user) => {
    const e = new Echo({
      broadcaster: "pusher",
      key: KEY,
      cluster: "mt1",
      wsHost: srv.host,
      wsPort: srv.port,
      forceTLS: false,
      enabledTransports: ["ws"],
      disableStats: true,
      authEndpoint: `${auth.base}/broadcasting/auth?user=${user}`,
      Pusher: PusherJS,
    });
    echos.push(e);
    return e;
  };
  before(async () => {
    srv = await startServer();
    sdk = serverSDK(srv);
    auth = await authEndpoint(sdk);
  });
  after(async () => {
    for (const e of echos) e.disconnect();
    await auth?.close();
    await srv?.stop();
  });

  it("a private channel receives a namespaced Laravel event", async () => {
    const e = echo("1");
    const got = [];
    e.private("orders.1").listen("OrderShipped", (payload) => got.push(payload));
    // What Laravel's pusher broadcaster sends for App\Events\OrderShipped.
    await waitFor(async () => {
      await sdk.trigger("private-orders.1", "App\\Events\\OrderShipped", { order: { id: 1 } });
      return got.length > 0;
    }, 5000, "OrderShipped");
    assert.deepEqual(got[0], { order: { id: 1 } });
    assert.ok(auth.calls.some((c) => c.channel === "private-orders.1"));
  });

  it("a presence channel: here, joining, leaving, and whispers", async () => {
    const a = echo("10");
    let here;
    const joining = [];
    const leaving = [];
    const whispers = [];
    a.join("chat.1")
      .here((users) => (here = users))
      .joining((u) => joining.push(u))
      .leaving((u) => leaving.push(u))
      .listenForWhisper("typing", (w) => whispers.push(w));
    await waitFor(() => here, 5000, "here");
    assert.deepEqual(here, [{ name: "User 10" }]);

    const b = echo("11");
    let hereB;
    const bChan = b.join("chat.1").here((users) => (hereB = users));
    await waitFor(() => hereB && joining.length === 1, 5000, "joining");
    assert.equal(hereB.length, 2);
    assert.deepEqual(joining[0], { name: "User 11" });

    await waitFor(() => {
      bChan.whisper("typing", { who: 11 });
      return whispers.length > 0;
    }, 5000, "whisper");
    assert.deepEqual(whispers[0], { who: 11 });

    b.leave("chat.1");
    await waitFor(() => leaving.length === 1, 5000, "leaving");
    assert.deepEqual(leaving[0], { name: "User 11" });
    await sleep(10);
  });
});
