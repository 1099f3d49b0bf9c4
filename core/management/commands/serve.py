"""`manage.py serve`: what `make run` runs — migrate, then serve.

Starts the ASGI server (uvicorn: HTTP, SSE and WebSockets) and, when a broker is configured, a
Celery worker and Celery beat, as child processes. This process holds the embedded database open
for all of them and stops everything together on Ctrl+C or SIGTERM. A worker or beat that exits
(a broker outage it could not ride out) is started again; only the web server ending ends the
service. The pids of all of them are kept in ``<ENGRAM_DATA_DIR>/run/serve.json`` for `make stop`.
"""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.core.management.commands.migrate import Command as MigrateCommand
from django.utils.module_loading import import_string

from core.apps import SUPERVISED_ENV, describe_stack
from core.metrics import prepare_multiprocess_dir
from core.progress import step

logger = logging.getLogger("engram.serve")

# A first start on a busy machine imports Django and the apps slowly; giving up early is worse.
STARTUP_TIMEOUT_SECONDS = 120
# Longer than uvicorn's graceful shutdown (5 s) and a task's soft time limit is not waited for:
# an acks_late task cut short is delivered again.
STOP_TIMEOUT_SECONDS = 15
RESTART_DELAY_SECONDS = 5


def pid_file() -> Path:
    return settings.DATA_DIR / "run" / "serve.json"


def mail_destination() -> str:
    """Where this server's mail (verification and reset links) goes, credentials left out."""
    backend = settings.EMAIL_BACKEND
    if backend.endswith("console.EmailBackend"):
        return "printed here, on the console (set EMAIL_URL to send it: .env.example)"
    if backend.endswith("smtp.EmailBackend"):
        return f"SMTP {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    return backend


def children_environment(host: str, port: int) -> dict[str, str]:
    """The environment of the processes ``serve`` starts: its own, and unless configured, the
    address emailed links point to where this server listens (not the default port's)."""
    environment = {**os.environ, SUPERVISED_ENV: "1"}
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in reachable:  # an IPv6 address
        reachable = f"[{reachable}]"
    environment.setdefault("ACCOUNT_LINK_BASE_URL", f"http://{reachable}:{port}")
    return environment


def _wait_for_port(host: str, port: int, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class ReportingMigrate(MigrateCommand):
    """Django's migrate, telling ``report`` where it is (its own output says nothing at
    verbosity 0, and a line per migration at 1)."""

    def __init__(self, report) -> None:
        super().__init__()
        self.report = report

    def migration_progress_callback(self, action, migration=None, fake=False) -> None:
        self.report(action, migration, fake)


class Stop(Exception):
    """SIGTERM or SIGINT arrived."""


class Command(BaseCommand):
    help = "Migrate and serve Engram (uvicorn, plus Celery worker and beat with a broker)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def migrate(self) -> None:
        """Apply what is new, saying so step by step (a first start applies every migration)."""
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if not plan:
            return
        with step(self.say, f"Applying {len(plan)} database migrations") as progress:
            applied = 0

            def report(action: str, migration=None, fake: bool = False) -> None:
                nonlocal applied
                if action == "apply_start":
                    applied += 1
                    progress.detail = f"{applied}/{len(plan)} {migration}"

            call_command(ReportingMigrate(report), interactive=False, verbosity=0)

    def handle(self, *args, host: str, port: int, **options) -> None:
        self.migrate()
        # Static files are served from the installed packages (WHITENOISE_USE_FINDERS), so a
        # start needs no collectstatic; the folder only has to exist for WhiteNoise.
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)

        server = [part.format(host=host, port=port) for part in settings.ASGI_SERVER_COMMAND]
        commands = {"web": server}
        # The web server and the Celery processes report their metrics as one (core/metrics.py).
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            prepare_multiprocess_dir(settings.DATA_DIR / "metrics")
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            celery = [sys.executable, "-m", "celery", "-A", "config"]
            commands["worker"] = [*celery, "worker", "--loglevel", "INFO"]
            schedule = str(settings.DATA_DIR / "celerybeat-schedule")
            commands["beat"] = [*celery, "beat", "--loglevel", "INFO", "--schedule", schedule]
        environment = children_environment(host, port)
        children: dict[str, subprocess.Popen] = {}

        def start(name: str) -> None:
            children[name] = subprocess.Popen(commands[name], env=environment)
            self._record_pids(children)

        def stop(signum, frame) -> None:
            raise Stop

        # Ctrl+C reaches the whole process group; `kill` only this process. Either way the
        # children are stopped here, and this process then exits normally, so pgserver's exit
        # handler stops the embedded database.
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            for name in commands:
                start(name)
            with step(self.say, f"Starting the web server on {host}:{port}"):
                started = _wait_for_port(host, port, children["web"])
            if not started:
                self.stderr.write("The web server did not start; see its output above.")
                return
            base = f"http://{host}:{port}"
            self.stdout.write(
                self.style.SUCCESS(f"\n{describe_stack()}\n")
                + f"  Web app:   {base}/\n"
                + f"  API docs:  {base}/api/docs/\n"
                + f"  OpenAPI:   {base}/api/schema/\n"
                + f"  Admin:     {base}/admin/\n"
                + f"  Ready:     {base}/health/ready\n"
                + f"  Metrics:   {base}/metrics (from this machine, or with METRICS_TOKEN)\n"
                + f"  Sign-in:   {base}/_allauth/openapi.json (email, MFA, OIDC, Google, GitHub)\n"
                + f"  Email:     {mail_destination()}\n"
                + "  First admin user:  make superuser\n"
                + "  Stop with Ctrl+C (or `make stop` after a crash).\n"
            )
            self._supervise(children, start)
        except Stop:
            pass
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self._stop_all(children)
            pid_file().unlink(missing_ok=True)
            if settings.EMBEDDED_DATABASE:
                # The settings name the function: core knows nothing of config.
                import_string(settings.EMBEDDED_DATABASE_FORGET_DEAD)(settings.DATA_DIR / "pg")

    def _supervise(self, children: dict[str, subprocess.Popen], start) -> None:
        """Until the web server ends: start a worker or beat that exited again."""
        exited_at: dict[str, float] = {}
        while children["web"].poll() is None:
            time.sleep(0.5)
            for name, child in list(children.items()):
                if name == "web" or child.poll() is None:
                    continue
                if name not in exited_at:
                    logger.warning("Celery %s exited (%s); starting it again in %d s.",
                                   name, child.returncode, RESTART_DELAY_SECONDS)  # fmt: skip
                    exited_at[name] = time.monotonic()
                elif time.monotonic() - exited_at[name] >= RESTART_DELAY_SECONDS:
                    del exited_at[name]
                    start(name)

    @staticmethod
    def _stop_all(children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    @staticmethod
    def _record_pids(children: dict[str, subprocess.Popen]) -> None:
        path = pid_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        pids = {"serve": os.getpid(), **{name: child.pid for name, child in children.items()}}
        draft = path.with_suffix(".tmp")
        draft.write_text(json.dumps(pids))
        draft.replace(path)
