// docs/protocol.md §14 "Try it with wscat", executed: the section is read at test time; its
// `npx wscat` command runs (the wscat pinned in devDependencies) in a terminal against a real
// development server; the lines it tells the reader to paste are typed, with real tokens from
// /dev/token, one at a time after each answer, as a person would; and what wscat prints must
// match what the section shows (codes, messages, events, ids, data; client ids, epochs and
// traceIds are the server's, checked for consistency only). Alice and bob show presence and a
// message between two connections; a third connection that never authenticates shows 4008.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Bindings, codeBlocks, docSection, matchEnvelopes } from "./doc-helpers.mjs";
import { startServer, waitFor } from "./helpers.mjs";
import { openWscat } from "./wscat-terminal.mjs";

const DOC = "docs/protocol.md";
const DOC_HOST = "127.0.0.1:3000";

/**
 * walkthrough takes §14 apart: the wscat command's arguments and, in order, alice's lines to
 * paste and what she sees, bob's lines and what he sees, what alice sees next, and the line
 * wscat prints for a connection that never authenticates.
 */
function walkthrough() {
  const section = docSection(DOC, "## 14.");
  const blocks = codeBlocks(section);
  const commands = blocks.filter((b) => b.lang === "sh").flatMap((b) => b.lines);
  const wscatLine = commands.find((l) => l.startsWith("npx wscat "));
  assert.ok(wscatLine, `${DOC} §14: no "npx wscat ..." command`);
  const args = wscatLine.slice("npx wscat ".length).trim().split(/\s+/);
  assert.ok(args.some((a) => a.includes(DOC_HOST)), `${DOC} §14: the wscat command no longer connects to ${DOC_HOST}`);

  const text = blocks.filter((b) => b.lang === "text").map((b) => b.lines.filter((l) => l.trim() !== ""));
  const kinds = text.map((lines) =>
    lines.every((l) => l.startsWith("{")) ? "paste" : lines.every((l) => l.startsWith("< ")) ? "sees" : "other",
  );
  assert.deepEqual(
    kinds,
    ["paste", "sees", "paste", "sees", "sees", "other"],
    `${DOC} §14: expected its text blocks to be alice's lines, what she sees, bob's lines, what he sees, what alice sees next, the 4008 line`,
  );
  const received = (lines) => lines.map((l) => l.slice(2));
  return {
    args,
    alice: { paste: text[0], sees: received(text[1]) },
    bob: { paste: text[2], sees: received(text[3]) },
    aliceNext: received(text[4]),
    authTimeout: text[5],
  };
}

const isResponse = (line) => "traceId" in JSON.parse(line);

describe(`${DOC} §14: the wscat walkthrough`, () => {
  let server;
  const terms = [];

  before(async () => {
    server = await startServer();
  });

  after(async () => {
    await Promise.all(terms.map((t) => t.close()));
    await server?.stop();
  });

  /** wscat opens the section's wscat command against the test server and waits to connect. */
  async function wscat(args, name) {
    const t = openWscat(
      args.map((a) => a.replaceAll(DOC_HOST, `127.0.0.1:${server.port}`)),
      { name },
    );
    terms.push(t);
    await t.waitLine((l) => l === "Connected (press CTRL+C to quit)", 15_000, "Connected");
    return t;
  }

  /**
   * paste types each line (with the user's token for <JWT>) and waits for its response, as a
   * reader does before pasting the next line; every line of §14 gets exactly one response.
   */
  async function paste(t, lines, token) {
    for (const [i, line] of lines.entries()) {
      assert.ok(!line.includes("<JWT>") || token, "a line needs a token");
      t.type(line.replaceAll("<JWT>", token));
      await waitFor(
        () => t.incoming.filter(isResponse).length >= i + 1,
        15_000,
        `${t.name}: the response to line ${i + 1} (${line}); screen:\n${t.screen.join("\n")}`,
      );
    }
  }

  const parsed = (t, from = 0) => t.incoming.slice(from).map((l) => JSON.parse(l));

  it("alice and bob: responses, presence and a message, as the section shows", { timeout: 90_000 }, async (t) => {
    const doc = walkthrough();
    t.diagnostic(`wscat ${doc.args.join(" ")}`);

    // The connection that never authenticates runs alongside, since it takes the 10 s timeout.
    const idle = await wscat(doc.args, "idle");

    const bindings = new Bindings();
    const alice = await wscat(doc.args, "alice");
    await paste(alice, doc.alice.paste, await server.token("alice"));
    await waitFor(() => alice.incoming.length >= doc.alice.sees.length, 10_000, "alice's pushes");
    matchEnvelopes(doc.alice.sees, parsed(alice), bindings, "alice's wscat");
    const seen = alice.incoming.length;

    const bob = await wscat(doc.args, "bob");
    await paste(bob, doc.bob.paste, await server.token("bob"));
    await waitFor(() => bob.incoming.length >= doc.bob.sees.length, 10_000, "bob's pushes");
    matchEnvelopes(doc.bob.sees, parsed(bob), bindings, "bob's wscat");

    await waitFor(
      () => alice.incoming.length >= seen + doc.aliceNext.length,
      10_000,
      `bob's join, message and leave at alice; screen:\n${alice.screen.join("\n")}`,
    );
    matchEnvelopes(doc.aliceNext, parsed(alice, seen), bindings, "alice's wscat, while bob is there");

    // The 4008 close: wscat reports it and exits.
    const [want] = doc.authTimeout;
    await idle.waitLine((l) => l.startsWith("Disconnected"), 30_000, "the auth-timeout close");
    assert.equal(idle.screen.find((l) => l.startsWith("Disconnected")), want);
    assert.deepEqual(idle.incoming, [], "the idle connection received nothing");
  });
});
