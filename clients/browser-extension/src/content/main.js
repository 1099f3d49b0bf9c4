// Picks this page's adapter and starts capturing, if the service worker says this site is on
// (connected, not paused, the site enabled, not incognito unless allowed).
(() => {
  const { Capture, adapters } = globalThis.EngramCapture;
  // Open WebUI's adapter is also found later: its prompt box may appear after load.
  function adapterFor() {
    return adapters.find((adapter) => adapter.matches(location));
  }

  function message(body) {
    return chrome.runtime.sendMessage(body).catch(() => null); // extension reloaded: nothing
  }

  let capture = null;
  let marked = false;
  async function refresh() {
    if (!capture) return;
    const state = await message({ type: "site-state", site: capture.adapter.site });
    capture.state = state || { capture: false, recall: false };
    if (capture.state.capture && !marked) {
      marked = true;
      performance.mark("engram:ready"); // a page (and the tests) can tell capture is on
    }
  }

  function begin() {
    const adapter = adapterFor();
    if (!adapter || capture) return Boolean(capture);
    capture = new Capture(adapter, message);
    capture.start();
    refresh();
    chrome.storage.onChanged.addListener((changes) => {
      if (changes.settings || changes.auth) refresh();
    });
    chrome.runtime.onMessage.addListener((request) => {
      if (request.type === "recall-now" && capture.state.recall) {
        const field = capture.composer();
        if (field) capture.recall(field);
      }
    });
    return true;
  }

  if (!begin()) {
    // A single-page app may draw its prompt box later; look a few times, then stop.
    let tries = 0;
    const timer = setInterval(() => {
      if (begin() || ++tries > 20) clearInterval(timer);
    }, 1000);
  }
})();
