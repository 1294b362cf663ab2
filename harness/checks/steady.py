"""The steady-state hypothesis: the system is healthy before the faults and again after them.

Judged over a window the runner names: ``steady`` (before the faults: from the clock's start to
the moment the first fault is due; after: :func:`after_window`, the last ``AFTER_WINDOW``
seconds of the last phase, reaching back for ``MIN_SAMPLES`` requests but never to within
``SETTLE_MARGIN`` of a fault's end, so the recovery itself is not judged as steady), with
``steady-baseline`` (the window before the first fault) to compare the after-window's p99
against. Percentiles are ``harness.checks.latency``'s, as the slo check's. Parts, each
switchable:

- error rate of the requests that started and ended in the window <= ``max_error_rate``;
- p99 <= ``max_p99`` and, after recovery, <= ``p99_margin`` x the baseline's p99 (+ 50 ms, a
  scheduling floor so a 10 ms baseline does not make 31 ms a failure);
- every breaker closed at the end of the window (``breaker_state``, last sample; a target whose
  mapped breaker series has no sample has none open; one whose profile maps none is "unknown":
  a system without breakers says ``breakers_closed: false``);
- every running instance in the registry at its last poll, and seen by each of its callers
  (``discovery_seen``, last sample). An instance that a fault still holds down at the end of
  the window (crash or stop not yet restarted, pause not yet resumed) is not expected. With
  ``registry: none``: every running instance scraped (``up`` 1), and seen by its callers only
  where the target profile maps ``discovery.seen``.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd

from harness.checks.base import FAIL, PASS, UNKNOWN, CheckResult, RunData, combine
from harness.checks.kind import CheckKind, ExpectModel
from harness.checks.latency import MIN_SAMPLES, latency_failed, reach_back, sample_note
from harness.checks.promql import check as promql_check
from harness.checks.promql import promql_key
from harness.checks.slo import check as slo_check
from harness.checks.slo import phase_stats
from harness.durations import format_duration
from harness.facts import SteadyParams, TopologyFacts

STEADY_KINDS = ("steady", "slo", "promql")  # what a steady-state entry can be


class SteadyExpect(ExpectModel, SteadyParams):
    type: Literal["steady"] = "steady"

    def label(self) -> str:
        return self.name or "steady state"


WINDOW = "steady"
# After recovery, the last seconds of the last phase: requests right after a revert still
# carry the fault (measured: p99 320 ms in the first 2 s after a 1.5 s latency, 76 ms after).
AFTER_WINDOW = 5.0
# ... and when those hold fewer than MIN_SAMPLES requests (16 requests/s in the bundled suite:
# about 80), the window reaches back within the last phase, but never to within this margin of
# a fault's end: the 2 s tail above, and the shop's breakers stay open 2 s before a probe.
SETTLE_MARGIN = 5.0
PROMQL_PREFIX = "steady_promql_"
BASELINE = "steady-baseline"
P99_FLOOR_MS = 50.0
_HOLDS_DOWN = ("crash", "stop", "pause")


def check(expect: SteadyExpect, data: RunData, stage: str = "before") -> CheckResult:
    """`stage`: ``before`` (the faults are held back if this fails) or ``after``."""
    window = data.phase_window(WINDOW)
    title = f"{expect.label()} {'before the faults' if stage == 'before' else 'after recovery'}"
    parts = [f"error rate <= {expect.max_error_rate:g}"]
    if expect.max_p99 is not None:
        parts.append(f"p99 <= {format_duration(expect.max_p99)}")
    if stage == "after":
        parts.append(f"p99 <= {expect.p99_margin:g} x baseline p99")
    if expect.breakers_closed:
        parts.append("every breaker closed")
    if expect.registered:
        parts.append("every running instance registered and seen by its callers")
    result = CheckResult(
        title, "steady", PASS, "; ".join(parts), allow_unknown=expect.allow_unknown
    )
    result.details["stage"] = stage
    if window is None:
        result.verdict, result.measured = UNKNOWN, "unknown: no steady-state window"
        result.evidence.append("the runner named no steady-state window")
        return result
    measured: list[str] = []
    verdicts = [_requests(expect, data, stage, result, measured)]
    if expect.breakers_closed:
        verdicts.append(_breakers(data, window[1], result, measured))
    if expect.registered:
        verdicts.append(_registered(data, window[1], result, measured))
    if any(v != PASS for v in verdicts[1:]):
        result.details["other_failed"] = True  # not latency: no host stall excuses it
    result.verdict = combine(verdicts)
    result.measured = "; ".join(measured)
    if result.verdict == FAIL:
        result.violation_at = window[1]
        if stage == "after":
            result.evidence.insert(0, "did not return to steady state")
        else:
            result.evidence.insert(0, "the stack was not steady when the scenario began")
    return result


def after_floor(data: RunData, phase_start: float) -> float:
    """How far back the after-recovery window may reach: the last phase's start, and no
    nearer than ``SETTLE_MARGIN`` to the end of any fault (one still in force at the scenario's
    end keeps the window at its ``AFTER_WINDOW`` seconds)."""
    ends = [w.end + SETTLE_MARGIN for w in data.fault_windows()]
    return max([phase_start, *ends])


def after_window(data: RunData) -> tuple[float, float] | None:
    """The window the hypothesis is judged over after recovery: the last ``AFTER_WINDOW`` s of
    the last phase, reaching back to hold ``MIN_SAMPLES`` requests (never before
    :func:`after_floor`). None without phases."""
    if not data.journal.phases:
        return None
    last = data.phase_window(data.journal.phases[-1].name)
    if last is None:
        return None
    start, end = max(last[0], last[1] - AFTER_WINDOW), last[1]
    return reach_back(data, start, end, after_floor(data, last[0])), end


def _requests(
    expect: SteadyExpect, data: RunData, stage: str, result: CheckResult, measured: list[str]
) -> str:
    stats = phase_stats(data, WINDOW)
    if stats is None or not stats["n"]:
        result.evidence.append("no request started and ended in the window")
        result.details["other_failed"] = True
        return UNKNOWN
    verdict = PASS
    n = stats["n"]
    error_rate = 1.0 - stats["success_rate"]
    p99 = stats["p99"]
    start, end = data.phase_window(WINDOW)  # type: ignore[misc]
    measured.append(
        f"{n:.0f} requests over {end - start:.1f} s, error rate {error_rate:.3f}, p99 {p99:.0f} ms"
    )
    result.details.update(window=[start, end], requests=int(n), p99_ms=p99)
    note = sample_note(n) if stage == "after" or expect.max_p99 is not None else None
    if note is not None:
        if stage == "after":
            note += (
                f"; the window reaches back no further than {data.rel(start)} (the last "
                f"phase's start, or {SETTLE_MARGIN:g} s after a fault's end): judged over these"
            )
        result.evidence.append(note)
    if error_rate > expect.max_error_rate:
        result.evidence.append(
            f"error rate {error_rate:.3f} over {n:.0f} requests (bound {expect.max_error_rate:g})"
        )
        result.details["other_failed"] = True
        verdict = FAIL
    if expect.max_p99 is not None and p99 > expect.max_p99 * 1000:
        result.evidence.append(f"p99 {p99:.0f} ms (bound {format_duration(expect.max_p99)})")
        latency_failed(result, (start, end), "p99", expect.max_p99 * 1000)
        verdict = FAIL
    if stage == "after":
        base = phase_stats(data, BASELINE)
        if base is None or not base["n"]:
            result.evidence.append("no baseline requests to compare p99 with")
            result.details["other_failed"] = True
            return combine([verdict, UNKNOWN])
        bound = expect.p99_margin * base["p99"] + P99_FLOOR_MS
        result.details["baseline_p99_ms"] = base["p99"]
        result.details["baseline_requests"] = int(base["n"])
        if p99 > bound:
            result.evidence.append(
                f"p99 {p99:.0f} ms after recovery, baseline {base['p99']:.0f} ms "
                f"(bound {expect.p99_margin:g} x baseline + {P99_FLOOR_MS:.0f} ms = {bound:.0f} ms)"
            )
            if base["n"] < MIN_SAMPLES:
                result.evidence.append(
                    f"the baseline's p99 is over {base['n']:.0f} requests, fewer than "
                    f"{MIN_SAMPLES}: near its slowest request, so this bound errs generous"
                )
            latency_failed(result, (start, end), "p99", bound)
            verdict = FAIL
    return verdict


def _last(frame: pd.DataFrame, end: float, keys: list[str]) -> pd.DataFrame:
    """Each series' last sample at or before `end`."""
    frame = frame[frame["t"] <= end]
    if frame.empty:
        return frame
    return frame.sort_values("t", kind="stable").groupby(keys, sort=True).tail(1)


