from django.apps import AppConfig


class InteropConfig(AppConfig):
    """The clients people already use: an MCP server at /mcp, mem0's API under /mem0/."""

    name = "interop"

    def ready(self) -> None:
        from interop.mem0_compat import schema  # noqa: F401  registers the OpenAPI auth extension
