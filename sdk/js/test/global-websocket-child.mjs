// Run by client.test.mjs in a separate node process that has a global WebSocket (Node ≥ 22,
// or Node 20 with --experimental-websocket): the SDK must work without the `ws` package.
import { RTMateClient } from "../dist/index.js";

const [httpBase, wsURL] = process.argv.slice(2);
if (typeof globalThis.WebSocket !== "function") throw new Error("no global WebSocket in this node");
const getToken = async () => (await (await fetch(`${httpBase}/dev/token?sub=global`)).json()).data.token;
const c = new RTMateClient({ url: wsURL, appId: "demo-app", getToken });
const done = new Promise((resolve, reject) => {
  setTimeout(() => reject(new Error("no message within 10 s")), 10_000).unref();
  const sub = c.subscribe("global.ws", {
    onMessage(data, pub) {
      if (data?.hello === "global" && pub.from === c.clientId) resolve();
    },
  });
  c.connect()
    .then(() => sub.ready())
    .then(() => c.send("global.ws", { hello: "global" }))
    .catch(reject);
});
await done;
const err = await c.send("bad channel!", 1).catch((e) => e);
if (err?.code !== 400 || err.message !== "参数错误") throw new Error(`unexpected: ${err}`);
c.close();
console.log("ok");
