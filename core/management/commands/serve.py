"""`manage.py serve`: what `make run` runs — migrate, then serve.

Starts the ASGI server (uvicorn: HTTP, SSE and WebSockets) and, when a broker is configured, a
Celery worker and Celery beat, as child processes. This process holds the embedded database open
for all of them and stops everything together on Ctrl+C or SIGTERM.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from config.runtime import asgi_server_command
from core.apps import describe_stack
from core.metrics import prepare_multiprocess_dir

STARTUP_TIMEOUT_SECONDS = 30


def _wait_for_port(host: str, port: int, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Command(BaseCommand):
    help = "Migrate and serve Engram (uvicorn, plus Celery worker and beat with a broker)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        # Static files are served from the installed packages (WHITENOISE_USE_FINDERS), so a
        # start needs no collectstatic; the folder only has to exist for WhiteNoise.
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)

        # The web server and the Celery processes report their metrics as one (core/metrics.py).
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            prepare_multiprocess_dir(settings.DATA_DIR / "metrics")
        children = [subprocess.Popen(asgi_server_command(host, port))]
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            celery = [sys.executable, "-m", "celery", "-A", "config"]
            children.append(subprocess.Popen([*celery, "worker", "--loglevel", "INFO"]))
            children.append(
                subprocess.Popen(
                    [
                        *celery,
                        "beat",
                        "--loglevel",
                        "INFO",
                        "--schedule",
                        str(settings.DATA_DIR / "celerybeat-schedule"),
                    ]
                )
            )

        def stop(signum, frame) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            if not _wait_for_port(host, port, children[0]):
                self.stderr.write("The web server did not start; see its output above.")
                return
            base = f"http://{host}:{port}"
            self.stdout.write(
                self.style.SUCCESS(f"\n{describe_stack()}\n")
                + f"  API docs:  {base}/api/docs/\n"
                + f"  Admin:     {base}/admin/\n"
                + f"  Ready:     {base}/health/ready\n"
                + f"  Metrics:   {base}/metrics (from this machine, or with METRICS_TOKEN)\n"
                + "  First admin user:  .venv/bin/python manage.py createsuperuser\n"
                + "  Stop with Ctrl+C (or `make stop` after a crash).\n"
            )
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
