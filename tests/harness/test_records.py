"""The one reader of requests.jsonl, of the series files, and the one counter-increase helper
(harness/records.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.records import increases, read_requests, read_series


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_only_an_explicit_ok_true_is_a_success(tmp_path: Path) -> None:
    # The checkers' old reader cast `ok` with astype(bool): a missing ok (NaN) and the string
    # "false" both became True, so a broken record counted as a success in an SLO or abort check.
    # The report's reader already required ok to be true; that rule is the one kept.
    records = [
        {"t": 1.0, "ms": 5, "ok": True},
        {"t": 2.0, "ms": 5},
        {"t": 3.0, "ms": 5, "ok": None},
        {"t": 4.0, "ms": 5, "ok": False},
        {"t": 5.0, "ms": 5, "ok": "false"},
        {"t": 6.0, "ms": 5, "ok": 1},
    ]
    req = read_requests(write(tmp_path / "requests.jsonl", [json.dumps(r) for r in records]))
    assert req["ok"].tolist() == [True, False, False, False, False, False]
    assert req["ok"].dtype == bool


def test_events_cut_lines_and_odd_records_are_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path / "requests.jsonl",
        [
            '{"event": "spawned", "t": 1}',
            '{"t": 3.0, "ms": 4, "ok": false, "status": "503"}',
            '{"t": 2.5, "ms": 3, "ok": true, "status": 200}',
            "[1, 2]",
            "5",
            '{"t": "soon", "ms": 1, "ok": true}',
            '{"t": 4.0, "ok": true}',
            "",
            '{"t": 4',
        ],
    )
    req = read_requests(path)
    assert req["t"].tolist() == [2.5, 3.0]  # sorted by start time
    assert req["ok"].tolist() == [True, False]
    assert req["status"].tolist() == [200, 503]


def test_an_absent_file_has_no_requests(tmp_path: Path) -> None:
    req = read_requests(tmp_path / "requests.jsonl")
    assert req.empty and {"t", "ms", "ok"} <= set(req.columns)


def frame(rows: list[tuple[float, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["t", "value", "outcome"])


def test_a_reset_counts_the_new_value_and_a_series_present_from_the_start_is_history() -> None:
    total = frame([(t, v, "completed") for t, v in zip(range(1, 6), (5, 7, 10, 2, 4), strict=True)])
    inc = increases(total)
    assert inc[["t", "increase"]].values.tolist() == [[2, 2], [3, 3], [4, 2], [5, 2]]


def test_a_series_created_during_the_range_counts_its_first_sample() -> None:
    # prometheus_client creates a labelled child on its first increment: cancelled{...} first
    # scraped at t=10 with value 3 means three sagas were cancelled in the second before. The
    # report's old helper took every first sample as a baseline and drew zero cancellations.
    completed = [(float(t), float(t), "completed") for t in range(0, 13)]
    cancelled = [(10.0, 3.0, "cancelled"), (11.0, 3.0, "cancelled"), (12.0, 4.0, "cancelled")]
    inc = increases(frame(completed + cancelled))
    got = inc[inc["outcome"] == "cancelled"][["t", "increase"]].values.tolist()
    assert got == [[10, 3], [12, 1]]
    # and the start of the collected range decides, not this frame's first sample
    late = increases(frame(cancelled), range_start=0.0)
    assert late[["t", "increase"]].values.tolist() == [[10, 3], [12, 1]]
    assert increases(frame(cancelled))["increase"].tolist() == [1]


def test_series_labels_stay_the_strings_written(tmp_path: Path) -> None:
    # The report's old reader let pandas guess: a label "NA" or "" became NaN (and groupby then
    # dropped those rows from a figure) and "007" became the number 7, while the checkers' reader
    # kept every label as written. The checkers' rule is the one kept.
    path = write(
        tmp_path / "sagas_total.csv",
        ["t,value,outcome,code", "1.0,3,NA,007", "2.0,4,,200", "x,5,COMPLETED,200", "3.0,,NA,1"],
    )
    frame = read_series(path, needs=("t", "value", "outcome"))
    assert frame["t"].tolist() == [1.0, 2.0]  # rows without a number for t or value dropped
    assert frame["value"].tolist() == [3.0, 4.0]
    assert frame["outcome"].tolist() == ["NA", ""]
    assert frame["code"].tolist() == ["007", "200"]


def test_a_series_file_absent_empty_or_without_its_columns_is_an_empty_frame(
    tmp_path: Path,
) -> None:
    assert read_series(tmp_path / "absent.csv").empty
    assert read_series(write(tmp_path / "empty.csv", [])).empty
    assert read_series(write(tmp_path / "header.csv", ["t,value"])).empty
    assert read_series(write(tmp_path / "other.csv", ["t,service", "1,orders"])).empty
    registry = read_series(tmp_path / "other.csv", needs=("t", "service"))
    assert registry.to_dict("records") == [{"t": 1.0, "service": "orders"}]
