import * as store from "../lib/store.js";

const $ = (selector) => document.querySelector(selector);
const STATES = {
  connected: "Connected",
  connecting: "Connecting…",
  offline: "Server unreachable: captures wait here",
  revoked: "The server refused the key: connect again",
  disconnected: "Not connected",
};

function item(text, buttonLabel, onClick) {
  const li = document.createElement("li");
  const span = document.createElement("span");
  span.textContent = text;
  li.append(span);
  if (buttonLabel) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = buttonLabel;
    button.addEventListener("click", () => onClick(li));
    li.append(button);
  }
  return li;
}

// How long "Forget" stays armed after a first click: the second one, within it, forgets.
const CONFIRM_MS = 5000;

async function forget(memoryId, li) {
  const button = li.querySelector("button");
  if (!button.dataset.armed) {
    // One click alone forgets nothing: a memory goes for good.
    button.dataset.armed = "1";
    button.textContent = "Forget for good?";
    setTimeout(() => {
      delete button.dataset.armed;
      button.textContent = "Forget";
    }, CONFIRM_MS);
    return;
  }
  const answer = await chrome.runtime.sendMessage({ type: "forget", memoryId });
  if (answer.ok) li.remove();
}

function nothingClose(serverUrl, query) {
  // Weaker matches are the web app's to show (folded there under "less related").
  const li = item("Nothing close. ");
  const link = document.createElement("a");
  link.href = `${serverUrl}/memories/?q=${encodeURIComponent(query)}`;
  link.target = "_blank";
  link.textContent = "Search in Engram";
  li.firstChild.append(link);
  return li;
}

async function render() {
  const settings = await store.settings();
  const { auth, status = {}, queue = [], recent = [] } = await store.read(
    "auth",
    "status",
    "queue",
    "recent",
  );
  const state = auth ? status.connection || "connected" : "disconnected";
  $("#state").textContent = `${STATES[state] || state}${auth && auth.email ? ` · ${auth.email}` : ""}`;
  $("#state").dataset.state = state;
  $("#paused").checked = settings.paused;
  $("#queue").textContent = String(queue.length);
  $("#retry").textContent =
    queue.length && status.nextRetryAt > Date.now()
      ? `(next try in ${Math.ceil((status.nextRetryAt - Date.now()) / 1000)} s)`
      : "";
  $("#send-now").hidden = queue.length === 0;
  $("#problem").textContent = status.lastError || "";
  $("#search").disabled = !auth;
  const list = $("#recent");
  list.replaceChildren(
    ...recent.map((entry) =>
      item(`${entry.site}: ${entry.text}`, "Forget", (li) => forget(entry.memoryId, li)),
    ),
  );
}

$("#paused").addEventListener("change", (e) => store.saveSettings({ paused: e.target.checked }));
$("#send-now").addEventListener("click", () => chrome.runtime.sendMessage({ type: "send-now" }));
$("#search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const query = $("#search").value.trim();
  if (!query) return;
  const answer = await chrome.runtime.sendMessage({ type: "search", query });
  const results = $("#results");
  if (!answer.ok) {
    results.replaceChildren(item(answer.error));
    return;
  }
  const { serverUrl } = await store.settings();
  results.replaceChildren(
    ...(answer.results.length
      ? answer.results.map((hit) => item(hit.content, "Forget", (li) => forget(hit.id, li)))
      : [nothingClose(serverUrl, query)]),
  );
});

chrome.storage.onChanged.addListener(() => render());
render();
