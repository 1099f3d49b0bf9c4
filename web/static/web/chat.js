// The chat page: send a message to the API and show the answer as it streams (server-sent
// events over fetch, with the session cookie and the page's CSRF token), then the memories it
// was given. Without this script the form posts to the page and waits for the whole answer.
"use strict";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Yields {event, data} for each SSE frame of a fetch response's body.
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
      }
      if (data.length) yield { event: name, data: JSON.parse(data.join("\n")) };
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("chat-form");
  if (!form) return;
  const transcript = document.getElementById("transcript");
  const status = document.getElementById("chat-status");
  const model = form.querySelector("select[name=model]");
  const content = form.querySelector("textarea[name=content]");
  const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;

  model.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("model", model.value);
    window.location.assign(url.toString());
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = content.value.trim();
    if (!text || !model.value) return;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    status.textContent = "Thinking…";

    const question = element("li", "turn user");
    question.append(element("span", "small muted", "You"), element("p", "text", text));
    const answer = element("li", "turn assistant");
    const body = element("div", "text", "");
    answer.append(element("span", "small muted", model.value), body);
    transcript.append(question, answer);
    content.value = "";

    const url = form.dataset.streamUrl.replace("/models/M/", `/models/${encodeURIComponent(model.value)}/`);
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "text/event-stream", "X-CSRFToken": token },
        body: JSON.stringify({ content: text, stream: true }),
      });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        throw new Error((problem.error && problem.error.message) || `The server answered ${response.status}.`);
      }
      let messageId = null;
      let used = [];
      let complete = false;
      for await (const { event: name, data } of sseEvents(response)) {
        if (name === "message_start") {
          messageId = data.message_id;
          used = data.memories_used || [];
          status.textContent = "Answering…";
        } else if (name === "token") {
          body.textContent += data.token;
        } else if (name === "message_complete") {
          body.textContent = data.content;
          complete = true;
        } else if (name === "error") {
          answer.append(element("p", "error small", `The model failed: ${data.message}`));
        }
      }
      if (messageId && complete) {
        // The whole answer formatted as the page shows it after a reload (its Markdown, by the
        // server's one renderer); the plain text stays if that fails.
        const formatted = await fetch(
          form.dataset.answerUrl.replace("00000000-0000-0000-0000-000000000000", messageId),
          { credentials: "same-origin" },
        );
        // Only the fragment itself: a session ended meanwhile answers with the sign-in page.
        if (formatted.ok && !formatted.redirected) {
          body.classList.add("markdown");
          // Our own server-rendered fragment: the answer's raw HTML escaped, unsafe links as text.
          body.innerHTML = await formatted.text();
        }
      }
      if (messageId && used.length) {
        const details = element("details", "used");
        details.open = true;
        const count = used.length === 1 ? "1 memory used" : `${used.length} memories used`;
        details.append(element("summary", "", count));
        const list = element("div", "used-list");
        details.append(list);
        answer.append(details);
        const memoriesUrl = form.dataset.memoriesUrl.replace("00000000-0000-0000-0000-000000000000", messageId);
        const fragment = await fetch(memoriesUrl, { credentials: "same-origin" });
        if (fragment.ok && !fragment.redirected) {
          // Our own server-rendered, escaped fragment.
          list.innerHTML = await fragment.text();
        } else {
          list.textContent = "The memories it was given show when the page is loaded again.";
        }
      }
      status.textContent = "";
    } catch (error) {
      answer.append(element("p", "error small", error.message));
      status.textContent = "";
    } finally {
      button.disabled = false;
      content.focus();
    }
  });
});
