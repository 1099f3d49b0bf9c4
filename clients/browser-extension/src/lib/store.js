// What the extension keeps, in chrome.storage.local (on disk, survives restarts):
//   settings  what the user chose (server, sites, pause, incognito, recall)
//   auth      the API key the handshake (or a paste) gave, and whose it is
//   queue     captures not yet accepted by the server, oldest first
//   links     capture id -> the memory the server made of its prompt
//   recent    the last captures, for the popup (with "forget this")
//   status    connection state, the last error, when the queue is tried next

export const SITES = ["chatgpt", "claude", "gemini", "grok", "openwebui"];
export const DEFAULT_SETTINGS = {
  serverUrl: "",
  sites: Object.fromEntries(SITES.map((site) => [site, true])),
  paused: false,
  allowIncognito: false,
  recall: true,
};
const RECENT_MAX = 20;
const LINKS_MAX = 500;

export async function read(...keys) {
  return chrome.storage.local.get(keys);
}

export async function settings() {
  const { settings: stored } = await read("settings");
  return {
    ...DEFAULT_SETTINGS,
    ...stored,
    sites: { ...DEFAULT_SETTINGS.sites, ...(stored && stored.sites) },
  };
}

export async function saveSettings(changes) {
  const current = await settings();
  await chrome.storage.local.set({ settings: { ...current, ...changes } });
}

export async function auth() {
  const { auth: stored } = await read("auth");
  return stored || null;
}

// Every change to the queue, the links and the recent list goes through this one chain, so
// a capture arriving while the queue is sent never loses a write.
let chain = Promise.resolve();
export function locked(fn) {
  const result = chain.then(fn);
  chain = result.catch(() => {});
  return result;
}

export function enqueue(op) {
  return locked(async () => {
    const { queue = [] } = await read("queue");
    queue.push(op);
    await chrome.storage.local.set({ queue });
    return queue.length;
  });
}

export async function head() {
  const { queue = [] } = await read("queue");
  return queue[0] || null;
}

// Removes the op with ``id`` (and, when a prompt could not be stored, its response too).
export function dequeue(id, { dropCapture = null } = {}) {
  return locked(async () => {
    const { queue = [] } = await read("queue");
    const kept = queue.filter(
      (op) => op.id !== id && !(dropCapture && op.captureId === dropCapture),
    );
    await chrome.storage.local.set({ queue: kept });
    return kept.length;
  });
}

export function link(captureId, memoryId, recentEntry) {
  return locked(async () => {
    const { links = {}, recent = [] } = await read("links", "recent");
    links[captureId] = memoryId;
    const names = Object.keys(links);
    for (const old of names.slice(0, Math.max(0, names.length - LINKS_MAX))) delete links[old];
    const others = recent.filter((entry) => entry.memoryId !== memoryId);
    await chrome.storage.local.set({
      links,
      recent: [recentEntry, ...others].slice(0, RECENT_MAX),
    });
  });
}

export async function memoryOf(captureId) {
  const { links = {} } = await read("links");
  return links[captureId] || null;
}

export function forgetRecent(memoryId) {
  return locked(async () => {
    const { recent = [] } = await read("recent");
    await chrome.storage.local.set({ recent: recent.filter((e) => e.memoryId !== memoryId) });
  });
}

export async function setStatus(changes) {
  const { status = {} } = await read("status");
  await chrome.storage.local.set({ status: { ...status, ...changes } });
}
