from django.apps import AppConfig


class InteropConfig(AppConfig):
    """The clients people already use: an MCP server at /mcp, mem0's API under /mem0/."""

    name = "interop"
