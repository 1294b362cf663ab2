"""Every benchmark in one go (``make bench``), and the figures table in docs/performance.md.

    .venv/bin/python bench/run_all.py [--only NAME ...] [--no-write]

Runs each script under bench/ with arguments sized so the whole set takes about 15 minutes on
a 2-core machine, one after the other (never two stacks at once), saves each one's full output
under ``reports/bench/<stamp>/<name>.txt``, and rewrites the table between the
``make-bench`` markers of docs/performance.md: the date, the machine, and for every benchmark
its command, its wall time, its exit status and its summary lines. A benchmark that fails
keeps its row, marked, and makes the exit status 1; the others still run.

Not in it: ``no_false_alarms.py --runs 10`` (about 3 hours, more than a session: its rounds
are kept in a ledger by code key, see that script; run it by hand) and
``report_render.py`` without ``--run`` (the synthetic soak; by hand).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
START = "<!-- make-bench:start -->"
END = "<!-- make-bench:end -->"
OVERHEAD_SCENARIOS = [
    "scenarios/latency-orders-payments.yaml",
    "scenarios/crash-payments.yaml",
    "scenarios/partition-orders-inventory.yaml",
    "scenarios/blackhole-payments.yaml",
    "scenarios/pause-payments.yaml",
    "scenarios/registry-outage.yaml",
]


@dataclass
class Bench:
    name: str
    args: list[str]
    timeout: float  # seconds; a bench past it is stopped and marked
    summary: str  # regex: the output lines that go into the table


def benches(overhead_dir: Path) -> list[Bench]:
    return [
        Bench("shop_throughput", ["bench/shop_throughput.py", "--duration", "10"], 300,
              r"/s  ok|ratio"),
        Bench("stack_figures", ["bench/stack_figures.py", "--runs", "5", "--cycles", "200"], 300,
              r"healthy|scrap|delay|p50|p99"),
        Bench("suite_run",
              ["-m", "harness.cli", "run", *OVERHEAD_SCENARIOS, "--report", str(overhead_dir)],
              600, r"^summary"),
        Bench("suite_overhead", ["bench/suite_overhead.py", str(overhead_dir)], 60,
              r"declared phases|all steps|^wall|rendered"),
        Bench("report_render",
              ["bench/report_render.py", "--run", str(overhead_dir), "--repeat", "3"], 180,
              r"median|size|kB|MB"),
        Bench("fuzz_inputs", ["bench/fuzz_inputs.py", "--cases", "2000"], 300,
              r"^fuzz_inputs|traceback|hang|over 1 s|DEFECT"),
        Bench("kill_harness", ["bench/kill_harness.py", "--runs", "5"], 600,
              r"^totals over|^moments hit"),
        Bench("chaostoolkit_compare", ["bench/chaostoolkit_compare.py", "--rounds", "1"], 300,
              r"declared|stormproof run|chaos run"),
    ]  # fmt: skip


def machine() -> str:
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, TypeError):
        pass
    system = f"{platform.system()} {platform.machine()}"
    return f"{system}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"


def run(bench: Bench, out_dir: Path) -> tuple[str, float, list[str]]:
    cmd = [sys.executable, *bench.args]
    print(f"[bench] {bench.name}: {' '.join(bench.args)}", flush=True)
    t0 = time.monotonic()
    log = out_dir / f"{bench.name}.txt"
    with log.open("w") as fh:
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=fh, text=True, timeout=bench.timeout
            )
            status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
            out = proc.stdout
        except subprocess.TimeoutExpired as exc:
            status = f"stopped after {bench.timeout:.0f} s"
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        fh.write("\n--- stdout ---\n" + out)
    took = time.monotonic() - t0
    pattern = re.compile(bench.summary)
    # the summary may be on either stream (`stormproof run` prints its summary to stderr)
    text = log.read_text()
    lines = [ln.strip() for ln in text.splitlines() if pattern.search(ln.strip())]
    if not lines:
        lines = [ln.strip() for ln in out.splitlines() if ln.strip()][-2:]
    print(f"[bench] {bench.name}: {status} in {took:.0f} s", flush=True)
    for ln in lines:
        print("    " + ln, flush=True)
    return status, took, lines


def table(rows: list[tuple[Bench, str, float, list[str]]], stamp: str) -> str:
    out = [
        START,
        f"Last `make bench`: {stamp}, {machine()} (full outputs: `reports/bench/`).",
        "",
        "| benchmark | command | wall | status | figures |",
        "|---|---|---|---|---|",
    ]
    for bench, status, took, lines in rows:
        cmd = " ".join("RUN_DIR" if a.startswith("/") else a for a in bench.args)
        figures = "<br>".join(ln.replace("|", "\\|") for ln in lines)
        out.append(f"| {bench.name} | `{cmd}` | {took:.0f} s | {status} | {figures} |")
    out.append(END)
    return "\n".join(out)


def write_table(text: str) -> None:
    doc = DOC.read_text()
    if START in doc and END in doc:
        head, rest = doc.split(START, 1)
        tail = rest.split(END, 1)[1]
        DOC.write_text(head + text + tail)
    else:
        DOC.write_text(
            doc.rstrip("\n") + "\n\n## `make bench`: the latest figures\n\n" + text + "\n"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="run these benchmarks only")
    ap.add_argument("--no-write", action="store_true", help="leave docs/performance.md alone")
    args = ap.parse_args()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out_dir = ROOT / "reports" / "bench" / dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True)
    chosen = [b for b in benches(out_dir / "overhead-run") if not args.only or b.name in args.only]
    if args.only and len(chosen) != len(args.only):
        known = ", ".join(b.name for b in benches(out_dir))
        print(f"bench/run_all.py: unknown benchmark in --only; known: {known}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    rows = [(b, *run(b, out_dir)) for b in chosen]
    print(f"[bench] all done in {time.monotonic() - t0:.0f} s; outputs in {out_dir}")
    if not args.no_write:
        write_table(table(rows, stamp))
        print(f"[bench] table written to {DOC.relative_to(ROOT)}")
    return 0 if all(status == "ok" for _, status, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
