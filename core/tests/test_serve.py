"""`manage.py serve` (what `make run` runs) starts the web server, a worker and beat, prints the
stack once, rides out its worker's death, and on SIGTERM or Ctrl+C stops everything it started,
the embedded PostgreSQL included."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testing.live import REPO, free_port
from testing.redis_server import redis_server

pytestmark = pytest.mark.heavy(110)
STACK_LINE = "Engram 0.1.0 (development) on embedded PostgreSQL 18"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """An installation of its own (its own embedded database), shared by this module's runs."""
    return tmp_path_factory.mktemp("installation")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def wait_until(condition, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Still waiting for {what}.")
        time.sleep(0.2)


def postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "pg" / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def postgres_processes(data_dir: Path) -> list[int]:
    """Pids of PostgreSQL processes serving ``data_dir`` (a stale postmaster.pid is no server)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"postgres" in command and str(data_dir).encode() in command:
            found.append(int(proc.name))
    return found


def stop_script(data_dir: Path) -> None:
    # What `make stop` runs first.
    subprocess.run([sys.executable, "scripts/stop_serve.py", str(data_dir)], cwd=REPO, check=True,
                   timeout=60)  # fmt: skip


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "make stop"])
def test_stopping_ends_everything_serve_started(data_dir, tmp_path, how):
    with redis_server(tmp_path) as broker:
        env = {
            **os.environ,
            "ENGRAM_DATA_DIR": str(data_dir),
            "DATABASE_URL": "",
            "REDIS_URL": broker.url,
            "EMBEDDING_BACKEND": "hashing",
        }
        out = tmp_path / "serve.log"
        with out.open("w") as log:
            serve = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(free_port())],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            pid_file = data_dir / "run" / "serve.json"
            # A first start initialises and migrates a database of its own: slow on a busy machine.
            wait_until(lambda: "API docs:" in out.read_text() or serve.poll() is not None,
                       "the banner", seconds=240)  # fmt: skip
            assert "API docs:" in out.read_text(), out.read_text()
            assert "OpenAPI:   http" in out.read_text()
            assert "Email:     printed here, on the console" in out.read_text()
            pids = json.loads(pid_file.read_text())
            database = postmaster_pid(data_dir)
            assert set(pids) == {"serve", "web", "worker", "beat"}
            assert database is not None and alive(database)

            if how == "make stop":
                stop_script(data_dir)
            else:
                serve.send_signal(getattr(signal, how))
            serve.wait(timeout=60)
        finally:
            if serve.poll() is None:
                serve.kill()

    output = out.read_text()
    assert output.count(STACK_LINE) == 1, output
    assert "lifespan" not in output
    assert [name for name, pid in pids.items() if alive(pid)] == []
    assert not alive(database), output
    assert postgres_processes(data_dir) == []
    assert not pid_file.exists()


def test_the_banner_says_where_mail_goes(settings):
    from core.management.commands.serve import mail_destination

    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert mail_destination().startswith("printed here, on the console")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "smtp.example.com", 587
    settings.EMAIL_HOST_PASSWORD = "smtp-secret"
    assert mail_destination() == "SMTP smtp.example.com:587"


def test_emailed_links_point_where_the_server_listens_unless_configured(monkeypatch):
    from core.management.commands.serve import children_environment

    monkeypatch.delenv("ACCOUNT_LINK_BASE_URL", raising=False)
    assert children_environment("127.0.0.1", 9000)["ACCOUNT_LINK_BASE_URL"] == (
        "http://127.0.0.1:9000"
    )
    assert children_environment("0.0.0.0", 9001)["ACCOUNT_LINK_BASE_URL"] == (
        "http://127.0.0.1:9001"
    )
    monkeypatch.setenv("ACCOUNT_LINK_BASE_URL", "https://engram.example.com")
    assert children_environment("0.0.0.0", 9001)["ACCOUNT_LINK_BASE_URL"] == (
        "https://engram.example.com"
    )
