// chatgpt.com (and chat.openai.com): a ProseMirror prompt box #prompt-textarea, turns marked
// with data-message-author-role, a stop button while the answer streams.
// Fixture: tests/fixtures/chatgpt.html.
EngramCapture.register({
  site: "chatgpt",
  provider: "chatgpt",
  matches: (loc) => loc.hostname === "chatgpt.com" || loc.hostname === "chat.openai.com",
  composer: () => document.querySelector("#prompt-textarea"),
  send: 'button[data-testid="send-button"]',
  assistantMessages: () => [
    ...document.querySelectorAll('[data-message-author-role="assistant"]'),
  ],
  answerText: (el) => EngramCapture.textOf(el.querySelector(".markdown") || el),
  isStreaming: (el) =>
    Boolean(document.querySelector('[data-testid="stop-button"]')) ||
    Boolean(el.querySelector(".result-streaming")),
  conversationId: (loc) => (loc.pathname.match(/\/c\/([\w-]+)/) || [])[1],
});
