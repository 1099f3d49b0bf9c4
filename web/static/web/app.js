// Small enhancements of the server-rendered pages; every page works without them.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const label = button.firstChild.textContent;
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.firstChild.textContent = "Copied";
  } catch (error) {
    // No clipboard (an insecure origin): select the text so the person can copy it.
    const range = document.createRange();
    range.selectNodeContents(source);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    button.firstChild.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { button.firstChild.textContent = label; }, 2000);
});

// An offer that lasts a few seconds (the undo of a delete) goes away by itself.
function expireOffers(root) {
  for (const offer of root.querySelectorAll("[data-expires]")) {
    const seconds = Number(offer.dataset.expires) || 10;
    setTimeout(() => offer.remove(), seconds * 1000);
  }
}
document.addEventListener("DOMContentLoaded", () => expireOffers(document));

// Times are written in UTC (templatetags moment); shown in the reader's own time zone here.
function localTimes(root) {
  const pad = (n) => String(n).padStart(2, "0");
  for (const time of root.querySelectorAll("time[data-local]")) {
    const at = new Date(time.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) continue;
    let text = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ` +
      `${pad(at.getHours())}:${pad(at.getMinutes())}`;
    if (time.dataset.local === "seconds") text += `:${pad(at.getSeconds())}`;
    time.textContent = text;
    time.title = `${time.getAttribute("datetime")} (UTC)`;
    delete time.dataset.local;
  }
}
document.addEventListener("DOMContentLoaded", () => localTimes(document));
document.addEventListener("htmx:afterSwap", (event) => localTimes(event.target));

// A form that asks for the reader's time zone (a task's due time, typed in their own time).
document.addEventListener("DOMContentLoaded", () => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const input of document.querySelectorAll("input[data-reader-zone]")) {
    if (zone && !input.value) input.value = zone;
  }
});
