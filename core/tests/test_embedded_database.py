"""pgserver's list of the processes attached to the embedded database (config.runtime): dead
processes are struck from it, and a list a killed process left torn is repaired, not fatal."""

import os
import subprocess
import sys

from config.runtime import embedded_database_forget_dead

LIST = ".handle_pids.json"


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_dead_processes_are_struck_and_living_ones_kept(tmp_path):
    (tmp_path / LIST).write_text(f"[{os.getpid()}, {dead_pid()}]")
    embedded_database_forget_dead(tmp_path)
    assert (tmp_path / LIST).read_text() == f"[{os.getpid()}]"


def test_a_torn_list_becomes_this_process(tmp_path):
    # What a process killed between pgserver's truncate and write leaves behind.
    (tmp_path / LIST).write_text("")
    embedded_database_forget_dead(tmp_path)
    assert (tmp_path / LIST).read_text() == f"[{os.getpid()}]"