def _breakers(data: RunData, end: float, result: CheckResult, measured: list[str]) -> str:
    frame = data.series("breaker_state")
    unmapped = data.unmapped("breaker_state")
    if unmapped is not None:
        # nothing to judge: a system without breakers says `breakers_closed: false`
        result.evidence.append(
            f"breakers not measured ({unmapped}); a system without breakers says "
            "`breakers_closed: false`"
        )
        return UNKNOWN
    if frame is None:
        # Mapped, yet no breaker exported: none can be open. Steady state is about health; a
        # bug that leaves no breaker at all is the breaker check's to catch.
        measured.append(f"no breaker exported ({data.why_missing('breaker_state')})")
        return PASS
    keys = [c for c in ("instance", "caller", "callee_instance") if c in frame.columns]
    last = _last(frame, end, keys)
    not_closed = last[last["value"] != 0]
    measured.append(f"{len(last) - len(not_closed)}/{len(last)} breakers closed")
    for _, row in not_closed.iterrows():
        state = {1: "open", 2: "half-open"}.get(int(row["value"]), str(row["value"]))
        who = row.get("instance", row.get("caller", "?"))
        result.evidence.append(
            f"breaker {who} -> {row.get('callee_instance', '?')} was {state} at {data.rel(end)}"
        )
    return FAIL if not not_closed.empty else PASS


