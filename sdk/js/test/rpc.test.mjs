// rpc against the real server running examples/scripts/rpc.lua.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { RTMateError } from "../dist/index.js";
import { makeClient, startServer } from "./helpers.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

describe("rpc", () => {
  let srv;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "rtmate-rpc-"));
    const config = join(dir, "rtmate.yaml");
    writeFileSync(
      config,
      [
        "development: true",
        "apps:",
        "  - id: demo-app",
        "    secret: rtmate-dev-secret-change-me",
        "    api_key: demo-api-key",
        "    scripts:",
        "      - name: rpc",
        `        file: ${join(root, "examples", "scripts", "rpc.lua")}`,
        "        hooks: [rpc]",
        "        timeout: 1s",
        "",
      ].join("\n"),
    );
    srv = await startServer({ args: ["-config", config] });
  });
  after(async () => {
    await srv?.stop();
  });

  it("answers add and rejects unknown methods with the script's reason", async () => {
    const c = makeClient(srv, "alice");
    await c.connect();
    try {
      assert.deepEqual(await c.rpc("add", { a: 1, b: 2 }), { sum: 3 });
      const t = await c.rpc("time");
      assert.ok(Math.abs(t.now_ms - Date.now()) < 60_000, `now_ms ${t.now_ms}`);
      await assert.rejects(c.rpc("nope"), (err) => {
        assert.ok(err instanceof RTMateError);
        assert.ok(err.is("InvalidParams"), `${err.code} ${err.message}`);
        assert.equal(err.reason, "unknown method nope");
        return true;
      });
      await assert.rejects(c.rpc("bad method"), (err) => err instanceof RTMateError && err.is("InvalidParams") && err.reason === undefined);
    } finally {
      c.close();
    }
  });
});
