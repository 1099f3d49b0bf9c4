"""A long step of the first start says it is under way, and keeps saying so (core/progress.py)."""

import threading
import time

from core import progress


def test_a_long_step_says_so_again_until_it_ends(monkeypatch):
    monkeypatch.setattr(progress, "HEARTBEAT_SECONDS", 0.01)
    lines: list[str] = []
    heard_twice = threading.Event()

    def write(line: str) -> None:
        lines.append(line)
        if sum("..." in line and "(" in line for line in lines) >= 2:
            heard_twice.set()

    with progress.step(write, "Applying 3 database migrations") as state:
        state.detail = "2/3 memories.0001_initial"
        assert heard_twice.wait(10)

    assert lines[0] == "Applying 3 database migrations ..."
    assert lines[1].startswith("  ... Applying 3 database migrations: 2/3 memories.0001_initial (")
    assert lines[-1].startswith("Applying 3 database migrations: done in ")


def test_a_quick_step_says_only_when_it_starts_and_ends():
    lines: list[str] = []

    with progress.step(lines.append, "Creating the embedded PostgreSQL"):
        time.sleep(0)

    assert lines[0] == "Creating the embedded PostgreSQL ..."
    assert lines[1].startswith("Creating the embedded PostgreSQL: done in ")
    assert len(lines) == 2
