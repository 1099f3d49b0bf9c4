// gemini.google.com: a Quill editor inside <rich-textarea>, each answer a <model-response>,
// a "Stop response" button while it streams. Fixture: tests/fixtures/gemini.html.
EngramCapture.register({
  site: "gemini",
  provider: "gemini",
  matches: (loc) => loc.hostname === "gemini.google.com",
  composer: () => document.querySelector('rich-textarea .ql-editor[contenteditable="true"]'),
  send: 'button.send-button, button[aria-label="Send message"]',
  assistantMessages: () => [...document.querySelectorAll("model-response")],
  answerText: (el) =>
    EngramCapture.textOf(el.querySelector("message-content .markdown, message-content") || el),
  isStreaming: () => Boolean(document.querySelector('button[aria-label="Stop response"]')),
  conversationId: (loc) => (loc.pathname.match(/\/app\/([\w-]+)/) || [])[1],
});
