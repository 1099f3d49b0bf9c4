"""The HTTP side: a threaded server that decodes Stripe's form encoding, dispatches to the
routes of ``api`` (Stripe's REST API) and ``control`` (``/_fake/``), and answers JSON."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from testing.fake_stripe import api, connect, control
from testing.fake_stripe.routes import ROUTES, Page
from testing.fake_stripe.store import Store
from testing.fake_stripe.wire import StripeError, decode_form, expand, list_object

# The modules above register their routes when imported.
ROUTE_MODULES = (api, connect, control)


# --- the server ---------------------------------------------------------------------------------


def make_server(host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _RequestHandler)
    server.daemon_threads = True
    bound_port = server.server_address[1]
    server.store = Store(public_url=f"http://{host}:{bound_port}")
    return server


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read requests instead
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        store: Store = self.server.store
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        params = decode_form(url.query)
        if "json" in (self.headers.get("Content-Type") or ""):
            params.update(json.loads(body or "{}"))
        else:
            params.update(decode_form(body))
        try:
            if url.path.startswith("/v1/") and not self._authorized():
                raise StripeError(
                    401, "You did not provide a valid API key.", type="invalid_request_error"
                )
            with store.lock:
                store.requests.append({"method": method, "path": url.path, "params": params})
                key = self.headers.get("Idempotency-Key") if method == "POST" else None
                if key and key in store.idempotent:
                    self._send(*store.idempotent[key])
                    return
                answer = self._dispatch(store, method, url.path, params)
                if key and isinstance(answer, dict):
                    store.idempotent[key] = (200, answer)
        except StripeError as error:
            self._send(error.status, error.body)
            return
        if isinstance(answer, Page):
            self._send_page(answer)
            return
        self._send(200, answer)

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization") or ""
        return auth.startswith("Bearer sk_test_") or auth.startswith("Bearer rk_test_")

    def _dispatch(self, store: Store, method: str, path: str, params: dict[str, Any]) -> Any:
        for route_method, pattern, handler in ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                answer = handler(store, params, match)
                if isinstance(answer, list):
                    answer = list_object(
                        path, [store.view(obj) for obj in answer], params.get("limit")
                    )
                elif isinstance(answer, dict):
                    answer = store.view(answer)
                if isinstance(answer, dict) and params.get("expand"):
                    answer = expand(
                        answer, list(params["expand"]), lambda i: store.view(store.get(i))
                    )
                return answer
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_fake")
        self.end_headers()
        self.wfile.write(data)

    def _send_page(self, page: Page) -> None:
        data = f"<!doctype html><title>Local Stripe</title>{page.body}".encode()
        self.send_response(303 if page.redirect else 200)
        if page.redirect:
            self.send_header("Location", page.redirect)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
