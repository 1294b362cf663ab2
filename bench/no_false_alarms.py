"""Run the default scenario suite N times against the correct target; print what passed.

    .venv/bin/python bench/no_false_alarms.py --runs 10 [scenarios/]

Each round is one `stormproof run -m "not slow"` (a fresh stack per round); the script prints
one line per round and, at the end, every scenario that did not pass with the reason. A flaky
scenario is fixed at its cause, never by loosening its bound.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("paths", nargs="*", default=["scenarios"])
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stormproof-false-alarms-"))
    verdicts: Counter[str] = Counter()
    problems: list[str] = []
    for n in range(1, args.runs + 1):
        out = root / f"round-{n}"
        t0 = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "run",
                *args.paths,
                "-m",
                "not slow",
                "--report",
                str(out),
            ],
            capture_output=True,
            text=True,
        )
        round_verdicts = []
        for journal in sorted(out.glob("*/journal.json")):
            j = json.loads(journal.read_text())
            verdicts[j["verdict"]] += 1
            round_verdicts.append(j["verdict"])
            if j["verdict"] != "pass":
                failed = [
                    f"{c['name']} ({c['verdict']}: {c.get('measured') or ''})"
                    for c in j["checks"]
                    if c["verdict"] != "pass"
                ]
                events = [
                    f"{e['kind']}: {e['message'].splitlines()[0]}"
                    for e in j.get("events", [])
                    if e["kind"] in ("error", "abort")
                ]
                why = "; ".join(failed + events) or "no failing check or error recorded"
                problems.append(f"round {n}: {j['scenario']['name']} {j['verdict']}: {why}")
        print(
            f"round {n}: {round_verdicts.count('pass')}/{len(round_verdicts)} passed "
            f"in {time.monotonic() - t0:.0f}s",
            flush=True,
        )
    total = sum(verdicts.values())
    print(f"{verdicts['pass']} of {total} scenario runs passed ({dict(verdicts)})")
    for p in problems:
        print("  " + p)
    return 0 if verdicts["pass"] == total else 1


if __name__ == "__main__":
    sys.exit(main())
