// Unit tests of the SDK against a scripted in-memory WebSocket: the corner cases of recovery,
// close codes, keepalive and token refresh that a real server cannot be made to produce on cue.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  RTMateClient,
  RTMateError,
  LocalCode,
  WsBizCode,
  CloseCode,
  backoffDelay,
  jwtTimes,
  refreshDelayMs,
} from "../dist/index.js";
import { waitFor, sleep } from "./helpers.mjs";

const b64url = (s) => Buffer.from(s).toString("base64url");
/** fakeJWT builds an unsigned token; the client never verifies signatures. */
const fakeJWT = (claims) => `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url(JSON.stringify(claims))}.sig`;

/**
 * FakeServer hands the client a WebSocket class whose sockets it scripts. By default it opens
 * each socket, accepts auth and answers ping; tests override `handle`.
 */
class FakeServer {
  constructor() {
    this.sockets = [];
    this.requests = [];
    this.clientSeq = 0;
    this.answerPing = true;
    const srv = this;
    this.WebSocket = class FakeWS {
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.onopen = this.onmessage = this.onclose = this.onerror = null;
        this.closedBy = null;
        srv.sockets.push(this);
        setTimeout(() => {
          if (this.readyState !== 0) return;
          this.readyState = 1;
          this.onopen?.({});
        }, 0);
      }
      send(text) {
        const req = JSON.parse(text);
        req.socket = this;
        srv.requests.push(req);
        srv.handle(this, req);
      }
      close(code, reason) {
        this.readyState = 3;
        this.closedBy = { code, reason };
      }
      terminate() {
        this.readyState = 3;
        this.closedBy = { terminated: true };
      }
      // server side:
      reply(req, data, code = 200, message = "success") {
        this.push({ code, message, data, event: req.event, id: req.id, traceId: "t-" + req.id });
      }
      push(env) {
        if (this.readyState !== 1) return;
        this.onmessage?.({ data: JSON.stringify(env) });
      }
      serverClose(code, reason = "") {
        this.readyState = 3;
        this.onclose?.({ code, reason });
      }
    };
  }
  handle(ws, req) {
    if (req.event === "auth") ws.reply(req, { state: true, client_id: `c${++this.clientSeq}` });
    else if (req.event === "ping" && this.answerPing) ws.reply(req, null);
    else this.onRequest?.(ws, req);
  }
  last(event) {
    return this.requests.filter((r) => r.event === event).at(-1);
  }
  all(event) {
    return this.requests.filter((r) => r.event === event);
  }
  get socket() {
    return this.sockets.at(-1);
  }
}

function newClient(srv, opts = {}) {
  const c = new RTMateClient({
    url: "ws://fake/ws",
    appId: "demo-app",
    getToken: () => "tok",
    WebSocket: srv.WebSocket,
    reconnect: { minDelayMs: 1, maxDelayMs: 5 },
    pingIntervalMs: 0,
    ...opts,
  });
  c.states = [];
  c.errors = [];
  c.on("state", (s, info) => c.states.push({ s, ...info }));
  c.on("error", (e) => c.errors.push(e));
  return c;
}

const msg = (channel, offset, data = offset) => ({
  code: 200,
  message: "success",
  event: "message",
  data: { channel, data, from: "p", offset },
});

