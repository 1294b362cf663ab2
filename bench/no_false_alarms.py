"""Run the default scenario suite N times against the correct target; keep every round.

    .venv/bin/python bench/no_false_alarms.py --runs 10 [--lock FILE] [scenarios/]
    .venv/bin/python bench/no_false_alarms.py --summary | --table

Each round is one `stormproof run -m "not slow"` (a fresh stack per round). The script prints a
line per round and, at the end, every scenario that did not pass with the reason. A flaky
scenario is fixed at its cause, never by loosening its bound.

Ten rounds take about three hours, more than one working session, so every round is appended
to a ledger (``bench/results/no-false-alarms.jsonl``, committed) under the **code key**: the git
tree hashes of what decides a verdict (``harness/``, ``target_system/``, ``scenarios/``,
``pyproject.toml``). Rounds run in different sessions count together only when their key is
the same; a change to any of those paths starts the count again. A checkout whose keyed paths
differ from its commit (uncommitted edits) is refused: its rounds could not be attributed.

``--lock FILE`` holds an exclusive ``flock`` on FILE for each round (not between rounds), so
other real-stack runs on the machine wait for a round to end instead of running beside it.
Each round records the load average before and after it and the host's CPU pressure
(``/proc/pressure/cpu`` "some" avg300 at its end) so a round that ran on a busy machine can be
told apart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LEDGER = ROOT / "bench" / "results" / "no-false-alarms.jsonl"
KEYED = ("harness", "target_system", "scenarios", "pyproject.toml")
GOAL = 10


def code_key(root: Path = ROOT) -> tuple[str, str]:
    """(key, commit): the key is the tree hashes of the keyed paths at HEAD, joined and cut.
    Raises SystemExit(2) when a keyed path has uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", *KEYED)
    if dirty:
        sys.stderr.write(
            "no_false_alarms: uncommitted changes under the keyed paths "
            f"({', '.join(KEYED)}); commit them or run from a clean clone:\n{dirty}\n"
        )
        raise SystemExit(2)
    trees = [git("rev-parse", f"HEAD:{p}") for p in KEYED]
    key = hashlib.sha256(" ".join(trees).encode()).hexdigest()[:12]
    return key, git("rev-parse", "--short=10", "HEAD")


def cpu_pressure() -> float | None:
    """``some`` avg300 of /proc/pressure/cpu (percent), None where the kernel has no PSI."""
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                fields = dict(f.split("=") for f in line.split()[1:])
                return float(fields["avg300"])
    except (OSError, KeyError, ValueError):
        return None
    return None


def read_round(out: Path) -> tuple[dict[str, str], list[str]]:
    """Verdict by scenario of one round's report folder, and a line per scenario not passed."""
    verdicts: dict[str, str] = {}
    problems: list[str] = []
    for journal in sorted(out.glob("*/journal.json")):
        j = json.loads(journal.read_text())
        name = j["scenario"]["name"]
        verdicts[name] = j["verdict"]
        if j["verdict"] == "pass":
            continue
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
        problems.append(f"{name} {j['verdict']}: {why}")
    return verdicts, problems


