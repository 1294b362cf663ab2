"""How many of the sagas a failed check names have their trace in the report (issue 15).

    .venv/bin/python bench/offender_traces.py RUN_DIR [RUN_DIR...]

For each scenario of each run folder, each failed check whose violations name sagas: how many
of those sagas have a trace in ``traces.json`` the report would draw (a span tagged with the
saga's id, or a trace id its log lines carry), how many of those traces came by id after the
checks (``bounds.by_id``), and the total. Reads only the saved files, as the report does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.report.data import read_journal
from harness.report.render import scenario_dirs
from harness.report.traces import read_log_rows, read_traces
from harness.verdict import check_fails


def sagas_named(check: dict) -> list[str]:
    out = []
    for v in (check.get("details") or {}).get("violations") or []:
        if isinstance(v, dict) and v.get("saga_id") and str(v["saga_id"]) not in out:
            out.append(str(v["saga_id"]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args()
    total = traced = 0
    for run in args.runs:
        for d in scenario_dirs(run):
            j = read_journal(d)
            if j is None:
                continue
            traces = read_traces(d, j["missing"])
            by_id = traces.bounds.get("by_id")
            for c in j["checks"]:
                sagas = sagas_named(c) if check_fails(c) else []
                if not sagas:
                    continue
                rows = read_log_rows(d, set(sagas))
                have = 0
                for saga in sagas:
                    named = {r.trace_id for r in rows if r.saga_id == saga and r.trace_id}
                    if traces.for_saga(saga) or any(traces.get(t) for t in named):
                        have += 1
                total += len(sagas)
                traced += have
                print(
                    f"{run.name}/{d.name}: {c['name']}: {have} of {len(sagas)} sagas named "
                    f"have a trace ({len(traces)} traces saved; by id: {by_id or 'none'})"
                )
    if total:
        print(f"all: {traced} of {total} sagas named by failed checks have a trace "
              f"({100 * traced / total:.0f} %)")  # fmt: skip
    else:
        print("no failed check names a saga")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
