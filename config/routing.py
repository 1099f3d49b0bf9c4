"""WebSocket routes of every app, in one list for config.asgi."""

from agents.routing import websocket_urlpatterns as agent_routes
from chat.routing import websocket_urlpatterns as chat_routes

websocket_urlpatterns = [*chat_routes, *agent_routes]
