"""``python -m testing.fake_stripe [--port 12111] [--webhook-url URL --webhook-secret S]``."""

import argparse
import signal
import sys
import threading

from testing.fake_stripe.server import make_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local Stripe for Engram's tests and demos.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111, help="0: any free port")
    parser.add_argument("--webhook-url", help="deliver every event here, signed")
    parser.add_argument("--webhook-secret", help="the signing secret (STRIPE_WEBHOOK_SECRET)")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port)
    if args.webhook_secret:
        server.store.endpoints.append({"url": args.webhook_url, "secret": args.webhook_secret})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    # The first line names the address: the test fixture reads it to learn the port.
    print(server.store.public_url, flush=True)
    stopped.wait()
    server.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
