// README.md's "Try it in a browser", executed: the snippet is read from the README at test
// time, pointed at a real development server, run in Debian's chromium (driven by
// playwright-core), and what it logs is compared with the envelopes the README shows. A README
// edit that breaks the snippet, or that no longer matches what the server sends, fails here.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";


import { Bindings, codeBlocks, docSection, matchEnvelopes } from "./doc-helpers.mjs";
import { launchChromium, startServer, waitFor } from "./helpers.mjs";

const DOC_BASE = "127.0.0.1:3000";

describe("README: Try it in a browser", () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("the snippet logs the four envelopes the README shows", { timeout: 60_000 }, async (t) => {
    const section = docSection("README.md", "## Try it in a browser");
    const blocks = codeBlocks(section);
    const js = blocks.filter((b) => b.lang === "js");
    const json = blocks.filter((b) => b.lang === "json");
    assert.equal(js.length, 1, "README 'Try it in a browser': expected one js block");
    assert.equal(json.length, 1, "README 'Try it in a browser': expected one json block (what the reader sees)");

    let snippet = js[0].lines.join("\n");
    assert.ok(snippet.includes(`"${DOC_BASE}"`), `the snippet no longer names the dev server as "${DOC_BASE}"`);
    snippet = snippet.replaceAll(DOC_BASE, `127.0.0.1:${server.port}`);
    const expected = json[0].lines.filter((l) => l.trim() !== "");

    const page = await browser.newPage();
    const logged = [];
    const problems = [];
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", async (msg) => {
      // The browser's own request for /favicon.ico (a 404) is not the snippet's doing.
      if (msg.type() === "error" && !msg.location().url.endsWith("/favicon.ico")) {
        problems.push(`console error: ${msg.text()} (${msg.location().url})`);
      }
      if (msg.type() !== "log") return;
      // console.log("←", obj): keep the object, as the reader sees it in the console.
      const args = await Promise.all(msg.args().map((a) => a.jsonValue()));
      if (args.length === 2 && args[0] === "←") logged.push(args[1]);
      else problems.push(`unexpected console.log: ${msg.text()}`);
    });
    // A page of the server's origin, as a reader's console would be on some page.
    await page.goto(`${server.http}/healthz`);
    // The snippet uses top-level await, as the console allows; a page script needs a function.
    await page.evaluate(`(async () => {\n${snippet}\n})()`);

    await waitFor(() => logged.length >= expected.length || problems.length > 0, 20_000, `${expected.length} logged envelopes (have ${logged.length})`);
    t.diagnostic(`logged: ${JSON.stringify(logged)}`);
    assert.deepEqual(problems, []);
    matchEnvelopes(expected, logged, new Bindings(), "README browser snippet");
    await page.close();
  });
});