describe("helpers", () => {
  it("backoffDelay is full jitter under an exponential ceiling", () => {
    const opts = { minDelayMs: 100, maxDelayMs: 1000 };
    const cases = [
      { attempt: 0, ceiling: 100 },
      { attempt: 1, ceiling: 200 },
      { attempt: 3, ceiling: 800 },
      { attempt: 4, ceiling: 1000 },
      { attempt: 50, ceiling: 1000 },
    ];
    for (const { attempt, ceiling } of cases) {
      assert.equal(backoffDelay(attempt, opts, () => 0), 0, `attempt ${attempt} low end`);
      assert.equal(backoffDelay(attempt, opts, () => 0.999999), ceiling - 1, `attempt ${attempt} high end`);
    }
  });

  it("jwtTimes reads exp and iat without verifying", () => {
    const cases = [
      { name: "exp and iat", tok: fakeJWT({ exp: 2000, iat: 1000, sub: "ünïcode" }), want: { exp: 2000, iat: 1000 } },
      { name: "exp only", tok: fakeJWT({ exp: 5 }), want: { exp: 5 } },
      { name: "no exp", tok: fakeJWT({ sub: "x" }), want: undefined },
      { name: "not a JWT", tok: "abc", want: undefined },
      { name: "garbage payload", tok: "a.!!!.c", want: undefined },
    ];
    for (const c of cases) assert.deepEqual(jwtTimes(c.tok), c.want, c.name);
  });

  it("refreshDelayMs refreshes 10% of the lifetime before exp, within [1 s, 30 s]", () => {
    const now = 1_000_000_000_000;
    const s = now / 1000;
    const cases = [
      { name: "1 h token: 30 s before", t: { exp: s + 3600, iat: s }, want: 3_570_000 },
      { name: "100 s token: 10 s before", t: { exp: s + 100, iat: s }, want: 90_000 },
      { name: "5 s token: 1 s before", t: { exp: s + 5, iat: s }, want: 4_000 },
      { name: "1 s token: half its life", t: { exp: s + 1, iat: s }, want: 500 },
      { name: "expired: now", t: { exp: s - 10, iat: s - 20 }, want: 0 },
      { name: "no iat: lifetime from now", t: { exp: s + 100 }, want: 90_000 },
    ];
    for (const c of cases) assert.equal(refreshDelayMs(c.t, now), c.want, c.name);
  });

  it("RTMateError.is compares code and message, because codes are shared", () => {
    const e = new RTMateError(400, "参数错误", "messageSend", "tr");
    assert.ok(e.is("InvalidParams"));
    assert.ok(!e.is("UnsupportedEvent"));
    assert.ok(!e.local);
    assert.equal(e.name, "RTMateError");
    assert.ok(e instanceof Error);
    assert.deepEqual(WsBizCode.InvalidParams, { code: 400, message: "参数错误" });
    assert.equal(CloseCode.DisconnectedByServer, 4004);
  });

  it("the constructor explains a missing WebSocket", () => {
    const saved = globalThis.WebSocket;
    try {
      delete globalThis.WebSocket;
      assert.throws(() => new RTMateClient({ url: "ws://x", appId: "a", getToken: () => "t" }), /WebSocket/);
    } finally {
      if (saved) globalThis.WebSocket = saved;
    }
  });
});

