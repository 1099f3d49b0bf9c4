"""The tail every benchmark shares: its result written as JSON, its table printed."""

import json

from bench import results_io


def test_a_result_is_written_as_json_and_its_table_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(results_io, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(results_io, "REPO", tmp_path)

    path = results_io.bench_write_results("demo", {"p50_ms": 1.5}, "| p50 |\n| 1.5 |", "failed: 0")

    assert path.parent == tmp_path / "results" and path.name.startswith("demo-")
    assert json.loads(path.read_text()) == {"p50_ms": 1.5}
    assert capsys.readouterr().out == (
        f"| p50 |\n| 1.5 |\nfailed: 0\n\nwritten to results/{path.name}\n"
    )