def tally(rounds: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """What the ledger says of one key: rounds, clean rounds, scenario runs by verdict."""
    mine = [r for r in rounds if r["key"] == key]
    verdicts: Counter[str] = Counter()
    for r in mine:
        verdicts.update(r["verdicts"].values())
    clean = [r for r in mine if r["exit"] == 0 and r["verdicts"] and not r["problems"]]
    return {
        "key": key,
        "rounds": len(mine),
        "clean": len(clean),
        "runs": sum(verdicts.values()),
        "verdicts": dict(verdicts),
        "commits": sorted({r["commit"] for r in mine}),
        "problems": [f"{r['started']}: {p}" for r in mine for p in r["problems"]],
    }


def describe(t: dict[str, Any]) -> list[str]:
    if t["clean"] < t["rounds"]:
        state = "not met: a round did not pass"
    elif t["rounds"] < GOAL:
        state = f"not met yet: {GOAL - t['rounds']} clean rounds to go"
    else:
        state = "met"
    lines = [
        f"key {t['key']} (commits {', '.join(t['commits']) or '-'}): {t['clean']} of "
        f"{t['rounds']} rounds clean, {t['verdicts'].get('pass', 0)} of {t['runs']} scenario "
        f"runs passed {t['verdicts']}; N = {GOAL} {state}"
    ]
    lines += [f"  {p}" for p in t["problems"]]
    return lines


def table(rounds: list[dict[str, Any]]) -> list[str]:
    """The ledger as a markdown table, a row per round (for docs/performance.md)."""
    out = [
        "| key | commit | started (UTC) | passed | wall | load before -> after "
        "| PSI cpu some avg300 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        passed = sum(v == "pass" for v in r["verdicts"].values())
        load = (
            f"{r['load_before']} -> {r['load_after']}" if r.get("load_before") is not None else "-"
        )
        psi = f"{r['cpu_some_avg300']} %" if r.get("cpu_some_avg300") is not None else "-"
        out.append(
            f"| {r['key']} | {r['commit'][:7]} | {r['started'][:16].replace('T', ' ')} "
            f"| {passed}/{len(r['verdicts'])} | {r['seconds']} s | {load} | {psi} |"
        )
    return out


def load(ledger: Path) -> list[dict[str, Any]]:
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]


def run_round(paths: list[str], out: Path, lock: Path | None) -> tuple[int, float, str, float]:
    """One `stormproof run` of the suite into ``out`` (under the lock if given): its exit
    status, its seconds, when it started (UTC) and the load average then (both once the lock
    was held)."""
    cmd = [sys.executable, "-m", "harness.cli", "run", *paths, "-m", "not slow"]
    cmd += ["--report", str(out)]
    handle = None
    if lock is not None:
        handle = open(lock, "a")  # noqa: SIM115 - held across the round
        fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        load_before = os.getloadavg()[0]
        t0 = time.monotonic()
        with open(out.parent / f"{out.name}.log", "w") as log:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
        return rc, time.monotonic() - t0, started, load_before
    finally:
        if handle is not None:
            handle.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=GOAL, help="rounds to run now")
    ap.add_argument("--ledger", type=Path, default=LEDGER)
    ap.add_argument("--lock", type=Path, help="flock this file for each round")
    ap.add_argument("--summary", action="store_true", help="print the ledger's tally, run nothing")
    ap.add_argument("--table", action="store_true", help="print the ledger as a markdown table")
    ap.add_argument("paths", nargs="*", default=["scenarios"])
    args = ap.parse_args()
    paths = [str(Path(p).resolve()) for p in args.paths]
    if args.table:
        print("\n".join(table(load(args.ledger))))
        return 0
    key, commit = code_key()
    if args.summary:
        for k in dict.fromkeys(r["key"] for r in load(args.ledger)):
            print("\n".join(describe(tally(load(args.ledger), k))))
        print(f"this checkout: key {key} (commit {commit})")
        return 0
    root = Path(tempfile.mkdtemp(prefix="stormproof-false-alarms-"))
    print(f"key {key}, commit {commit}; reports and logs under {root}", flush=True)
    for n in range(1, args.runs + 1):
        out = root / f"round-{n}"
        rc, seconds, started, load_before = run_round(paths, out, args.lock)
        verdicts, problems = read_round(out)
        entry = {
            "key": key,
            "commit": commit,
            "started": started,
            "seconds": round(seconds),
            "exit": rc,
            "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2),
            "cpu_some_avg300": cpu_pressure(),
            "verdicts": verdicts,
            "problems": problems,
        }
        args.ledger.parent.mkdir(parents=True, exist_ok=True)
        with args.ledger.open("a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        passed = sum(v == "pass" for v in verdicts.values())
        print(
            f"round {n}: {passed}/{len(verdicts)} passed in {seconds:.0f}s (exit {rc}, load "
            f"{entry['load_before']} -> {entry['load_after']}, cpu some "
            f"{entry['cpu_some_avg300']} %)",
            flush=True,
        )
        for p in problems:
            print(f"  {p}", flush=True)
    t = tally(load(args.ledger), key)
    print("\n".join(describe(t)))
    return 0 if t["clean"] == t["rounds"] else 1


if __name__ == "__main__":
    sys.exit(main())
