// Both protocols on one channel: a native RTMate client and a pusher-js client subscribed to
// the same channel name see each other's publications, mapped as docs/pusher.md says; Pusher
// events land in the channel's history like native messages.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { collect, nativeClient, sleep, subscribed, useServer, waitFor } from "./helpers.mjs";

describe("native and Pusher clients on one channel", () => {
  const ctx = useServer();
  let sdk, native, p;
  before(async () => {
    sdk = ctx.sdk;
    native = await nativeClient(ctx.srv, "nat");
    p = ctx.make({ user: "pu" });
  });
  after(() => native?.close());

  it("a native publication reaches pusher-js as event 'message' with its data", async () => {
    const { ch } = await subscribed(p, "both-1");
    const got = collect(ch, "message");
    const sub = await native.request("subscribe", { channel: "both-1" });
    assert.equal(sub.code, 200);
    const sent = await native.request("messageSend", { channel: "both-1", data: { text: "hi" } });
    assert.equal(sent.code, 200);
    await waitFor(() => got.length === 1, 3000, "message at pusher-js");
    assert.deepEqual(got[0].data, { text: "hi" });
  });

  it("a native publication of {event,data} reaches pusher-js as that event", async () => {
    const { ch } = await subscribed(p, "both-2");
    const got = collect(ch, "order-shipped");
    await native.request("subscribe", { channel: "both-2" });
    await native.request("messageSend", { channel: "both-2", data: { event: "order-shipped", data: { id: 7 } } });
    await waitFor(() => got.length === 1, 3000, "order-shipped");
    assert.deepEqual(got[0].data, { id: 7 });
  });

  it("an SDK trigger and a client event reach the native client as message pushes", async () => {
    const { ch } = await subscribed(p, "private-both-3");
    await native.request("subscribe", { channel: "private-both-3" });
    native.pushes.length = 0;
    await sdk.trigger("private-both-3", "price", { eur: 10 });
    ch.trigger("client-hello", { from: "pusher" });
    await waitFor(() => native.pushes.filter((m) => m.event === "message").length === 2, 3000, "two pushes");
    const datas = native.pushes.filter((m) => m.event === "message").map((m) => m.data);
    assert.deepEqual(datas[0].data, { event: "price", data: JSON.stringify({ eur: 10 }) });
    assert.equal(datas[0].from, "server");
    assert.equal(datas[1].data.event, "client-hello");
    assert.deepEqual(datas[1].data.data, { from: "pusher" });
    assert.equal(datas[1].data.socket_id, p.connection.socket_id);
    assert.equal(datas[1].from, p.connection.socket_id);
  });

  it("Pusher events are in the channel's history for native clients", async () => {
    await sdk.trigger("hist-4", "a", "1");
    await sdk.trigger("hist-4", "b", "2");
    const h = await native.request("history", { channel: "hist-4" });
    assert.equal(h.code, 200, JSON.stringify(h));
    assert.deepEqual(h.data.publications.map((x) => x.data.event), ["a", "b"]);
  });

  it("presence: a native member is listed to pusher-js and announced", async () => {
    const { ch } = await subscribed(p, "presence-both-5");
    const added = [];
    ch.bind("pusher:member_added", (m) => added.push(m));
    await native.request("subscribe", { channel: "presence-both-5" });
    await waitFor(() => added.length === 1, 3000, "member_added for the native client");
    assert.equal(added[0].id, "nat");
    const pres = await native.request("presence", { channel: "presence-both-5" });
    assert.deepEqual(pres.data.members.map((m) => m.user_id).sort(), ["nat", "pu"]);
    await sleep(50);
  });
});
