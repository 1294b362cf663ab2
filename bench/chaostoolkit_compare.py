"""The same latency scenario with Stormproof and with the Chaos Toolkit, side by side (issue 17).

    .venv/bin/python bench/chaostoolkit_compare.py [--rounds N]

Each round runs, back to back on this machine:

1. ``stormproof run scenarios/latency-orders-payments.yaml`` (its own stack: the wall time
   includes the stack's start, the scenario's steps and the report; the journal's step timings
   give the part spent outside the declared phases once the stack is up);
2. ``stormproof up --detach``, then the Chaos Toolkit on
   ``bench/chaostoolkit/latency-orders-payments.json`` (the same 27 s of phases, the same fault,
   the same load through Locust started by the experiment) against that stack, then
   ``stormproof down``. The toolkit's time is the ``chaos run`` command alone (the stack is
   already up).

The toolkit is not a dependency of the package: it is installed, pinned, into a venv of its
own under ``.stormproof/ctk-venv`` the first time. Prints, per tool, the median wall time, the
time beyond the declared 27 s, and what each one checked.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "latency-orders-payments.yaml"
EXPERIMENT = ROOT / "bench" / "chaostoolkit" / "latency-orders-payments.json"
CTK_VENV = ROOT / ".stormproof" / "ctk-venv"
CTK_PINS = [
    "chaostoolkit-lib[jsonpath]==1.44.0",
    "chaostoolkit==1.19.0",
    "chaostoolkit-toxiproxy==0.3.1",
    "chaostoolkit-prometheus==0.6.0",
]
DECLARED = 27.0  # 5 s baseline + 10 s fault + 12 s recovery, in both tools
STORMPROOF = [sys.executable, "-m", "harness.cli"]


def ensure_ctk() -> Path:
    chaos = CTK_VENV / "bin" / "chaos"
    marker = CTK_VENV / "stormproof-pins.txt"
    wanted = "\n".join(CTK_PINS)
    if not chaos.exists() or not marker.exists() or marker.read_text() != wanted:
        print(f"installing {', '.join(CTK_PINS)} into {CTK_VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(CTK_VENV)], check=True)
        pip = [str(CTK_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, *CTK_PINS], check=True)
        marker.write_text(wanted)
    return chaos


def run_stormproof(workdir: Path) -> dict:
    report = workdir / "stormproof-run"
    t0 = time.monotonic()
    proc = subprocess.run(
        [*STORMPROOF, "run", str(SCENARIO), "--report", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - t0
    journals = list(report.glob("*/journal.json"))
    steps: dict[str, float] = {}
    if journals:
        steps = json.loads(journals[0].read_text()).get("steps", {})
    outside = sum(v for k, v in steps.items() if not k.startswith("stack"))
    return {
        "ok": proc.returncode == 0,
        "wall": wall,
        "steps": steps,
        "outside_phases": outside,
        "tail": proc.stdout.strip().splitlines()[-3:],
    }


def stack_urls() -> dict[str, str]:
    state_dir = Path(os.environ.get("STORMPROOF_STATE_DIR", ROOT / ".stormproof")) / "stacks"
    for path in sorted(state_dir.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("urls"):
            return data["urls"]
    raise SystemExit(f"no running stack with URLs under {state_dir}")


def run_ctk(chaos: Path, workdir: Path) -> dict:
    t_up = time.monotonic()
    subprocess.run([*STORMPROOF, "up", "--detach"], cwd=ROOT, check=True, capture_output=True)
    up = time.monotonic() - t_up
    try:
        urls = stack_urls()
        env = {
            **os.environ,
            "CTK_TOXIPROXY_URL": urls["toxiproxy"],
            "CTK_PROMETHEUS_URL": urls["prometheus"],
            "CTK_ENTRY_URL": urls["entry"],
            # the experiment runs `locust` from PATH: the project's
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "CTK_LOCUSTFILE": str(ROOT / "target_system" / "locustfile.py"),
        }
        journal = workdir / "ctk-journal.json"
        t0 = time.monotonic()
        proc = subprocess.run(
            [str(chaos), "--log-file", str(workdir / "ctk.log"), "run",
             "--journal-path", str(journal), str(EXPERIMENT)],
            cwd=workdir, env=env, capture_output=True, text=True,
        )  # fmt: skip
        wall = time.monotonic() - t0
    finally:
        subprocess.run([*STORMPROOF, "down"], cwd=ROOT, capture_output=True)
    data = json.loads(journal.read_text()) if journal.exists() else {}
    opened = None
    for item in data.get("run", []):
        if item.get("activity", {}).get("name") == "breaker-opened-during-fault":
            try:
                opened = float(item["output"]["data"]["result"][0]["value"][1]) > 0
            except (KeyError, IndexError, TypeError, ValueError):
                opened = False
    ok = proc.returncode == 0 and data.get("status") == "completed"
    if not ok:
        log = workdir / "ctk.log"
        tail = log.read_text().splitlines()[-8:] if log.exists() else []
        print(f"chaos run exited {proc.returncode}; its log ends:", *tail, sep="\n  ")
    return {
        "ok": ok,
        "status": data.get("status"),
        "deviated": data.get("deviated"),
        "breaker_opened": opened,
        "wall": wall,
        "stack_up": up,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    chaos = ensure_ctk()
    sp: list[dict] = []
    ck: list[dict] = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="stormproof-ctk-") as tmp:
            work = Path(tmp)
            sp.append(run_stormproof(work))
            ck.append(run_ctk(chaos, work))
        s, c = sp[-1], ck[-1]
        print(
            f"round {i + 1}: stormproof {s['wall']:.1f} s ({'pass' if s['ok'] else 'FAIL'}), "
            f"chaos toolkit {c['wall']:.1f} s (status {c['status']}, deviated {c['deviated']}, "
            f"breaker opened {c['breaker_opened']}; stack up {c['stack_up']:.1f} s before it)",
            flush=True,
        )
    s_wall = statistics.median(r["wall"] for r in sp)
    s_out = statistics.median(r["outside_phases"] for r in sp)
    c_wall = statistics.median(r["wall"] for r in ck)
    c_up = statistics.median(r["stack_up"] for r in ck)
    print(f"declared phases: {DECLARED:.0f} s in both; medians of {args.rounds} rounds:")
    print(
        f"  stormproof run (own stack)  {s_wall:6.1f} s wall, {s_wall - DECLARED:5.1f} s beyond; "
        f"of which outside the phases once the stack is up {s_out:.1f} s"
    )
    print(
        f"  chaos run (stack up before) {c_wall:6.1f} s wall, {c_wall - DECLARED:5.1f} s beyond; "
        f"stormproof up --detach took {c_up:.1f} s before it"
    )
    print(
        "  stormproof checked: breaker opens/closes, saga consistency (audit), 2 invariants, "
        "baseline SLO, steady state before/after, secret_leak; chaos toolkit: entry health and "
        "no breaker open before/after, breaker opened during the fault (its transitions read "
        "once after it)"
    )
    return 0 if all(r["ok"] for r in sp + ck) else 1


if __name__ == "__main__":
    sys.exit(main())
