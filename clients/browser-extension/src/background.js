// The service worker: the only part that talks to the server. Content scripts hand it
// captures (already redacted); it queues them on disk and sends them in order, with backoff
// while the server is unreachable, each prompt once (an Idempotency-Key per capture).
import * as api from "./lib/api.js";
import * as store from "./lib/store.js";

const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const ALARM = "engram-flush";

// --- Sending the queue ----------------------------------------------------------------------

let flushing = null;
let retryTimer = null;
let failures = 0;

function flush() {
  if (!flushing) {
    flushing = sendQueue().finally(() => {
      flushing = null;
    });
  }
  return flushing;
}

async function sendQueue() {
  clearTimeout(retryTimer);
  for (;;) {
    const [settings, key, op] = await Promise.all([store.settings(), store.auth(), store.head()]);
    if (!op) {
      failures = 0;
      await store.setStatus({ nextRetryAt: 0 });
      return;
    }
    if (!key || !settings.serverUrl) return; // kept until connected again
    const result = await sendOne(settings.serverUrl, key.apiKey, op);
    if (result.ok) {
      failures = 0;
      await store.dequeue(op.id);
      await store.setStatus({ connection: "connected", lastError: "", nextRetryAt: 0 });
      continue;
    }
    if (result.status === 401) {
      await store.setStatus({ connection: "revoked", lastError: result.error });
      return;
    }
    if (api.isRetryable(result)) {
      failures += 1;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (failures - 1));
      const delay = Math.max(backoff, result.retryAfter * 1000);
      await store.setStatus({
        connection: result.status === 0 ? "offline" : "connected",
        lastError: result.error || `HTTP ${result.status}`,
        nextRetryAt: Date.now() + delay,
      });
      retryTimer = setTimeout(flush, delay);
      // If the worker is stopped before the timer fires, the alarm wakes it.
      chrome.alarms.create(ALARM, { when: Date.now() + Math.max(delay, 30000) });
      return;
    }
    // The server refused it for good (400, 404, 409): drop it, and a prompt's response with it.
    await store.dequeue(op.id, { dropCapture: op.kind === "prompt" ? op.captureId : null });
    await store.setStatus({ lastError: `A capture was refused: ${result.error || result.status}` });
  }
}

async function sendOne(server, apiKey, op) {
  if (op.kind === "prompt") {
    const result = await sentCutIfTooLong(op.body, "prompt", (body) =>
      api.call(server, "/api/v1/memories/prompts", {
        method: "POST",
        apiKey,
        body,
        headers: { "Idempotency-Key": op.idempotencyKey },
      }),
    );
    if (result.ok) {
      await store.link(op.captureId, result.body.id, {
        memoryId: result.body.id,
        site: op.site,
        text: op.body.prompt.slice(0, 200),
        at: op.at,
      });
    }
    return result;
  }
  const memoryId = await store.memoryOf(op.captureId);
  if (!memoryId) return { ok: false, status: 404, error: "its prompt was not stored" };
  // Saving the same response again changes nothing on the server: safe to repeat.
  return sentCutIfTooLong(op.body, "response", (body) =>
    api.call(server, `/api/v1/memories/${memoryId}/response`, { method: "POST", apiKey, body }),
  );
}

// A text longer than the server keeps (a 413) is sent again cut to fit, saying so, rather than
// dropped. A retry of the queue cuts the same text the same way: the same request again.
async function sentCutIfTooLong(body, field, send) {
  const result = await send(body);
  if (result.status !== 413) return result;
  const error = result.body && result.body.error;
  const cut = api.cutToFit(body[field], error && error.details);
  return cut === null ? result : send({ ...body, [field]: cut });
}

// --- Captures from the pages ------------------------------------------------------------------

async function captureAllowed(site, tab) {
  const [settings, key] = await Promise.all([store.settings(), store.auth()]);
  if (!key || settings.paused || !settings.sites[site]) return false;
  return !(tab && tab.incognito && !settings.allowIncognito);
}

