"""Kill bench: SIGKILL `stormproof run` at a seeded random moment, recover as README says, and
count what was left behind.

Each run starts `stormproof run bench/kill-scenario.yaml` (the bundled shop; latency, a link
down, a pause and a crash in force at once) in a state and report folder of its own, aims at
one moment (round robin over start-up, load, fault, revert, checks; a seeded random instant
inside it), and sends SIGKILL to the harness process alone, as a user's `kill -9` would: the
processes it started live in sessions of their own and are not signalled. Then it runs what
README's troubleshooting says to run after a killed run, `stormproof down`, and counts:

  procs     processes still alive after `down`: every PID recorded in the stack's state file
            (Locust included), every descendant of the harness seen just before the kill, every
            member of a recorded process's session, and every orphan reparented to this bench
            (it is a child subreaper, so nothing started by the harness can escape to init)
  toxics    toxics in force after `down`, and
  disabled  proxies disabled after `down`: asked of Toxiproxy's API while its recorded process
            is still alive; once `down` stopped it, its toxics and proxies (kept in its memory
            only) are gone with it, which is counted as 0. The same figures *at the kill*
            (before `down`) are printed beside them, to show the faults really were in force
  stopped   processes left SIGSTOPped (state T in /proc/PID/stat), among the same processes
  lost      data paths that existed before `down` and not after: the run folder, its journal,
            each service's data folder and database, etcd's and Prometheus' data folders

    .venv/bin/python bench/kill_harness.py [--runs 30] [--seed 1] [--moments startup,fault]

Run it under the shared lock on a shared machine: `flock /tmp/stormproof-e2e.lock ...`.
Exit status 0 when every run left nothing behind, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "bench" / "kill-scenario.yaml"
MOMENTS = ("startup", "load", "fault", "revert", "checks")
PR_SET_CHILD_SUBREAPER = 36

# Scenario-clock windows (seconds after every user spawned) of bench/kill-scenario.yaml:
# faults injected at 4-5 s, the crash reverted at 11 s (a restart), the rest at 12 s, load ends
# at 18 s; then Locust stops, data is collected, checks run, the report is written, the stack
# stops (about 4 s here).
WINDOWS = {
    "load": (0.0, 3.9),
    "fault": (4.2, 10.8),
    "revert": (10.9, 12.3),
    "checks": (18.0, 22.5),
}
STARTUP = (0.2, 9.5)  # seconds after launch; the stack is ready after about 9 s here


# -- /proc -----------------------------------------------------------------------------------------


def stat(pid: int) -> tuple[str, int, int, int, int] | None:
    """(state, ppid, pgid, session, start time) of a live PID, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    return rest[0], int(rest[1]), int(rest[2]), int(rest[3]), int(rest[19])


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def alive(pid: int, start: int) -> bool:
    st = stat(pid)
    return st is not None and st[0] != "Z" and st[4] == start


def descendants(root: int) -> dict[int, int]:
    """PID -> start time of every live descendant of ``root``."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for pid in all_pids():
        st = stat(pid)
        if st is None or st[0] == "Z":
            continue
        children.setdefault(st[1], []).append(pid)
        starts[pid] = st[4]
    out: dict[int, int] = {}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out[child] = starts[child]
                todo.append(child)
    return out


def session_members(sessions: set[int]) -> dict[int, int]:
    out = {}
    for pid in all_pids():
        st = stat(pid)
        if st is not None and st[0] != "Z" and (st[3] in sessions or st[2] in sessions):
            out[pid] = st[4]
    return out


def reap_orphans() -> None:
    """Collect orphans reparented to this bench that have exited (only between runs, when no
    child of ours is being waited for elsewhere)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# -- what a run left ------------------------------------------------------------------------------


