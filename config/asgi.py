"""ASGI entry point: HTTP goes to Django (and /mcp to the MCP server), WebSockets to the Channels
consumers of each app."""

import os
import sys

from core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Sync views and database calls run in threads beside the event loop, which relays every open
# stream. A thread back from a query waits until the loop's thread gives up the GIL: by default
# up to 5 ms, paid per query, so a turn's twenty queries could take seconds under load.
sys.setswitchinterval(0.0005)
# Django must be set up before anything imports models (the routing modules do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.websocket import TokenAuthMiddleware  # noqa: E402
from config.celery import start_in_process_beat  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from core.apps import announce_stack  # noqa: E402
from core.garbage import collect_between_requests_from_now  # noqa: E402
from core.metrics import WebSocketMetrics  # noqa: E402
from core.middleware import RequestBodyLimit  # noqa: E402
from interop.mcp_server.asgi import lifespan, with_mcp  # noqa: E402


async def lifespan_with_beat(scope: dict, receive, send) -> None:
    """The server's lifespan. The garbage collector runs between requests from its start
    (core/garbage.py). Without a broker this process is its own beat from its start: periodic
    tasks, among them the sweeps that pick up work a process left queued when it died, run at
    once and then on their schedule. Only servers send lifespan events (not the tests' drivers
    of ``application``)."""
    collect_between_requests_from_now()
    start_in_process_beat()
    await lifespan(scope, receive, send)


application = ProtocolTypeRouter(
    {
        # /mcp is the MCP endpoint (interop/mcp_server), everything else Django; neither reads
        # a body over the limit.
        "http": RequestBodyLimit(with_mcp(django_asgi_app)),
        # The MCP SDK's session manager runs for the server's lifetime (and, without a broker,
        # the in-process beat).
        "lifespan": lifespan_with_beat,
        # No Origin check: sockets authenticate with an explicit token, never a cookie, so a
        # foreign page gains nothing; and scripts and browser extensions send no host origin.
        "websocket": WebSocketMetrics(TokenAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

announce_stack()
