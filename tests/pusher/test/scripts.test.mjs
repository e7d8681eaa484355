// Script hooks on the Pusher protocol (docs/scripts.md, "On the Pusher protocol"), with the
// real pusher-js and pusher server SDK: the example acl.lua refuses a subscription, the
// example moderation.lua masks a client event for pusher-js and native subscribers alike,
// and a publish script's refusal is the SDK's 403. Its own configured app, with scripts.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { REPO_ROOT, collect, nativeClient, subscribed, useServer, waitFor } from "./helpers.mjs";

const examples = join(REPO_ROOT, "examples", "scripts");
const dir = mkdtempSync(join(tmpdir(), "rtmate-pusher-scripts-"));
const gate = join(dir, "gate.lua");
writeFileSync(gate, `
function on_publish(ctx)
  if ctx.channel == "locked" then return {allow=false, reason="locked by the "..ctx.source.." hook"} end
end
`);

describe("script hooks on the Pusher protocol", () => {
  const ctx = useServer({
    config: `
development: true
apps:
  - id: demo-app
    secret: rtmate-dev-secret-change-me
    pusher:
      key: demo-key
      secret: demo-secret
      client_events: true
    scripts:
      - {name: acl, file: ${join(examples, "acl.lua")}, hooks: [subscribe], timeout: 1s}
      - {name: moderation, file: ${join(examples, "moderation.lua")}, hooks: [publish], timeout: 1s}
      - {name: gate, file: ${gate}, hooks: [publish], timeout: 1s}
`,
  });
  let native;
  before(async () => {
    native = await nativeClient(ctx.srv, "nat");
  });
  after(() => {
    native?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a subscription acl.lua refuses is pusher:subscription_error AuthError 403 with its reason", async () => {
    const p = ctx.make({ user: "eve" });
    await assert.rejects(subscribed(p, "private-admins"), (e) =>
      e.detail.type === "AuthError" && e.detail.status === 403 && e.detail.error === "private channels are for admins");
    await subscribed(p, "open-room"); // acl.lua lets every other channel through
  });

  it("a client event goes through moderation.lua to pusher-js and native subscribers", async () => {
    const a = ctx.make({ user: "ann" });
    const b = ctx.make({ user: "bob" });
    const { ch } = await subscribed(a, "presence-chat");
    const rb = await subscribed(b, "presence-chat");
    const got = collect(rb.ch, "client-msg");
    const sub = await native.request("subscribe", { channel: "presence-chat" });
    assert.equal(sub.code, 200, JSON.stringify(sub));
    native.pushes.length = 0;
    ch.trigger("client-msg", { text: "darn it, Heck", n: 1 });
    await waitFor(() => got.length === 1, 3000, "client-msg at pusher-js");
    assert.deepEqual(got[0].data, { text: "**** it, ****", n: 1 });
    assert.equal(got[0].meta?.user_id, "ann");
    const msgs = () => native.pushes.filter((m) => m.event === "message" && m.data.channel === "presence-chat");
    await waitFor(() => msgs().length === 1, 3000, "the client event at the native client");
    const d = msgs()[0].data.data;
    assert.equal(d.event, "client-msg");
    assert.deepEqual(d.data, { text: "**** it, ****", n: 1 });
  });

  it("the server SDK's trigger gets 403 with the script's reason", async () => {
    await assert.rejects(ctx.sdk.trigger("locked", "e", { a: 1 }), (e) => e.status === 403 && e.body.trim() === "locked by the api hook");
    const r = await ctx.sdk.trigger("unlocked", "e", { a: 1 });
    assert.equal(r.status, 200);
  });
});
