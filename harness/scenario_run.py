"""One scenario run: the timeline loop, the undo ledger, data collection and the verdict."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.checks import CHECK_KINDS
from harness.checks.steady import (
    BASELINE,
    WINDOW,
    after_window,
    hypothesis,
    run_steady,
    steady_queries,
)
from harness.cleanup import Cleanup
from harness.errors import HarnessError, RevertFailed
from harness.evidence import add_offender_traces, save_evidence
from harness.hostpressure import PressureSampler
from harness.infra import logs as logcut
from harness.infra import prometheus as prom
from harness.journal import FaultRecord, Journal, ScenarioInfo, TargetInfo
from harness.load import LoadPlan, LocustProcess, RequestTail, wait_spawned
from harness.metrics import PrometheusQuery, collect
from harness.progress import Progress
from harness.redact import redact_env, redact_values
from harness.scenario import effective_load, fault_params, fault_target, markers
from harness.settings import Settings
from harness.targets import TargetStack
from harness.verdict import check_fails, final_verdict

SCRAPES_AFTER = 2  # scrapes of every target after the work settled, before querying
SPAWN_TIMEOUT = 60.0
TICK = 0.05


class RunContext(Protocol):
    """What one scenario run needs from whoever runs it (``harness.runner.Engine``)."""

    run_id: str
    settings: Settings
    progress: Progress
    load_workers: int

    def versions(self) -> dict[str, str]: ...

    def stack_for(self, scenario: Any) -> TargetStack:
        """A running, settled stack for `scenario`."""
        ...


@dataclass
class Planned:
    """One fault on the timeline, with the concrete spec after seeded picks."""

    record: FaultRecord
    spec: Any
    at: float
    until: float | None  # scenario-clock offset of the revert; None: at the end
    active: bool = False
    done: bool = False


class ScenarioRun:
    def __init__(self, engine: RunContext, scenario: Any, out: Path) -> None:
        self.engine = engine
        self.scenario = scenario
        self.out = out
        self.journal_path = out / "journal.json"
        s = scenario
        self.journal = Journal(
            run_id=engine.run_id,
            scenario=ScenarioInfo(
                name=s.name,
                file=str(s.source) if s.source else None,
                line=s.line,
                tags=list(s.tags),
                markers=markers(s),
                seed=s.seed,
            ),
            versions=dict(engine.versions()),
            target=TargetInfo(name=s.target, env=redact_env(s.target_env)),
        )
        self.stack: TargetStack | None = None
        self.steady: list[Any] = []  # the steady-state hypothesis, once the stack is known
        self.steady_judged = False
        self.not_steady = False
        self.poller: Any = None
        self.log_marks: dict[str, int] = {}  # each instance log's size when the scenario began

    # -- helpers -------------------------------------------------------------------------------

    def _save(self) -> None:
        self.journal.write(self.journal_path)

    def _event(self, kind: str, message: str) -> None:
        values = self._secret_values()
        if values:
            message = redact_values(message, (v for vs in values.values() for v in vs))
        self.journal.event(kind, message)
        self._save()

    # -- the run -------------------------------------------------------------------------------

    def execute(self) -> Journal:
        j = self.journal
        j.started_at = time.time()
        self._save()
        interrupted = False
        error: str | None = None
        aborted: str | None = None
        locust: LocustProcess | None = None
        tail: RequestTail | None = None
        poller = None
        plan: list[Planned] = []
        psi = PressureSampler()  # host pressure for the overload rule: host_pressure.csv
        try:
            with j.step("stack"):
                self.stack = self.engine.stack_for(self.scenario)
            j.target.topology = str(self.stack.topology_path)
            # where this scenario's lines start (a reused stack rotated its logs as it settled)
            self.log_marks = logcut.sizes(self.stack.instance_logs().values())
            with j.step("settle_before"):
                self.stack.wait_sagas_settled(self.engine.settings.timeouts.settle)
            with j.step("audit_before"):
                self._snapshot_audit("audit_before.json")
            poller = self.poller = self.stack.registry_poller()
            if poller is not None:
                poller.start()
            psi.start()
            with j.step("load_start"):
                locust, tail = self._start_load()
                clock = wait_spawned(locust, tail, SPAWN_TIMEOUT)
            j.plan_phases(clock, self.scenario.phase_offsets())
            j.event("load", f"all {self.scenario.load.max_users} users spawned; clock started")
            plan = self._plan_faults()
            self.steady = hypothesis(self.scenario, self.stack.facts)
            kinds = {e.type for e in [*self.scenario.expect, *self.steady]}
            for what, why in self.stack.unmapped(kinds & set(CHECK_KINDS)).items():
                j.add_missing(what, why)
            self._save()
            aborted = self._loop(clock, plan, tail)
        except KeyboardInterrupt:
            interrupted = True
            aborted = "interrupted (Ctrl-C)"
            j.event("abort", "run interrupted by the user: faults reverted, load stopped")
        except HarnessError as exc:
            error = str(exc)
            j.event("error", error)
        except Exception as exc:  # a harness bug: still revert, still write the journal
            error = f"internal error: {exc!r}"
            j.event("error", error + "\n" + traceback.format_exc())
        finally:
            # every step runs even if an earlier one raised (a failed revert must not leave
            # Locust or the poller running); an unexpected error is raised once all have run
            cleanup = Cleanup()
            with j.step("stop"):
                revert_error = cleanup.step("revert", self._revert_all, plan)
                if revert_error:
                    error = (error + "; " if error else "") + revert_error
                if locust is not None:
                    cleanup.step("stop Locust", locust.stop)
                if poller is not None:
                    cleanup.step("stop the registry poller", poller.stop)
                    cleanup.step("save registry.csv", poller.save, self.out / "registry.csv")
                cleanup.step("stop the host pressure sampler", self._save_pressure, psi)
            self._close_phases()
            if cleanup.errors:
                error = (error + "; " if error else "") + cleanup.describe()
                j.event("error", cleanup.describe())
            self._save()
        if cleanup.errors:
            j.verdict = "error"
            j.ended_at = time.time()
            self._save()
            cleanup.raise_first()
        if interrupted:
            j.verdict = "aborted"
            j.ended_at = time.time()
            self._save()
            raise KeyboardInterrupt
        self._finish(tail, aborted=aborted, error=error)
        return j

    def _start_load(self) -> tuple[LocustProcess, RequestTail]:
        load = self.scenario.load
        stages = tuple(
            {"duration": st.duration, "users": st.users, "spawn_rate": st.spawn_rate}
            for st in (load.stages or [])
        )
        locustfile, host = effective_load(self.scenario, self.stack.facts)
        if locustfile is None:  # validation refuses it; a scenario built in code may not be
            raise HarnessError(f"{self.scenario.name}: no locustfile for the load")
        plan = LoadPlan(
            host=self.stack.load_host(host),
            locustfile=locustfile,
            users=load.max_users,
            spawn_rate=load.spawn_rate or float(load.max_users),
            rate=load.rate,
            stages=stages,
            run_time=self.scenario.duration + SPAWN_TIMEOUT + 30,
            seed=self.scenario.seed,
            workers=self.engine.load_workers or load.workers,
            trace_sample=load.trace_sample,
        )
        locust = LocustProcess(plan, self.out, self.engine.settings.python, tracker=self.stack)
        locust.start()
        self.journal.load.users = plan.users
        self.journal.load.rate = plan.rate
        self.journal.load.locustfile = str(plan.locustfile)
        self.journal.load.host = plan.host
        return locust, RequestTail(locust.requests_file)

    def _plan_faults(self) -> list[Planned]:
        from harness.scenario import describe_fault, drawn_by_seed, resolve_picks

        specs = resolve_picks(self.scenario, self.stack.facts)
        total = self.scenario.duration
        if drawn_by_seed(self.scenario):
            # A random schedule or a picked instance: say which seed drew what, so a run can be
            # replayed (the same seed gives the same schedule) and read against its report.
            drawn = "; ".join(describe_fault(s) for s in specs)
            self.engine.progress.say(f"  seed {self.scenario.seed}: {drawn}")
        out = []
        for i, spec in enumerate(specs):
            until = self.stack.faults.revert_offset(spec, total)
            record = FaultRecord(
                id=f"f{i + 1}",
                kind=spec.kind,
                target=fault_target(spec),
                params=fault_params(spec),
                planned_at=spec.at,
                planned_for=(until - spec.at) if until is not None else None,
            )
            self.journal.add_fault(record)
            out.append(Planned(record=record, spec=spec, at=spec.at, until=until))
        return out

    def _loop(self, clock: float, plan: list[Planned], tail: RequestTail) -> str | None:
        """Run the phases; inject and revert faults on time. Returns an abort reason or None."""
        from harness.checks.abort import AbortTracker

        total = self.scenario.duration
        j = self.journal
        abort = AbortTracker(self.scenario.abort)
        phase_idx = -1
        while True:
            now = time.time()
            t = now - clock
            # phases: record actual start / end times
            while phase_idx + 1 < len(j.phases) and j.phases[phase_idx + 1].planned_start <= now:
                if phase_idx >= 0:
                    j.phases[phase_idx].end = now
                phase_idx += 1
                j.phases[phase_idx].start = now
                self._save()
            if t >= total:
                break
            if (
                not self.steady_judged
                and self._steady_due(plan, t)
                and not self._judge_steady_before(clock)
            ):
                return "not steady before the faults: nothing injected"
            for p in plan:
                if not p.active and not p.done and p.at <= t:
                    self._inject(p)
                elif p.active and p.until is not None and p.until <= t:
                    self._revert(p)
            tail.poll()
            reason = abort.update(now, tail)
            if reason:
                j.event("abort", reason)
                return reason
            rps_n, fail_n = tail.recent(2.0)
            phase = j.phases[phase_idx].name if phase_idx >= 0 else "-"
            self.engine.progress.status(
                self.scenario.name,
                phase,
                t,
                total,
                rps_n / 2.0,
                (fail_n / rps_n) if rps_n else 0.0,
                [f"{p.spec.kind} {p.record.target}" for p in plan if p.active],
            )
            time.sleep(TICK)
        return None

    def _steady_due(self, plan: list[Planned], t: float) -> bool:
        """Judge the hypothesis when the first fault is due (no faults: at the first phase end)."""
        if not self.steady:
            return False
        first = min((p.at for p in plan), default=None)
        if first is None:
            first = self.scenario.phase_offsets()[0][2]
        return t >= first

    def _judge_steady_before(self, clock: float) -> bool:
        """Judge the hypothesis over [clock start, now] from data saved under steady-before/.

        Returns whether it held; when it did not, the run ends without injecting anything.
        """
        import shutil

        from harness.checks import RunData

        self.steady_judged = True
        t0 = time.time()
        d = self.out / "steady-before"
        d.mkdir(exist_ok=True)
        prom = PrometheusQuery(self.stack.prometheus_url())
        queries = {**self.stack.series_queries(), **steady_queries(self.steady)}
        collect(prom, queries, clock - 2, t0, d / "prom", lambda what, why: None)
        if (self.out / "requests.jsonl").exists():
            shutil.copyfile(self.out / "requests.jsonl", d / "requests.jsonl")
        if self.poller is not None:
            self.poller.save(d / "registry.csv")
        data = RunData.load(d, journal=self.journal, facts=self.stack.facts)
        data.windows[WINDOW] = (clock, t0)
        results = run_steady(self.steady, data, "before")
        for r in results:
            self.journal.add_check(r)
        failed = [r for r in results if check_fails(r)]
        took = time.time() - t0
        if failed:
            self.not_steady = True
            why = "; ".join(e for r in failed for e in r.evidence[:3])
            self._event("not-steady", f"not steady before the faults (judged in {took:.2f} s): "
                        f"{why}; no fault injected")  # fmt: skip
            return False
        self._event("steady", f"steady state held before the faults (judged in {took:.2f} s)")
        return True

    def _inject(self, p: Planned) -> None:
        faults = self.stack.faults
        t0 = time.time()
        try:
            p.record.recorded.update(faults.inject(p.record.id, p.spec) or {})
        except HarnessError as exc:
            p.done = True
            p.record.error = f"inject failed: {exc}"
            self._event("error", f"fault {p.record.id} ({p.spec.kind} {p.record.target}): {exc}")
            raise
        self.journal.fault_injected(p.record.id, t0)
        p.active = p.until is not None or faults.needs_revert(p.spec)
        p.done = not p.active
        self._event("fault", f"injected {p.spec.kind} on {p.record.target}")

    def _revert(self, p: Planned) -> None:
        t0 = time.time()
        p.active = False
        p.done = True
        try:
            p.record.recorded.update(self.stack.faults.revert(p.record.id) or {})
        except HarnessError as exc:
            self.journal.fault_reverted(p.record.id, t0, error=str(exc))
            self._event("error", f"revert of {p.record.id} failed: {exc}")
            raise RevertFailed(f"revert of fault {p.record.id} failed: {exc}") from exc
        self.journal.fault_reverted(p.record.id, t0)
        self._event("fault", f"reverted {p.spec.kind} on {p.record.target}")

    def _revert_all(self, plan: list[Planned]) -> str | None:
        """Revert every fault still active, newest first; a failed revert fails the run."""
        cleanup = Cleanup()
        for p in reversed(plan):
            if p.active:
                cleanup.step(f"revert of {p.record.id}", self._revert, p)
        if self.stack is not None:
            cleanup.step("revert of every active fault", self.stack.faults.revert_all)
        if cleanup.foreign:
            cleanup.raise_first()  # not one of ours: a bug or an unmapped error, raised loudly
        return "; ".join(str(exc) for _, exc in cleanup.errors) or None

    def _save_evidence(self, start: float, end: float) -> None:
        save_evidence(self.journal, self.stack, self.out, start, end, self.log_marks,
                      lambda: self.engine.settings.timeouts.http * 3)  # fmt: skip

    def _wait_scrapes(self, since: float) -> None:
        """Two scrapes of every target stamped after `since` (the work settled), as the design
        notes ask once load stops; bounded, and a timeout is said in the journal."""
        url = self.stack.prometheus_url()
        timeout = self.engine.settings.timeouts.scrape_wait
        if not prom.wait_scrapes_since(url, since, SCRAPES_AFTER, timeout):
            self.journal.event("scrape", f"Prometheus had not scraped every target "
                               f"{SCRAPES_AFTER} times within {timeout:g}s after the work "
                               "settled: the series may lack the last seconds")  # fmt: skip

    def _save_pressure(self, psi: PressureSampler) -> None:
        psi.stop()
        why = psi.save(self.out / "host_pressure.csv")
        if why is not None:
            self.journal.add_missing("host_pressure.csv", why)

    def _close_phases(self) -> None:
        now = time.time()
        for ph in self.journal.phases:
            if ph.start is not None and ph.end is None:
                ph.end = now

    def _snapshot_audit(self, name: str) -> None:
        try:
            snapshot = self.stack.audit()
        except HarnessError as exc:
            self.journal.add_missing(name, str(exc))
            return
        (self.out / name).write_text(json.dumps(snapshot))

    # -- after the run -------------------------------------------------------------------------

    def _expectations(self) -> list[Any]:
        """The scenario's expectations, plus a secret_leak check when the target has a secrets
        folder here and the scenario neither lists one nor opts out (`secret_leak: none`)."""
        from harness.checks.secret_leak import with_default

        has = self._secret_values() is not None
        return with_default(self.scenario.expect, self.scenario.secret_leak, has)

    def _secret_values(self) -> dict[str, list[str]] | None:
        """The target's secret values (in memory); None without a stack or a secrets folder."""
        values = getattr(self.stack, "secret_values", None)
        return values() if callable(values) else None

    def _finish(self, tail: RequestTail | None, aborted: str | None, error: str | None) -> None:
        from harness.checks import RunData, run_checks, series_queries
        from harness.checks.host import judge as judge_overload

        j = self.journal
        end_of_load = time.time()
        settle = max([getattr(e, "settle_within", 0) or 0 for e in self.scenario.expect] + [10.0])
        if self.stack is not None and error is None:
            with j.step("settle_after"):
                waited = self.stack.wait_sagas_settled(settle + 10.0, raise_on_timeout=False)
            settled = time.time()
            j.event("settle", f"sagas settled {waited:.1f}s after load stopped")
            with j.step("audit_after"):
                self._snapshot_audit("audit_after.json")
            with j.step("scrape_wait"):
                self._wait_scrapes(settled)
            queries = {
                **self.stack.series_queries(),
                **series_queries(self.scenario.expect, facts=self.stack.facts),
                **steady_queries(self.steady),
            }
            prom = PrometheusQuery(self.stack.prometheus_url())
            with j.step("collect"):
                collect(
                    prom,
                    queries,
                    (j.started_at or end_of_load) - 2,
                    time.time(),
                    self.out / "prom",
                    j.add_missing,
                )
        if self.stack is not None:
            with j.step("evidence"):
                self._save_evidence((j.started_at or end_of_load), time.time())
        if tail is not None:
            tail.poll()
            j.load.requests = tail.stats.requests
            j.load.failures = tail.stats.failures
        j.ended_at = time.time()
        inconclusive = False
        if error is None and self.not_steady:
            pass  # the faults were held back: the expectations would judge nothing
        elif error is None:
            with j.step("checks"):
                data = RunData.load(self.out, journal=j, facts=self.stack.facts)
                data.secret_values = self._secret_values()
                data.log_files = self.stack.log_files()
                for result in run_checks(self._expectations(), data):
                    j.add_check(result)
                if self.steady:
                    after = after_window(data)
                    first = min((w.start for w in data.fault_windows()), default=None)
                    if after is not None:
                        data.windows[WINDOW] = after
                    if first is not None:
                        data.windows[BASELINE] = (data.clock_start, first)
                    for result in run_steady(self.steady, data, "after"):
                        j.add_check(result)
            inconclusive = judge_overload(j, data)
            if self.stack is not None and j.failed_checks():
                with j.step("offender_traces"):
                    add_offender_traces(j, self.stack, self.out,
                                        lambda: self.engine.settings.timeouts.http * 3)  # fmt: skip
        j.verdict = final_verdict(
            j.checks,
            aborted=aborted is not None and not self.not_steady,
            not_steady=self.not_steady,
            inconclusive=inconclusive,
            error=error is not None,
        )
        self._save()
