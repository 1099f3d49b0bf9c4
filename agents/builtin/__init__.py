"""Engram's agents; importing this package registers them. Their ``position`` decides the
order tier limits count them in (a free plan's three agents are memory, tasks and notes)."""

from agents.builtin import checkpoints, memory, notes, projects, tasks

__all__ = ["checkpoints", "memory", "notes", "projects", "tasks"]