def expected_instances(data: RunData, end: float) -> set[str]:
    """Instances that should be up at `end`: all, less those a fault still holds down."""
    facts = data.facts
    everyone = set(facts.instances) if facts is not None else set()
    for w in data.fault_windows():
        if w.kind in _HOLDS_DOWN and w.start <= end < w.end:
            everyone.discard(w.target)
    return everyone


def _registered(data: RunData, end: float, result: CheckResult, measured: list[str]) -> str:
    facts = data.facts
    if facts is None:
        return PASS  # no topology: nothing to be registered in
    if facts.registry == "none":
        return _scraped(data, end, result, measured)
    want = expected_instances(data, end)
    verdict = PASS
    reg = data.registry
    if reg is None or reg.empty or "instance" not in reg.columns:
        result.evidence.append(f"registry not polled ({data.missing.get('registry.csv', 'empty')})")
        verdict = UNKNOWN
    else:
        polls = reg[reg["t"] <= end]
        last_t = float(polls["t"].max()) if not polls.empty else None
        if last_t is None or end - last_t > 2.0:
            when = "never" if last_t is None else f"last at {data.rel(last_t)}"
            result.evidence.append(f"the registry listed no instance near {data.rel(end)} ({when})")
            verdict = FAIL
        else:
            present = set(polls[polls["t"] == last_t]["instance"])
            missing = sorted(want - present)
            measured.append(f"{len(want & present)}/{len(want)} instances registered")
            if missing:
                result.evidence.append(
                    f"not in the registry at {data.rel(last_t)}: {', '.join(missing)}"
                )
                verdict = FAIL
    return combine([verdict, _views_seen(data, end, want, result)])


