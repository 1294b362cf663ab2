"""bench/run_all.py (make bench): the summary lines it keeps and the table it rewrites."""

from __future__ import annotations

from pathlib import Path

from tests.harness.bench_module import load

run_all = load("run_all")


def test_keeps_the_lines_its_pattern_names_and_the_status(tmp_path: Path) -> None:
    bench = run_all.Bench("t", ["-c", "print('noise'); print('ratio: 0.2')"], 30, r"ratio")
    status, took, lines = run_all.run(bench, tmp_path)
    assert (status, lines) == ("ok", ["ratio: 0.2"])
    assert took >= 0
    assert "ratio: 0.2" in (tmp_path / "t.txt").read_text()
    failing = run_all.Bench("f", ["-c", "import sys; print('a'); print('b'); sys.exit(3)"], 30, "x")
    status, _, lines = run_all.run(failing, tmp_path)
    assert (status, lines) == ("exit 3", ["a", "b"])  # no match: the last two lines


def test_a_bench_past_its_timeout_is_stopped_and_marked(tmp_path: Path) -> None:
    bench = run_all.Bench("slow", ["-c", "import time; time.sleep(30)"], 0.5, "x")
    status, took, _ = run_all.run(bench, tmp_path)
    assert status.startswith("stopped after")
    assert took < 10


def test_the_table_replaces_only_what_is_between_the_markers(tmp_path, monkeypatch) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Figures\n\nbefore\n\n{run_all.START}\nold table\n{run_all.END}\n\nafter\n")
    monkeypatch.setattr(run_all, "DOC", doc)
    rows = [(run_all.Bench("a", ["bench/a.py", "--x", "1"], 1, ""), "ok", 12.3, ["p|q", "r"])]
    run_all.write_table(run_all.table(rows, "2026-12-02 01:00 UTC"))
    text = doc.read_text()
    assert text.startswith("# Figures\n\nbefore\n\n" + run_all.START)
    assert text.endswith(run_all.END + "\n\nafter\n")
    assert "old table" not in text
    assert "| a | `bench/a.py --x 1` | 12 s | ok | p\\|q<br>r |" in text
    assert "2026-12-02 01:00 UTC" in text


def test_without_markers_the_table_is_appended_under_a_heading(tmp_path, monkeypatch) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Figures\n")
    monkeypatch.setattr(run_all, "DOC", doc)
    run_all.write_table(run_all.table([], "now"))
    text = doc.read_text()
    assert "## `make bench`: the latest figures" in text
    assert text.rstrip().endswith(run_all.END)
