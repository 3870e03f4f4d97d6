// Company Portal: the one script of the escrow vault's reference pages. No framework, no
// inline script (the CSP forbids it). The pages call the portal's /api, which forwards to the
// vault with the signed-in user's token. A recovery key lives only in the page's DOM while it
// is shown and is never put in a URL, a cookie or browser storage.
"use strict";

const MESSAGES = {
  mismatch: "Keys must match. Check keys and try again.",
  stored: "Your recovery key has been updated. If you ever get locked out of your device and " +
    "need to retrieve your key, sign in to Company Portal and select Get recovery key.",
  uploadFailed: "We were unable to upload your recovery key.",
  notEnabled: "Your organization hasn't enabled encryption for this device. " +
    "Contact your IT support person.",
  notSynced: "The device hasn't checked in recently. Sync the device (Check access), then try again.",
  disappears: "For security reasons, the key disappears after five minutes. " +
    "To see the key again, select Get recovery key.",
  notFound: "If a key isn't found but your device is properly encrypted, contact your " +
    "organization's support person.",
  personal: "IT support can't view recovery keys of personal devices.",
  unavailable: "The HSM or the database is unavailable; nothing was changed.",
  reasonRequired: "Enter a reason before the key is shown.",
};

const PLATFORMS = { macos: "macOS", windows: "Windows", linux: "Linux" };
const SUPPORT_ROLES = ["helpdesk", "admin", "auditor"];

let session = null;

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function hasRole(...roles) {
  return session !== null && session.roles.some((r) => roles.includes(r));
}

function formatTime(iso) {
  if (!iso) return "Never";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// --- Messages -------------------------------------------------------------------------------

let toastTimer = null;
function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 10000);
}

// The grey box at the top of the page.
function notice(title, detail) {
  const box = $("notice");
  box.replaceChildren();
  if (title) box.append(el("strong", {}, title));
  if (detail) box.append(el("span", {}, detail));
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}
function clearNotice() {
  const box = $("notice");
  if (box) { box.hidden = true; box.replaceChildren(); }
}

// --- The portal's API -----------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || "Request failed");
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET") {
    init.headers["X-CSRF-Token"] = session ? session.csrf : "";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body || {});
  }
  let response;
  try {
    response = await fetch("/api/" + path, init);
  } catch (e) {
    throw new ApiError(503, "unavailable", MESSAGES.unavailable);
  }
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (response.status === 401) {
    window.location.assign("/signin");
    throw new ApiError(401, "unauthenticated", "Sign in again.");
  }
  if (!response.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(response.status, err.code || "", err.message || "");
  }
  return data;
}

function showFailure(err) {
  if (err.status === 503) toast(err.message || MESSAGES.unavailable);
  else if (err.status === 429) toast("Too many attempts. Wait a minute, then try again.");
  else notice(err.message || "Something went wrong.", "");
}

// --- Shared page chrome ---------------------------------------------------------------------

// The bar at the top of every signed-in page: brand, the links the user's roles open, sign-out
// (a form, so it carries the CSRF token like every other write).
function renderTopbar() {
  const bar = $("topbar");
  if (!bar) return;
  const links = [["/", "devices", "Devices", null],
    ["/support", "support", "IT support", "helpdesk admin auditor"],
    ["/requests", "requests", "Access requests", "helpdesk admin approver"]];
  const nav = el("nav", { "aria-label": "Main" });
  for (const [href, name, text, roles] of links) {
    if (roles && !hasRole(...roles.split(" "))) continue;
    const a = el("a", { href }, text);
    if (document.body.dataset.page === name) a.setAttribute("aria-current", "page");
    nav.append(a);
  }
  const signout = el("form", { class: "signout", method: "post", action: "/auth/signout" },
    el("input", { type: "hidden", name: "csrf", value: session.csrf }),
    el("span", { id: "whoami", class: "whoami" },
      session.user + (session.roles.length ? " (" + session.roles.join(", ") + ")" : "")),
    el("button", { type: "submit", class: "link" }, "Sign out"));
  bar.replaceChildren(
    el("div", { class: "brand" }, el("span", { class: "brand-mark", "aria-hidden": "true" }),
      "Company Portal"),
    nav, signout);
}