def read_states(state_dir: Path) -> list[dict]:
    out = []
    for path in sorted((state_dir / "stacks").glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            out.append(json.loads(path.read_text()))
    return out


def toxiproxy_faults(url: str) -> tuple[int, int] | None:
    """(toxics, disabled proxies) from Toxiproxy's API, or None when it does not answer."""
    try:
        proxies = httpx.get(url + "/proxies", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return None
    toxics = sum(len(p.get("toxics", [])) for p in proxies.values())
    disabled = sum(1 for p in proxies.values() if not p.get("enabled", True))
    return toxics, disabled


def data_paths(states: list[dict], report_dir: Path) -> set[Path]:
    paths = {report_dir, report_dir / "kill-bench" / "journal.json"}
    for state in states:
        stack_dir = Path(state["dir"])
        for sub in ("etcd", "prometheus-data", "data"):
            if (stack_dir / sub).exists():
                paths.add(stack_dir / sub)
        data = stack_dir / "data"
        if data.is_dir():
            for service in data.iterdir():
                paths.add(service)
                paths.update(service.glob("*.db"))
    return {p for p in paths if p.exists()}


def classify(journal_path: Path, now: float) -> str:
    """Which moment the harness was in at the kill, from its journal."""
    try:
        j = json.loads(journal_path.read_text())
    except (OSError, ValueError):
        return "startup"
    clock = j.get("clock_start")
    if clock is None:
        return "startup"
    t = now - clock
    if t >= 18.0:
        return "checks"
    faults = j.get("faults", [])
    if not any(f.get("injected_at") for f in faults):
        return "load"
    reverted = [f["reverted_at"] for f in faults if f.get("reverted_at")]
    if len(reverted) == len(faults) and now > max(reverted) + 0.5:
        return "recovery"  # load against a clean stack again
    due = any(
        t >= f["planned_at"] + (f.get("planned_for") or 1e9) - 0.2 and not f.get("reverted_at")
        for f in faults
    )
    return "revert" if due or reverted else "fault"


@dataclass
class Result:
    run: int
    aimed: str
    hit: str = "?"
    at: float = 0.0  # seconds after launch
    recorded: int = 0
    locust: int = 0
    at_kill: dict[str, int] = field(default_factory=dict)
    left: dict[str, int] = field(default_factory=dict)
    down_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        k, lf = self.at_kill, self.left
        return (
            f"run {self.run:2d} aimed {self.aimed:<7} hit {self.hit:<7} kill at {self.at:5.1f}s"
            f" | recorded {self.recorded:2d} (locust {self.locust})"
            f" | at kill: toxics {k.get('toxics', 0)} disabled {k.get('disabled', 0)}"
            f" paused {k.get('stopped', 0)}"
            f" | left: procs {lf['procs']} toxics {lf['toxics']} disabled {lf['disabled']}"
            f" stopped {lf['stopped']} lost {lf['lost']} | down {self.down_s:.1f}s"
            + (f" | {'; '.join(self.notes)}" if self.notes else "")
        )


def stormproof() -> list[str]:
    script = Path(sys.executable).parent / "stormproof"
    return [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli"]


def one_run(i: int, aimed: str, rng: random.Random, root: Path) -> Result:
    res = Result(run=i, aimed=aimed)
    run_root = root / f"run-{i:02d}"
    state_dir, report_dir = run_root / "state", run_root / "report"
    env = dict(os.environ, STORMPROOF_STATE_DIR=str(state_dir))
    journal_path = report_dir / "kill-bench" / "journal.json"
    log = open(run_root.with_suffix(".log"), "wb")  # noqa: SIM115 - closed below
    t0 = time.time()
    harness = subprocess.Popen(
        [*stormproof(), "run", str(SCENARIO), "--report", str(report_dir)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # the harness in a group of its own; only its PID is killed
    )
    if aimed == "startup":
        kill_at = t0 + rng.uniform(*STARTUP)
        offset = None
    else:
        offset = rng.uniform(*WINDOWS[aimed])
        kill_at = None
    while True:
        now = time.time()
        if harness.poll() is not None:
            res.notes.append(f"harness exited ({harness.returncode}) before the kill")
            break
        if kill_at is None:
            with contextlib.suppress(OSError, ValueError):
                clock = json.loads(journal_path.read_text()).get("clock_start")
                if clock is not None:
                    kill_at = clock + offset
            if now - t0 > 120:
                res.notes.append("load never started; killed at 120 s")
                kill_at = now
        if kill_at is not None and now >= kill_at:
            break
        time.sleep(0.01)
    # -- the kill: the harness process alone ---------------------------------------------------
    before_kill = descendants(harness.pid)
    kill_time = time.time()
    with contextlib.suppress(ProcessLookupError):
        os.kill(harness.pid, signal.SIGKILL)
    harness.wait()
    log.close()
    res.at = kill_time - t0
    res.hit = classify(journal_path, kill_time)
    time.sleep(0.3)  # let a gated child see its harness gone
    # -- state before the recovery -------------------------------------------------------------
    states = read_states(state_dir)
    recorded = {(r["pid"], r["start"]): r["name"] for s in states for r in s.get("processes", [])}
    res.recorded = len(recorded)
    res.locust = sum(1 for name in recorded.values() if name.startswith("load:"))
    tox_urls = [s["urls"]["toxiproxy"] for s in states if s.get("urls", {}).get("toxiproxy")]
    tox_recs = [(p, st) for (p, st), n in recorded.items() if n == "toxiproxy"]
    kill_faults = [toxiproxy_faults(u) for u in tox_urls]
    res.at_kill["toxics"] = sum(f[0] for f in kill_faults if f)
    res.at_kill["disabled"] = sum(f[1] for f in kill_faults if f)
    watched: dict[int, int] = dict(before_kill)
    watched.update({p: st for (p, st) in recorded})
    watched.update(session_members({p for (p, _st) in recorded}))
    watched.update(descendants(os.getpid()))  # orphans reparented to this subreaper
    res.at_kill["stopped"] = sum(1 for p, st in watched.items() if _state(p, st) == "T")
    data_before = data_paths(states, report_dir)
    # -- the recovery README gives: stormproof down ------------------------------------------
    t_down = time.monotonic()
    down = subprocess.run(
        [*stormproof(), "down"], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    res.down_s = time.monotonic() - t_down
    if down.returncode != 0:
        res.notes.append(f"down exited {down.returncode}: {down.stderr.strip()[-300:]}")
    time.sleep(0.2)
    reap_orphans()
    # -- what is left ----------------------------------------------------------------------------
    watched.update(session_members({p for (p, _st) in recorded}))
    watched.update(descendants(os.getpid()))
    left = {p: st for p, st in watched.items() if alive(p, st)}
    res.left["procs"] = len(left)
    res.left["stopped"] = sum(1 for p, st in left.items() if _state(p, st) == "T")
    if left:
        res.notes.append("left: " + ", ".join(_describe(p) for p in sorted(left)))
    tox_alive = [u for u, (p, st) in zip(tox_urls, tox_recs, strict=False) if alive(p, st)]
    after = [toxiproxy_faults(u) for u in tox_alive]
    res.left["toxics"] = sum(f[0] for f in after if f)
    res.left["disabled"] = sum(f[1] for f in after if f)
    lost = sorted(p for p in data_before if not p.exists())
    res.left["lost"] = len(lost)
    if lost:
        res.notes.append("lost: " + ", ".join(str(p) for p in lost[:5]))
    if read_states(state_dir):
        res.notes.append("a state file is still there after down")
    # leave nothing behind even when something leaked: stop it by the PIDs recorded here
    for pid, st in left.items():
        if alive(pid, st):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
    return res


def _state(pid: int, start: int) -> str | None:
    st = stat(pid)
    return st[0] if st is not None and st[4] == start else None


def _describe(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
    except OSError:
        cmd = "?"
    return f"{pid} ({cmd.strip()})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--moments", default=",".join(MOMENTS), help="comma list, taken round robin by run"
    )
    ap.add_argument("--keep", action="store_true", help="keep the runs' folders")
    args = ap.parse_args(argv)
    moments = [m.strip() for m in args.moments.split(",") if m.strip()]
    unknown = set(moments) - set(MOMENTS)
    if unknown or not moments:
        ap.error(f"--moments: unknown {sorted(unknown)}; known: {', '.join(MOMENTS)}")
    # orphans of the killed harness come to this process, not to init: none can be missed
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("warning: cannot become a child subreaper; orphans are found by session only")
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="stormproof-kill-"))
    print(f"kill bench: {args.runs} runs, seed {args.seed}, scenario {SCENARIO.name}, in {root}")
    t0 = time.monotonic()
    results = []
    for i in range(1, args.runs + 1):
        (root / f"run-{i:02d}").mkdir(parents=True)
        res = one_run(i, moments[(i - 1) % len(moments)], rng, root)
        results.append(res)
        print(res.line(), flush=True)
    wall = time.monotonic() - t0
    cats = ("procs", "toxics", "disabled", "stopped", "lost")
    totals = {c: sum(r.left[c] for r in results) for c in cats}
    clean = sum(1 for r in results if not any(r.left[c] for c in cats))
    hits = {m: sum(1 for r in results if r.hit == m) for m in (*MOMENTS, "recovery")}
    print(
        f"moments hit: {', '.join(f'{m} {n}' for m, n in hits.items())}; "
        f"faults in force at the kill in {sum(1 for r in results if r.at_kill.get('toxics'))} runs"
        f" (a SIGSTOPped process in {sum(1 for r in results if r.at_kill.get('stopped'))})"
    )
    print(
        f"totals over {len(results)} runs: processes left {totals['procs']}, "
        f"toxics left {totals['toxics']}, proxies disabled {totals['disabled']}, "
        f"processes SIGSTOPped {totals['stopped']}, data paths lost {totals['lost']}; "
        f"{clean}/{len(results)} runs clean; wall {wall:.0f}s"
    )
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 0 if clean == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
