// README.md's "Pusher clients" snippet, executed: the block is read from the README at test
// time, pointed at a real development server (its port instead of 3000), run with node in
// this folder (where pusher-js and pusher are installed), and what it prints is compared with
// the README's. A README edit that breaks the snippet fails here.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";

import { HERE, REPO_ROOT, startServer } from "./helpers.mjs";

/** section returns the README's text from heading to the next "## " heading. */
function section(heading) {
  const text = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const start = text.indexOf(`${heading}\n`);
  assert.ok(start >= 0, `README has no "${heading}"`);
  const end = text.indexOf("\n## ", start + heading.length);
  return text.slice(start, end < 0 ? undefined : end);
}

function blocks(text, lang) {
  return [...text.matchAll(/```(\w+)\n([\s\S]*?)```/g)].filter((m) => m[1] === lang).map((m) => m[2]);
}

describe("README: Pusher clients", () => {
  let srv;
  const script = join(HERE, "..", `readme-snippet-${process.pid}.mjs`);
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    rmSync(script, { force: true });
    await srv?.stop();
  });

  it("the snippet prints what the README shows", { timeout: 30_000 }, async () => {
    const sec = section("## Pusher clients (pusher-js, Laravel Echo)");
    const [js] = blocks(sec, "js");
    const [expected] = blocks(sec, "text");
    assert.ok(js && expected, "one js and one text block");
    assert.ok(js.includes("wsPort: 3000") && js.includes('port: "3000"'), "the snippet names the dev server's port 3000");
    writeFileSync(script, js.replace("wsPort: 3000", `wsPort: ${srv.port}`).replace('port: "3000"', `port: "${srv.port}"`));
    const { stdout } = await promisify(execFile)("node", [script], { timeout: 20_000 });
    assert.equal(stdout.trim(), expected.trim());
  });
});
