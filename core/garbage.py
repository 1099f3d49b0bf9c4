"""CPython's cyclic garbage collector in a web server: run after a response has gone, not in the
middle of the next request.

Every request leaves a few hundred objects in reference cycles (Django's and DRF's request and
response objects point at each other), which only the collector frees. Left to its thresholds it
runs inside requests: on a paced search (bench/HISTORY.md, "The collector between requests"), a
young collection in about every other request (0.1-1.9 ms), a middle one in one of 25 (2-11 ms),
and, when the long-lived objects have grown by a quarter (the first requests after a start, a
user's copy loaded), a full one over the process's whole heap (150-300 ms). Here the same
collections, at the same thresholds, run in the request's own thread once its response has been
sent (Django's ``request_finished``); the objects made while starting (modules, settings, URL
patterns) are frozen out of every collection, so a full one reads only what the process made
since (20-40 ms, after a response); and the collector's own trigger stays as a backstop for one
request, or a WebSocket relay, that makes very many objects.
"""

import gc

from django.core.signals import request_finished

# CPython's default thresholds: a young collection after 700 new container objects, a middle one
# after ten young ones, a full one after ten middle ones.
YOUNG, MIDDLE, OLD = 700, 10, 10
# New objects within one request (or a WebSocket relay, which sends no request_finished) before
# the collector runs there anyway: a search adds a few hundred.
BACKSTOP = 2_000


def collect_between_requests(**kwargs) -> None:
    """The collection CPython would have made by now, if any (``request_finished``'s receiver)."""
    young, middle, old = gc.get_count()
    if old >= OLD:
        gc.collect(2)
    elif middle >= MIDDLE:
        gc.collect(1)
    elif young >= YOUNG:
        gc.collect(0)


def collect_between_requests_from_now() -> None:
    """For a web server process once it has started: freeze what it holds, leave the collector's
    own trigger as a backstop only, and collect after each response."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(BACKSTOP, MIDDLE, OLD)
    request_finished.connect(collect_between_requests, dispatch_uid="core.garbage")
