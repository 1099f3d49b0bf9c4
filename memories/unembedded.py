"""Read your own writes by meaning: the memories this process has handed to its own background
threads to embed (the default stack, no broker) and that are not embedded yet, by user. A search
by meaning waits a moment for that user's (``wait``), so a memory saved and searched for at once,
as a script or mem0's SDK does, is found (it was missed: the search ran before the embedding).

With a broker the embedding runs in a worker and nothing is held here: a memory is found by
meaning once the worker has embedded it. A task that never reports (a retry later, a crash) is
given up on after the wait's bound.
"""

import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

# A save of more memories than this (an import) is not waited for: a search during an import
# answers with what is embedded so far, as it would with a worker.
WAITED_FOR_AT_MOST = 20

_changed = threading.Condition()
_by_user: dict[Any, dict[str, float]] = {}  # user id: {memory id: when it was handed over}
_user_of: dict[str, Any] = {}  # memory id: user id


def handed_over(user_id: Any, memory_ids: Iterable[Any]) -> None:
    now = time.monotonic()
    with _changed:
        held = _by_user.setdefault(user_id, {})
        for pk in memory_ids:
            held[str(pk)] = now
            _user_of[str(pk)] = user_id


def done(memory_ids: Iterable[Any]) -> None:
    """The embedding task of ``memory_ids`` has ended (embedded or not)."""
    with _changed:
        for pk in memory_ids:
            user_id = _user_of.pop(str(pk), None)
            held = _by_user.get(user_id)
            if held is not None:
                held.pop(str(pk), None)
                if not held:
                    del _by_user[user_id]
        _changed.notify_all()


def wait(user_id: uuid.UUID, *, seconds: float) -> None:
    """Until none of ``user_id``'s memories handed over in the last ``seconds`` is still being
    embedded, or ``seconds`` have passed. Nothing to wait for is a dictionary lookup."""
    if user_id not in _by_user:
        return
    deadline = time.monotonic() + seconds
    with _changed:
        while True:
            now = time.monotonic()
            held = _by_user.get(user_id, {})
            if all(now - since >= seconds for since in held.values()):
                _forget(user_id, held)  # given up on: no later search waits for them
                return
            if now >= deadline:
                return
            _changed.wait(deadline - now)


def _forget(user_id: Any, held: dict[str, float]) -> None:
    for pk in held:
        _user_of.pop(pk, None)
    _by_user.pop(user_id, None)
