"""Where a suite run's time goes outside its declared phases (issue 17's overhead target).

    .venv/bin/python bench/suite_overhead.py RUN_DIR          # a finished run's report folder
    .venv/bin/python bench/suite_overhead.py --run [PATHS]    # run `-m "not slow"` first

Prints the declared phase time, every step around the phases summed over the scenarios (the
journals' ``steps``), the run's wall time, the overhead ratio (wall / phases), the seconds per
scenario spent outside the phases, and how long the report took to render (run.json).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.report.data import read_journal, read_json
from harness.report.render import STEP_LABELS, scenario_dirs, time_budget


def _median_step(scenarios: list[dict], label: str) -> float:
    """The median over the scenarios of the step shown as `label` (0 where it did not run)."""
    keys = [k for k, v in STEP_LABELS.items() if v == label] or [label]
    values = [
        sum(float((s["journal"].get("steps") or {}).get(k, 0.0)) for k in keys)
        for s in scenarios
        if s["journal"]
    ]
    return statistics.median(values) if values else 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*", help="a run folder, or scenario paths with --run")
    ap.add_argument("--run", action="store_true", help="run the suite first (not slow)")
    args = ap.parse_args()
    if args.run:
        run_dir = Path(tempfile.mkdtemp(prefix="stormproof-overhead-")) / "run"
        cmd = [sys.executable, "-m", "harness.cli", "run", *(args.paths or ["scenarios"])]
        subprocess.run([*cmd, "-m", "not slow", "--report", str(run_dir)], check=False)
    elif len(args.paths) == 1:
        run_dir = Path(args.paths[0])
    else:
        ap.error("give one run folder, or --run")
    run = read_json(run_dir / "run.json")
    run = run if isinstance(run, dict) else {}
    scenarios = [{"journal": read_journal(d)} for d in scenario_dirs(run_dir)]
    budget = time_budget(scenarios, run)
    if budget is None:
        print(f"{run_dir}: no journal has step timings (a run older than the steps field)")
        return 1
    n = sum(1 for s in scenarios if s["journal"])
    print(f"{run_dir}: {n} scenarios, declared phases {budget['phases']:.1f} s")
    print("     total    mean s/scenario  median  step")
    for label, seconds in budget["steps"]:
        med = _median_step(scenarios, label)
        print(f"  {seconds:8.1f} s  {seconds / max(n, 1):6.2f}  {med:6.2f}  {label}")
    outside = budget["outside"]
    totals = [sum((s["journal"].get("steps") or {}).values()) for s in scenarios if s["journal"]]
    med = statistics.median(totals) if totals else 0.0
    print(f"  {outside:8.1f} s  {outside / max(n, 1):6.2f}  {med:6.2f}  all steps")
    if budget["wall"]:
        rest = budget["wall"] - budget["phases"] - budget["outside"]
        print(f"wall {budget['wall']:.1f} s = {budget['ratio']:.3f}x the phases "
              f"(not in any step: {rest:.1f} s)")  # fmt: skip
    if run.get("report_seconds") is not None:
        print(f"report rendered in {run['report_seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
