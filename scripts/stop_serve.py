"""Stop what this checkout's `make run` started (`make stop`), found by the pids it recorded in
<data dir>/run/serve.json: never by process name, which would hit other checkouts' servers."""

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".data").resolve()
pid_file = data_dir / "run" / "serve.json"
# What each recorded process must be running: a pid reused by an unrelated process is left alone.
EXPECTED = {"serve": b"manage.py", "web": b"uvicorn", "worker": b"celery", "beat": b"celery"}


def ours(name: str, pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return EXPECTED.get(name, b"\0\0") in command


if not pid_file.exists():
    print(f"No server of this checkout is recorded in {pid_file}.")
    sys.exit(0)

running = {name: pid for name, pid in json.loads(pid_file.read_text()).items() if ours(name, pid)}
# serve first: it stops its children itself and lets the embedded database stop after them.
for name in sorted(running, key=lambda name: name != "serve"):
    with contextlib.suppress(ProcessLookupError):
        os.kill(running[name], signal.SIGTERM)
deadline = time.monotonic() + 20
while time.monotonic() < deadline and any(ours(n, p) for n, p in running.items()):
    time.sleep(0.2)
for name, pid in running.items():
    if ours(name, pid):
        os.kill(pid, signal.SIGKILL)
        print(f"Killed {name} ({pid}), which did not stop on SIGTERM.")
pid_file.unlink(missing_ok=True)
print(f"Stopped {', '.join(sorted(running)) or 'nothing (all had exited)'}.")
