// The administration console: plain JavaScript over the API (/api/v1), no
// build step. The token lives in sessionStorage (this tab only). Everything
// shown comes from the API, which scopes it to the signed-in account's
// tenant; text is always set with textContent, never parsed as HTML.
"use strict";

const API = "/api/v1";
const $ = (id) => document.getElementById(id);
let me = null;

function notice(text, error = false) {
  $("notice").textContent = text;
  $("notice").className = error ? "error" : "";
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  const token = sessionStorage.getItem("token");
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(API + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (r.status === 204) return null;
  const data = await r.json();
  if (!r.ok) {
    if (r.status === 401 && path !== "/auth/login") signedOut();
    throw new Error(data.detail || data.title || r.statusText);
  }
  return data;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

function button(td, label, cls, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.className = cls;
  b.addEventListener("click", () => onclick().catch((e) => notice(e.message, true)));
  td.appendChild(b);
  return b;
}

const tenant = () => $("tenant").value;

async function loadTenants() {
  const sel = $("tenant");
  const current = sel.value;
  const list = await api("GET", "/tenants?limit=500");
  sel.replaceChildren(...list.items.map((t) => {
    const o = document.createElement("option");
    o.value = t.id;
    o.textContent = `${t.id} ${t.name}`;
    return o;
  }));
  if (current && list.items.some((t) => t.id === current)) sel.value = current;
}

async function refresh() {
  if (!tenant()) return;
  const t = tenant();
  const [ov, devs, regs, rgs, cdrs] = await Promise.all([
    api("GET", `/tenants/${t}/overview`),
    api("GET", `/devices?tenant=${t}&limit=500`),
    api("GET", `/registrations?tenant=${t}&limit=500`),
    api("GET", `/ringgroups?tenant=${t}&limit=500`),
    api("GET", `/cdrs?tenant=${t}&limit=50`),
  ]);
  $("ov-devices").textContent = ov.devices + (ov.max_devices != null ? ` of ${ov.max_devices}` : "");
  $("ov-online").textContent = ov.devices_online;
  $("ov-offline").textContent = ov.devices_offline;
  $("ov-ringgroups").textContent = ov.ring_groups + (ov.max_ring_groups != null ? ` of ${ov.max_ring_groups}` : "");
  $("ov-calls").textContent = ov.calls_today;
  $("ov-failures").textContent = ov.failures_today;

  const online = new Map();
  for (const r of regs.items) {
    const from = (r.received || r.contact || "").replace(/^sips?:/, "");
    online.set(r.extension, [...(online.get(r.extension) || []), from]);
  }
  const dbody = $("devices").tBodies[0];
  dbody.replaceChildren();
  for (const d of devs.items) {
    const row = dbody.insertRow();
    row.dataset.ext = d.extension;
    cell(row, d.extension);
    const name = document.createElement("input");
    name.value = d.display_name || "";
    name.className = "name";
    row.insertCell().appendChild(name);
    const on = online.has(d.extension);
    cell(row, on ? "online" : "offline", "status " + (on ? "online" : "offline"));
    cell(row, on ? online.get(d.extension).join(", ") : "", "from");
    const actions = row.insertCell();
    const path = `/tenants/${t}/devices/${d.extension}`;
    button(actions, "Save", "save", async () => {
      await api("PATCH", path, { display_name: name.value });
      notice(`device ${d.extension} saved`);
      await refresh();
    });
    button(actions, "Reset password", "reset", async () => {
      const r = await api("POST", path + "/password/rotate");
      notice(`new password of ${d.extension}: ${r.password}`);
    });
    button(actions, "Remove", "remove", async () => {
      await api("DELETE", path);
      notice(`device ${d.extension} removed`);
      await refresh();
    });
  }

  const rbody = $("ringgroups").tBodies[0];
  rbody.replaceChildren();
  for (const g of rgs.items) {
    const row = rbody.insertRow();
    row.dataset.number = g.number;
    cell(row, g.number);
    cell(row, g.name);
    cell(row, g.strategy);
    const members = document.createElement("input");
    members.value = g.members.join(",");
    members.className = "members";
    row.insertCell().appendChild(members);
    const actions = row.insertCell();
    const path = `/tenants/${t}/ringgroups/${g.number}`;
    button(actions, "Save", "save", async () => {
      const list = members.value.split(",").map((s) => s.trim()).filter(Boolean);
      await api("PATCH", path, { members: list });
      notice(`ring group ${g.number} saved`);
      await refresh();
    });
    button(actions, "Remove", "remove", async () => {
      await api("DELETE", path);
      notice(`ring group ${g.number} removed`);
      await refresh();
    });
  }

  const cbody = $("cdrs").tBodies[0];
  cbody.replaceChildren();
  for (const c of cdrs.items) {
    const row = cbody.insertRow();
    row.dataset.callId = c.call_id;
    cell(row, new Date(c.setup_at).toLocaleString());
    cell(row, `${c.tenant}:${c.caller}`);
    cell(row, c.callee);
    cell(row, `${c.final_code} ${c.final_reason}`);
    cell(row, c.answer_at ? (c.duration_ms / 1000).toFixed(1) + " s" : "unanswered");
    cell(row, c.call_id);
  }
  document.body.dataset.refreshed = String(Date.now());
}

function signedOut() {
  sessionStorage.removeItem("token");
  me = null;
  $("app").hidden = true;
  $("login").hidden = false;
  $("signout").hidden = true;
  $("whoami").textContent = "";
  document.body.dataset.state = "signed-out";
}

async function signedIn() {
  me = await api("GET", "/auth/me");
  $("whoami").textContent = `${me.username} (${me.role.replace("_", " ")}${me.tenant ? ", tenant " + me.tenant : ""})`;
  $("login").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  const readOnly = me.role === "read_only";
  for (const f of ["device-form", "rg-form"]) $(f).hidden = readOnly;
  await loadTenants();
  await refresh();
  document.body.dataset.state = "signed-in";
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const body = { username: $("username").value, password: $("password").value };
    if ($("totp").value) body.totp = $("totp").value;
    const r = await api("POST", "/auth/login", body);
    sessionStorage.setItem("token", r.token);
    $("password").value = $("totp").value = "";
    notice("");
    await signedIn();
  } catch (e) {
    notice(e.message, true);
  }
});

