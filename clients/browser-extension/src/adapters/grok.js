// grok.com: a textarea prompt box, messages as .message-bubble inside rows aligned right (the
// user's) or left (Grok's), a "Stop model response" button while it streams.
// Fixture: tests/fixtures/grok.html.
EngramCapture.register({
  site: "grok",
  provider: "grok",
  matches: (loc) => loc.hostname === "grok.com",
  composer: () =>
    document.querySelector('textarea[aria-label="Ask Grok anything"]') ||
    document.querySelector('form div[contenteditable="true"]'),
  send: 'button[type="submit"][aria-label="Submit"]',
  assistantMessages: () => [...document.querySelectorAll('[id^="response-"].items-start')],
  answerText: (el) => EngramCapture.textOf(el.querySelector(".message-bubble") || el),
  isStreaming: () => Boolean(document.querySelector('button[aria-label="Stop model response"]')),
  conversationId: (loc) => (loc.pathname.match(/\/chat\/([\w-]+)/) || [])[1],
});
