// Channels with pusher-js and the pusher SDK's authorizeChannel: public, private,
// private-encrypted, presence (several tabs of one user announced once), unsubscribe, bad
// signatures, the presence member limit, and client events.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { before, describe, it } from "node:test";

import { KEY, client, collect, connected, sleep, subscribed, useServer, waitFor } from "./helpers.mjs";

const masterKey = randomBytes(32).toString("base64");

describe("pusher channels", () => {
  const ctx = useServer({ sdkOptions: { encryptionMasterKeyBase64: masterKey } });
  const make = (opts) => ctx.make(opts);
  let srv, sdk, auth;
  before(() => ({ srv, sdk, auth } = ctx));

  it("public: an event triggered with the SDK arrives with its data", async () => {
    const p = make();
    const { ch } = await subscribed(p, "pub-1");
    const got = collect(ch, "greet");
    await sdk.trigger("pub-1", "greet", { hello: "world", n: [1, 2] });
    await waitFor(() => got.length === 1, 3000, "greet");
    assert.deepEqual(got[0].data, { hello: "world", n: [1, 2] });
  });

  it("private: authorized through the SDK's authorizeChannel", async () => {
    const p = make({ user: "u1" });
    const { ch } = await subscribed(p, "private-orders");
    const got = collect(ch, "shipped");
    await sdk.trigger("private-orders", "shipped", "plain string");
    await waitFor(() => got.length === 1, 3000, "shipped");
    assert.equal(got[0].data, "plain string");
    assert.ok(auth.calls.some((c) => c.channel === "private-orders"));
  });

  it("private-encrypted: the SDK encrypts, pusher-js decrypts", async () => {
    const p = make({ user: "u2" });
    const { ch } = await subscribed(p, "private-encrypted-vault");
    const got = collect(ch, "secret");
    await sdk.trigger("private-encrypted-vault", "secret", { pin: 1234 });
    await waitFor(() => got.length === 1, 3000, "secret");
    assert.deepEqual(got[0].data, { pin: 1234 });
  });

  it("a forged signature gets subscription_error 401 and no subscription", async () => {
    const p = make({ query: "forge=1" });
    await connected(p);
    await assert.rejects(subscribed(p, "private-forged"), (e) => e.status === 401 && e.detail.type === "AuthError");
    const info = await (await sdk.get({ path: "/channels/private-forged", params: { info: "subscription_count" } })).json();
    assert.deepEqual(info, { occupied: false, subscription_count: 0 });
  });

  it("a private channel without auth gets subscription_error", async () => {
    const ws = new (await import("ws")).default(`ws://${srv.host}:${srv.port}/app/${KEY}?protocol=7`);
    const msgs = [];
    ws.on("message", (b) => msgs.push(JSON.parse(b.toString())));
    await waitFor(() => msgs.length === 1, 3000, "established");
    ws.send(JSON.stringify({ event: "pusher:subscribe", data: { channel: "private-x" } }));
    await waitFor(() => msgs.length === 2, 3000, "subscription_error");
    assert.equal(msgs[1].event, "pusher:subscription_error");
    assert.equal(msgs[1].channel, "private-x");
    assert.equal(msgs[1].data.status, 401);
    ws.close();
  });

  it("presence: members listed; several tabs of one user are announced once", async () => {
    const alice = make({ user: "alice" });
    const { ch: room, data } = await subscribed(alice, "presence-lobby");
    assert.equal(data.count, 1);
    assert.deepEqual(data.me, { id: "alice", info: { name: "User alice" } });
    const added = [];
    const removed = [];
    room.bind("pusher:member_added", (m) => added.push(m.id));
    room.bind("pusher:member_removed", (m) => removed.push(m.id));

    const bobTab1 = make({ user: "bob" });
    const s1 = await subscribed(bobTab1, "presence-lobby");
    assert.deepEqual(Object.keys(s1.data.members).sort(), ["alice", "bob"]);
    const bobTab2 = make({ user: "bob" });
    const s2 = await subscribed(bobTab2, "presence-lobby");
    assert.equal(s2.data.count, 2, "one user with two connections counts once");
    await waitFor(() => added.length >= 1, 3000, "member_added");
    await sleep(300);
    assert.deepEqual(added, ["bob"], "member_added once for bob's two tabs");

    const users = await (await sdk.get({ path: "/channels/presence-lobby/users" })).json();
    assert.deepEqual(users, { users: [{ id: "alice" }, { id: "bob" }] });

    bobTab1.disconnect();
    await sleep(300);
    assert.deepEqual(removed, [], "bob still has a tab open");
    bobTab2.unsubscribe("presence-lobby");
    await waitFor(() => removed.length === 1, 3000, "member_removed");
    assert.deepEqual(removed, ["bob"]);
    assert.equal(room.members.count, 1);
  });

  it("unsubscribe stops delivery", async () => {
    const p = make();
    const { ch } = await subscribed(p, "pub-unsub");
    const got = collect(ch, "e");
    p.unsubscribe("pub-unsub");
    await sleep(100);
    await sdk.trigger("pub-unsub", "e", {});
    await sleep(300);
    assert.equal(got.length, 0);
  });

  it("client events reach the others, not the sender, and carry user_id on presence", async () => {
    const a = make({ user: "carol" });
    const b = make({ user: "dave" });
    const ra = await subscribed(a, "presence-chat");
    const rb = await subscribed(b, "presence-chat");
    const atA = collect(ra.ch, "client-typing");
    const atB = collect(rb.ch, "client-typing");
    assert.ok(ra.ch.trigger("client-typing", { typing: true }));
    await waitFor(() => atB.length === 1, 3000, "client event at dave");
    assert.deepEqual(atB[0].data, { typing: true });
    assert.equal(atB[0].meta.user_id, "carol");
    await sleep(200);
    assert.equal(atA.length, 0, "not echoed to the sender");
  });

  it("client events are rate-limited with pusher:error 4301", async () => {
    const a = make({ user: "eve" });
    const { ch } = await subscribed(a, "private-flood");
    const errors = [];
    a.connection.bind("error", (e) => errors.push(e));
    for (let i = 0; i < 30; i++) ch.trigger("client-spam", { i });
    await waitFor(() => errors.some((e) => e.data?.code === 4301), 3000, "4301");
  });

  it("an SDK trigger with socket_id skips that connection", async () => {
    const a = make();
    const b = make();
    const sa = await subscribed(a, "pub-excl");
    const sb = await subscribed(b, "pub-excl");
    const atA = collect(sa.ch, "e");
    const atB = collect(sb.ch, "e");
    await sdk.trigger("pub-excl", "e", { x: 1 }, { socket_id: a.connection.socket_id });
    await waitFor(() => atB.length === 1, 3000, "b");
    await sleep(200);
    assert.equal(atA.length, 0);
  });
});

describe("pusher limits of a configured app", () => {
  const ctx = useServer({
    config: `
development: true
apps:
  - id: demo-app
    secret: rtmate-dev-secret-change-me
    pusher:
      key: demo-key
      secret: demo-secret
      max_presence_members: 2
`,
  });

  it("a presence channel admits max_presence_members users, then refuses", async () => {
    for (const u of ["u1", "u2"]) await subscribed(ctx.make({ user: u }), "presence-small");
    // a user already present is no new member
    await subscribed(ctx.make({ user: "u1" }), "presence-small");
    const third = ctx.make({ user: "u3" });
    await assert.rejects(subscribed(third, "presence-small"), (e) => e.detail.type === "LimitReached");
  });

  it("client events are refused with pusher:error when the app does not enable them", async () => {
    const p = ctx.make({ user: "u9" });
    const { ch } = await subscribed(p, "private-quiet");
    const errors = [];
    p.connection.bind("error", (e) => errors.push(e));
    ch.trigger("client-x", { a: 1 });
    await waitFor(() => errors.length === 1, 3000, "pusher:error");
    assert.match(errors[0].data.message, /client events/);
  });
});