async function loadSession() {
  const response = await fetch("/api/session", { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) {
    window.location.assign("/signin");
    return false;
  }
  session = await response.json();
  renderTopbar();
  for (const input of document.querySelectorAll('input[name="csrf"]')) input.value = session.csrf;
  // The session ends with its token: go to sign-in when it does.
  const left = Date.parse(session.expires_at) - Date.now();
  if (left > 0) setTimeout(() => window.location.assign("/signin"), Math.min(left, 2 ** 31 - 1));
  return true;
}

function deviceItem(d) {
  const badges = [];
  badges.push(d.has_recovery_key ? el("span", { class: "badge ok" }, "Key stored")
    : el("span", { class: "badge" }, "No key stored"));
  if (d.rotation_pending) badges.push(el("span", { class: "badge warn" }, "Rotation pending"));
  return el("li", {},
    el("a", { class: "device-link", href: "/device?id=" + encodeURIComponent(d.id) },
      el("span", { class: "name" }, d.name),
      el("span", { class: "meta" },
        (PLATFORMS[d.platform] || d.platform) + " · " +
        (d.ownership === "personal" ? "Personal" : "Corporate") + " · Serial " + d.serial +
        (session.user !== d.owner ? " · Owner " + d.owner : "")),
      ...badges));
}

function renderDevices(list, devices, empty) {
  list.replaceChildren();
  if (devices.length === 0) list.append(el("li", { class: "muted" }, empty));
  for (const d of devices) list.append(deviceItem(d));
}

// --- Sign-in (development) ------------------------------------------------------------------

async function signinPage() {
  const response = await fetch("/api/dev/users", { credentials: "same-origin", cache: "no-store" });
  const data = await response.json();
  document.querySelector('input[name="csrf"]').value = data.csrf;
  const list = $("user-list");
  list.replaceChildren();
  data.users.forEach((u, i) => {
    const id = "user-" + i;
    const input = el("input", { type: "radio", name: "user", id, value: u.name });
    if (i === 0) input.checked = true;
    list.append(el("label", { class: "choice", for: id }, input,
      el("span", {}, u.name),
      el("span", { class: "roles" }, u.roles.length ? u.roles.join(", ") : "device owner")));
  });
}

// --- Devices --------------------------------------------------------------------------------

async function devicesPage() {
  try {
    const data = await api("GET", "devices");
    renderDevices($("device-list"), data.devices, "No devices are enrolled for you.");
  } catch (err) {
    showFailure(err);
  }
}

// --- Device details -------------------------------------------------------------------------

const state = { device: null, keyTimer: null, approvedRequest: null };

function deviceId() { return new URLSearchParams(window.location.search).get("id") || ""; }

function devicePath(suffix) { return "devices/" + encodeURIComponent(deviceId()) + (suffix || ""); }

function renderDetails(d) {
  document.title = d.name + " · Company Portal";
  $("device-name").textContent = d.name;
  const rows = [
    ["Platform", PLATFORMS[d.platform] || d.platform],
    ["Ownership", d.ownership === "personal" ? "Personal" : "Corporate"],
    ["Owner", d.owner],
    ["Serial number", d.serial],
    ["Last check-in", formatTime(d.last_checkin_at)],
    ["Recovery key", d.has_recovery_key
      ? "Stored" + (d.key_stored_at ? " on " + formatTime(d.key_stored_at) : "") : "Not stored"],
    ["Rotation", d.rotation_pending ? (d.rotation_overdue ? "Pending (overdue)" : "Pending")
      : "Not needed"],
  ];
  const dl = $("device-details");
  dl.replaceChildren();
  for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", {}, v));
}

function isOwner() { return state.device && state.device.owner === session.user; }

function renderActions() {
  const d = state.device;
  const owner = isOwner();
  const support = hasRole("helpdesk", "admin");
  const personalForSupport = !owner && d.ownership === "personal";
  $("store-open").hidden = !owner;
  $("get-open").hidden = !(owner || support) || personalForSupport;
  $("rotate").hidden = !(owner || support);
  const msg = $("personal-message");
  msg.hidden = !(personalForSupport && support);
  msg.textContent = MESSAGES.personal;
  $("reason-field").hidden = owner;
}

async function loadDevice() {
  try {
    state.device = await api("GET", devicePath(""));
  } catch (err) {
    if (err.code === "device_not_found") notice(err.message, "");
    else showFailure(err);
    return;
  }
  renderDetails(state.device);
  renderActions();
  if (!isOwner() && hasRole("helpdesk", "admin")) findApprovedRequest();
  loadAccesses();
}

async function loadAccesses() {
  const box = $("accesses");
  try {
    const data = await api("GET", devicePath("/recovery-key/accesses"));
    box.replaceChildren();
    if (data.accesses.length === 0) {
      box.append(el("p", { class: "muted" }, "No one has viewed the recovery key."));
      return;
    }
    const body = el("tbody", {});
    for (const a of data.accesses) {
      body.append(el("tr", {},
        el("td", {}, formatTime(a.at)),
        el("td", {}, a.actor.replace(/^user:/, "") + (a.by_owner ? " (owner)" : "")),
        el("td", {}, a.role || ""),
        el("td", {}, a.reason || (a.by_owner ? "Owner retrieval" : "")),
        el("td", {}, String(a.version))));
    }
    box.append(el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "When"), el("th", { scope: "col" }, "Who"),
        el("th", { scope: "col" }, "Role"), el("th", { scope: "col" }, "Reason"),
        el("th", { scope: "col" }, "Version"))),
      body)));
  } catch (err) {
    box.replaceChildren(el("p", { class: "muted" },
      err.status === 403 || err.status === 404 ? "Not available." : err.message));
  }
}