describe("client with a scripted server", () => {
  it("matches responses to requests by id, in any order", async () => {
    const srv = new FakeServer();
    const held = [];
    srv.onRequest = (ws, req) => held.push(req);
    const c = newClient(srv);
    await c.connect();
    assert.equal(c.clientId, "c1");
    const p1 = c.presence("presence-a");
    const p2 = c.send("b", { x: 1 }, { traceId: "my-trace" });
    await waitFor(() => held.length === 2);
    assert.deepEqual(held[1].metadata, { traceId: "my-trace" });
    assert.equal(typeof held[0].id, "number");
    held[1].socket.reply(held[1], { channel: "b" });
    held[0].socket.reply(held[0], { channel: "presence-a", count: 0, members: [] });
    assert.deepEqual(await p2, { channel: "b" });
    assert.deepEqual(await p1, { channel: "presence-a", count: 0, members: [] });
    c.close();
  });

  it("rejects with the envelope's code, message, event and traceId", async () => {
    const srv = new FakeServer();
    srv.onRequest = (ws, req) => ws.reply(req, null, 403, "无权限");
    const c = newClient(srv);
    await c.connect();
    await assert.rejects(c.send("x", 1), (err) => {
      assert.ok(err instanceof RTMateError);
      assert.equal(err.code, 403);
      assert.equal(err.message, "无权限");
      assert.equal(err.event, "messageSend");
      assert.match(err.traceId, /^t-\d+$/);
      assert.ok(err.is("Forbidden"));
      return true;
    });
    c.close();
  });

  it("rejects connect() when the server refuses the token, and stays closed", async () => {
    const srv = new FakeServer();
    srv.handle = (ws, req) => ws.reply(req, null, 401, "无效的 token");
    const c = newClient(srv);
    await assert.rejects(c.connect(), (err) => err instanceof RTMateError && err.is("InvalidToken"));
    assert.equal(c.state, "closed");
    await sleep(20);
    assert.equal(srv.sockets.length, 1, "no reconnect after a refused token");
  });

  it("rejects requests before connect() and after close()", async () => {
    const srv = new FakeServer();
    const c = newClient(srv);
    await assert.rejects(c.send("x", 1), (e) => e.code === LocalCode.Closed);
    await c.connect();
    c.close();
    assert.equal(c.state, "closed");
    await assert.rejects(c.send("x", 1), (e) => e.code === LocalCode.Closed);
  });

  it("holds requests made while connecting and sends them once connected", async () => {
    const srv = new FakeServer();
    srv.onRequest = (ws, req) => ws.reply(req, { channel: req.payload.channel });
    const c = newClient(srv);
    const connected = c.connect();
    const sent = c.send("early", "hi");
    await connected;
    assert.deepEqual(await sent, { channel: "early" });
    c.close();
  });

  it("recovers missed publications in order, without duplicates, holding live ones back meanwhile", async () => {
    const srv = new FakeServer();
    let recoverReq = null;
    srv.onRequest = (ws, req) => {
      if (req.event !== "subscribe") return;
      if (!req.payload.recover) ws.reply(req, { channel: "news", epoch: "e1", offset: 5 });
      else recoverReq = req; // answered by the test
    };
    const c = newClient(srv);
    await c.connect();
    const got = [];
    const infos = [];
    const sub = c.subscribe("news", { onMessage: (d, pub) => got.push(pub.offset), onSubscribe: (i) => infos.push(i) });
    await sub.ready();
    const ws1 = srv.socket;
    ws1.push(msg("news", 6));
    ws1.push(msg("news", 7));
    ws1.push(msg("news", 7)); // a duplicate is dropped
    ws1.serverClose(CloseCode.GoingAway, "shutdown");
    assert.equal(c.state, "disconnected");
    await waitFor(() => recoverReq);
    assert.deepEqual(recoverReq.payload, { channel: "news", recover: true, offset: 7, epoch: "e1" });
    const ws2 = recoverReq.socket;
    assert.notEqual(ws2, ws1);
    ws2.push(msg("news", 10)); // live, arrives before the recovery answer
    ws2.reply(recoverReq, {
      channel: "news",
      epoch: "e1",
      offset: 9,
      recovered: true,
      publications: [
        { data: 9, from: "p", offset: 9 },
        { data: 7, from: "p", offset: 7 },
        { data: 8, from: "p", offset: 8 },
      ],
    });
    ws2.push(msg("news", 10));
    ws2.push(msg("news", 11));
    await waitFor(() => got.length >= 6);
    await sleep(10);
    assert.deepEqual(got, [6, 7, 8, 9, 10, 11]);
    assert.deepEqual(infos.map((i) => [i.resubscribed, i.recovered]), [
      [false, false],
      [true, true],
    ]);
    c.close();
  });

  it("starts offsets afresh when the epoch changed", async () => {
    const srv = new FakeServer();
    let n = 0;
    srv.onRequest = (ws, req) => {
      if (req.event !== "subscribe") return;
      if (n++ === 0) ws.reply(req, { channel: "news", epoch: "e1", offset: 40 });
      else ws.reply(req, { channel: "news", epoch: "e2", recovered: false });
    };
    const c = newClient(srv);
    await c.connect();
    const got = [];
    const infos = [];
    await c.subscribe("news", { onMessage: (d) => got.push(d), onSubscribe: (i) => infos.push(i) }).ready();
    srv.socket.push(msg("news", 41, "a"));
    srv.socket.serverClose(CloseCode.GoingAway);
    await waitFor(() => infos.length === 2);
    assert.deepEqual(infos[1], { channel: "news", resubscribed: true, recovered: false, epoch: "e2", offset: 0 });
    srv.socket.push(msg("news", 1, "b"));
    assert.deepEqual(got, ["a", "b"]);
    c.close();
  });

  it("handles a resync push: reported like an unrecovered resubscription, new epoch kept for recovery", async () => {
    const srv = new FakeServer();
    let recoverReq = null;
    srv.onRequest = (ws, req) => {
      if (req.event !== "subscribe") return;
      if (!req.payload.recover) ws.reply(req, { channel: "news", epoch: "e1", offset: 40 });
      else recoverReq = req;
    };
    const c = newClient(srv);
    await c.connect();
    const got = [];
    const infos = [];
    await c.subscribe("news", { onMessage: (d) => got.push(d), onSubscribe: (i) => infos.push(i) }).ready();
    srv.socket.push(msg("news", 41, "a"));
    // The epoch changed under the live subscription; its offsets may restart at 1.
    srv.socket.push({ code: 200, message: "success", event: "resync", data: { channel: "news", epoch: "e2", offset: 0 } });
    srv.socket.push(msg("news", 1, "b"));
    srv.socket.push(msg("news", 2, "c"));
    await waitFor(() => got.length >= 3);
    assert.deepEqual(got, ["a", "b", "c"]);
    assert.deepEqual(infos[1], { channel: "news", resubscribed: true, recovered: false, reason: "resync", epoch: "e2", offset: 0 });
    // The same epoch again: nothing to tell, the position stays.
    srv.socket.push({ code: 200, message: "success", event: "resync", data: { channel: "news", epoch: "e2", offset: 0 } });
    await sleep(10);
    assert.equal(infos.length, 2);
    srv.socket.serverClose(CloseCode.GoingAway);
    await waitFor(() => recoverReq);
    assert.deepEqual(recoverReq.payload, { channel: "news", recover: true, offset: 2, epoch: "e2" });
    recoverReq.socket.reply(recoverReq, { channel: "news", epoch: "e2", offset: 2, recovered: true, publications: [] });
    await waitFor(() => infos.length === 3);
    assert.equal(infos[2].recovered, true);
    assert.equal(infos[2].reason, undefined);
    c.close();
  });

  it("does not reconnect after 4004 and fails what was in flight", async () => {
    const srv = new FakeServer();
    srv.onRequest = () => {}; // never answers
    const c = newClient(srv);
    await c.connect();
    const inflight = c.send("x", 1);
    await waitFor(() => srv.last("messageSend"));
    srv.socket.serverClose(CloseCode.DisconnectedByServer, "kicked");
    await assert.rejects(inflight, (e) => e.code === LocalCode.ConnectionLost);
    assert.equal(c.state, "closed");
    assert.equal(c.states.at(-1).code, 4004);
    await sleep(30);
    assert.equal(srv.sockets.length, 1);
  });

  it("after 4001 fetches a new token and reconnects", async () => {
    const srv = new FakeServer();
    let calls = 0;
    const c = newClient(srv, { getToken: () => `tok${++calls}` });
    await c.connect();
    srv.socket.serverClose(CloseCode.TokenExpired, "token expired");
    await waitFor(() => c.state === "connected" && srv.sockets.length === 2);
    assert.equal(c.states.find((s) => s.s === "disconnected").code, 4001);
    assert.equal(c.states.find((s) => s.s === "disconnected").retryInMs, 0);
    assert.deepEqual(srv.all("auth").map((r) => r.payload.token), ["tok1", "tok2"]);
    c.close();
  });

  it("declares a connection dead when a ping goes unanswered", async () => {
    const srv = new FakeServer();
    srv.answerPing = false;
    const c = newClient(srv, { pingIntervalMs: 10, pingTimeoutMs: 30 });
    await c.connect();
    const first = srv.socket;
    await waitFor(() => srv.sockets.length >= 2, 5000, "a new socket");
    assert.deepEqual(first.closedBy, { terminated: true });
    assert.ok(c.states.some((s) => s.s === "disconnected" && s.reason === "ping timeout"));
    c.close();
  });

  it("gives up on a handshake that never completes and tries again", async () => {
    const srv = new FakeServer();
    const Base = srv.WebSocket;
    let n = 0;
    srv.WebSocket = class extends Base {
      constructor(url) {
        super(url);
        if (++n === 1) this.readyState = 2; // the first socket never opens
      }
    };
    const c = newClient(srv, { connectTimeoutMs: 30 });
    await c.connect();
    assert.equal(srv.sockets.length, 2);
    assert.deepEqual(srv.sockets[0].closedBy, { terminated: true });
    assert.ok(c.states.some((s) => s.s === "disconnected" && s.reason === "connect timeout"));
    c.close();
  });

  it("refreshes the token on the live connection before it expires", async () => {
    const srv = new FakeServer();
    let calls = 0;
    const getToken = () => {
      calls++;
      const now = Math.floor(Date.now() / 1000);
      return fakeJWT({ app_id: "demo-app", sub: "u", iat: now, exp: now + 2 + calls });
    };
    const c = newClient(srv, { getToken });
    await c.connect();
    await waitFor(() => srv.all("auth").length >= 2, 10_000, "a second auth");
    const auths = srv.all("auth");
    assert.equal(auths[1].socket, auths[0].socket, "refresh reuses the connection");
    assert.notEqual(auths[1].payload.token, auths[0].payload.token);
    assert.equal(srv.sockets.length, 1);
    c.close();
  });

  it("reports a throwing handler through 'error' and keeps delivering", async () => {
    const srv = new FakeServer();
    srv.onRequest = (ws, req) => ws.reply(req, { channel: req.payload.channel });
    const c = newClient(srv);
    await c.connect();
    const got = [];
    await c.subscribe("ch", {
      onMessage(d) {
        got.push(d);
        if (d === 1) throw new Error("boom");
      },
    }).ready();
    srv.socket.push(msg("ch", undefined, 1));
    srv.socket.push(msg("ch", undefined, 2));
    assert.deepEqual(got, [1, 2]);
    assert.equal(c.errors.at(-1).message, "boom");
    c.close();
  });

  it("shares one server subscription between handlers and leaves with the last", async () => {
    const srv = new FakeServer();
    srv.onRequest = (ws, req) => ws.reply(req, { channel: req.payload.channel });
    const c = newClient(srv);
    await c.connect();
    const a = [];
    const b = [];
    const s1 = c.subscribe("ch", { onMessage: (d) => a.push(d) });
    const s2 = c.subscribe("ch", { onMessage: (d) => b.push(d) });
    await Promise.all([s1.ready(), s2.ready()]);
    assert.equal(srv.all("subscribe").length, 1);
    srv.socket.push(msg("ch", undefined, "x"));
    s1.unsubscribe();
    assert.equal(s1.active, false);
    assert.equal(srv.all("unsubscribe").length, 0);
    srv.socket.push(msg("ch", undefined, "y"));
    s2.unsubscribe();
    assert.equal(srv.all("unsubscribe").length, 1);
    srv.socket.push(msg("ch", undefined, "z"));
    assert.deepEqual(a, ["x"]);
    assert.deepEqual(b, ["x", "y"]);
    c.close();
  });

  it("ends a subscription the server refuses and tells onError", async () => {
    const srv = new FakeServer();
    srv.onRequest = (ws, req) => ws.reply(req, null, 400, "参数错误");
    const c = newClient(srv);
    await c.connect();
    const errs = [];
    const sub = c.subscribe("bad channel", { onError: (e) => errs.push(e) });
    await assert.rejects(sub.ready(), (e) => e.is("InvalidParams"));
    assert.equal(errs.length, 1);
    assert.equal(sub.active, false);
    c.close();
  });
});
