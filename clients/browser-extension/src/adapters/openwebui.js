// Open WebUI and pages built like it, wherever they are served (localhost, or an address added
// in the options): #chat-input as the prompt box, #send-message-button, answers in
// .chat-assistant. It stays idle on pages without that prompt box.
// Fixture: tests/fixtures/openwebui.html.
EngramCapture.register({
  site: "openwebui",
  provider: "other",
  // Last: it claims any page that has Open WebUI's prompt box.
  matches: () => Boolean(document.querySelector("#chat-input")),
  composer: () => document.querySelector("#chat-input"),
  send: "#send-message-button",
  assistantMessages: () => [...document.querySelectorAll(".chat-assistant")],
  answerText: (el) => EngramCapture.textOf(el.querySelector("#response-content-container") || el),
  // Open WebUI shows a stop button while generating; without one the engine waits until the
  // answer has not changed for a few seconds.
  isStreaming: () => Boolean(document.querySelector('button[aria-label="Stop"], .stop-button')),
  conversationId: (loc) => (loc.pathname.match(/\/c\/([\w-]+)/) || [])[1],
});
