"""ASGI entry point: HTTP goes to Django, WebSockets to the Channels consumers of each app."""

import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Sync views and database calls run in threads beside the event loop, which relays every open
# stream. A thread back from a query waits until the loop's thread gives up the GIL: by default
# up to 5 ms, paid per query, so a turn's twenty queries could take seconds under load.
sys.setswitchinterval(0.0005)
# Django must be set up before anything imports models (the routing modules do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.websocket import TokenAuthMiddleware  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from core.apps import announce_stack  # noqa: E402
from core.middleware import RequestBodyLimit  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": RequestBodyLimit(django_asgi_app),
        # No Origin check: sockets authenticate with an explicit token, never a cookie, so a
        # foreign page gains nothing; and scripts and browser extensions send no host origin.
        "websocket": TokenAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
announce_stack()
