// The chat page: picks a name and a room, then talks to the room over one
// WebSocket with the JSON frames of Cloudflare's edge chat demo.
"use strict";

const $ = (id) => document.getElementById(id);
const roomIDPattern = /^[0-9a-f]{64}$/;

let name = "";
let room = "";
let socket = null;
let ready = false;       // the server has sent {"ready": true} on this socket
let everReady = false;   // some socket of this page has reached ready
let lastSeen = 0;        // timestamp of the newest message shown
let retryDelay = 1000;   // reconnect delay in milliseconds; doubles to 10 s

function addLine(kind, text, sender) {
  const log = $("chat-log");
  const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  const p = document.createElement("p");
  p.className = kind;
  if (sender !== undefined) {
    const b = document.createElement("span");
    b.className = "name";
    b.textContent = sender;
    p.appendChild(b);
  }
  p.appendChild(document.createTextNode(text));
  log.appendChild(p);
  if (stick) log.scrollTop = log.scrollHeight;
}

function setRoster(member, present) {
  const roster = $("roster");
  for (const li of roster.children) {
    if (li.dataset.name === member) {
      if (!present) li.remove();
      return;
    }
  }
  if (present) {
    const li = document.createElement("li");
    li.dataset.name = member;
    li.textContent = member;
    roster.appendChild(li);
  }
}

function setSending(enabled) {
  $("message-input").disabled = !enabled;
  $("send-button").disabled = !enabled;
  if (enabled) $("message-input").focus();
}

function showJoin(error) {
  $("chat-screen").hidden = true;
  $("join-screen").hidden = false;
  $("join-error").textContent = error || "";
}

function connect() {
  ready = false;
  $("roster").replaceChildren();
  $("status").textContent = "connecting";
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(scheme + "//" + location.host + "/api/room/" +
    encodeURIComponent(room) + "/websocket");
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ name: name }));
  ws.onmessage = (event) => {
    if (ws === socket) handleFrame(ws, JSON.parse(event.data));
  };
  ws.onclose = () => {
    if (ws !== socket) return;
    socket = null;
    setSending(false);
    if (!everReady) return;
    $("status").textContent = "disconnected; reconnecting";
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  };
}

function handleFrame(ws, data) {
  if (data.error) {
    if (!ready && !everReady) {
      // The server refused the name: back to the form.
      socket = null;
      ws.close(1000);
      showJoin(data.error);
      return;
    }
    if (!ready) {
      // A reconnect can race the server noticing the old socket is gone.
      ws.close(1000);
      return;
    }
    addLine("error", data.error);
  } else if (data.joined !== undefined) {
    setRoster(data.joined, true);
    // The room announces this member to itself too, right after ready.
    if (ready && data.joined !== name) addLine("system", data.joined + " joined");
  } else if (data.quit !== undefined) {
    setRoster(data.quit, false);
    if (ready) addLine("system", data.quit + " left");
  } else if (data.ready) {
    ready = true;
    everReady = true;
    retryDelay = 1000;
    setRoster(name, true);
    $("status").textContent = "connected as " + name;
    setSending(true);
  } else if (data.timestamp !== undefined) {
    // After a reconnect the history repeats what is already on screen.
    if (data.timestamp > lastSeen) {
      lastSeen = data.timestamp;
      addLine("message", data.message, data.name);
    }
  }
}

$("create-button").addEventListener("click", async () => {
  $("join-error").textContent = "";
  try {
    const resp = await fetch("/api/room", { method: "POST" });
    if (!resp.ok) throw new Error(await resp.text());
    $("room-input").value = (await resp.text()).trim();
  } catch (err) {
    $("join-error").textContent = "Could not create a room: " + err.message;
  }
});

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const n = $("name-input").value;
  const r = $("room-input").value.trim();
  if ([...n].length < 1 || [...n].length > 32) {
    $("join-error").textContent = "Pick a name of 1 to 32 characters.";
    return;
  }
  if (r === "" || (r.length > 32 && !roomIDPattern.test(r))) {
    $("join-error").textContent =
      "A room is a public name of up to 32 characters or a 64-hex-digit ID.";
    return;
  }
  name = n;
  room = r;
  everReady = false;
  lastSeen = 0;
  $("chat-log").replaceChildren();
  $("room-title").textContent = "Room " + room;
  $("join-screen").hidden = true;
  $("chat-screen").hidden = false;
  history.replaceState(null, "", "#" + encodeURIComponent(room));
  connect();
});

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("message-input");
  const text = input.value;
  if (text === "" || !socket || !ready) return;
  socket.send(JSON.stringify({ message: text }));
  input.value = "";
});

if (location.hash.length > 1) {
  $("room-input").value = decodeURIComponent(location.hash.slice(1));
}