async function findApprovedRequest() {
  try {
    const data = await api("GET", "access-requests?state=approved");
    state.approvedRequest = data.access_requests.find((r) => r.device_id === deviceId()) || null;
    if (state.approvedRequest) {
      toastOk("Your access request was approved by " + state.approvedRequest.approver +
        ". You can get the key once.");
    }
  } catch (err) {
    state.approvedRequest = null;
  }
}

function openPanel(id) {
  for (const p of ["store-panel", "get-panel"]) $(p).hidden = p !== id;
  const panel = $(id);
  const first = [...panel.querySelectorAll("input:not([type=hidden])")].find((i) => i.offsetParent);
  if (first) first.focus();
  else panel.querySelector("h2").focus();
}

function normaliseKey(text) { return text.replace(/[\s-]/g, "").toUpperCase(); }

function setConfirmError(text) {
  const error = $("confirm-error");
  error.textContent = text;
  error.hidden = !text;
  $("confirm-recovery-key").setAttribute("aria-invalid", text ? "true" : "false");
}

async function storeKey(event) {
  event.preventDefault();
  clearNotice();
  $("success").hidden = true;
  const keyInput = $("recovery-key");
  const confirmInput = $("confirm-recovery-key");
  if (!keyInput.value || normaliseKey(keyInput.value) !== normaliseKey(confirmInput.value)) {
    setConfirmError(MESSAGES.mismatch);
    confirmInput.focus();
    return;
  }
  setConfirmError("");
  const body = { recovery_key: keyInput.value, confirm_recovery_key: confirmInput.value };
  keyInput.value = "";
  confirmInput.value = "";
  try {
    await api("PUT", devicePath("/recovery-key"), body);
    $("store-panel").hidden = true;
    const ok = $("success");
    ok.textContent = MESSAGES.stored;
    ok.hidden = false;
    ok.scrollIntoView({ block: "nearest" });
    state.device = await api("GET", devicePath(""));
    renderDetails(state.device);
  } catch (err) {
    if (err.code === "keys_mismatch") setConfirmError(MESSAGES.mismatch);
    else if (err.code === "encryption_not_enabled") notice(MESSAGES.uploadFailed, MESSAGES.notEnabled);
    else if (err.code === "device_not_synced") notice(MESSAGES.uploadFailed, MESSAGES.notSynced);
    else if (err.status === 503) toast("Couldn't update recovery key for " + state.device.name + ".");
    else if (err.code === "invalid_recovery_key") notice(MESSAGES.uploadFailed, err.message);
    else showFailure(err);
  } finally {
    body.recovery_key = "";
    body.confirm_recovery_key = "";
  }
}