async function onCapturePrompt(message, tab) {
  if (!(await captureAllowed(message.site, tab))) return { ok: false };
  const body = {
    prompt: message.prompt,
    provider: message.provider,
    conversation_id: (message.conversationId || "").slice(0, 255),
    title: message.title || "",
    tags: [message.site],
    metadata: { site: message.site, conversation_url: message.url, client: api.CLIENT_NAME },
  };
  if (/^https?:\/\//.test(message.url) && message.url.length <= 2048) {
    body.source_url = message.url;
  }
  await store.enqueue({
    id: crypto.randomUUID(),
    kind: "prompt",
    captureId: message.captureId,
    idempotencyKey: crypto.randomUUID(),
    site: message.site,
    at: Date.now(),
    body,
  });
  flush();
  return { ok: true };
}

async function onCaptureResponse(message) {
  // Queued after its prompt, whatever the settings now: half an exchange helps no one.
  const { queue = [], links = {} } = await store.read("queue", "links");
  const known = links[message.captureId] || queue.some((op) => op.captureId === message.captureId);
  if (!known) return { ok: false };
  await store.enqueue({
    id: crypto.randomUUID(),
    kind: "response",
    captureId: message.captureId,
    at: Date.now(),
    body: { response: message.response },
  });
  flush();
  return { ok: true };
}

async function onRecall(message, tab) {
  const [settings, key] = await Promise.all([store.settings(), store.auth()]);
  if (!key || settings.paused || !settings.recall) return { ok: false, results: [] };
  if (tab && tab.incognito && !settings.allowIncognito) return { ok: false, results: [] };
  const result = await api.search(settings.serverUrl, key.apiKey, message.query);
  if (!result.ok) return { ok: false, results: [], error: result.error };
  return {
    ok: true,
    results: result.body.results.map((hit) => ({ id: hit.id, content: hit.content, score: hit.score })),
  };
}

// --- Connecting ------------------------------------------------------------------------------

let polling = null;

async function onConnect(message) {
  let server;
  try {
    server = api.normalizeServerUrl(message.serverUrl);
  } catch (error) {
    return { ok: false, error: error.message };
  }
  const previous = await heldKey();
  await store.saveSettings({ serverUrl: server });
  const started = await api.connectStart(server);
  if (!started.ok) {
    return { ok: false, error: started.error || `The server did not answer (${started.status}).` };
  }
  const connecting = {
    server,
    requestId: started.body.request_id,
    pollSecret: started.body.poll_secret,
    userCode: started.body.user_code,
    interval: started.body.interval,
    expiresAt: Date.now() + started.body.expires_in * 1000,
    previous,
  };
  await chrome.storage.local.set({ connecting });
  await chrome.tabs.create({ url: started.body.approval_url });
  pollConnect();
  return { ok: true, userCode: connecting.userCode };
}

function pollConnect() {
  if (!polling) {
    polling = pollUntilDone().finally(() => {
      polling = null;
    });
  }
}

async function pollUntilDone() {
  for (;;) {
    const { connecting } = await store.read("connecting");
    if (!connecting) return;
    if (Date.now() > connecting.expiresAt) {
      await finishConnect(connecting, null, "The request expired before it was approved.");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, connecting.interval * 1000));
    const result = await api.connectPoll(connecting.server, connecting.requestId, connecting.pollSecret);
    if (result.status === 202 || api.isRetryable(result)) {
      // Touching storage keeps the worker alive between polls.
      await store.setStatus({ connection: "connecting" });
      continue;
    }
    await finishConnect(connecting, result.ok ? result.body : null, result.error);
    return;
  }
}

async function finishConnect(connecting, granted, error) {
  await chrome.storage.local.remove("connecting");
  if (!granted) {
    await store.setStatus({ connection: "disconnected", lastError: error || "Not connected." });
    return;
  }
  await chrome.storage.local.set({
    auth: { apiKey: granted.api_key, email: granted.email, keyId: granted.key_id },
  });
  await store.setStatus({ connection: "connected", lastError: "" });
  await revokeReplaced(connecting.previous, granted.api_key);
  flush();
}

// The key this extension holds now and the server it is for, or null.
async function heldKey() {
  const [settings, key] = await Promise.all([store.settings(), store.auth()]);
  return key && settings.serverUrl ? { server: settings.serverUrl, apiKey: key.apiKey } : null;
}

