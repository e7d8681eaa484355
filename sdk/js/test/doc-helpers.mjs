// Helpers for the tests that run the repository's documentation (README.md, docs/protocol.md):
// read a section of a Markdown file at test time, take its fenced code blocks, and compare
// the envelopes a real server sent with those the document shows.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { REPO_ROOT } from "./helpers.mjs";

/**
 * docSection returns the text of the Markdown section of file (relative to the repository
 * root) whose heading line starts with heading ("## 14." or "## Try it in a browser"), up to
 * the next heading of the same or a higher level.
 */
export function docSection(file, heading) {
  const lines = readFileSync(join(REPO_ROOT, file), "utf8").split("\n");
  const start = lines.findIndex((l) => l.startsWith(heading));
  assert.ok(start >= 0, `${file}: no heading starting with ${JSON.stringify(heading)}`);
  const level = /^#+/.exec(heading)[0].length;
  let end = lines.length;
  let fenced = false;
  for (let i = start + 1; i < lines.length; i++) {
    if (lines[i].startsWith("```")) fenced = !fenced;
    const m = !fenced && /^(#+)\s/.exec(lines[i]);
    if (m && m[1].length <= level) {
      end = i;
      break;
    }
  }
  return lines.slice(start, end).join("\n");
}

/** codeBlocks returns the fenced code blocks of a Markdown text as {lang, lines}. */
export function codeBlocks(text) {
  const blocks = [];
  let cur = null;
  for (const line of text.split("\n")) {
    if (cur === null) {
      const m = /^```(\S*)\s*$/.exec(line);
      if (m) cur = { lang: m[1], lines: [] };
    } else if (/^```\s*$/.test(line)) {
      blocks.push(cur);
      cur = null;
    } else {
      cur.lines.push(line);
    }
  }
  assert.equal(cur, null, "unterminated code block");
  return blocks;
}

/**
 * The fields whose values the server chooses: a document can only show an example of them.
 * traceId is any non-empty string; the others are bound: the first time a document value is
 * met it is tied to what the server sent, and every later occurrence of the same document
 * value must be the same server value (and two document values never share one), so that
 * "alice's client_id" in a push is checked to be the one her auth returned.
 */
const BOUND = { client_id: "client id", from: "client id", epoch: "epoch" };

/** Bindings ties document placeholder values to the values a server sent. */
export class Bindings {
  constructor() {
    this.fwd = new Map();
    this.back = new Map();
  }

  bind(kind, docValue, actual, where) {
    assert.equal(typeof actual, "string", `${where}: expected a string ${kind}, got ${JSON.stringify(actual)}`);
    assert.ok(actual.length > 0, `${where}: empty ${kind}`);
    const k = `${kind}\u0000${docValue}`;
    const b = `${kind}\u0000${actual}`;
    if (this.fwd.has(k)) {
      assert.equal(actual, this.fwd.get(k), `${where}: the document's ${kind} ${JSON.stringify(docValue)} stood for ${JSON.stringify(this.fwd.get(k))} before`);
      return;
    }
    assert.ok(!this.back.has(b), `${where}: ${kind} ${JSON.stringify(actual)} was the document's ${JSON.stringify(this.back.get(b))} before, not ${JSON.stringify(docValue)}`);
    this.fwd.set(k, actual);
    this.back.set(b, docValue);
  }
}

/**
 * matchEnvelope checks that actual (a parsed server envelope) is what the document line
 * expected shows: the same fields and values, except that server-chosen values (see BOUND,
 * and traceId) may differ consistently.
 */
export function matchEnvelope(expected, actual, bindings, where = "envelope") {
  const walk = (exp, act, path) => {
    const at = `${where} at ${path || "top level"}`;
    const key = path.slice(path.lastIndexOf(".") + 1);
    if (key === "traceId" && typeof exp === "string") {
      assert.ok(typeof act === "string" && act.length > 0, `${at}: expected a traceId, got ${JSON.stringify(act)}`);
      return;
    }
    if (BOUND[key] && typeof exp === "string" && !(key === "from" && exp === "server")) {
      bindings.bind(BOUND[key], exp, act, at);
      return;
    }
    if (Array.isArray(exp)) {
      assert.ok(Array.isArray(act), `${at}: expected an array, got ${JSON.stringify(act)}`);
      assert.equal(act.length, exp.length, `${at}: array length`);
      exp.forEach((e, i) => walk(e, act[i], `${path}[${i}]`));
      return;
    }
    if (exp !== null && typeof exp === "object") {
      assert.ok(act !== null && typeof act === "object" && !Array.isArray(act), `${at}: expected an object, got ${JSON.stringify(act)}`);
      assert.deepEqual(Object.keys(act).sort(), Object.keys(exp).sort(), `${at}: fields`);
      for (const k of Object.keys(exp)) walk(exp[k], act[k], path ? `${path}.${k}` : k);
      return;
    }
    assert.deepEqual(act, exp, `${at}: value`);
  };
  walk(expected, actual, "");
}

/**
 * matchEnvelopes compares a list of received envelopes with the document's lines, in order,
 * and says which line failed with both texts in the message.
 */
export function matchEnvelopes(expectedLines, actual, bindings, what) {
  const shown = (a) => a.map((x) => `  ${JSON.stringify(x)}`).join("\n");
  assert.equal(
    actual.length,
    expectedLines.length,
    `${what}: ${expectedLines.length} envelopes expected, ${actual.length} received:\n${shown(actual)}`,
  );
  expectedLines.forEach((line, i) => {
    let exp;
    try {
      exp = JSON.parse(line);
    } catch (err) {
      throw new Error(`${what}: line ${i + 1} of the document is not JSON: ${line}`, { cause: err });
    }
    try {
      matchEnvelope(exp, actual[i], bindings, `${what}, envelope ${i + 1}`);
    } catch (err) {
      err.message += `\n  document: ${line}\n  received: ${JSON.stringify(actual[i])}`;
      throw err;
    }
  });
}
