// Talking to the Engram server: the connect handshake and the memories endpoints.
// Every call names what happened: {ok, status, body} or a network failure (status 0).

export const CLIENT_NAME = "Engram for Chromium";
// Chat's relevance floor (CHAT_MEMORY_MIN_SCORE): unrelated memories are never offered.
export const RECALL_MIN_SCORE = 0.4;
export const RECALL_TOP_K = 3;
const TIMEOUT_MS = 15000;

export function normalizeServerUrl(raw) {
  const url = new URL(String(raw).trim());
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error("The server address must start with https:// (or http:// on this machine).");
  }
  return url.origin;
}

export async function call(server, path, { method = "GET", apiKey, body, headers = {} } = {}) {
  const init = {
    method,
    headers: { Accept: "application/json", ...headers },
    credentials: "omit",
    signal: AbortSignal.timeout(TIMEOUT_MS),
  };
  if (apiKey) init.headers["X-API-Key"] = apiKey;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(server + path, init);
  } catch (error) {
    return { ok: false, status: 0, error: String(error) };
  }
  let parsed;
  try {
    parsed = response.status === 204 ? null : await response.json();
  } catch {
    parsed = null;
  }
  return {
    ok: response.ok,
    status: response.status,
    body: parsed,
    retryAfter: Number(response.headers.get("Retry-After")) || 0,
    error: parsed && parsed.error ? `${parsed.error.code}: ${parsed.error.message}` : "",
  };
}

// What ends a text cut to fit the server's limit on a memory's text.
export const CUT_NOTE =
  "\n\n[Cut by Engram's extension: the exchange was longer than the server keeps.]";

// A text the server refused as too long (413: details.length, of the memory's whole text, over
// details.limit_chars) cut so that the whole fits, ending with CUT_NOTE; null when none of it
// would fit. Counted in code points, as the server counts.
export function cutToFit(text, details) {
  const limit = Number(details && details.limit_chars);
  const length = Number(details && details.length);
  if (!(limit > 0) || !(length > limit)) return null;
  const chars = Array.from(text);
  const keep = chars.length - (length - limit) - Array.from(CUT_NOTE).length;
  return keep > 0 ? chars.slice(0, keep).join("") + CUT_NOTE : null;
}

// Worth sending again later: no answer, a server error, too many requests.
export function isRetryable(result) {
  return result.status === 0 || result.status === 429 || result.status >= 500;
}

export function connectStart(server) {
  return call(server, "/api/v1/connect/requests", {
    method: "POST",
    body: { client_name: CLIENT_NAME },
  });
}

export function connectPoll(server, requestId, pollSecret) {
  return call(server, `/api/v1/connect/requests/${encodeURIComponent(requestId)}/token`, {
    method: "POST",
    body: { poll_secret: pollSecret },
  });
}

export function disconnect(server, apiKey) {
  return call(server, "/api/v1/connect/key", { method: "DELETE", apiKey });
}

export function search(server, apiKey, query, { minScore = RECALL_MIN_SCORE, topK = RECALL_TOP_K } = {}) {
  return call(server, "/api/v1/memories/search", {
    method: "POST",
    apiKey,
    body: { query, top_k: topK, min_score: minScore, mode: "hybrid" },
  });
}

export function forget(server, apiKey, memoryId) {
  return call(server, `/api/v1/memories/${encodeURIComponent(memoryId)}`, {
    method: "DELETE",
    apiKey,
  });
}
