// claude.ai: a ProseMirror prompt box in a fieldset, the answer's container has
// data-is-streaming="true" until it is done. Fixture: tests/fixtures/claude.html.
EngramCapture.register({
  site: "claude",
  provider: "claude",
  matches: (loc) => loc.hostname === "claude.ai",
  composer: () =>
    document.querySelector('fieldset div.ProseMirror[contenteditable="true"]') ||
    document.querySelector('div.ProseMirror[contenteditable="true"]'),
  send: 'button[aria-label="Send message"]',
  assistantMessages: () => [...document.querySelectorAll("[data-is-streaming]")],
  answerText: (el) => EngramCapture.textOf(el.querySelector(".font-claude-response") || el),
  isStreaming: (el) => el.getAttribute("data-is-streaming") === "true",
  conversationId: (loc) => (loc.pathname.match(/\/chat\/([\w-]+)/) || [])[1],
});
