// Integration tests of @rtmate/client against the real rtmate-server, built from this repo
// and started in development mode on a free loopback port. Node 20 has no global WebSocket,
// so the clients use the `ws` package.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { RTMateClient, RTMateError, LocalCode, CloseCode } from "../dist/index.js";
import {
  APP_ID,
  inbox,
  makeClient,
  nextState,
  sleep,
  startProxy,
  startServer,
  waitFor,
} from "./helpers.mjs";
import WebSocket from "ws";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

const T = { timeout: 60_000 };

describe("against the real server", () => {
  let srv;
  const clients = [];
  const client = (sub, opts) => {
    const c = makeClient(srv, sub, opts);
    clients.push(c);
    return c;
  };

  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    for (const c of clients) c.close();
    await srv?.stop();
  });

  it("connects and authenticates", T, async () => {
    const c = client("alice");
    await c.connect();
    assert.equal(c.state, "connected");
    assert.equal(typeof c.clientId, "string");
    assert.ok(c.clientId.length > 0);
    assert.deepEqual(
      c.states.map((s) => s.s),
      ["connecting", "connected"],
    );
    await c.ping();
    c.close();
    assert.equal(c.state, "closed");
  });

  it("works with the platform's global WebSocket (no ws package)", T, async () => {
    const major = Number(process.versions.node.split(".")[0]);
    const flags = major >= 22 ? [] : ["--experimental-websocket"];
    const child = fileURLToPath(new URL("./global-websocket-child.mjs", import.meta.url));
    const { stdout } = await execFileP(process.execPath, [...flags, "--no-warnings", child, srv.http, srv.ws], { timeout: 30_000 });
    assert.equal(stdout.trim(), "ok");
  });

  it("rejects connect() with the server's code for a bad token", T, async () => {
    const c = new RTMateClient({ url: srv.ws, appId: APP_ID, getToken: () => "not.a.jwt", WebSocket });
    await assert.rejects(c.connect(), (err) => {
      assert.ok(err instanceof RTMateError, String(err));
      assert.equal(err.code, 401);
      assert.equal(err.event, "auth");
      assert.ok(err.is("InvalidToken") || err.is("SignatureInvalid"), `${err.code} ${err.message}`);
      return true;
    });
    assert.equal(c.state, "closed");
  });

  it("rejects connect() with AuthMismatch when the appId differs from the token's", T, async () => {
    const token = await srv.token("alice");
    const c = new RTMateClient({ url: srv.ws, appId: "other-app", getToken: () => token, WebSocket });
    await assert.rejects(c.connect(), (err) => {
      assert.ok(err instanceof RTMateError);
      assert.ok(err.code === 400 || err.code === 401, `${err.code} ${err.message}`);
      return true;
    });
  });

  it("subscribes, sends and receives", T, async () => {
    const a = client("alice");
    const b = client("bob");
    await Promise.all([a.connect(), b.connect()]);
    const box = inbox();
    const sub = a.subscribe("chat.room1", box);
    await sub.ready();
    const data = { text: "héllo 你好", n: [1, 2.5, null, true], nested: { k: "v" } };
    const res = await b.send("chat.room1", data);
    assert.equal(res.channel, "chat.room1");
    await box.wait(1);
    assert.deepEqual(box.messages[0].data, data);
    assert.equal(box.messages[0].pub.from, b.clientId);
    assert.equal(box.messages[0].pub.channel, "chat.room1");
    // Order on one channel is the order the server accepted the messages.
    for (let i = 0; i < 20; i++) await b.send("chat.room1", i);
    await box.wait(21);
    assert.deepEqual(
      box.messages.slice(1).map((m) => m.data),
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  it("delivers a sender's own message when it is subscribed", T, async () => {
    const a = client("alice");
    await a.connect();
    const box = inbox();
    await a.subscribe("echo.self", box).ready();
    await a.send("echo.self", "me");
    await box.wait(1);
    assert.equal(box.messages[0].pub.from, a.clientId);
  });

  it("rejects bad requests with code, message, event and traceId, and stays connected", T, async () => {
    const c = client("carol");
    await c.connect();
    const cases = [
      { name: "bad channel name", call: () => c.send("bad channel!", 1), event: "messageSend", row: "InvalidParams" },
      { name: "empty channel name", call: () => c.send("", 1), event: "messageSend", row: "InvalidParams" },
      { name: "too long channel name", call: () => c.send("x".repeat(256), 1), event: "messageSend", row: "InvalidParams" },
      { name: "presence on a plain channel", call: () => c.presence("plain"), event: "presence", row: "InvalidParams" },
    ];
    for (const tc of cases) {
      await assert.rejects(tc.call(), (err) => {
        assert.ok(err instanceof RTMateError, `${tc.name}: ${err}`);
        assert.equal(err.code, 400, tc.name);
        assert.equal(err.message, "参数错误", tc.name);
        assert.ok(err.is(tc.row), tc.name);
        assert.equal(err.event, tc.event, tc.name);
        assert.equal(typeof err.traceId, "string", `${tc.name}: server-generated traceId`);
        assert.ok(err.traceId.length > 0, tc.name);
        return true;
      });
    }
    // A traceId the client chose is echoed on errors too.
    await assert.rejects(c.send("bad channel!", 1, { traceId: "trace-sdk-1" }), (err) => err.traceId === "trace-sdk-1");

    const box = inbox();
    const sub = c.subscribe("bad channel!", box);
    await assert.rejects(sub.ready(), (err) => err.code === 400 && err.message === "参数错误" && err.event === "subscribe");
    assert.equal(box.errors.length, 1);
    assert.equal(sub.active, false);

    assert.equal(c.state, "connected");
    await c.ping();
    await c.send("fine", 1);
  });

  it("tracks presence: list, onJoin and onLeave between two clients", T, async () => {
    const channel = `presence-room-${Date.now()}`;
    const a = client("alice");
    const b = client("bob");
    await Promise.all([a.connect(), b.connect()]);
    const boxA = inbox();
    await a.subscribe(channel, boxA).ready();

    const p1 = await a.presence(channel);
    assert.equal(p1.channel, channel);
    assert.equal(p1.count, 1);
    assert.deepEqual(p1.members, [{ client_id: a.clientId, user_id: "alice" }]);

    const boxB = inbox();
    const subB = b.subscribe(channel, boxB);
    await subB.ready();
    await waitFor(() => boxA.joins.some((m) => m.user_id === "bob"), 10_000, "alice sees bob join");
    const join = boxA.joins.find((m) => m.user_id === "bob");
    assert.deepEqual(join, { channel, client_id: b.clientId, user_id: "bob" });

    const p2 = await b.presence(channel);
    assert.equal(p2.count, 2);
    const byUser = (x, y) => x.user_id.localeCompare(y.user_id);
    assert.deepEqual([...p2.members].sort(byUser), [
      { client_id: a.clientId, user_id: "alice" },
      { client_id: b.clientId, user_id: "bob" },
    ]);

    subB.unsubscribe();
    await waitFor(() => boxA.leaves.some((m) => m.user_id === "bob"), 10_000, "alice sees bob leave");
    assert.deepEqual(boxA.leaves.find((m) => m.user_id === "bob"), { channel, client_id: b.clientId, user_id: "bob" });
    assert.equal((await a.presence(channel)).count, 1);

    // Closing the connection is leaving too.
    await b.subscribe(channel, inbox()).ready();
    await waitFor(() => boxA.joins.filter((m) => m.user_id === "bob").length === 2, 10_000, "bob rejoins");
    b.close();
    await waitFor(() => boxA.leaves.filter((m) => m.user_id === "bob").length === 2, 10_000, "bob's close is a leave");
  });

  it("unsubscribe stops delivery", T, async () => {
    const a = client("alice");
    const b = client("bob");
    const w = client("watcher");
    await Promise.all([a.connect(), b.connect(), w.connect()]);
    const boxA = inbox();
    const boxA2 = inbox();
    const boxW = inbox();
    const subA = a.subscribe("news.unsub", boxA);
    const subA2 = a.subscribe("news.unsub", boxA2);
    await Promise.all([subA.ready(), subA2.ready(), w.subscribe("news.unsub", boxW).ready()]);
    await b.send("news.unsub", 1);
    await Promise.all([boxA.wait(1), boxA2.wait(1), boxW.wait(1)]);

    subA.unsubscribe(); // a still has subA2: still subscribed
    await b.send("news.unsub", 2);
    await Promise.all([boxA2.wait(2), boxW.wait(2)]);
    subA2.unsubscribe(); // the last one: a leaves the channel
    await a.ping(); // the server has handled the unsubscribe before the ping
    await b.send("news.unsub", 3);
    await boxW.wait(3);
    await sleep(300); // nothing may be on its way to a
    assert.deepEqual(boxA.messages.map((m) => m.data), [1]);
    assert.deepEqual(boxA2.messages.map((m) => m.data), [1, 2]);
  });

  it("keeps the connection across token refreshes", T, async () => {
    let calls = 0;
    const c = client("tina", {
      getToken: () => {
        calls++;
        return srv.token("tina", { ttl: "3" });
      },
    });
    await c.connect();
    const box = inbox();
    await c.subscribe("refresh.ch", box).ready();
    // The first token expires 3 s after it was issued; without a refresh the server would
    // close with 4001 at that point.
    await waitFor(() => calls >= 3, 20_000, "two refreshes");
    await sleep(1500);
    assert.deepEqual(
      c.states.map((s) => s.s),
      ["connecting", "connected"],
      `states: ${JSON.stringify(c.states)}; errors: ${c.errors}`,
    );
    await c.send("refresh.ch", "still here");
    await box.wait(1);
  });

  it("after 4001 (token expired without refresh) gets a new token and reconnects", T, async () => {
    let calls = 0;
    const c = client("ursula", {
      getToken: () => {
        calls++;
        // The refresh (call 2) fails, so the server closes with 4001 at expiry; the
        // reconnect (call 3) succeeds.
        if (calls === 2) throw new Error("token service down");
        return srv.token("ursula", { ttl: "2" });
      },
    });
    await c.connect();
    const box = inbox();
    await c.subscribe("expire.ch", box).ready();
    const mark = c.states.length;
    const disc = await nextState(c, "disconnected", 20_000, mark);
    assert.equal(disc.code, CloseCode.TokenExpired, JSON.stringify(disc));
    await nextState(c, "connected", 20_000, mark);
    assert.ok(calls >= 3);
    c.close(); // the ttl=2 token would cycle again otherwise
    const d = client("dave");
    await d.connect();
    const c2box = inbox();
    await d.subscribe("expire.ch", c2box).ready();
    await d.send("expire.ch", "x");
    await c2box.wait(1);
  });

  it("does not reconnect after 4004 (disconnected by the server API)", T, async (t) => {
    const c = client("mallory");
    await c.connect();
    const r = await srv.api("POST", "/api/disconnect", { appId: APP_ID, client_id: c.clientId });
    if (r.status === 404) {
      // The HTTP API (issue 5) is developed separately; the scripted-server unit test covers 4004 meanwhile.
      t.skip("server has no POST /api/disconnect yet");
      return;
    }
    assert.equal(r.status, 200, r.text);
    const info = await nextState(c, "closed", 10_000, 0);
    assert.equal(info.code, CloseCode.DisconnectedByServer);
    await sleep(500);
    assert.equal(c.state, "closed");
    await assert.rejects(c.send("x", 1), (e) => e.code === LocalCode.Closed);
  });

  it("recovers publications missed while the connection was down", T, async (t) => {
    const proxy = await startProxy(srv.port);
    try {
      const a = client("alice", { url: proxy.ws });
      const b = client("bob");
      await Promise.all([a.connect(), b.connect()]);
      const box = inbox();
      const sub = a.subscribe("news.recover", box);
      await sub.ready();
      const first = box.subscribed[0];
      if (first.epoch === undefined) {
        t.skip("the server keeps no history for this channel (no epoch in the subscribe answer)");
        return;
      }
      await b.send("news.recover", 1);
      await box.wait(1);

      const mark = a.states.length;
      proxy.refuse(true);
      proxy.cut();
      await nextState(a, "disconnected", 15_000, mark);
      for (let i = 2; i <= 4; i++) await b.send("news.recover", i);
      proxy.refuse(false);
      await waitFor(() => box.subscribed.length === 2, 20_000, "resubscribed");
      assert.equal(box.subscribed[1].resubscribed, true);
      assert.equal(box.subscribed[1].recovered, true, JSON.stringify(box.subscribed[1]));
      await b.send("news.recover", 5);
      await box.wait(5);
      await sleep(200);
      assert.deepEqual(box.messages.map((m) => m.data), [1, 2, 3, 4, 5]);
      const offsets = box.messages.map((m) => m.pub.offset);
      assert.deepEqual(offsets, [...offsets].sort((x, y) => x - y));
    } finally {
      await proxy.close();
    }
  });

  it("reads history", T, async (t) => {
    const c = client("hank");
    await c.connect();
    for (let i = 1; i <= 3; i++) await c.send("news.history", { i });
    let h;
    try {
      h = await c.history("news.history", { since: 0, limit: 10 });
    } catch (err) {
      if (err instanceof RTMateError && err.is("UnsupportedEvent")) {
        t.skip("server does not implement history yet");
        return;
      }
      throw err;
    }
    assert.equal(h.channel, "news.history");
    assert.equal(typeof h.epoch, "string");
    assert.deepEqual(h.publications.map((p) => p.data), [{ i: 1 }, { i: 2 }, { i: 3 }]);
    assert.equal(h.offset, h.publications.at(-1).offset);
    const tail = await c.history("news.history", { since: h.publications[0].offset, limit: 1 });
    assert.deepEqual(tail.publications.map((p) => p.data), [{ i: 2 }]);
  });

  it("declares a silent connection dead through pings and comes back", T, async () => {
    const proxy = await startProxy(srv.port);
    try {
      const a = client("pinger", { url: proxy.ws, pingIntervalMs: 200, pingTimeoutMs: 500, connectTimeoutMs: 1000 });
      await a.connect();
      const box = inbox();
      await a.subscribe("ping.ch", box).ready();
      const mark = a.states.length;
      proxy.blackhole(true);
      const info = await nextState(a, "disconnected", 15_000, mark);
      assert.equal(info.reason, "ping timeout");
      // Attempts made meanwhile hang in the handshake until the connect timeout drops them.
      proxy.blackhole(false);
      await nextState(a, "connected", 30_000, mark);
      const b = client("bob");
      await b.connect();
      await b.send("ping.ch", "back");
      await box.wait(1);
    } finally {
      await proxy.close();
    }
  });
});

describe("server restart", () => {
  it("reconnects and resubscribes after the server restarts on the same port", T, async () => {
    const srv = await startServer();
    const a = makeClient(srv, "alice");
    const b = makeClient(srv, "bob");
    try {
      await Promise.all([a.connect(), b.connect()]);
      const box = inbox();
      await a.subscribe("restart.ch", box).ready();
      await a.subscribe("presence-restart", inbox()).ready();
      await b.send("restart.ch", "before");
      await box.wait(1);

      const markA = a.states.length;
      const markB = b.states.length;
      await srv.stop();
      const [infoA] = await Promise.all([nextState(a, "disconnected", 15_000, markA), nextState(b, "disconnected", 15_000, markB)]);
      assert.ok(
        [CloseCode.GoingAway, 1006].includes(infoA.code),
        `close code on shutdown: ${JSON.stringify(infoA)}`,
      );
      // Requests made while down wait for the connection.
      const queued = b.send("restart.ch", "queued", { timeoutMs: 30_000 });
      await srv.start();
      await Promise.all([nextState(a, "connected", 30_000, markA), nextState(b, "connected", 30_000, markB)]);
      await waitFor(() => box.subscribed.length === 2, 20_000, "resubscribed");
      assert.equal(box.subscribed[1].resubscribed, true);
      await queued;
      await b.send("restart.ch", "after");
      await waitFor(() => box.messages.some((m) => m.data === "after"), 10_000, "message after restart");
      const datas = box.messages.map((m) => m.data);
      assert.equal(datas[0], "before");
      assert.equal(new Set(datas).size, datas.length, `no duplicates: ${datas}`);
      const p = await a.presence("presence-restart");
      assert.deepEqual(p.members, [{ client_id: a.clientId, user_id: "alice" }]);
    } finally {
      a.close();
      b.close();
      await srv.stop();
    }
  });
});
