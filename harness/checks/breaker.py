"""Circuit breakers: open on the faulted link, hold traffic back while open, close after revert.

Reads three Prometheus keys, in the canonical labels the target profile maps the system's
own series onto (harness/profile.py: ``breaker.transitions``, ``breaker.state``, ``calls``):

- ``breaker_transitions``: a counter ``{caller, callee, callee_instance, to_state}``.
  Increases between samples are transitions, so a whole open -> half_open -> closed cycle
  inside one scrape is still seen; counter resets are handled.
- ``breaker_state``: a gauge (0 closed, 1 open, 2 half-open), a fallback and a second witness
  (a gauge alone can miss short states).
- ``outbound_requests``: a counter ``{caller, callee, callee_instance, outcome}``: calls that
  reached the callee while the breaker was open (``outcome="breaker_open"``: refused, never
  sent).

A series the profile does not map, or that Prometheus never returned, makes the check
"unknown" with the reason (``RunData.why_missing``).

Times carry the scrape interval as slack: a transition seen in a sample happened in the
interval before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd
from pydantic import Field, StrictInt

from harness.checks.base import (
    FAIL,
    PASS,
    UNKNOWN,
    CheckResult,
    FaultWindow,
    RunData,
    combine,
    increases,
    scrape_interval,
    secs,
    select,
)
from harness.checks.kind import CheckKind, ExpectModel
from harness.durations import Duration
from harness.facts import LINK_RE, norm_link, service_of, split_link
from harness.faults.kinds import PROCESS_KINDS

OPEN_STATES = ("open", "1", "1.0")
STATE_NAMES = {0: "closed", 1: "open", 2: "half_open"}


@dataclass(frozen=True)
class Transition:
    t: float
    caller: str
    callee: str
    callee_instance: str
    to_state: str
    scraped_from: str | None = None  # the Prometheus `instance` label: who reported it


class BreakerExpect(ExpectModel):
    type: Literal["breaker"] = "breaker"
    link: str = Field(pattern=LINK_RE)
    opens_within: Duration = 5.0
    closes_within: Duration = 15.0
    max_calls_while_open: StrictInt | None = Field(default=None, ge=0)
    others_stay_closed: bool = True

    def label(self) -> str:
        return self.name or f"breaker {norm_link(self.link)}"


def transitions(data: RunData) -> list[Transition] | None:
    """Every breaker transition, from the counter and, failing that, from the state gauge."""
    out: list[Transition] = []
    counter = data.series("breaker_transitions")
    gauge = data.series("breaker_state")
    if counter is None and gauge is None:
        return None
    if counter is not None:
        inc = increases(counter, data.prom_start())
        for row in inc.itertuples(index=False):
            r = row._asdict()
            out.append(Transition(float(r["t"]), str(r.get("caller")), str(r.get("callee")),
                                  str(r.get("callee_instance")), _state(r.get("to_state")),
                                  r.get("instance")))  # fmt: skip
    if gauge is not None:
        out += _gauge_changes(gauge)
    return sorted(out, key=lambda x: x.t)


def _state(value: object) -> str:
    s = str(value).lower().replace("-", "_")
    return "half_open" if s in ("half_open", "halfopen", "2") else s


def _gauge_changes(gauge: pd.DataFrame) -> list[Transition]:
    keys = [c for c in ("caller", "callee", "callee_instance", "instance") if c in gauge.columns]
    out = []
    for labels, g in gauge.groupby(keys, sort=False):
        lab = dict(zip(keys, labels if isinstance(labels, tuple) else (labels,), strict=True))
        g = g.sort_values("t")
        prev = None
        for t, v in zip(g["t"], g["value"], strict=True):
            state = STATE_NAMES.get(round(v), "closed")
            if prev is not None and state != prev:
                out.append(Transition(float(t), str(lab.get("caller")), str(lab.get("callee")),
                                      str(lab.get("callee_instance")), state,
                                      lab.get("instance")))  # fmt: skip
            prev = state
    return out


def _on_link(tr: Transition, caller: str, callee: str) -> bool:
    if tr.caller != caller:
        return False
    return tr.callee_instance == callee or tr.callee == callee


def _touches(w: FaultWindow, caller: str, callee_instance: str) -> bool:
    """Whether fault window `w` can open the breaker caller -> callee_instance."""
    callee_service = service_of(callee_instance)
    if w.kind in PROCESS_KINDS:
        return w.target == callee_instance
    if w.kind == "partition":
        side = {m: i for i, g in enumerate(w.target.split("|")) for m in g.split(",")}
        a = side.get(caller)
        b = side.get(callee_instance, side.get(callee_service))
        return a is not None and b is not None and a != b
    if "->" in w.target:
        fc, fe = split_link(w.target)
        return fc == caller and fe in (callee_service, callee_instance)
    return False


def check(expect: BreakerExpect, data: RunData) -> CheckResult:
    caller, callee = split_link(expect.link)
    link = f"{caller}->{callee}"
    expected = f"opens within {secs(expect.opens_within)} of the fault; closes within " \
        f"{secs(expect.closes_within)} of its revert"  # fmt: skip
    if expect.max_calls_while_open is not None:
        expected += f"; at most {expect.max_calls_while_open} calls while open"
    if expect.others_stay_closed:
        expected += "; breakers on links no fault touches stay closed"
    result = CheckResult(expect.label(), "breaker", PASS, expected,
                         allow_unknown=expect.allow_unknown)  # fmt: skip
    trs = transitions(data)
    if trs is None:
        reason = f"no breaker series ({data.why_missing('breaker_transitions')})"
        result.verdict, result.measured = UNKNOWN, f"unknown: {reason}"
        result.evidence.append(reason)
        return result
    counter = data.series("breaker_transitions")
    lag = scrape_interval(counter if counter is not None else data.series("breaker_state"))
    faults = [w for w in data.fault_windows() if _touches_link_any(w, caller, callee)]
    if not faults:
        reason = f"no injected fault touches {link} in the journal"
        result.verdict, result.measured = UNKNOWN, f"unknown: {reason}"
        result.evidence.append(reason)
        return result
    fault = faults[0]
    on_link = [t for t in trs if _on_link(t, caller, callee)]
    verdicts = [_opens_and_closes(expect, data, result, fault, on_link, lag, link)]
    if expect.others_stay_closed:
        verdicts.append(_others(data, result, trs))
    result.verdict = combine(verdicts)
    return result


def _touches_link_any(w: FaultWindow, caller: str, callee: str) -> bool:
    if _touches(w, caller, callee):
        return True
    # a service-level link: a fault on any one of its instances counts
    return w.kind in PROCESS_KINDS and service_of(w.target) == callee


def _opens_and_closes(
    expect: BreakerExpect, data: RunData, result: CheckResult, fault: FaultWindow,
    on_link: list[Transition], lag: float, link: str,
) -> str:  # fmt: skip
    verdicts = []
    opened = [t for t in on_link if t.to_state == "open" and fault.start <= t.t <= fault.end + lag]
    what = f"the {fault.kind} fault"
    if not opened:
        result.measured = f"never opened during {what} ({data.rel(fault.start)} to " \
            f"{data.rel(fault.end)})"  # fmt: skip
        result.violation_at = fault.start + expect.opens_within
        result.evidence.append(f"breaker {link} never opened during {what} "
                               f"({data.rel(fault.start)} to {data.rel(fault.end)})")  # fmt: skip
        return FAIL
    first = opened[0]
    took = first.t - fault.start
    result.details["opened_after_s"] = took
    measured = [f"opened after {secs(took)}"]
    result.evidence.append(
        f"breaker {first.caller}->{first.callee_instance} opened {secs(took)} after {what} "
        f"(limit {secs(expect.opens_within)})"
    )
    if took > expect.opens_within + lag:
        result.violation_at = fault.start + expect.opens_within
        verdicts.append(FAIL)

    # Each instance whose breaker opened must be closed again within the bound.
    horizon = fault.end + expect.closes_within + 2 * lag
    worst = 0.0
    for inst in sorted({t.callee_instance for t in opened}):
        mine = [t for t in on_link if t.callee_instance == inst and fault.start <= t.t <= horizon]
        last_open = max((t.t for t in mine if t.to_state != "closed"), default=first.t)
        closes = [t for t in mine if t.to_state == "closed" and t.t >= last_open]
        name = f"{first.caller}->{inst}"
        if not closes:
            result.violation_at = result.violation_at or fault.end + expect.closes_within
            result.evidence.append(
                f"breaker {name} still not closed {secs(horizon - fault.end)} after {what} "
                f"was reverted at {data.rel(fault.end)} (limit {secs(expect.closes_within)})"
            )
            measured.append(f"{inst} never closed")
            verdicts.append(FAIL)
            continue
        took_close = max(0.0, closes[0].t - fault.end)
        worst = max(worst, took_close)
        result.evidence.append(
            f"breaker {name} closed {secs(took_close)} after {what} was reverted "
            f"(limit {secs(expect.closes_within)})"
        )
        if took_close > expect.closes_within + lag:
            result.violation_at = result.violation_at or fault.end + expect.closes_within
            verdicts.append(FAIL)
        if expect.max_calls_while_open is not None:
            verdicts.append(_calls_while_open(expect, data, result, first.t, closes[0].t, inst))
    measured.append(f"closed within {secs(worst)} of the revert")
    result.details["closed_after_s"] = worst
    result.measured = "; ".join(measured)
    return combine(verdicts)


def _calls_while_open(
    expect: BreakerExpect, data: RunData, result: CheckResult, opened: float, closed: float,
    inst: str,
) -> str:  # fmt: skip
    frame = data.series("outbound_requests")
    caller, _ = split_link(expect.link)
    if frame is None:
        result.evidence.append(f"calls while open not measured "
                               f"({data.why_missing('outbound_requests')})")  # fmt: skip
        return UNKNOWN
    frame = select(frame, caller=caller, callee_instance=inst)
    if "outcome" in frame.columns:
        frame = frame[frame["outcome"] != "breaker_open"]
    inc = increases(frame, data.prom_start())
    # samples after the one that saw the breaker open, up to the one that saw it close
    calls = float(inc[(inc["t"] > opened) & (inc["t"] < closed)]["increase"].sum())
    result.details.setdefault("calls_while_open", {})[inst] = calls
    limit = expect.max_calls_while_open
    text = f"{inst} got {calls:g} calls from {caller} while its breaker was open " \
        f"({data.rel(opened)} to {data.rel(closed)}, limit {limit})"  # fmt: skip
    result.evidence.append(text)
    return FAIL if limit is not None and calls > limit else PASS


def _others(data: RunData, result: CheckResult, trs: list[Transition]) -> str:
    start, end = data.scenario_window()
    windows = data.fault_windows()
    paused = {w.target for w in windows if w.kind == "pause"}
    bad = []
    for t in trs:
        if t.to_state != "open" or not start <= t.t <= end + 2.0:
            continue
        if any(_touches(w, t.caller, t.callee_instance) for w in windows):
            continue
        # On SIGCONT a paused instance's own deadlines all fire at once and may open its
        # breakers (DESIGN-NOTES, "Processes and the registry"): not a leak of the fault.
        if t.scraped_from in paused:
            continue
        bad.append(t)
    seen = set()
    for t in bad:
        key = (t.caller, t.callee_instance)
        if key in seen:
            continue
        seen.add(key)
        result.evidence.append(
            f"breaker {t.caller}->{t.callee_instance} opened at {data.rel(t.t)}; "
            "no fault touched that link"
        )
    if bad:
        result.violation_at = result.violation_at or bad[0].t
        result.measured += f"; {len(seen)} other breaker(s) opened"
        return FAIL
    return PASS


KIND = CheckKind(
    name="breaker",
    model=BreakerExpect,
    check=check,
    series=("breaker_state", "breaker_transitions", "outbound_requests"),
)
