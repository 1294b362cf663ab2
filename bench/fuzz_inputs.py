"""Benchmark: `stormproof validate` on seeded mutations of the bundled scenario and topology files.

Counts each outcome (ok, refused with file:line and exit 2, traceback, hang), the slowest
cases, and cases over one second. Target: 0 tracebacks, 0 hangs, 0 cases over 1 s.

    .venv/bin/python bench/fuzz_inputs.py [--cases 10000] [--seed 1] [--topology-share 0.3]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz_cases import mutants, run_case, scenario_bases, topology_bases


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--topology-share", type=float, default=0.3)
    args = ap.parse_args()
    n_topo = round(args.cases * args.topology_share)
    plan = [
        ("scenario", args.cases - n_topo, scenario_bases()),
        ("topology", n_topo, topology_bases()),
    ]
    counts: dict[str, collections.Counter[str]] = {}
    times: list[tuple[float, str, str]] = []
    defects: list[str] = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for kind, count, bases in plan:
            counts[kind] = collections.Counter()
            for i, (ops, data) in enumerate(mutants(args.seed, bases, count)):
                out = run_case(kind, data, Path(tmp))
                counts[kind][out.kind] += 1
                times.append((out.seconds, kind, f"{ops} ({len(data)} bytes)"))
                if out.kind in ("traceback", "hang"):
                    defects.append(f"{kind} #{i} {ops}: {out.kind} {out.detail}")
                if (i + 1) % 1000 == 0:
                    print(f"  {kind}: {i + 1}/{count}", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t_start
    secs = sorted(t for t, _, _ in times)
    print(f"fuzz_inputs: {args.cases} cases, seed {args.seed}, {wall:.1f} s")
    for kind, c in counts.items():
        row = ", ".join(f"{k} {c[k]}" for k in ("ok", "refused", "traceback", "hang"))
        print(f"  {kind:9} {sum(c.values()):6}: {row}")
    print(
        f"  per case: median {statistics.median(secs) * 1000:.1f} ms, "
        f"p99 {secs[int(len(secs) * 0.99)] * 1000:.1f} ms, max {secs[-1] * 1000:.0f} ms; "
        f"over 1 s: {sum(t > 1 for t in secs)}"
    )
    for t, kind, what in sorted(times, reverse=True)[:3]:
        print(f"  slowest: {t * 1000:.0f} ms {kind} {what}")
    for line in defects[:20]:
        print("  DEFECT", line)
    return 1 if defects or secs[-1] > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
