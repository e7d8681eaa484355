// openWscat runs the pinned wscat (node_modules/.bin/wscat) in a pseudo-terminal, as a reader
// runs it: util-linux `script` gives it a terminal, so wscat prints what a person sees
// ("Connected (press CTRL+C to quit)", "< " before each message, "Disconnected (code: …)"),
// and lines are typed into it, not piped (wscat drops lines typed before it is connected).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

import { SDK_DIR, waitFor } from "./helpers.mjs";

export const WSCAT = join(SDK_DIR, "node_modules", ".bin", "wscat");
const SCRIPT = "/usr/bin/script";

const shellQuote = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
// CSI sequences (colours, cursor moves, line clears) that wscat and readline write.
// eslint-disable-next-line no-control-regex
const CSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

const running = new Set();
process.on("exit", () => {
  for (const t of running) t.kill();
});

/**
 * openWscat starts `wscat ...args` in a terminal. The returned handle has the terminal's
 * finished lines as the reader would read them (`screen`), the messages received (`incoming`,
 * the text after "< "), type(line), waitLine(pred) and close().
 */
export function openWscat(args, { name = "wscat" } = {}) {
  if (!existsSync(WSCAT)) throw new Error(`${WSCAT} missing: run npm ci in sdk/js`);
  if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} missing (util-linux): it gives wscat a terminal`);
  const cmd = [WSCAT, ...args].map(shellQuote).join(" ");
  // -q: no banner, -f: flush each write, -e: wscat's exit status; the typescript goes nowhere.
  // detached: its own process group, so that close() ends script, the shell and wscat together.
  const child = spawn(SCRIPT, ["-qfec", cmd, "/dev/null"], {
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
    env: { ...process.env, TERM: "xterm", COLUMNS: "200", LINES: "50" },
  });
  let pending = "";
  const term = {
    name,
    raw: "",
    screen: [],
    incoming: [],
    exited: false,
    type(line) {
      // Enter in a terminal is a carriage return.
      child.stdin.write(`${line}\r`);
    },
    waitLine(pred, ms = 15_000, what = "a line") {
      return waitFor(
        () => term.screen.find(pred) ?? (term.exited && Promise.reject(new Error(`${name} exited; screen:\n${term.screen.join("\n")}`))),
        ms,
        `${name}: ${what}; screen so far:\n${term.screen.join("\n")}`,
      );
    },
    kill() {
      if (!term.exited) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    },
    async close() {
      if (term.exited) return;
      const gone = new Promise((r) => child.once("exit", r));
      child.stdin.end(); // end of input: script hangs up the terminal, which ends wscat
      const t = setTimeout(() => term.kill(), 5000);
      await gone;
      clearTimeout(t);
    },
  };
  running.add(term);
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (s) => (term.raw += s));
  child.stdout.on("data", (s) => {
    term.raw += s;
    pending += s;
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      // What stays visible: the text after the last carriage return (wscat clears the prompt
      // line before printing a message over it).
      const parts = line.replace(CSI, "").split("\r").filter((p) => p.trim() !== "");
      if (parts.length === 0) continue;
      const shown = parts[parts.length - 1].trimEnd();
      term.screen.push(shown);
      if (shown.startsWith("< ")) term.incoming.push(shown.slice(2));
    }
  });
  child.on("exit", () => {
    term.exited = true;
    running.delete(term);
  });
  return term;
}
