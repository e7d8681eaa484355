// The connection: pusher-js connects to /app/{key} on the RTMate port, gets a Pusher socket
// id, is refused with Pusher's codes, pings and is pinged, and reconnects by itself after a
// server restart (resubscribing its channels).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import WebSocket from "ws";

import { client, collect, connected, serverSDK, startServer, subscribed, waitFor } from "./helpers.mjs";

/** raw opens a WebSocket on path and resolves with its first message and its close. */
function raw(srv, path) {
  return new Promise((res, rej) => {
    const ws = new WebSocket(`ws://${srv.host}:${srv.port}${path}`);
    const msgs = [];
    ws.on("message", (b) => msgs.push(JSON.parse(b.toString())));
    ws.on("error", rej);
    ws.on("close", (code) => res({ code, msgs }));
    setTimeout(() => ws.close(), 3000);
  });
}

describe("pusher connection", () => {
  let srv;
  before(async () => {
    srv = await startServer();
  });
  after(() => srv?.stop());

  it("connection_established carries a socket id and the activity timeout", async () => {
    const ws = new WebSocket(`ws://${srv.host}:${srv.port}/app/demo-key?protocol=7&client=js&version=8.4.0&flash=false`);
    const first = await new Promise((res, rej) => {
      ws.once("message", (b) => res(JSON.parse(b.toString())));
      ws.once("error", rej);
    });
    assert.equal(first.event, "pusher:connection_established");
    assert.equal(typeof first.data, "string", "data is a JSON-encoded string, as Pusher sends it");
    const data = JSON.parse(first.data);
    assert.match(data.socket_id, /^\d+\.\d+$/);
    assert.equal(data.activity_timeout, 25);
    ws.send(JSON.stringify({ event: "pusher:ping", data: {} }));
    const pong = await new Promise((res) => ws.once("message", (b) => res(JSON.parse(b.toString()))));
    assert.equal(pong.event, "pusher:pong");
    ws.close();
  });

  it("pusher-js connects and learns its socket id", async () => {
    const p = client(srv);
    const id = await connected(p);
    assert.match(id, /^\d+\.\d+$/);
    p.disconnect();
  });

  const refusals = [
    ["an unknown key", "/app/no-such-key?protocol=7", 4001],
    ["protocol 4", "/app/demo-key?protocol=4", 4007],
    ["protocol 8", "/app/demo-key?protocol=8", 4007],
    ["no protocol", "/app/demo-key", 4008],
  ];
  for (const [what, path, code] of refusals) {
    it(`refuses ${what} with pusher:error ${code} and closes with ${code}`, async () => {
      const { code: closed, msgs } = await raw(srv, path);
      assert.equal(msgs.length, 1, JSON.stringify(msgs));
      assert.equal(msgs[0].event, "pusher:error");
      assert.equal(msgs[0].data.code, code);
      assert.equal(closed, code);
    });
  }

  it("pusher-js with an unknown key fails and does not retry", async () => {
    const p = client(srv, { key: "no-such-key" });
    const errors = [];
    p.connection.bind("error", (e) => errors.push(e));
    await waitFor(() => ["failed", "disconnected", "unavailable"].includes(p.connection.state) && errors.length > 0, 5000, "refusal");
    assert.equal(errors[0].data?.code ?? errors[0].error?.data?.code, 4001);
    p.disconnect();
  });

  it("reconnects after a server restart and resubscribes", { timeout: 60_000 }, async () => {
    const p = client(srv);
    const before = await connected(p);
    const { ch } = await subscribed(p, "restart-news");
    const got = collect(ch, "after");
    await srv.restart();
    await waitFor(() => p.connection.state === "connected" && p.connection.socket_id !== before, 30_000, "reconnect");
    const sdk = serverSDK(srv);
    // pusher-js resubscribes on its own; trigger until the subscription is back.
    await waitFor(async () => {
      await sdk.trigger("restart-news", "after", { n: 1 });
      return got.length > 0;
    }, 10_000, "event after restart");
    assert.deepEqual(got[0].data, { n: 1 });
    p.disconnect();
  });
});

describe("pusher connection quota and keepalive", () => {
  let srv;
  before(async () => {
    srv = await startServer({
      config: `
development: true
ping_interval: 1s
apps:
  - id: demo-app
    secret: rtmate-dev-secret-change-me
    limits:
      max_connections: 1
    pusher:
      key: demo-key
      secret: demo-secret
`,
    });
  });
  after(() => srv?.stop());

  it("a connection over the app's quota gets 4004", async () => {
    const first = new WebSocket(`ws://${srv.host}:${srv.port}/app/demo-key?protocol=7`);
    await new Promise((res) => first.once("message", res));
    const { code, msgs } = await raw(srv, "/app/demo-key?protocol=7");
    assert.equal(msgs[0].data.code, 4004);
    assert.equal(code, 4004);
    first.close();
    await new Promise((res) => first.once("close", res));
  });

  it("the server pings an idle connection with pusher:ping after activity_timeout", async () => {
    await waitFor(async () => {
      const ws = new WebSocket(`ws://${srv.host}:${srv.port}/app/demo-key?protocol=7`);
      const msgs = [];
      ws.on("message", (b) => msgs.push(JSON.parse(b.toString())));
      const ok = await waitFor(() => msgs.length > 0, 3000, "connection").catch(() => false);
      if (!ok || msgs[0].event !== "pusher:connection_established") {
        ws.close();
        return false;
      }
      assert.equal(JSON.parse(msgs[0].data).activity_timeout, 1);
      await waitFor(() => msgs.some((m) => m.event === "pusher:ping"), 5000, "server ping");
      ws.close();
      return true;
    }, 15_000, "a connection within the quota");
  });
});
