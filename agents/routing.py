from django.urls import path

from agents.consumers import AgentConsumer

websocket_urlpatterns = [
    path("ws/agents/", AgentConsumer.as_asgi()),
    # Where the cloud design's client connects (its WS /api/v1/chat/stream): the same socket.
    path("api/v1/chat/stream", AgentConsumer.as_asgi()),
]
