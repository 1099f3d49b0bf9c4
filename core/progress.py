"""Lines that say a long step is under way (no Django here: settings use it before setup)."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# A first start must never look hung: a step still running after this long says so again.
HEARTBEAT_SECONDS = 4


@dataclass
class Step:
    detail: str = ""  # what the step is at now, said by the next heartbeat


@contextmanager
def step(write: Callable[[str], None], what: str) -> Iterator[Step]:
    """Say ``what`` is under way, then every HEARTBEAT_SECONDS that it still is (with the
    yielded Step's detail), then how long it took; ``write`` prints one line."""
    started = time.monotonic()
    done = threading.Event()
    state = Step()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            at = f": {state.detail}" if state.detail else ""
            write(f"  ... {what}{at} ({time.monotonic() - started:.0f} s)")

    write(f"{what} ...")
    ticker = threading.Thread(target=heartbeat, daemon=True)
    ticker.start()
    try:
        yield state
    finally:
        done.set()
        ticker.join()
    write(f"{what}: done in {time.monotonic() - started:.1f} s")
