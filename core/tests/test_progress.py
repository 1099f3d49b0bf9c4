"""pytest's progress column reaches 100% with the schemathesis fuzz test in the run: each fuzzed
operation counts as done (core/tests/conftest.py)."""

import shutil
import subprocess
import sys
from pathlib import Path

FUZZED = """
import pytest
import schemathesis
from hypothesis import settings

OK = {"responses": {"200": {"description": "ok"}}}
RAW = {
    "openapi": "3.0.0",
    "info": {"title": "t", "version": "1"},
    "paths": {"/a": {"get": OK}, "/b": {"get": OK}, "/c": {"get": OK}},
}


@pytest.fixture
def api_schema():
    return schemathesis.openapi.from_dict(RAW)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=1)
def test_fuzzed(case):
    pass


def test_plain():
    pass
"""


def test_the_progress_column_counts_every_fuzzed_operation(tmp_path):
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_fuzzed.py").write_text(FUZZED)

    alone = ["-p", "no:django", "-p", "no:cacheprovider", "-c", "/dev/null", "--color=no"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "--rootdir", str(tmp_path), *alone],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "[100%]" in run.stdout, run.stdout
    assert "2 passed, 3 subtests passed" in run.stdout, run.stdout
