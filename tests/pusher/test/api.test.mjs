// The Pusher HTTP API driven by the pusher server SDK: trigger (with info and socket_id),
// batch, channels, channel, users, sendToUser after pusher:signin, terminateUserConnections;
// and every refusal Pusher answers: a wrong signature on each path, an unknown app, an
// expired timestamp, an oversize event, too many channels or events.
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { before, describe, it } from "node:test";

import { APP_ID, KEY, SECRET, collect, connected, serverSDK, sleep, subscribed, useServer, waitFor } from "./helpers.mjs";

/** signed sends a request signed as Pusher's documentation says, at time ts (seconds). */
async function signed(srv, method, path, { body, params = {}, ts = Math.floor(Date.now() / 1000), secret = SECRET } = {}) {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const q = { auth_key: KEY, auth_timestamp: String(ts), auth_version: "1.0", ...params };
  if (text) q.body_md5 = createHash("md5").update(text).digest("hex");
  const toSign = [method, path, Object.keys(q).sort().map((k) => `${k}=${q[k]}`).join("&")].join("\n");
  q.auth_signature = createHmac("sha256", secret).update(toSign).digest("hex");
  const r = await fetch(`${srv.http}${path}?${new URLSearchParams(q)}`, {
    method,
    body: text,
    headers: text ? { "Content-Type": "application/json" } : {},
  });
  return { status: r.status, text: await r.text() };
}

