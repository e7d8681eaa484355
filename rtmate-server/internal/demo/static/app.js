// RTMate demo chat. Uses the real SDK (./sdk/ is a copy of sdk/js/dist made by `npm run build`).
// Query parameters: ?name=alice&room=lobby&join=1 fill the form (and join at once);
// ?server=http://host:port talks to another server than the page's own origin.
import { RTMateClient } from "./sdk/index.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const serverBase = (params.get("server") || location.origin).replace(/\/+$/, "");
const wsURL = serverBase.replace(/^http/, "ws") + "/ws";

let session = null; // { client, sub, channel, name, members: Map<client_id, user_id> }

function setStatus(state) {
  const el = $("status");
  el.textContent = state;
  el.dataset.state = state;
}

function showError(text) {
  const el = $("error");
  if (!text) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  el.textContent = text;
  el.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => showError(""), 6000);
}

function describe(err) {
  if (err && typeof err.code === "number" && err.code > 0) {
    return `${err.message} (${err.code}${err.event ? ", " + err.event : ""}${err.traceId ? ", trace " + err.traceId : ""})`;
  }
  return err?.message || String(err);
}

async function fetchToken(name) {
  const res = await fetch(`${serverBase}/dev/token?sub=${encodeURIComponent(name)}`);
  let body;
  try {
    body = await res.json();
  } catch {
    throw new Error(`/dev/token answered HTTP ${res.status}; is the server in development mode?`);
  }
  if (!res.ok || body.code !== 200) throw new Error(`/dev/token: ${body.message || res.status}`);
  return body.data; // { appId, token, exp }
}

function addLine({ kind, from, text, mine }) {
  const li = document.createElement("li");
  li.className = kind === "system" ? "system" : mine ? "mine" : "";
  li.dataset.testid = kind === "system" ? "system-message" : "message";
  if (kind === "system") {
    li.textContent = text;
  } else {
    li.dataset.fromUser = from;
    const who = document.createElement("span");
    who.className = "from";
    who.textContent = from;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = new Date().toLocaleTimeString();
    li.append(who, body, time);
  }
  const list = $("messages");
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function renderMembers() {
  const ul = $("members");
  ul.replaceChildren();
  const entries = [...session.members].sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0]));
  for (const [clientId, userId] of entries) {
    const li = document.createElement("li");
    li.dataset.testid = "member";
    li.dataset.userId = userId;
    li.dataset.clientId = clientId;
    const me = clientId === session.client.clientId;
    li.className = me ? "me" : "";
    li.textContent = me ? `${userId} (you)` : userId;
    ul.append(li);
  }
  $("member-count").textContent = String(session.members.size);
}

/** refreshMembers replaces the list with the server's, replaying joins/leaves that raced it. */
async function refreshMembers(s) {
  s.racing = [];
  try {
    const p = await s.client.presence(s.channel);
    if (session !== s) return;
    s.members = new Map(p.members.map((m) => [m.client_id, m.user_id]));
    for (const [kind, m] of s.racing) {
      if (kind === "join") s.members.set(m.client_id, m.user_id);
      else s.members.delete(m.client_id);
    }
    renderMembers();
  } catch (err) {
    showError(`presence: ${describe(err)}`);
  } finally {
    s.racing = null;
  }
}

async function join(name, room) {
  showError("");
  const channel = `presence-room-${room}`;
  $("join").disabled = true;
  let client;
  try {
    const first = await fetchToken(name);
    let spare = first.token; // use the first token once, then fetch fresh ones
    client = new RTMateClient({
      url: wsURL,
      appId: first.appId,
      getToken: async () => {
        if (spare) {
          const t = spare;
          spare = null;
          return t;
        }
        return (await fetchToken(name)).token;
      },
    });
    const s = { client, channel, name, members: new Map(), racing: null, sub: null };
    session = s;
    client.on("state", (state, info) => {
      if (session !== s) return;
      setStatus(state);
      if (state === "disconnected") addLine({ kind: "system", text: `connection lost${info.code ? " (" + info.code + ")" : ""}, reconnecting…` });
      if (state === "closed" && info.code === 4004) addLine({ kind: "system", text: "disconnected by the server" });
    });
    client.on("error", (err) => console.warn("rtmate:", err));
    await client.connect();

    s.sub = client.subscribe(channel, {
      onMessage(data, pub) {
        const from = (data && typeof data.user === "string" && data.user) || s.members.get(pub.from) || pub.from;
        const text = data && typeof data.text === "string" ? data.text : JSON.stringify(data);
        addLine({ kind: "message", from, text, mine: pub.from === client.clientId });
      },
      onJoin(m) {
        if (s.racing) s.racing.push(["join", m]);
        const known = s.members.has(m.client_id);
        s.members.set(m.client_id, m.user_id);
        renderMembers();
        if (!known && m.client_id !== client.clientId) addLine({ kind: "system", text: `${m.user_id} joined` });
      },
      onLeave(m) {
        if (s.racing) s.racing.push(["leave", m]);
        if (s.members.delete(m.client_id)) {
          renderMembers();
          addLine({ kind: "system", text: `${m.user_id} left` });
        }
      },
      onError(err) {
        showError(`subscribe: ${describe(err)}`);
      },
      onSubscribe() {
        // After every (re)subscription the member list may have changed while we were away.
        void refreshMembers(s);
      },
    });
    await s.sub.ready();

    $("room-name").textContent = room;
    $("me").textContent = name;
    $("join-view").hidden = true;
    $("chat-view").hidden = false;
    $("message").focus();
    history.replaceState(null, "", `?${new URLSearchParams({ ...Object.fromEntries(params), name, room })}`);
  } catch (err) {
    client?.close();
    session = null;
    setStatus("idle");
    showError(`join: ${describe(err)}`);
  } finally {
    $("join").disabled = false;
  }
}

function leave() {
  if (!session) return;
  const s = session;
  session = null;
  s.sub?.unsubscribe();
  s.client.close();
  $("messages").replaceChildren();
  $("members").replaceChildren();
  $("member-count").textContent = "0";
  $("chat-view").hidden = true;
  $("join-view").hidden = false;
  setStatus("idle");
}

$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = $("name").value.trim();
  const room = $("room").value.trim();
  if (name && room) void join(name, room);
});

$("send-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("message");
  const text = input.value.trim();
  if (!text || !session) return;
  input.value = "";
  try {
    await session.client.send(session.channel, { user: session.name, text });
  } catch (err) {
    input.value = text;
    showError(`send: ${describe(err)}`);
  }
});

$("leave").addEventListener("click", leave);

if (params.get("name")) $("name").value = params.get("name");
if (params.get("room")) $("room").value = params.get("room");
if (params.get("join") === "1" && $("name").value) void join($("name").value.trim(), $("room").value.trim());
