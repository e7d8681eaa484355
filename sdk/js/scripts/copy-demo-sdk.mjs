// Copies the built SDK (dist/*.js) into the server's embedded demo page, so that the page
// imports the real SDK and the Go build needs no node. The copy is committed.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const sdk = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(sdk, "dist");
const dest = join(sdk, "..", "..", "rtmate-server", "internal", "demo", "static", "sdk");

rmSync(dest, { recursive: true, force: true });
mkdirSync(dest, { recursive: true });
const files = readdirSync(dist).filter((f) => f.endsWith(".js"));
for (const f of files) copyFileSync(join(dist, f), join(dest, f));
console.log(`copied ${files.length} files from ${dist} to ${dest}`);
