"""Render a report and print how long it took and how big the page is.

    .venv/bin/python bench/report_render.py [--minutes 30] [--rate 20] [--keep DIR]
    .venv/bin/python bench/report_render.py --run RUN_DIR [--repeat 5] [--scenarios 18]

Without ``--run``: a synthetic soak (below). With ``--run``: a copy of a real run folder (the
folder itself is only read; its ``index.html`` is not copied), rendered ``--repeat`` times, each
in a fresh process as a run renders it once (pandas loaded, the report imported then); prints
every time, the medians and the page's size. ``--scenarios N`` keeps the first N
scenarios of its run.json, to quote a figure for a suite of a given size.

The synthetic data has the shape and volume a real soak leaves behind: ~20 requests/s in
requests.jsonl, 1 s Prometheus series for ~20 breaker label sets, registry polls every second,
saga gauges and counters (with a counter reset when an instance restarts), and a fault every
few minutes. Nothing is started; only the report code runs.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from harness.report import render_report, write_junit

T0 = 1_800_000_000.0
CALLERS = {"gateway": ["orders", "inventory"], "orders": ["inventory", "payments", "shipping"]}
INSTANCES = {"orders": 2, "inventory": 2, "payments": 2, "shipping": 2, "gateway": 1}


def _faults(seconds: int) -> list[dict]:
    out = []
    for k, start in enumerate(range(120, seconds - 120, 300)):
        out.append(
            {
                "id": f"f{k + 1}",
                "kind": "latency" if k % 2 else "crash",
                "target": "orders->payments" if k % 2 else "payments-1",
                "params": {},
                "planned_at": float(start),
                "planned_for": 60.0,
                "injected_at": T0 + start + 0.02,
                "reverted_at": T0 + start + 60.0,
                "drift_ms": 20.0,
                "error": None,
            }
        )
    return out


def _open(t: float, faults: list[dict]) -> bool:
    return any(f["injected_at"] + 2 <= t < f["reverted_at"] + 3 for f in faults)


def write_soak(d: Path, seconds: int, rate: float) -> None:
    rnd = random.Random(7)
    faults = _faults(seconds)
    (d / "prom").mkdir(parents=True)
    with open(d / "requests.jsonl", "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"event": "spawned", "t": T0, "users": 20}) + "\n")
        n = int(seconds * rate)
        for i in range(n):
            t = T0 + i / rate
            slow = _open(t, faults)
            ok = rnd.random() > (0.08 if slow else 0.002)
            ms = rnd.lognormvariate(3.0, 0.4) * (12 if slow else 1)
            fh.write(
                json.dumps(
                    {
                        "t": t,
                        "ms": round(ms, 3),
                        "name": "POST /orders",
                        "ok": ok,
                        "status": 201 if ok else 503,
                        "error": None if ok else "503",
                        "state": "COMPLETED" if ok else "CANCELLED",
                    }
                )
                + "\n"
            )
    ts = [T0 + s for s in range(-5, seconds + 5)]
    links = [
        (c, callee, f"{callee}-{k}")
        for c, callees in CALLERS.items()
        for callee in callees
        for k in range(1, INSTANCES[callee] + 1)
    ]
    links += [("orders", "payments", "payments-3"), ("gateway", "orders", "orders-3")]
    rows = []
    for caller, callee, inst in links:
        hit = caller == "orders" and inst == "payments-1"
        for t in ts:
            state = 1.0 if hit and _open(t, faults) else 0.0
            rows.append((t, state, caller, callee, inst, f"{caller}-1", caller))
    pd.DataFrame(
        rows, columns=["t", "value", "caller", "callee", "callee_instance", "instance", "service"]
    ).to_csv(d / "prom" / "breaker_state.csv", index=False)
    pd.DataFrame(
        [(t, float(rnd.randint(0, 6)), f"orders-{k}") for t in ts for k in (1, 2)],
        columns=["t", "value", "instance"],
    ).to_csv(d / "prom" / "sagas_in_flight.csv", index=False)
    total = []
    for k in (1, 2):
        done = cancelled = 0.0
        for t in ts:
            if k == 1 and int(t - T0) == seconds // 2:
                done = cancelled = 0.0  # orders-1 restarted: its counters start again
            done += rate / 2 * rnd.uniform(0.8, 1.2)
            cancelled += rnd.random() * (3 if _open(t, faults) else 0.1)
            total += [
                (t, done, "completed", f"orders-{k}"),
                (t, cancelled, "cancelled", f"orders-{k}"),
            ]
    pd.DataFrame(total, columns=["t", "value", "outcome", "instance"]).to_csv(
        d / "prom" / "sagas_total.csv", index=False
    )
    reg = []
    for t in ts:
        for service, n in INSTANCES.items():
            for k in range(1, n + 1):
                gone = service == "payments" and k == 1 and _open(t, faults)
                if not gone:
                    reg.append((t, service, f"{service}-{k}", "1-1"))
    pd.DataFrame(reg, columns=["t", "service", "instance", "incarnation"]).to_csv(
        d / "registry.csv", index=False
    )
    journal = {
        "schema": 1,
        "run_id": "bench",
        "scenario": {
            "name": d.name,
            "file": "scenarios/soak.yaml",
            "line": 1,
            "tags": ["slow"],
            "markers": ["slow", "latency", "crash"],
            "seed": 7,
        },
        "versions": {"stormproof": "0.1.0"},
        "target": {"name": "bundled"},
        "started_at": T0 - 10,
        "clock_start": T0,
        "ended_at": T0 + seconds + 5,
        "phases": [
            {
                "name": "soak",
                "planned_start": T0,
                "planned_end": T0 + seconds,
                "start": T0,
                "end": T0 + seconds,
            }
        ],
        "faults": faults,
        "events": [],
        "checks": [
            {
                "name": "saga consistency",
                "kind": "saga",
                "verdict": "pass",
                "expected": "all terminal",
                "measured": "ok",
                "evidence": [],
            }
        ],
        "load": {"users": 20, "rate": 1, "requests": int(seconds * rate), "failures": 0},
        "overload": {"max_event_loop_lag_s": 0.02, "inconclusive": False},
        "verdict": "pass",
        "missing": [],
    }
    (d / "journal.json").write_text(json.dumps(journal))


def figure_count(html: str) -> int:
    """Figures in a page: inline SVG timelines (and PNGs, for pages of older versions)."""
    return html.count('<svg class="tl"') + html.count("<img ")


# one render as a run pays it: in a process that has pandas loaded already (the checkers use
# it) but not the report, which the runner imports when it closes
CHILD = """
import json, sys, time
from pathlib import Path
import numpy, pandas
t = time.perf_counter()
import harness.report
from harness.report import render_report
imported = time.perf_counter() - t
print(harness.report.__file__, file=sys.stderr)
t = time.perf_counter()
render_report(Path(sys.argv[1]))
print(json.dumps({"import": imported, "render": time.perf_counter() - t}))
"""


def bench_run(run_dir: Path, repeat: int, scenarios: int | None, keep: Path | None) -> None:
    if not (run_dir / "run.json").is_file() and not any(run_dir.glob("*/journal.json")):
        raise SystemExit(f"{run_dir}: not a run folder (no run.json, no */journal.json)")
    with tempfile.TemporaryDirectory(prefix="stormproof-bench-") as tmp:
        run = Path(tmp) / run_dir.name
        shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("index.html", ".index.html*"))
        meta = json.loads((run / "run.json").read_text()) if (run / "run.json").is_file() else {}
        if scenarios is not None and isinstance(meta.get("scenarios"), list):
            meta["scenarios"] = meta["scenarios"][:scenarios]
            (run / "run.json").write_text(json.dumps(meta))
        count = len(meta.get("scenarios") or []) or len(list(run.glob("*/journal.json")))
        imports, renders = [], []
        for _ in range(repeat):
            # run from the temporary folder: `-c` puts the working directory first on sys.path,
            # and the code measured must be the one PYTHONPATH or the installed package names
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(run)],
                capture_output=True,
                text=True,
                check=True,
                cwd=tmp,
            )
            took = json.loads(out.stdout.strip().splitlines()[-1])
            where = out.stderr.strip().splitlines()[-1]
            imports.append(took["import"])
            renders.append(took["render"])
        page = run / "index.html"
        size = page.stat().st_size
        print(f"run {run_dir} ({count} scenarios), {repeat} renders, each in a fresh process")
        print(f"code: {Path(where).parent}")
        print("render times: " + ", ".join(f"{t:.2f}" for t in renders) + " s")
        print(
            f"render_report: median {statistics.median(renders):.2f} s "
            f"(+ import harness.report {statistics.median(imports):.2f} s); "
            f"index.html {size} bytes ({size / 1e6:.2f} MB), "
            f"{figure_count(page.read_text(encoding='utf-8'))} figures"
        )
        if keep:
            shutil.copytree(run, keep, dirs_exist_ok=True)
            print(f"kept in {keep}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--rate", type=float, default=20.0, help="client requests per second")
    p.add_argument("--keep", type=Path, help="copy the rendered run here")
    p.add_argument("--run", type=Path, help="render a copy of this run folder instead")
    p.add_argument("--repeat", type=int, default=5, help="renders of --run (median quoted)")
    p.add_argument("--scenarios", type=int, help="keep the first N scenarios of --run")
    args = p.parse_args()
    if args.repeat < 1 or (args.scenarios is not None and args.scenarios < 1):
        p.error("--repeat and --scenarios must be at least 1")
    if args.run is not None:
        bench_run(args.run, args.repeat, args.scenarios, args.keep)
        return
    with tempfile.TemporaryDirectory(prefix="stormproof-bench-") as tmp:
        run = Path(tmp) / "bench-run"
        seconds = int(args.minutes * 60)
        t = time.perf_counter()
        write_soak(run / "soak", seconds, args.rate)
        made = time.perf_counter() - t
        data_mb = sum(f.stat().st_size for f in run.rglob("*") if f.is_file()) / 1e6
        t = time.perf_counter()
        page = render_report(run)
        took = time.perf_counter() - t
        write_junit(run)
        print(
            f"synthetic soak: {seconds} s, {args.rate:g} req/s, {data_mb:.1f} MB of data "
            f"(made in {made:.1f} s)"
        )
        print(
            f"render_report: {took:.2f} s; index.html {page.stat().st_size / 1e6:.2f} MB, "
            f"{figure_count(page.read_text())} figures"
        )
        if args.keep:
            shutil.copytree(run, args.keep, dirs_exist_ok=True)
            print(f"kept in {args.keep}")


if __name__ == "__main__":
    main()
