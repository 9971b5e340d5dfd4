// The edge's web phone: JsSIP over WSS. Registers with a tenant device's
// credentials, calls a number, answers an incoming call, hangs up, and shows
// registration state, call state and errors. The state is also mirrored in
// <body data-registration data-call> and window.webphone, which the browser
// tests read; audio statistics come from the RTCPeerConnection.
import * as JsSIP from "jssip";

const $ = (id) => document.getElementById(id);
let ua = null;
let session = null;
// registration lifetime to ask for (s): ?expires=N in the page's address
// (the edge's min/max expires apply); JsSIP renews it before it runs out
const EXPIRES = Math.max(10, Number(new URLSearchParams(location.search).get("expires")) || 600);
// renew the registration when it is about to expire (window.webphone.holdRefresh
// stops that: a diagnostic, to watch the edge end an expired registration)
let refresh = true;

function log(line) {
  const el = $("log");
  el.textContent += `${new Date().toISOString()} ${line}\n`;
}

function setRegistration(state) {
  $("reg-state").textContent = state;
  document.body.dataset.registration = state;
  $("unregister").disabled = !ua;
  $("call").disabled = state !== "registered" || !!session;
}

function setCall(state, peer = "") {
  $("call-state").textContent = state;
  $("peer").textContent = peer;
  document.body.dataset.call = state;
  const active = !!session && !["ended", "failed", "idle"].includes(state);
  $("hangup").disabled = !active;
  $("answer").disabled = state !== "incoming";
  $("call").disabled = document.body.dataset.registration !== "registered" || active;
}

function showError(message) {
  $("error").textContent = message;
  document.body.dataset.error = message;
  if (message) log(`error: ${message}`);
}

function reason(e) {
  const m = e && e.message;
  if (m && m.status_code) return `${m.status_code} ${m.reason_phrase}`;
  if (e && e.response && e.response.status_code) {
    return `${e.response.status_code} ${e.response.reason_phrase}`;
  }
  return (e && e.cause) || "unknown";
}

function attachMedia(s) {
  s.connection.addEventListener("track", (ev) => {
    $("remote").srcObject = ev.streams[0];
  });
}

function track(s, direction) {
  session = s;
  const peer = s.remote_identity.uri.user;
  setCall(direction === "incoming" ? "incoming" : "calling", peer);
  s.on("peerconnection", () => attachMedia(s));
  if (s.connection) attachMedia(s);
  s.on("progress", () => setCall(direction === "incoming" ? "incoming" : "ringing", peer));
  s.on("accepted", () => setCall("in call", peer));
  s.on("confirmed", () => setCall("in call", peer));
  s.on("ended", (e) => { log(`call ended: ${e.cause}`); session = null; setCall("ended", peer); });
  s.on("failed", (e) => {
    session = null;
    setCall("failed", peer);
    if (e.cause !== JsSIP.C.causes.CANCELED || direction === "outgoing") {
      showError(`Call failed: ${reason(e)}`);
    }
  });
}

function register(ev) {
  ev.preventDefault();
  showError("");
  if (ua) ua.stop();
  const server = $("server").value.trim();
  const domain = $("domain").value.trim();
  const user = $("user").value.trim();
  const socket = new JsSIP.WebSocketInterface(server);
  ua = new JsSIP.UA({
    sockets: [socket],
    uri: `sip:${user}@${domain}`,
    authorization_user: user,
    password: $("password").value,
    register: true,
    register_expires: EXPIRES,
    session_timers: false,
    user_agent: "sip-edge web phone",
  });
  ua.on("connecting", () => setRegistration("connecting"));
  ua.on("disconnected", () => { if (document.body.dataset.registration !== "failed") setRegistration("disconnected"); });
  ua.on("registered", () => { showError(""); setRegistration("registered"); });
  // a listener here makes renewing the registration this page's job (JsSIP)
  ua.on("registrationExpiring", () => { if (refresh) ua.register(); });
  ua.on("unregistered", () => setRegistration("unregistered"));
  ua.on("registrationFailed", (e) => {
    setRegistration("failed");
    showError(`Registration failed: ${reason(e)}`);
    // wrong credentials do not get better by retrying
    ua.stop();
  });
  ua.on("newRTCSession", (e) => {
    if (e.originator === "remote") {
      if (session) { e.session.terminate({ status_code: 486 }); return; }
      track(e.session, "incoming");
    }
  });
  setRegistration("registering");
  ua.start();
}

function call(ev) {
  ev.preventDefault();
  showError("");
  const number = $("number").value.trim();
  if (!number) { showError("Enter a number"); return; }
  const s = ua.call(`sip:${number}@${$("domain").value.trim()}`, {
    mediaConstraints: { audio: true, video: false },
    pcConfig: { iceServers: [] },
  });
  track(s, "outgoing");
}

function answer() {
  if (!session) return;
  session.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } });
}

function hangup() {
  if (session) session.terminate();
}

async function stats() {
  // audio packets each way, from the browser's own WebRTC statistics
  const out = { sent: 0, received: 0, state: null };
  const pc = session && session.connection;
  if (!pc) return out;
  out.state = pc.connectionState;
  const report = await pc.getStats();
  report.forEach((r) => {
    if (r.type === "outbound-rtp" && r.kind === "audio") out.sent += r.packetsSent || 0;
    if (r.type === "inbound-rtp" && r.kind === "audio") out.received += r.packetsReceived || 0;
  });
  return out;
}

window.addEventListener("DOMContentLoaded", () => {
  $("server").value = `wss://${location.host}/ws`;
  $("domain").value = location.hostname;
  $("account").addEventListener("submit", register);
  $("unregister").addEventListener("click", () => { if (ua) ua.unregister(); });
  $("dial").addEventListener("submit", call);
  $("answer").addEventListener("click", answer);
  $("hangup").addEventListener("click", hangup);
});

window.webphone = { stats, holdRefresh: () => { refresh = false; } };
