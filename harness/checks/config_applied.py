"""config_applied: every instance applies a live config change within a bound.

Reads the journal's `config_change` and `config_store_outage` faults (the store revision each
change made, in their `recorded`; a change pending through a store outage counts from when it
landed) and the target's version gauge (the topology's `config: version_metric`, one series
per instance, collected under the prom key ``config_version``): an instance has applied a change
once it reports a version at or above the change's revision. Every instance of the target (or
of `services`) must do so within `within` of the change (and of its revert, with
`reverted_within`), give or take one sample step. An instance that did not is named with the
last version it reported; an instance with no series, or no sample after the change, is
unknown, never a pass.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from pydantic import Field

from harness.checks.base import (
    FAIL,
    PASS,
    UNKNOWN,
    CheckResult,
    RunData,
    combine,
    make_unknown,
    scrape_interval,
    secs,
    select,
)
from harness.checks.kind import CheckKind, ExpectModel
from harness.durations import Duration
from harness.facts import TopologyFacts

KEY = "config_version"
# faults that change live settings; a config_store_outage's change counts from when it landed
CHANGE_KINDS = ("config_change", "config_store_outage")


class ConfigAppliedExpect(ExpectModel):
    type: Literal["config_applied"] = "config_applied"
    within: Duration = Field(description="every instance reports the change's version within")
    reverted_within: Duration | None = Field(
        default=None, description="and the revert's version within this of the revert"
    )
    services: list[str] | None = Field(
        default=None, min_length=1, description="only these services' instances (default: all)"
    )

    def label(self) -> str:
        return self.name or "config_applied"


def target_queries(facts: TopologyFacts) -> dict[str, str]:
    """The version gauge of a target that declares live settings."""
    return {} if facts.config is None else {KEY: facts.config.version_metric}


def check(expect: ConfigAppliedExpect, data: RunData) -> CheckResult:
    expected = f"every instance reports the change's version within {secs(expect.within)}"
    if expect.reverted_within is not None:
        expected += f", and the revert's within {secs(expect.reverted_within)}"
    result = CheckResult(expect.label(), "config_applied", PASS, expected,
                         allow_unknown=expect.allow_unknown)  # fmt: skip
    changes = [f for f in data.journal.faults if f.kind in CHANGE_KINDS and f.injected_at]
    if not changes:
        return make_unknown(
            result, "no config_change or config_store_outage fault was injected (see the journal)"
        )
    if data.facts is None:
        return make_unknown(result, "no topology facts: which instances should apply it is unknown")
    if data.facts.config is None:
        return make_unknown(result, "the target declares no `config:` (no version metric to read)")
    metric = data.facts.config.version_metric
    wanted = expect.services or list(data.facts.services)
    instances = [i for s in wanted for i in data.facts.services.get(s, [])]
    if not instances:
        return make_unknown(result, f"no instances of {', '.join(wanted)} in the target")
    frame = data.series(KEY)
    if frame is None:
        return make_unknown(
            result, f"no {metric} series for {', '.join(instances)} ({data.why_missing(KEY)})"
        )
    step = scrape_interval(frame)
    events: list[tuple[str, float, Any, float]] = []  # (what, at, revision, limit)
    for f in changes:
        assert f.injected_at is not None
        at = f.injected_at
        if f.kind == "config_store_outage":
            landed = f.recorded.get("landed_at")
            if landed is None:
                result.evidence.append(f"{f.id}: the pending change never landed")
                events.append((f"{f.id} set", at, None, expect.within))
                continue
            at = float(landed)
        events.append((f"{f.id} set", at, f.recorded.get("revision"), expect.within))
        if expect.reverted_within is not None:
            if f.reverted_at is None:
                result.evidence.append(f"{f.id} was never reverted: no revert to apply")
                events.append((f"{f.id} revert", 0.0, None, expect.reverted_within))
            else:
                revision = f.recorded.get("reverted_revision")
                events.append((f"{f.id} revert", f.reverted_at, revision, expect.reverted_within))
    verdicts: list[str] = []
    slowest: dict[str, float] = {}
    for what, at, revision, limit in events:
        if revision is None:
            verdicts.append(UNKNOWN)
            result.evidence.append(f"{what}: the journal records no store revision for it")
            continue
        late, unknown = [], []
        for inst in instances:
            verdict, took, note = _applied(frame, inst, at, int(revision), limit, step)
            verdicts.append(verdict)
            if took is not None:
                slowest[what] = max(slowest.get(what, 0.0), took)
            if verdict == FAIL:
                late.append(note)
                result.violation_at = min(result.violation_at or at + limit, at + limit)
            elif verdict == UNKNOWN:
                unknown.append(note)
        head = f"{what} (revision {revision}, {data.rel(at)})"
        if late:
            result.evidence.append(
                f"{head}: not applied within {secs(limit)} by " + "; ".join(late)
            )
        if unknown:
            result.evidence.append(f"{head}: unknown for " + "; ".join(unknown))
        if not late and not unknown:
            result.evidence.append(
                f"{head}: applied by all {len(instances)} instances, the slowest after "
                f"{secs(slowest.get(what, 0.0))} (limit {secs(limit)}, samples every {secs(step)})"
            )
    result.details["slowest_s"] = slowest
    result.verdict = combine(verdicts)
    result.measured = (
        "; ".join(f"{w}: slowest instance {secs(t)}" for w, t in slowest.items())
        or "no instance applied a change"
    )
    if result.verdict == UNKNOWN:
        result.measured = "unknown: " + result.measured
    return result


def _applied(
    frame: pd.DataFrame, instance: str, at: float, revision: int, limit: float, step: float
) -> tuple[str, float | None, str]:
    """(verdict, seconds to apply or None, a note naming the instance) for one instance."""
    rows = select(frame, instance=instance).sort_values("t", kind="stable")
    if rows.empty:
        return UNKNOWN, None, f"{instance} (no series)"
    after = rows[rows["t"] >= at]
    if after.empty:
        last = rows.iloc[-1]
        return (
            UNKNOWN,
            None,
            f"{instance} (no sample after the change; last version {last['value']:g})",
        )
    hit = after[after["value"] >= revision]
    if hit.empty:
        last = after.iloc[-1]
        return FAIL, None, f"{instance} (last applied version {last['value']:g}, never {revision})"
    took = float(hit["t"].iloc[0]) - at
    if took > limit + step:
        return FAIL, took, f"{instance} (after {secs(took)})"
    return PASS, took, instance


KIND = CheckKind(
    name="config_applied",
    model=ConfigAppliedExpect,
    check=check,
    data="the target's version gauge (topology `config: version_metric`, saved as "
    "`prom/config_version.csv`); the journal's config_change revisions",
    target_queries=target_queries,
)
