"""Discovery: a dead instance leaves the registry and every caller's view; clients recover; a
restarted instance comes back and takes traffic.

Reads the harness's own registry poll (``registry.csv``: t, service, instance, incarnation, one
row per present key per poll, in the layout the target profile's ``registry`` names),
``discovery_seen`` (``{caller, callee_instance}``, > 0 while the caller sees the instance: the
profile's ``discovery.seen``), ``outbound_requests`` (ok calls reaching the instance: the
profile's ``calls``) and the client requests. Incarnation-aware: the key of an instance
restarted sooner than the lease TTL never disappears, but its incarnation changes, and that is
the old process leaving.

With ``registry: none`` there is no registry to poll: membership comes from process state and
Prometheus' scrape health instead. An instance is present while its ``up`` is 1, and each
restart the journal records (a ``restart`` fault, or the revert of a ``crash`` / ``stop``)
begins a new incarnation; a paused process keeps its own. "Left" then means Prometheus could
no longer scrape it, "returns" that it scrapes again (as a new incarnation after a restart).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, StrictFloat

from harness.checks.base import (
    FAIL,
    PASS,
    UNKNOWN,
    CheckResult,
    FaultWindow,
    RunData,
    combine,
    increases,
    make_unknown,
    scrape_interval,
    secs,
    select,
)
from harness.checks.kind import CheckKind, ExpectModel
from harness.durations import Duration
from harness.facts import service_of
from harness.faults.kinds import PROCESS_KINDS

ERROR_WINDOW = 5.0  # seconds of requests behind each error-rate sample
MIN_WINDOW_REQUESTS = 5


class DiscoveryExpect(ExpectModel):
    type: Literal["discovery"] = "discovery"
    instance: str
    leaves_within: Duration | None = None
    recovers_within: Duration | None = None
    returns_within: Duration | None = None
    baseline_margin: StrictFloat = Field(default=0.02, ge=0, le=1)

    def label(self) -> str:
        return self.name or f"discovery {self.instance}"


def check(expect: DiscoveryExpect, data: RunData) -> CheckResult:
    x = expect.instance
    parts = []
    if expect.leaves_within is not None:
        parts.append(f"leaves the registry and callers' views within {secs(expect.leaves_within)}")
    if expect.recovers_within is not None:
        parts.append(f"client error rate back to baseline + {expect.baseline_margin:.0%} within "
                     f"{secs(expect.recovers_within)}")  # fmt: skip
    if expect.returns_within is not None:
        parts.append(f"registered again and serving within {secs(expect.returns_within)} "
                     "of its restart")  # fmt: skip
    result = CheckResult(expect.label(), "discovery", PASS, f"{x} " + "; ".join(parts),
                         allow_unknown=expect.allow_unknown)  # fmt: skip
    faults = [w for w in data.fault_windows() if w.kind in PROCESS_KINDS and w.target == x]
    if not faults:
        return make_unknown(result, f"no process fault on {x} in the journal")
    fault = faults[0]
    measured: list[str] = []
    verdicts = []
    m = membership(data)
    reg = m.of(x)
    inc0 = left_t = None
    if reg is not None:
        before = reg[reg["t"] <= fault.start]
        inc0 = str(before["incarnation"].iloc[-1]) if not before.empty else None
        if inc0 is not None:
            left_t = _left(m, reg, inc0, fault.start)
    if expect.leaves_within is not None:
        verdicts.append(_leaves(expect, data, result, fault, m, reg, inc0, left_t, measured))
    if expect.recovers_within is not None:
        verdicts.append(_recovers(expect, data, result, fault, measured))
    if expect.returns_within is not None:
        verdicts.append(_returns(expect, data, result, fault, m, reg, inc0, left_t, measured))
    result.verdict = combine(verdicts)
    result.measured = "; ".join(measured)
    return result


@dataclass(frozen=True)
class Membership:
    """Who was present when: one row per present instance per poll (t, service, instance,
    incarnation), the poll times, where it comes from (for evidence), and why it is missing."""

    rows: pd.DataFrame | None
    polls: np.ndarray
    where: str  # "the registry" or "the scraped targets"
    why_missing: str = ""

    def of(self, instance: str) -> pd.DataFrame | None:
        if self.rows is None:
            return None
        return self.rows[self.rows["instance"] == instance].sort_values("t", kind="stable")

    def step(self) -> float:
        return float(np.median(np.diff(self.polls))) if len(self.polls) > 1 else 1.0


def membership(data: RunData) -> Membership:
    """The registry poll; with ``registry: none``, process state and Prometheus' ``up``."""
    if data.facts is not None and data.facts.registry == "none":
        return _scraped(data)
    reg = data.registry
    why = f"registry poll missing ({data.missing.get('registry.csv', '')})"
    if reg is None or "instance" not in reg.columns:
        return Membership(None, np.array([]), "the registry", why)
    return Membership(reg, np.unique(reg["t"].to_numpy(dtype=float)), "the registry", why)