// A key replaced by a new one (connecting again, or a pasted key) is revoked on its server, so
// no key the extension no longer uses stays valid. Best effort: one that cannot be reached now
// keeps it, listed under the user's API keys to revoke there.
async function revokeReplaced(previous, apiKey) {
  if (previous && previous.apiKey !== apiKey) {
    await api.disconnect(previous.server, previous.apiKey);
  }
}

async function onPasteKey(message) {
  let server;
  try {
    server = api.normalizeServerUrl(message.serverUrl);
  } catch (error) {
    return { ok: false, error: error.message };
  }
  const apiKey = String(message.apiKey || "").trim();
  const check = await api.search(server, apiKey, "engram connection check");
  if (!check.ok) {
    return { ok: false, error: check.error || `The server did not answer (${check.status}).` };
  }
  const previous = await heldKey();
  await store.saveSettings({ serverUrl: server });
  await chrome.storage.local.set({ auth: { apiKey, email: "", keyId: "" } });
  await store.setStatus({ connection: "connected", lastError: "" });
  await revokeReplaced(previous, apiKey);
  flush();
  return { ok: true };
}

async function onDisconnect() {
  const [settings, key] = await Promise.all([store.settings(), store.auth()]);
  let revoked = false;
  if (key && settings.serverUrl) {
    const result = await api.disconnect(settings.serverUrl, key.apiKey);
    revoked = result.ok || result.status === 401;
  }
  await chrome.storage.local.remove(["auth", "connecting"]);
  await store.setStatus({ connection: "disconnected", lastError: "" });
  return { ok: true, revoked };
}

// --- The popup -------------------------------------------------------------------------------

async function onSearch(message) {
  const [settings, key] = await Promise.all([store.settings(), store.auth()]);
  if (!key) return { ok: false, error: "Not connected." };
  // What chat's recall calls relevant (a page of unrelated memories, each with its Forget
  // button, was the answer to gibberish).
  const result = await api.search(settings.serverUrl, key.apiKey, message.query, { topK: 10 });
  return result.ok
    ? { ok: true, results: result.body.results }
    : { ok: false, error: result.error || `HTTP ${result.status}` };
}

async function onForget(message) {
  const [settings, key] = await Promise.all([store.settings(), store.auth()]);
  if (!key) return { ok: false, error: "Not connected." };
  const result = await api.forget(settings.serverUrl, key.apiKey, message.memoryId);
  if (result.ok || result.status === 404) await store.forgetRecent(message.memoryId);
  return { ok: result.ok || result.status === 404, error: result.error };
}

async function siteState(site, tab) {
  const [settings, key] = await Promise.all([store.settings(), store.auth()]);
  const on = await captureAllowed(site, tab);
  return { capture: on, recall: on && Boolean(key) && settings.recall };
}

const HANDLERS = {
  "capture-prompt": (m, sender) => onCapturePrompt(m, sender.tab),
  "capture-response": (m) => onCaptureResponse(m),
  recall: (m, sender) => onRecall(m, sender.tab),
  "site-state": (m, sender) => siteState(m.site, sender.tab),
  connect: (m) => onConnect(m),
  "paste-key": (m) => onPasteKey(m),
  disconnect: () => onDisconnect(),
  search: (m) => onSearch(m),
  forget: (m) => onForget(m),
  "send-now": async () => {
    failures = 0;
    await flush();
    return { ok: true };
  },
};

chrome.runtime.onMessage.addListener((message, sender, reply) => {
  const handler = message && HANDLERS[message.type];
  // Pages may only hand over captures and ask for recall and their state.
  const fromPage = Boolean(sender.tab) && !sender.url?.startsWith(chrome.runtime.getURL(""));
  const pageTypes = ["capture-prompt", "capture-response", "recall", "site-state"];
  if (!handler || (fromPage && !pageTypes.includes(message.type))) return false;
  handler(message, sender).then(reply, (error) => reply({ ok: false, error: String(error) }));
  return true; // answered asynchronously
});

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === ALARM) flush();
});

chrome.commands.onCommand.addListener(async (command) => {
  if (command !== "recall") return;
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  if (tab) chrome.tabs.sendMessage(tab.id, { type: "recall-now" }).catch(() => {});
});

// A restarted worker picks up where it stopped: the queue, and a handshake under way.
chrome.runtime.onStartup.addListener(() => flush());
chrome.runtime.onInstalled.addListener(() => flush());
flush();
pollConnect();