describe("pusher HTTP API with the pusher SDK", () => {
  const ctx = useServer();
  const make = (opts) => ctx.make(opts);
  let srv, sdk;
  before(() => ({ srv, sdk } = ctx));

  it("trigger to several channels, with info", async () => {
    const a = make({ user: "ann" });
    const x = await subscribed(a, "multi-a");
    const y = await subscribed(a, "presence-multi");
    const gx = collect(x.ch, "ev");
    const gy = collect(y.ch, "ev");
    const res = await sdk.trigger(["multi-a", "presence-multi"], "ev", { v: 1 }, { info: "subscription_count,user_count" });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      channels: { "multi-a": { subscription_count: 1 }, "presence-multi": { subscription_count: 1, user_count: 1 } },
    });
    await waitFor(() => gx.length === 1 && gy.length === 1, 3000, "both channels");
  });

  it("triggerBatch delivers every event", async () => {
    const a = make();
    const { ch } = await subscribed(a, "batch-a");
    const got = [];
    ch.bind_global((ev, data) => !ev.startsWith("pusher") && got.push([ev, data]));
    const res = await sdk.triggerBatch([
      { channel: "batch-a", name: "one", data: { n: 1 } },
      { channel: "batch-a", name: "two", data: "2" },
    ]);
    assert.equal(res.status, 200);
    await waitFor(() => got.length === 2, 3000, "two events");
    assert.deepEqual(got, [["one", { n: 1 }], ["two", 2]]);
  });

  it("GET channels with filter_by_prefix and info; a channel; its users", async () => {
    const a = make({ user: "zed" });
    await subscribed(a, "presence-list");
    await subscribed(a, "list-public");
    let res = await sdk.get({ path: "/channels", params: { filter_by_prefix: "presence-list", info: "user_count" } });
    assert.deepEqual(await res.json(), { channels: { "presence-list": { user_count: 1 } } });
    res = await sdk.get({ path: "/channels", params: { filter_by_prefix: "list-" } });
    assert.deepEqual(await res.json(), { channels: { "list-public": {} } });
    res = await sdk.get({ path: "/channels/presence-list", params: { info: "user_count,subscription_count" } });
    assert.deepEqual(await res.json(), { occupied: true, user_count: 1, subscription_count: 1 });
    res = await sdk.get({ path: "/channels/nobody-here" });
    assert.deepEqual(await res.json(), { occupied: false });
    res = await sdk.get({ path: "/channels/presence-list/users" });
    assert.deepEqual(await res.json(), { users: [{ id: "zed" }] });
  });

  it("user_count without a presence- prefix filter is a 400", async () => {
    await assert.rejects(sdk.get({ path: "/channels", params: { info: "user_count" } }).then((r) => r), (e) => e.status === 400);
  });

  it("signin, sendToUser and terminateUserConnections", async () => {
    const p = make({ user: "signed-user" });
    const other = make({ user: "other-user" });
    await connected(p);
    await connected(other);
    p.signin();
    other.signin();
    const got = [];
    p.user.bind("note", (d) => got.push(d));
    await waitFor(async () => {
      await sdk.sendToUser("signed-user", "note", { hi: 1 });
      return got.length > 0;
    }, 5000, "a server-to-user event");
    assert.deepEqual(got[0], { hi: 1 });

    const errors = [];
    p.connection.bind("error", (e) => errors.push(e));
    const res = await sdk.terminateUserConnections("signed-user");
    assert.equal(res.status, 200);
    await waitFor(() => p.connection.state !== "connected", 3000, "terminated");
    assert.ok(errors.some((e) => e.data?.code === 4009), JSON.stringify(errors));
    await sleep(200);
    assert.equal(other.connection.state, "connected", "another user's connection stays");
  });

  it("a forged pusher:signin closes the connection with 4009", async () => {
    const { default: WebSocket } = await import("ws");
    const ws = new WebSocket(`ws://${srv.host}:${srv.port}/app/${KEY}?protocol=7`);
    const msgs = [];
    ws.on("message", (b) => msgs.push(JSON.parse(b.toString())));
    const closed = new Promise((r) => ws.on("close", r));
    await waitFor(() => msgs.length === 1, 3000, "established");
    ws.send(JSON.stringify({ event: "pusher:signin", data: { auth: `${KEY}:${"0".repeat(64)}`, user_data: '{"id":"x"}' } }));
    assert.equal(await closed, 4009);
    assert.equal(msgs[1].data.code, 4009);
  });

  const wrong = serverSDK.bind(null);
  for (const [what, call] of [
    ["trigger", (s) => s.trigger("c", "e", {})],
    ["triggerBatch", (s) => s.triggerBatch([{ channel: "c", name: "e", data: "1" }])],
    ["channels", (s) => s.get({ path: "/channels" })],
    ["channel", (s) => s.get({ path: "/channels/c" })],
    ["users", (s) => s.get({ path: "/channels/presence-c/users" })],
    ["terminateUserConnections", (s) => s.terminateUserConnections("u")],
  ]) {
    it(`${what} with a wrong secret is a 401`, async () => {
      const bad = wrong(srv, { secret: "not-the-secret" });
      await assert.rejects(call(bad), (e) => e.status === 401 && /signature/i.test(e.body));
    });
  }

  it("an unknown app id is a 404", async () => {
    const bad = serverSDK(srv, { appId: "no-such-app" });
    await assert.rejects(bad.trigger("c", "e", {}), (e) => e.status === 404);
  });

  it("a timestamp more than 600 s old is a 401", async () => {
    const r = await signed(srv, "POST", `/apps/${APP_ID}/events`, { body: { name: "e", channel: "c", data: "1" }, ts: Math.floor(Date.now() / 1000) - 700 });
    assert.equal(r.status, 401);
    assert.match(r.text, /Timestamp expired/);
    const ok = await signed(srv, "POST", `/apps/${APP_ID}/events`, { body: { name: "e", channel: "c", data: "1" }, ts: Math.floor(Date.now() / 1000) - 500 });
    assert.equal(ok.status, 200, ok.text);
  });

  it("an oversize event is a 413", async () => {
    await assert.rejects(sdk.trigger("c", "big", "x".repeat(70_000)), (e) => e.status === 413);
  });

  it("more than 100 channels, or more than 10 batch events, is a 400", async () => {
    const chans = Array.from({ length: 101 }, (_, i) => `c${i}`);
    let r = await signed(srv, "POST", `/apps/${APP_ID}/events`, { body: { name: "e", channels: chans, data: "1" } });
    assert.equal(r.status, 400);
    const batch = Array.from({ length: 11 }, () => ({ channel: "c", name: "e", data: "1" }));
    r = await signed(srv, "POST", `/apps/${APP_ID}/batch_events`, { body: { batch } });
    assert.equal(r.status, 400);
    r = await signed(srv, "POST", `/apps/${APP_ID}/events`, { body: { name: "e", channel: "bad channel!", data: "1" } });
    assert.equal(r.status, 400);
  });

  it("a body that does not match body_md5 is a 401", async () => {
    const ts = Math.floor(Date.now() / 1000);
    const q = { auth_key: KEY, auth_timestamp: String(ts), auth_version: "1.0", body_md5: "0".repeat(32) };
    const path = `/apps/${APP_ID}/events`;
    const toSign = ["POST", path, Object.keys(q).sort().map((k) => `${k}=${q[k]}`).join("&")].join("\n");
    q.auth_signature = createHmac("sha256", SECRET).update(toSign).digest("hex");
    const r = await fetch(`${srv.http}${path}?${new URLSearchParams(q)}`, { method: "POST", body: '{"name":"e","channel":"c","data":"1"}' });
    assert.equal(r.status, 401);
  });
});