$("signout").addEventListener("click", async () => {
  await api("POST", "/auth/logout").catch(() => null);
  signedOut();
});

$("tenant").addEventListener("change", () => refresh().catch((e) => notice(e.message, true)));

$("device-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const ext = $("dev-ext").value.trim();
    const body = { extension: ext, password: $("dev-password").value };
    if ($("dev-name").value) body.display_name = $("dev-name").value;
    const d = await api("POST", `/tenants/${tenant()}/devices`, body);
    notice(`device ${ext} added; auth username ${d.auth_username}, realm ${d.realm}`);
    $("dev-ext").value = $("dev-name").value = $("dev-password").value = "";
    await refresh();
  } catch (e) {
    notice(e.message, true);
  }
});

$("rg-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const members = $("rg-members").value.split(",").map((s) => s.trim()).filter(Boolean);
    await api("POST", `/tenants/${tenant()}/ringgroups`, {
      number: $("rg-number").value.trim(), name: $("rg-name").value,
      strategy: $("rg-strategy").value, members });
    notice(`ring group ${$("rg-number").value} added`);
    $("rg-number").value = $("rg-name").value = $("rg-members").value = "";
    await refresh();
  } catch (e) {
    notice(e.message, true);
  }
});

$("explain-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const caller = `${tenant()}:${$("ex-caller").value.trim()}`;
    const e = await api("GET", `/explain?caller=${encodeURIComponent(caller)}&dialled=${encodeURIComponent($("ex-dialled").value.trim())}`);
    $("ex-out").textContent = `${e.allowed ? "allowed" : "refused"} (${e.rule}): ${e.reason}\n` +
      `target: ${e.target_kind || "-"} ${e.target_tenant || ""} ${e.target_number || ""}\n` +
      `predicted: ${e.predicted}`;
  } catch (e) {
    $("ex-out").textContent = e.message;
  }
});

// devices come online and calls arrive while the console is open
setInterval(() => { if (me) refresh().catch(() => null); }, 2000);
if (sessionStorage.getItem("token")) signedIn().catch(() => signedOut());