function hideKey(expired) {
  clearInterval(state.keyTimer);
  state.keyTimer = null;
  const value = $("key-value");
  value.replaceChildren();
  $("key-box").hidden = true;
  $("countdown").textContent = "";
  if (expired) $("get-message").textContent = MESSAGES.disappears;
}

function showKey(answer) {
  const expires = Date.parse(answer.expires_at);
  $("key-value").textContent = answer.recovery_key;
  $("key-box").hidden = false;
  $("key-note").hidden = false;
  $("get-message").textContent = "";
  const tick = () => {
    const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
    if (left <= 0) { hideKey(true); return; }
    const m = Math.floor(left / 60);
    const s = String(left % 60).padStart(2, "0");
    $("countdown").textContent = "The key disappears in " + m + ":" + s + ".";
  };
  tick();
  state.keyTimer = setInterval(tick, 250);
}

async function getKey(event) {
  event.preventDefault();
  clearNotice();
  $("success").hidden = true;
  hideKey(false);
  const body = {};
  if (!isOwner()) {
    const reason = $("reason").value.trim();
    const error = $("reason-error");
    if (!reason) {
      error.textContent = MESSAGES.reasonRequired;
      error.hidden = false;
      $("reason").setAttribute("aria-invalid", "true");
      $("reason").focus();
      return;
    }
    error.hidden = true;
    $("reason").setAttribute("aria-invalid", "false");
    body.reason = reason;
    if (state.approvedRequest) body.access_request = state.approvedRequest.id;
  }
  try {
    const answer = await api("POST", devicePath("/recovery-key/retrieve"), body);
    showKey(answer);
    answer.recovery_key = "";
    state.approvedRequest = null;
    loadAccesses();
    state.device = await api("GET", devicePath(""));
    renderDetails(state.device);
  } catch (err) {
    if (err.code === "recovery_key_not_found") {
      $("get-message").textContent = MESSAGES.notFound;
    } else if (err.code === "personal_device") {
      $("get-message").textContent = MESSAGES.personal;
    } else if (err.code === "approval_required") {
      $("get-message").textContent = err.message + " Request access, then come back once it is approved.";
      $("request-access").hidden = false;
    } else if (err.code === "access_request_not_usable") {
      $("get-message").textContent = err.message;
      state.approvedRequest = null;
    } else {
      showFailure(err);
    }
  }
}

async function requestAccess() {
  const reason = $("reason").value.trim();
  if (!reason) {
    $("reason-error").textContent = MESSAGES.reasonRequired;
    $("reason-error").hidden = false;
    $("reason").focus();
    return;
  }
  try {
    const request = await api("POST", devicePath("/recovery-key/access-requests"), { reason });
    $("request-access").hidden = true;
    $("get-message").textContent = "Access requested. An approver has to approve request " +
      request.id + " before you can get the key.";
  } catch (err) {
    if (err.code === "personal_device") $("get-message").textContent = MESSAGES.personal;
    else showFailure(err);
  }
}

async function rotate() {
  clearNotice();
  try {
    await api("POST", devicePath("/recovery-key/rotate"), {});
    toastOk("Rotation requested. The device gets a new recovery key at its next check-in.");
    state.device = await api("GET", devicePath(""));
    renderDetails(state.device);
  } catch (err) {
    showFailure(err);
  }
}

function toastOk(text) {
  const ok = $("success");
  ok.textContent = text;
  ok.hidden = false;
}

