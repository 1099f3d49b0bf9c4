"""The web server collects garbage after a response has gone, not inside the next request."""

import gc
import json
import subprocess
import sys
import weakref

import pytest
from django.core.signals import request_finished

from core.garbage import BACKSTOP, YOUNG, collect_between_requests


class _Node:
    pass


@pytest.fixture
def collector_held_back():
    """The collector's own trigger out of the way, and the receiver connected, as the server
    has them; both put back after the test."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(10_000_000)
    request_finished.connect(collect_between_requests, dispatch_uid="test_garbage")
    yield
    request_finished.disconnect(dispatch_uid="test_garbage")
    gc.set_threshold(*thresholds)


@pytest.mark.django_db
def test_a_finished_request_collects_the_cycles_left_behind(client, collector_held_back):
    node = _Node()
    node.itself = node
    left = weakref.ref(node)
    del node
    for _ in range(YOUNG):  # as much cyclic garbage as one young collection waits for
        cycle: list = []
        cycle.append(cycle)
    assert left() is not None  # nothing collected it yet

    assert client.get("/health").status_code == 200

    assert left() is None


def test_a_started_server_freezes_what_it_holds_and_keeps_the_trigger_as_a_backstop():
    probe = (
        "import django, gc, json, os;"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup();"
        "from django.core.signals import request_finished;"
        "from core.garbage import collect_between_requests_from_now as start;"
        "before = gc.get_freeze_count(); start();"
        "print(json.dumps([gc.get_threshold()[0], before, gc.get_freeze_count(),"
        " any(entry[0][0] == 'core.garbage' for entry in request_finished.receivers)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )

    threshold, frozen_before, frozen, connected = json.loads(out.stdout.strip().splitlines()[-1])
    assert threshold == BACKSTOP
    assert frozen_before == 0 and frozen > 10_000  # the apps' objects, out of every collection
    assert connected
