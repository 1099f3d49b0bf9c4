import { normalizeServerUrl } from "../lib/api.js";
import * as store from "../lib/store.js";

const $ = (selector) => document.querySelector(selector);

function say(problem) {
  $("#problem").textContent = problem || "";
}

// The server's origin must be reachable from the service worker: localhost is in the
// manifest; any other address is asked for once, on this click (a user gesture).
async function allowServer(serverUrl) {
  const origins = [`${serverUrl}/*`];
  if (await chrome.permissions.contains({ origins })) return true;
  try {
    return await chrome.permissions.request({ origins });
  } catch {
    return false;
  }
}

async function render() {
  const settings = await store.settings();
  const { auth, status = {}, connecting } = await store.read("auth", "status", "connecting");
  if (document.activeElement !== $("#server-url")) $("#server-url").value = settings.serverUrl;
  $("#paused").checked = settings.paused;
  $("#recall").checked = settings.recall;
  $("#allow-incognito").checked = settings.allowIncognito;
  for (const box of document.querySelectorAll("[data-site]")) {
    box.checked = settings.sites[box.dataset.site];
  }
  let line = "Not connected.";
  if (auth) {
    line = `Connected to ${settings.serverUrl}${auth.email ? ` as ${auth.email}` : ""}.`;
    if (status.connection === "revoked") line = "The server refused the key: connect again.";
  } else if (connecting) {
    line = "Waiting for you to approve on the server's page…";
  }
  $("#connection").textContent = line;
  $("#connection").dataset.state = auth ? status.connection || "connected" : connecting ? "connecting" : "disconnected";
  $("#user-code-line").hidden = !connecting;
  $("#user-code").textContent = connecting ? connecting.userCode : "";
  $("#disconnect").disabled = !auth;
  if (!auth && !connecting && status.lastError) say(status.lastError);
}

async function serverFromInput() {
  try {
    return normalizeServerUrl($("#server-url").value);
  } catch (error) {
    say(error.message);
    return null;
  }
}

$("#connect").addEventListener("click", async () => {
  say("");
  const serverUrl = await serverFromInput();
  if (!serverUrl) return;
  if (!(await allowServer(serverUrl))) {
    say("The extension needs your permission to reach this server.");
    return;
  }
  const answer = await chrome.runtime.sendMessage({ type: "connect", serverUrl });
  if (!answer.ok) say(answer.error);
  render();
});

$("#save-key").addEventListener("click", async () => {
  say("");
  const serverUrl = await serverFromInput();
  if (!serverUrl || !(await allowServer(serverUrl))) return;
  const answer = await chrome.runtime.sendMessage({
    type: "paste-key",
    serverUrl,
    apiKey: $("#api-key").value,
  });
  if (answer.ok) $("#api-key").value = "";
  else say(answer.error);
  render();
});

$("#disconnect").addEventListener("click", async () => {
  const answer = await chrome.runtime.sendMessage({ type: "disconnect" });
  say(answer.revoked ? "" : "Disconnected here; the server could not be told, so revoke the key under your account's API keys.");
  render();
});

$("#paused").addEventListener("change", (e) => store.saveSettings({ paused: e.target.checked }));
$("#recall").addEventListener("change", (e) => store.saveSettings({ recall: e.target.checked }));
$("#allow-incognito").addEventListener("change", (e) =>
  store.saveSettings({ allowIncognito: e.target.checked }),
);
for (const box of document.querySelectorAll("[data-site]")) {
  box.addEventListener("change", async () => {
    const { sites } = await store.settings();
    store.saveSettings({ sites: { ...sites, [box.dataset.site]: box.checked } });
  });
}

chrome.extension.isAllowedIncognitoAccess().then((allowed) => {
  if (allowed) $("#incognito-hint").textContent = "(Allowed on chrome://extensions.)";
});
chrome.storage.onChanged.addListener(() => render());
render();