def _scraped(data: RunData) -> Membership:
    where = "the scraped targets"
    up = data.series("up")
    if up is None or "instance" not in up.columns:
        why = f"no registry, and scrape health not measured ({data.why_missing('up')})"
        return Membership(None, np.array([]), where, why)
    restarts: dict[str, list[float]] = {}
    for w in data.fault_windows():
        if w.kind == "pause":
            continue  # the same process resumes
        at = w.start if w.kind == "restart" else w.reverted_at
        if w.kind in PROCESS_KINDS and at is not None:
            restarts.setdefault(w.target, []).append(at)
    rows = up[up["value"] >= 1].copy()
    rows["service"] = [service_of(str(i)) for i in rows["instance"]]
    rows["incarnation"] = [
        str(sum(1 for r in restarts.get(str(i), []) if r <= t))
        for i, t in zip(rows["instance"], rows["t"], strict=True)
    ]
    polls = np.unique(up["t"].to_numpy(dtype=float))
    return Membership(rows[["t", "service", "instance", "incarnation"]], polls, where)


def _left(m: Membership, reg: pd.DataFrame, inc0: str, since: float) -> float | None:
    """First poll after `since` without incarnation `inc0` of the instance."""
    present = {float(t) for t in reg[reg["incarnation"] == inc0]["t"]}
    for t in m.polls:
        if t > since and t not in present:
            return float(t)
    return None


def _leaves(
    expect: DiscoveryExpect, data: RunData, result: CheckResult, fault: FaultWindow,
    m: Membership, reg: pd.DataFrame | None, inc0: str | None, left_t: float | None,
    measured: list[str],
) -> str:  # fmt: skip
    x, limit, what, where = (
        expect.instance,
        expect.leaves_within or 0.0,
        f"the {fault.kind}",
        m.where,
    )
    if reg is None:
        result.evidence.append(m.why_missing)
        return UNKNOWN
    if inc0 is None:
        result.evidence.append(f"{x} was not in {where} before {what}")
        return UNKNOWN
    verdicts = []
    if left_t is None:
        result.violation_at = fault.start + limit
        result.evidence.append(f"{x} (incarnation {inc0}) never left {where} after {what} "
                               f"at {data.rel(fault.start)} (limit {secs(limit)})")  # fmt: skip
        measured.append(f"never left {where}")
        return FAIL
    took = left_t - fault.start
    result.details["left_registry_after_s"] = took
    measured.append(f"left {where} after {secs(took)}")
    result.evidence.append(f"{x} (incarnation {inc0}) left {where} {secs(took)} after "
                           f"{what} (limit {secs(limit)})")  # fmt: skip
    if took > limit + m.step():
        result.violation_at = fault.start + limit
        verdicts.append(FAIL)
    # A new incarnation at or after the moment the old one left: callers need not drop the
    # instance if it was replaced in place (restarted within the TTL: the key was overwritten)
    # or back before the limit ran out (a caller may drop a dead instance as late as the limit).
    back = reg[(reg["t"] >= left_t) & (reg["incarnation"] != inc0)]
    back_t = float(back["t"].iloc[0]) if not back.empty else None
    if back_t == left_t:
        result.evidence.append(f"{x} was replaced in place by a new incarnation; callers' "
                               "views are not expected to drop it")  # fmt: skip
        return combine(verdicts)
    if back_t is not None and back_t < fault.start + limit:
        result.evidence.append(f"{x} was back in {where} (new incarnation) "
                               f"{secs(back_t - fault.start)} after {what}, within the limit; "
                               "callers' views are not expected to drop it")  # fmt: skip
        return combine(verdicts)
    verdicts.append(_views(expect, data, result, fault, limit, measured))
    return combine(verdicts)


def _views(
    expect: DiscoveryExpect, data: RunData, result: CheckResult, fault: FaultWindow,
    limit: float, measured: list[str],
) -> str:  # fmt: skip
    x = expect.instance
    seen = data.series("discovery_seen")
    if seen is None:
        result.evidence.append(
            f"callers' views not measured ({data.why_missing('discovery_seen')})"
        )
        return UNKNOWN
    seen = select(seen, callee_instance=x)
    if seen.empty:
        result.evidence.append(f"no discovery_seen series for {x}")
        return UNKNOWN
    lag = scrape_interval(seen)
    keys = [c for c in ("caller", "instance") if c in seen.columns]
    worst, verdict = 0.0, PASS
    for labels, g in seen.groupby(keys, sort=True):
        who = " ".join(labels) if isinstance(labels, tuple) else str(labels)
        later = g[g["t"] > fault.start].sort_values("t")
        gone = later[later["value"] <= 0]
        if gone.empty:
            result.violation_at = result.violation_at or fault.start + limit
            result.evidence.append(f"{who} still saw {x} after {the(fault)} "
                                   f"(limit {secs(limit)})")  # fmt: skip
            verdict = FAIL
            continue
        took = float(gone["t"].iloc[0]) - fault.start
        worst = max(worst, took)
        if took > limit + lag:
            result.violation_at = result.violation_at or fault.start + limit
            result.evidence.append(f"{who} dropped {x} only {secs(took)} after {the(fault)} "
                                   f"(limit {secs(limit)})")  # fmt: skip
            verdict = FAIL
    measured.append(f"dropped from every caller's view within {secs(worst)}")
    return verdict