async function devicePage() {
  $("store-open").addEventListener("click", () => openPanel("store-panel"));
  $("store-cancel").addEventListener("click", () => {
    $("recovery-key").value = "";
    $("confirm-recovery-key").value = "";
    setConfirmError("");
    $("store-panel").hidden = true;
    $("store-open").focus();
  });
  $("confirm-recovery-key").addEventListener("input", () => {
    const a = normaliseKey($("recovery-key").value);
    const b = normaliseKey($("confirm-recovery-key").value);
    if (b.length >= a.length && a !== b) setConfirmError(MESSAGES.mismatch);
    else if (a === b) setConfirmError("");
  });
  $("store-form").addEventListener("submit", storeKey);
  // The owner sees the key at once; anyone else gives a reason first.
  $("get-open").addEventListener("click", (event) => {
    $("get-form").hidden = isOwner();
    openPanel("get-panel");
    if (isOwner()) getKey(event);
  });
  $("get-form").addEventListener("submit", getKey);
  $("request-access").addEventListener("click", requestAccess);
  $("rotate").addEventListener("click", rotate);
  // Leaving the page takes the key with it.
  window.addEventListener("pagehide", () => hideKey(false));
  await loadDevice();
}

// --- IT support -----------------------------------------------------------------------------

async function supportPage() {
  $("search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearNotice();
    const by = $("search-by").value;
    const text = $("search-text").value.trim();
    if (!text) { $("search-text").focus(); return; }
    const list = $("device-list");
    try {
      const data = await api("GET", "devices?" + by + "=" + encodeURIComponent(text));
      renderDevices(list, data.devices, "No device matches.");
    } catch (err) {
      list.replaceChildren();
      showFailure(err);
    }
  });
}

// --- Access requests ------------------------------------------------------------------------

async function decide(id, decision) {
  try {
    await api("POST", "access-requests/" + encodeURIComponent(id) + "/" + decision, { note: "" });
    toastOk(decision === "approve" ? "Request approved." : "Request denied.");
    loadRequests();
  } catch (err) {
    showFailure(err);
  }
}

async function loadRequests() {
  const box = $("request-list");
  const wanted = $("state-filter").value;
  try {
    const data = await api("GET", "access-requests?state=" + wanted);
    box.replaceChildren();
    if (data.access_requests.length === 0) {
      box.append(el("p", { class: "muted" }, "No " + wanted + " requests."));
      return;
    }
    const canDecide = hasRole("approver", "admin");
    const body = el("tbody", {});
    for (const r of data.access_requests) {
      const actions = el("td", {});
      if (canDecide && r.state === "pending" && r.requester !== session.user) {
        const approve = el("button", { type: "button", class: "primary" }, "Approve");
        approve.setAttribute("aria-label", "Approve request " + r.id);
        approve.addEventListener("click", () => decide(r.id, "approve"));
        const deny = el("button", { type: "button", class: "danger" }, "Deny");
        deny.setAttribute("aria-label", "Deny request " + r.id);
        deny.addEventListener("click", () => decide(r.id, "deny"));
        actions.append(el("div", { class: "actions" }, approve, deny));
      } else if (r.state === "approved" && r.requester === session.user) {
        actions.append(el("a", { href: "/device?id=" + encodeURIComponent(r.device_id) }, "Get the key"));
      }
      body.append(el("tr", {},
        el("td", {}, el("a", { href: "/device?id=" + encodeURIComponent(r.device_id) }, r.device_id)),
        el("td", {}, r.requester), el("td", {}, r.reason), el("td", {}, formatTime(r.created_at)),
        el("td", {}, r.state), actions));
    }
    box.append(el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ...["Device", "Requested by", "Reason", "When", "State", "Actions"]
        .map((h) => el("th", { scope: "col" }, h)))),
      body)));
  } catch (err) {
    box.replaceChildren();
    showFailure(err);
  }
}

async function requestsPage() {
  $("state-filter").addEventListener("change", loadRequests);
  await loadRequests();
}

// --- Start ----------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  const page = document.body.dataset.page;
  if (page === "signin") { await signinPage(); return; }
  if (!(await loadSession())) return;
  const pages = { devices: devicesPage, device: devicePage, support: supportPage, requests: requestsPage };
  if (pages[page]) await pages[page]();
});