def _views_seen(data: RunData, end: float, want: set[str], result: CheckResult) -> str:
    """Every caller sees each instance in `want` at its last ``discovery_seen`` sample."""
    seen = data.series("discovery_seen")
    if seen is None:
        result.evidence.append(
            f"callers' views not measured ({data.why_missing('discovery_seen')})"
        )
        return UNKNOWN
    keys = [c for c in ("instance", "caller", "callee_instance") if c in seen.columns]
    last = _last(seen, end, keys)
    blind = last[(last["value"] <= 0) & last["callee_instance"].isin(want)]
    if not blind.empty:
        for _, row in blind.iterrows():
            who = row.get("instance", row.get("caller", "?"))
            result.evidence.append(f"{who} did not see {row['callee_instance']} at {data.rel(end)}")
        return FAIL
    return PASS


def _scraped(data: RunData, end: float, result: CheckResult, measured: list[str]) -> str:
    """Without a registry: every running instance scraped (``up`` 1 at its last sample), and
    seen by its callers where the profile maps callers' views (a system without client-side
    discovery has none to check). Instances of a service with no metrics endpoint are not
    scraped at all (an exporter beside them is)."""
    want = expected_instances(data, end)
    if data.facts is not None and data.facts.unscraped:
        instances = data.facts.instances
        want = {i for i in want if instances.get(i) not in data.facts.unscraped}
    up = data.series("up")
    if up is None or "instance" not in up.columns:
        result.evidence.append(f"scrape health not measured ({data.why_missing('up')})")
        return UNKNOWN
    last = _last(up, end, ["instance"])
    scraped = set(last[last["value"] >= 1]["instance"])
    down = sorted(want - scraped)
    measured.append(f"{len(want & scraped)}/{len(want)} instances scraped")
    verdict = PASS
    if down:
        result.evidence.append(f"not scraped (up) at {data.rel(end)}: {', '.join(down)}")
        verdict = FAIL
    if data.unmapped("discovery_seen") is not None:
        return verdict
    return combine([verdict, _views_seen(data, end, want, result)])


# ---------------------------------------------------------------------------- the hypothesis


def hypothesis(scenario: Any, facts: TopologyFacts | None) -> list[Any]:
    """The target's default hypothesis (unless the scenario says ``steady_state: none``) plus
    the scenario's own steady-state entries."""
    if scenario.steady_state == "none":
        return []
    default = facts.steady if facts is not None else None
    own = list(scenario.steady_state)
    return ([SteadyExpect.model_validate(default)] if default is not None else []) + own


def steady_queries(entries: list[Any]) -> dict[str, str]:
    """The Prometheus queries the steady-state promql entries need."""
    return {
        promql_key(e, i, PROMQL_PREFIX): e.query
        for i, e in enumerate(entries)
        if getattr(e, "type", None) == "promql"
    }


def run_steady(entries: list[Any], data: RunData, stage: str) -> list[CheckResult]:
    """Each entry judged over the ``steady`` window; labels say before or after."""
    out = []
    when = "before the faults" if stage == "before" else "after recovery"
    for i, e in enumerate(entries):
        if isinstance(e, SteadyExpect):
            out.append(check(e, data, stage))
            continue
        scoped = e.model_copy(update={"phase": WINDOW})
        if e.type == "promql":
            result = promql_check(scoped, data, promql_key(e, i, PROMQL_PREFIX))
        else:
            result = slo_check(scoped, data)
        result.name = f"steady state {when}: {e.label()}"
        result.details["stage"] = stage
        out.append(result)
    return out


def _as_expectation(expect: SteadyExpect, data: RunData, *keys: str) -> CheckResult:
    """Through the registry (a run's own steady-state judging calls `check` with its stage)."""
    return check(expect, data, "after")


KIND = CheckKind(
    name="steady",
    model=SteadyExpect,
    check=_as_expectation,
    series=("breaker_state", "discovery_seen"),
    data="`requests.jsonl`, `registry.csv`; only in `steady_state`",
)
