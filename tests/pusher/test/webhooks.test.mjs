// Pusher-format webhooks through RTMate's webhook machinery, received by a real HTTP server
// and checked with the pusher SDK's own webhook() validation.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";

import { subscribed, useServer, waitFor } from "./helpers.mjs";

describe("pusher webhooks", () => {
  const received = []; // { valid, events, time }
  let receiver;
  before(async () => {
    receiver = http.createServer(async (req, res) => {
      let rawBody = "";
      for await (const chunk of req) rawBody += chunk;
      const hook = ctx.sdk.webhook({ headers: req.headers, rawBody });
      const valid = hook.isValid();
      received.push({ valid, events: valid ? hook.getEvents() : [], time: valid ? hook.getTime() : null });
      res.end("ok");
    });
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  });
  after(() => new Promise((r) => receiver.close(r)));
  const ctx = useServer({
    config: () => `
development: true
apps:
  - id: demo-app
    secret: rtmate-dev-secret-change-me
    pusher:
      key: demo-key
      secret: demo-secret
      client_events: true
    webhook:
      format: pusher
      url: http://127.0.0.1:${receiver.address().port}/pusher/webhook
      batch_size: 10
`,
  });

  const events = () => received.flatMap((r) => r.events);

  it("channel_occupied, member_added, client_event, member_removed, channel_vacated — all valid", async () => {
    const a = ctx.make({ user: "wa" });
    const b = ctx.make({ user: "wb" });
    const ra = await subscribed(a, "presence-hooks");
    await subscribed(b, "presence-hooks");
    ra.ch.trigger("client-ping", { n: 1 });
    await waitFor(() => events().some((e) => e.name === "client_event"), 5000, "client_event webhook");
    b.unsubscribe("presence-hooks");
    a.unsubscribe("presence-hooks");
    await waitFor(() => events().some((e) => e.name === "channel_vacated"), 5000, "channel_vacated webhook");

    assert.ok(received.length > 0);
    assert.ok(received.every((r) => r.valid), "every webhook passes the SDK's signature check");
    assert.ok(received.every((r) => r.time instanceof Date));
    const mine = events().filter((e) => e.channel === "presence-hooks");
    assert.deepEqual(mine.map((e) => e.name), [
      "channel_occupied", "member_added", "member_added", "client_event", "member_removed", "member_removed", "channel_vacated",
    ]);
    assert.deepEqual(mine.filter((e) => e.name === "member_added").map((e) => e.user_id), ["wa", "wb"]);
    const ce = mine.find((e) => e.name === "client_event");
    assert.equal(ce.event, "client-ping");
    assert.deepEqual(JSON.parse(ce.data), { n: 1 });
    assert.equal(ce.socket_id, a.connection.socket_id);
    assert.equal(ce.user_id, "wa");
  });
});