def the(fault: FaultWindow) -> str:
    return f"the {fault.kind}"


def _recovers(
    expect: DiscoveryExpect, data: RunData, result: CheckResult, fault: FaultWindow,
    measured: list[str],
) -> str:  # fmt: skip
    req = data.requests
    start, end = data.scenario_window()
    later = [w.start for w in data.fault_windows() if w.start > fault.start]
    end = min([end, *later])
    base = req[(req["t"] >= start) & (req["t"] < fault.start)]
    if base.empty:
        result.evidence.append("no client requests before the fault to take a baseline from")
        return UNKNOWN
    baseline = 1.0 - float(base["ok"].mean())
    bound = baseline + expect.baseline_margin
    after = req[(req["t"] >= fault.start) & (req["t"] < end)]
    if after.empty:
        result.evidence.append(f"no client requests after {the(fault)}")
        return UNKNOWN
    t = after["t"].to_numpy(dtype=float)
    failed = ~after["ok"].to_numpy(dtype=bool)
    last_bad: float | None = None
    for w0 in np.arange(fault.start, max(fault.start, end - ERROR_WINDOW) + 1e-9, 1.0):
        in_w = (t >= w0) & (t < w0 + ERROR_WINDOW)
        n = int(in_w.sum())
        if n >= MIN_WINDOW_REQUESTS and failed[in_w].sum() / n > bound:
            last_bad = float(t[in_w & failed].max())
    limit = expect.recovers_within or 0.0
    took = 0.0 if last_bad is None else last_bad - fault.start
    result.details.update(baseline_error_rate=baseline, recovered_after_s=took)
    text = (f"client error rate back under {bound:.1%} (baseline {baseline:.1%} + "
            f"{expect.baseline_margin:.0%}) {secs(took)} after {the(fault)} "
            f"(limit {secs(limit)})")  # fmt: skip
    result.evidence.append(text)
    measured.append(f"clients recovered after {secs(took)}")
    if took > limit + 1.0:
        result.violation_at = result.violation_at or fault.start + limit
        return FAIL
    return PASS


def _returns(
    expect: DiscoveryExpect, data: RunData, result: CheckResult, fault: FaultWindow,
    m: Membership, reg: pd.DataFrame | None, inc0: str | None, left_t: float | None,
    measured: list[str],
) -> str:  # fmt: skip
    x, limit = expect.instance, expect.returns_within or 0.0
    restart_t = fault.start if fault.kind == "restart" else fault.reverted_at
    if restart_t is None:
        result.evidence.append(f"{x} was never restarted or resumed")
        return UNKNOWN
    if reg is None:
        result.evidence.append(m.why_missing)
        return UNKNOWN
    again = "registered again" if m.where == "the registry" else f"back in {m.where}"
    back = reg[reg["t"] >= restart_t]
    if fault.kind == "pause":
        # the same process resumes: same incarnation, present again after it had left
        back = back[back["t"] > (left_t or restart_t)]
    elif inc0 is not None:
        back = back[back["incarnation"] != inc0]
    verdicts = []
    if back.empty:
        result.violation_at = result.violation_at or restart_t + limit
        result.evidence.append(f"{x} never {again} after its restart at "
                               f"{data.rel(restart_t)} (limit {secs(limit)})")  # fmt: skip
        measured.append(f"never {again}")
        return FAIL
    reg_t = float(back["t"].iloc[0])
    inc1 = str(back["incarnation"].iloc[0])
    calls = data.series("outbound_requests")
    if calls is None:
        result.evidence.append(f"traffic to {x} not measured "
                               f"({data.why_missing('outbound_requests')})")  # fmt: skip
        return UNKNOWN
    ok = select(calls, callee_instance=x, outcome="ok")
    inc = increases(ok, data.prom_start())
    served = inc[inc["t"] > restart_t]
    if served.empty:
        result.violation_at = result.violation_at or restart_t + limit
        result.evidence.append(f"{x} {again} (incarnation {inc1}) "
                               f"{secs(reg_t - restart_t)} after its restart but never served "
                               "an ok call")  # fmt: skip
        measured.append("never served again")
        return FAIL
    served_t = float(served["t"].iloc[0])
    took = max(reg_t, served_t) - restart_t
    result.details["returned_after_s"] = took
    measured.append(f"back and serving after {secs(took)}")
    result.evidence.append(f"{x} {again} (incarnation {inc1}) {secs(reg_t - restart_t)} "
                           f"after its restart and served ok calls {secs(served_t - restart_t)} "
                           f"after it (limit {secs(limit)})")  # fmt: skip
    lag = max(scrape_interval(ok), m.step())
    if took > limit + lag:
        result.violation_at = result.violation_at or restart_t + limit
        verdicts.append(FAIL)
    return combine(verdicts)


KIND = CheckKind(
    name="discovery",
    model=DiscoveryExpect,
    check=check,
    series=("discovery_seen", "outbound_requests", "up"),
    data="`registry.csv` (with `registry: none`: `up` and the journal), `requests.jsonl`",
)
