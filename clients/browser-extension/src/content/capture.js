// The capture engine every site shares: an adapter (adapters/<site>.js) says where the prompt
// box, the send button and the messages are; this file notices a prompt being sent, waits for
// the assistant's answer to finish streaming, and hands both (redacted) to the service worker.
// It also offers recalled memories above the prompt box. No business logic of the server's
// lives here: search, dedupe and extraction stay on the server.
(() => {
  const adapters = [];
  const SETTLE_MS = 400; // how often a streaming answer is looked at (not per DOM mutation)
  const QUIET_MS = 2500; // an answer with no stop button that has not changed for this long is done
  const RECALL_DEBOUNCE_MS = 600;
  const RECALL_MIN_CHARS = 12;
  const redact = (text) => globalThis.EngramRedact.redact(text);

  // Fields we never read: passwords and payment details, whatever the adapter says.
  function isSensitiveField(el) {
    if (!el || !(el instanceof Element)) return true;
    if (el.closest('input[type="password"]')) return true;
    const autocomplete = (el.getAttribute("autocomplete") || "").toLowerCase();
    if (/\b(cc-|current-password|new-password|one-time-code)/.test(autocomplete)) return true;
    const hint = `${el.getAttribute("name") || ""} ${el.id || ""}`.toLowerCase();
    return /(password|passwd|card.?number|cvc|cvv|iban)/.test(hint);
  }

  function textOf(el) {
    if (!el) return "";
    if ("value" in el && typeof el.value === "string") return el.value;
    return el.innerText || el.textContent || "";
  }

  // Inserts ``text`` at the start of a textarea or a contenteditable (ProseMirror, Quill, Lexical)
  // the way typing does, so the site's own state sees it.
  function insertAtStart(field, text) {
    field.focus();
    if (field instanceof HTMLTextAreaElement || field instanceof HTMLInputElement) {
      const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(field), "value").set;
      setter.call(field, text + field.value);
      field.dispatchEvent(new Event("input", { bubbles: true }));
      field.setSelectionRange(field.value.length, field.value.length);
      return;
    }
    const selection = window.getSelection();
    const range = document.createRange();
    range.setStart(field, 0);
    range.collapse(true);
    selection.removeAllRanges();
    selection.addRange(range);
    if (!document.execCommand("insertText", false, text)) {
      field.insertBefore(document.createTextNode(text), field.firstChild);
      field.dispatchEvent(new InputEvent("input", { bubbles: true, data: text }));
    }
  }

  class Capture {
    constructor(adapter, send) {
      this.adapter = adapter;
      this.send = send; // (message) => Promise of the service worker's answer
      this.state = { capture: false, recall: false };
      this.pending = null; // the exchange waiting for its answer
      this.lastSent = { text: "", at: 0 };
      this.checkTimer = null;
      this.recallTimer = null;
      this.recallPanel = null;
      this.recallSeq = 0;
    }

    // Time our own handlers spend on the page, per exchange: capture must stay cheap (< 5 ms).
    timed(fn) {
      const start = performance.now();
      try {
        return fn();
      } finally {
        if (this.pending) this.pending.workMs += performance.now() - start;
      }
    }

    start() {
      document.addEventListener("keydown", (e) => this.onKeydown(e), true);
      document.addEventListener("click", (e) => this.onClick(e), true);
      document.addEventListener("submit", (e) => this.onSubmit(e), true);
      document.addEventListener("input", (e) => this.onInput(e), true);
      this.observer = new MutationObserver(() => this.timed(() => this.onMutation()));
      this.observer.observe(document.body, { childList: true, subtree: true, characterData: true });
    }

    composer() {
      const field = this.adapter.composer();
      return field && !isSensitiveField(field) ? field : null;
    }

    // --- Prompt sent ----------------------------------------------------------------------------
    onKeydown(event) {
      if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
      const field = this.composer();
      if (field && field.contains(event.target)) this.timed(() => this.promptSent(field));
    }

    onClick(event) {
      const button = event.target instanceof Element && event.target.closest(this.adapter.send);
      if (button && !button.disabled) {
        const field = this.composer();
        if (field) this.timed(() => this.promptSent(field));
      }
    }

    onSubmit(event) {
      const field = this.composer();
      if (field && event.target instanceof Element && event.target.contains(field)) {
        this.timed(() => this.promptSent(field));
      }
    }

    promptSent(field) {
      if (!this.state.capture) return;
      const text = textOf(field).trim();
      const now = Date.now();
      // Enter and the click it may trigger, or a click and the form's submit: one prompt.
      if (!text || (text === this.lastSent.text && now - this.lastSent.at < 1500)) return;
      this.lastSent = { text, at: now };
      this.hideRecall();
      const started = performance.now();
      const captureId = crypto.randomUUID();
      const answers = this.adapter.assistantMessages();
      this.pending = {
        captureId,
        started,
        workMs: 0,
        before: answers[answers.length - 1] || null,
        beforeCount: answers.length,
        lastText: "",
        lastChange: started,
      };
      this.send({
        type: "capture-prompt",
        captureId,
        prompt: redact(text),
        site: this.adapter.site,
        provider: this.adapter.provider,
        // Without query or fragment: those may carry tokens; the path names the conversation.
        url: location.origin + location.pathname,
        conversationId: this.adapter.conversationId(location) || "",
        title: redact(document.title).slice(0, 500),
      });
    }

    // --- Answer finished ------------------------------------------------------------------------
    onMutation() {
      if (!this.pending || this.checkTimer) return;
      this.checkTimer = setTimeout(() => {
        this.checkTimer = null;
        this.timed(() => this.checkAnswer());
      }, SETTLE_MS);
    }

    checkAnswer() {
      const pending = this.pending;
      if (!pending) return;
      const answers = this.adapter.assistantMessages();
      const answer = answers[answers.length - 1];
      const isNew = answer && (answer !== pending.before || answers.length > pending.beforeCount);
      if (!isNew) return;
      // textContent while it streams (no layout); the answer's text, with its line breaks,
      // once it is done.
      const seen = answer.textContent;
      const now = performance.now();
      if (seen !== pending.lastText) {
        pending.lastText = seen;
        pending.lastChange = now;
      }
      const streaming = this.adapter.isStreaming(answer);
      const quiet = now - pending.lastChange >= QUIET_MS;
      if (!seen.trim() || (streaming && !quiet)) {
        this.onMutation(); // look again, even if the page stops changing
        return;
      }
      const text = this.adapter.answerText(answer).trim();
      if (text) this.answerFinished(pending, text);
    }

    answerFinished(pending, text) {
      this.pending = null;
      this.send({
        type: "capture-response",
        captureId: pending.captureId,
        response: redact(text),
      });
      // What this exchange cost the page: every handler of ours, from send to the answer.
      const workMs = pending.workMs;
      performance.measure("engram:capture", {
        start: pending.started,
        duration: Math.max(0, workMs),
        detail: { site: this.adapter.site, workMs },
      });
    }

    // --- Recall into the prompt -----------------------------------------------------------------
    onInput(event) {
      if (!this.state.recall) return;
      const field = this.composer();
      if (!field || !field.contains(event.target)) return;
      clearTimeout(this.recallTimer);
      this.recallTimer = setTimeout(() => this.recall(field), RECALL_DEBOUNCE_MS);
    }

    async recall(field) {
      const query = textOf(field).trim();
      if (query.length < RECALL_MIN_CHARS) {
        this.hideRecall();
        return;
      }
      const seq = ++this.recallSeq;
      const answer = await this.send({ type: "recall", query: redact(query).slice(0, 1000) });
      if (seq !== this.recallSeq || !answer || !answer.ok) return;
      if (answer.results.length === 0) this.hideRecall();
      else this.showRecall(field, answer.results);
    }

    showRecall(field, results) {
      this.hideRecall();
      const host = document.createElement("engram-recall");
      const root = host.attachShadow({ mode: "open" });
      const box = field.getBoundingClientRect();
      // Above the prompt box, as the issue asks; below it when the box sits at the very top.
      const vertical =
        box.top > 260
          ? `bottom:${window.innerHeight - box.top + 8}px`
          : `top:${Math.min(window.innerHeight - 120, box.bottom + 8)}px`;
      const width = Math.min(560, Math.max(280, box.width));
      host.style.cssText = `position:fixed;z-index:2147483647;left:${Math.max(8, box.left)}px;${vertical};width:${width}px`;
      root.innerHTML = `<style>
        .panel{font:13px/1.4 system-ui,sans-serif;background:#fff;color:#111;border:1px solid #999;border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.2);padding:8px}
        .head{display:flex;justify-content:space-between;align-items:center;font-weight:600;margin-bottom:4px}
        ul{list-style:none;margin:0;padding:0;max-height:220px;overflow:auto}
        li{display:flex;gap:8px;align-items:flex-start;padding:4px 0;border-top:1px solid #eee}
        li span{flex:1;white-space:pre-wrap;overflow:hidden;max-height:4.2em}
        button{font:inherit;cursor:pointer;border:1px solid #555;border-radius:4px;background:#f4f4f4;color:#111;padding:2px 8px}
        button:focus-visible{outline:2px solid #2563eb}
        @media (prefers-color-scheme: dark){.panel{background:#1e1e1e;color:#eee;border-color:#666}button{background:#333;color:#eee;border-color:#888}li{border-color:#333}}
      </style><div class="panel" role="dialog" aria-label="Memories from Engram"><div class="head"><span>From your memories</span><button class="close" aria-label="Close">×</button></div><ul></ul></div>`;
      const list = root.querySelector("ul");
      for (const memory of results) {
        const item = document.createElement("li");
        const text = document.createElement("span");
        text.textContent = memory.content;
        const use = document.createElement("button");
        use.className = "insert";
        use.textContent = "Insert";
        use.setAttribute("aria-label", `Insert: ${memory.content.slice(0, 80)}`);
        use.addEventListener("click", () => {
          insertAtStart(field, `Context from my memories:\n- ${memory.content}\n\n`);
          this.hideRecall();
        });
        item.append(text, use);
        list.append(item);
      }
      root.querySelector(".close").addEventListener("click", () => this.hideRecall());
      document.documentElement.append(host);
      this.recallPanel = host;
    }

    hideRecall() {
      if (this.recallPanel) this.recallPanel.remove();
      this.recallPanel = null;
    }
  }

  globalThis.EngramCapture = {
    Capture,
    adapters,
    isSensitiveField,
    textOf,
    insertAtStart,
    // Each adapter file calls this with its site's selectors.
    register(adapter) {
      adapters.push(adapter);
    },
  };
})();
