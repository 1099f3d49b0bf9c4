"""`make test` collects every test file: an app left out of pytest.ini's testpaths once hid 36
tests (llm's) from every run, and the same slip had happened twice before."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _test_files(root: Path) -> list[Path]:
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders
                         if not name.startswith(".") and name != "node_modules"]  # fmt: skip
        found += [Path(folder, name) for name in files
                  if name.startswith("test_") and name.endswith(".py")]  # fmt: skip
    return found


def test_every_test_file_is_under_a_testpath(pytestconfig):
    testpaths = [ROOT / path for path in pytestconfig.getini("testpaths")]

    missed = [str(path.relative_to(ROOT)) for path in _test_files(ROOT)
              if not any(path.is_relative_to(testpath) for testpath in testpaths)]  # fmt: skip

    assert missed == [], f"Add their folders to testpaths in pytest.ini: {missed}"
