"""Encrypted storage benchmark: upload and download throughput of a backup, and the server's
memory while it streams, for 100 MB and 1 GB on the filesystem and on S3.

    make bench-storage
    python -m bench.storage_bench --sizes-mb 100 --backends filesystem

Set-up: its own database (``engram_bench``, as the other benchmarks) and a team-tier user (no
quota). Engram is one server process (``make run``'s uvicorn serving ``config.asgi``); S3 is
moto's server mode in a process of its own on 127.0.0.1 (it keeps objects in memory and
temporary files: its speed is not AWS's). The client is the reference client's HTTP path
(``clients/python``): the file is encrypted first (not timed), then sent in one streamed
``PUT /api/v1/backup`` and read back with ``GET /api/v1/backup/{id}`` in 1 MiB reads, each
timed from the first byte sent to the last byte received. The server's RSS is sampled every
20 ms from /proc during each transfer: before, and the peak. Results: a JSON file in
bench/results/ and a markdown table on stdout.
"""

import argparse
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.memories_bench import bench_setup, machine
from bench.results_io import RESULTS, bench_write_results

MB = 1_000_000
BENCH_EMAIL = "storagebench@example.com"
HEADER = (
    "| backend | size | upload MB/s | download MB/s | server RSS before (MB) | "
    "peak upload (MB) | peak download (MB) | load |\n"
    "|---|---|---|---|---|---|---|---|"
)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def peak_rss(pid: int) -> Iterator[dict[str, int]]:
    """The highest RSS of ``pid`` while the block runs, in ``result["peak_kb"]``."""
    result = {"peak_kb": rss_kb(pid)}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            result["peak_kb"] = max(result["peak_kb"], rss_kb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        result["peak_kb"] = max(result["peak_kb"], rss_kb(pid))


def write_random(path: Path, size: int) -> None:
    block = os.urandom(MB)
    with path.open("wb") as out:
        for offset in range(0, size, MB):
            out.write(block[: min(MB, size - offset)])


def measure(store, *, pid: int, size: int, workdir: Path) -> dict[str, Any]:
    """Upload and download one backup of ``size`` plaintext bytes through ``store``."""
    from engram_client.crypto import encrypt_file

    plain, sealed = workdir / "plain.bin", workdir / "sealed.bin"
    write_random(plain, size)
    checksum, length = encrypt_file(store.key, plain, sealed)
    plain.unlink()
    before = rss_kb(pid)
    with sealed.open("rb") as body, peak_rss(pid) as upload_peak:
        started = time.perf_counter()
        _, backup, _ = store._call(
            "PUT",
            "/backup",
            body=body,
            length=length,
            headers={
                "Content-Type": "application/octet-stream",
                "X-Backup-Version": "1",
                "X-Backup-Timestamp": "1",
                "X-Backup-Checksum": checksum,
            },
        )
        upload_seconds = time.perf_counter() - started
    sealed.unlink()
    with peak_rss(pid) as download_peak:
        started = time.perf_counter()
        connection, response = store._send("GET", f"/backup/{backup['id']}")
        received = 0
        while chunk := response.read(MB):
            received += len(chunk)
        connection.close()
        download_seconds = time.perf_counter() - started
    assert response.status == 200 and received == length, (response.status, received, length)
    store.backup_delete(backup["id"])
    return {
        "bytes": length,
        "upload_mb_s": round(length / MB / upload_seconds, 1),
        "download_mb_s": round(length / MB / download_seconds, 1),
        "rss_before_kb": before,
        "rss_peak_upload_kb": upload_peak["peak_kb"],
        "rss_peak_download_kb": download_peak["peak_kb"],
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


@contextlib.contextmanager
def storage_server(backend: str, workdir: Path) -> Iterator[Any]:
    """A live Engram server on ``backend``, and its process id."""
    from testing.live import live_server
    from testing.s3 import local_s3

    with contextlib.ExitStack() as stack:
        if backend == "s3":
            env = stack.enter_context(local_s3(workdir.parent / "storage-moto.log")).env
        else:
            env = {"STORAGE_BACKEND": "filesystem", "STORAGE_ROOT": str(workdir / "blobs")}
        env = {**env, "LOG_LEVEL": "WARNING", "RATELIMIT_ENABLE": "false"}
        log = (RESULTS if RESULTS.exists() else workdir) / f"storage-server-{backend}.log"
        yield stack.enter_context(live_server(env, log))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from engram_client import EngramStorage, UserKey

    from accounts.models import User
    from accounts.services import tokens_issue
    from accounts.tests.factories import UserFactory
    from billing.tiers import Tier

    # A run that died leaves its user behind: start from none.
    User.objects.filter(email=BENCH_EMAIL).delete()
    user = UserFactory(email=BENCH_EMAIL, tier=Tier.TEAM)
    rows = []
    for backend in args.backends:
        with (
            tempfile.TemporaryDirectory(dir=args.workdir) as tmp,
            storage_server(backend, Path(tmp)) as server,
        ):
            store = EngramStorage(
                server.url, token=tokens_issue(user=user).access, key=UserKey.generate()
            )
            for size_mb in args.sizes_mb:
                row = measure(store, pid=server.pid, size=size_mb * MB, workdir=Path(tmp))
                rows.append({"backend": backend, "size_mb": size_mb, **row})
                print(markdown_row(rows[-1]), flush=True)
    user.delete()
    return {"machine": machine(), "rows": rows}


def markdown_row(row: dict[str, Any]) -> str:
    size = f"{row['size_mb'] // 1000} GB" if row["size_mb"] >= 1000 else f"{row['size_mb']} MB"
    return (
        f"| {row['backend']} | {size} | {row['upload_mb_s']} | {row['download_mb_s']} | "
        f"{row['rss_before_kb'] // 1024} | {row['rss_peak_upload_kb'] // 1024} | "
        f"{row['rss_peak_download_kb'] // 1024} | {row['load_average'][0]} |"
    )


def markdown(result: dict[str, Any]) -> str:
    return "\n".join([HEADER, *(markdown_row(row) for row in result["rows"])])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes-mb", default="100,1000", help="comma-separated, in MB")
    parser.add_argument("--backends", default="filesystem,s3")
    parser.add_argument("--workdir", default=None, help="where the temporary files go")
    parser.add_argument("--database", default="engram_bench")
    args = parser.parse_args(argv)
    args.sizes_mb = [int(size) for size in args.sizes_mb.split(",")]
    args.backends = args.backends.split(",")
    bench_setup(args.database)
    result = run(args)
    bench_write_results("storage", result, markdown(result))


if __name__ == "__main__":
    main()
