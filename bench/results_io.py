"""The end of every benchmark run: its result as JSON under bench/results, named after the
bench and the time, and its markdown table on stdout (copied into bench/README.md by hand)."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def bench_write_results(name: str, result: dict[str, Any], table: str, *notes: str) -> Path:
    """Write ``result`` to ``bench/results/<name>-<UTC time>.json``, print ``table`` and each
    of ``notes`` on a line of its own, then where the file went; return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(table)
    for note in notes:
        print(note)
    print(f"\nwritten to {path.relative_to(REPO)}")
    return path
