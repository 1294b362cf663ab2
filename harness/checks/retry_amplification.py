"""retry_amplification: outbound calls per entry request, in a phase against the baseline.

Reads the scenario's ``traces.json`` (Jaeger's traces of the run, saved by
``harness/infra/jaeger.py``). An **entry request** is a trace whose root (its earliest span
with no parent inside the trace) is a server span of the target's entry service; it belongs to
the phase its root started in. Traces rooted elsewhere (work a service starts on its own, such
as a re-driven saga) are not entry requests and are only counted in the evidence.

For each entry request the check counts its **outbound calls**: client spans (each attempt of a
call is one, whatever became of it on the wire), or every span with ``count: spans`` for a
target that does not trace its client calls. The baseline gives the mean count per entry
operation (the root span's name, ``POST /cart``); the phase's requests are compared with
what those means predict for the same operations, so a phase that happened to sample more of
an expensive operation is not an amplification:

    ratio = sum(calls of the phase's requests) / sum(baseline mean of each one's operation)

The check fails when the ratio exceeds ``max_ratio`` and names the traces that amplified most
(id, operation, calls against the baseline mean, calls per caller -> callee). No traces.json,
a file that does not parse, or fewer than ``min_traces`` entry requests in either window is
unknown with the reason or the count, never a pass.

Sampling: ``traces.json`` is a sample (at most 100 traces per service and window) and the
target may sample traces itself (head sampling keeps or drops a whole trace). Each trace kept
is complete, so its count is exact and the mean over the sample estimates the mean over all
requests; only the number of traces, not the ratio, depends on the sampling.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, StrictFloat, StrictInt

from harness.checks.base import FAIL, PASS, CheckResult, RunData, make_unknown
from harness.checks.kind import CheckKind, ExpectModel

TRACES = "traces.json"
# measured on the bundled target (docs/decisions.md, "retry_amplification"): at most 1.03 over
# the bundled suite, 1.14 with its breakers out of the way; 1.51 with its retry-storm bug
DEFAULT_MAX_RATIO = 1.3
DEFAULT_MIN_TRACES = 20
WORST = 5  # traces named in the evidence


class RetryAmplificationExpect(ExpectModel):
    type: Literal["retry_amplification"] = "retry_amplification"
    phase: str = Field(description="the phase judged (its entry requests)")
    baseline: str | None = Field(
        default=None, description="the phase that sets the per-request means (default: the first)"
    )
    max_ratio: StrictFloat = Field(
        default=DEFAULT_MAX_RATIO,
        gt=0,
        description="calls in the phase / what the baseline predicts",
    )
    min_traces: StrictInt = Field(
        default=DEFAULT_MIN_TRACES, ge=1, description="entry requests needed in each window"
    )
    count: Literal["calls", "spans"] = Field(
        default="calls", description="calls: client spans; spans: every span of the trace"
    )

    def label(self) -> str:
        return self.name or f"retry_amplification {self.phase}"


@dataclass
class EntryTrace:
    """One entry request: its trace id, operation, root start (unix s) and what it called."""

    trace_id: str
    operation: str
    start: float
    count: int
    calls: Counter[str] = field(default_factory=Counter)  # "caller->callee" -> client spans


def _tag(span: dict[str, Any], key: str) -> Any:
    for t in span.get("tags") or []:
        if t.get("key") == key:
            return t.get("value")
    return None


def entry_traces(
    doc: dict[str, Any], entry: str, count: str = "calls"
) -> tuple[list[EntryTrace], Counter[str]]:
    """The entry requests of a Jaeger ``{"data": [trace...]}`` document, and the other traces
    counted by where they start ("worker: job")."""
    out: list[EntryTrace] = []
    others: Counter[str] = Counter()
    for trace in doc.get("data") or []:
        if not isinstance(trace, dict):
            continue
        spans = [s for s in trace.get("spans") or [] if isinstance(s, dict)]
        if not spans:
            continue
        procs = trace.get("processes") or {}

        def service(span: dict[str, Any], procs: dict[str, Any] = procs) -> str:
            return str((procs.get(span.get("processID")) or {}).get("serviceName", "?"))

        ids = {s.get("spanID") for s in spans}
        parent = {
            s.get("spanID"): next(
                (r.get("spanID") for r in s.get("references") or [] if r.get("spanID") in ids),
                None,
            )
            for s in spans
        }
        roots = [s for s in spans if parent[s.get("spanID")] is None]
        root = min(roots or spans, key=lambda s: s.get("startTime", 0))
        if service(root) != entry or _tag(root, "span.kind") != "server":
            others[f"{service(root)}: {root.get('operationName', '?')}"] += 1
            continue
        clients = [s for s in spans if _tag(s, "span.kind") == "client"]
        callee: dict[Any, str] = {}
        for s in spans:
            if _tag(s, "span.kind") == "server" and parent[s.get("spanID")] is not None:
                callee[parent[s.get("spanID")]] = service(s)
        calls: Counter[str] = Counter(
            f"{service(c)}->{callee.get(c.get('spanID'), '(no answer traced)')}" for c in clients
        )
        out.append(
            EntryTrace(
                trace_id=str(trace.get("traceID") or root.get("traceID") or "?"),
                operation=str(root.get("operationName", "?")),
                start=float(root.get("startTime", 0)) / 1e6,
                count=len(clients) if count == "calls" else len(spans),
                calls=calls,
            )
        )
    return out, others


def _in(traces: list[EntryTrace], window: tuple[float, float]) -> list[EntryTrace]:
    return [t for t in traces if window[0] <= t.start < window[1]]


def _read(data: RunData) -> tuple[dict[str, Any] | None, str]:
    """traces.json as a dict, or None and why not."""
    if data.directory is None:
        return None, f"{TRACES}: no run folder to read it from"
    path = Path(data.directory) / TRACES
    if not path.exists():
        why = data.missing.get(TRACES, "not written")
        return None, f"{TRACES}: {why}"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"{TRACES}: unreadable: {exc}"
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        return None, f'{TRACES}: expected {{"data": [trace, ...]}}'
    return doc, ""


def check(expect: RetryAmplificationExpect, data: RunData) -> CheckResult:
    unit = "outbound calls (client spans)" if expect.count == "calls" else "spans"
    baseline_name = expect.baseline or (data.journal.phases[0].name if data.journal.phases else "")
    result = CheckResult(
        expect.label(),
        "retry_amplification",
        PASS,
        f"{unit} per entry request in {expect.phase} at most {expect.max_ratio:g}x "
        f"the {baseline_name or 'baseline'} phase's",
        allow_unknown=expect.allow_unknown,
    )
    if data.facts is None or not data.facts.entry:
        return make_unknown(result, "the target names no entry service (topology `entry:`)")
    entry = data.facts.entry
    base_window = data.phase_window(baseline_name)
    window = data.phase_window(expect.phase)
    for n, w in ((baseline_name, base_window), (expect.phase, window)):
        if w is None:
            return make_unknown(result, f"phase {n!r} did not run (see the journal)")
    assert base_window is not None and window is not None
    doc, why = _read(data)
    if doc is None:
        return make_unknown(result, why)
    traces, others = entry_traces(doc, entry, expect.count)
    base = _in(traces, base_window)
    judged = _in(traces, window)
    by_op: dict[str, list[int]] = defaultdict(list)
    for t in base:
        by_op[t.operation].append(t.count)
    means = {op: sum(v) / len(v) for op, v in by_op.items()}
    matched = [t for t in judged if t.operation in means]
    unmatched = Counter(t.operation for t in judged if t.operation not in means)
    bounds = doc.get("bounds") if isinstance(doc.get("bounds"), dict) else {}
    result.details = {
        "entry": entry,
        "baseline": baseline_name,
        "baseline_traces": len(base),
        "phase_traces": len(judged),
        "matched": len(matched),
        "baseline_means": {op: round(m, 3) for op, m in means.items()},
        "not_entry": dict(others),
        "limit_per_service": bounds.get("limit_per_service"),
        "at_limit": bounds.get("at_limit"),
    }
    few = [(n, k) for n, k in ((baseline_name, len(base)), (expect.phase, len(matched)))
           if k < expect.min_traces]  # fmt: skip
    if few:
        counts = ", ".join(f"{k} in {n}" for n, k in few)
        return make_unknown(
            result,
            f"too few entry requests ({entry} server roots) in traces.json to judge: {counts} "
            f"(min_traces {expect.min_traces})",
        )
    expected = sum(means[t.operation] for t in matched)
    observed = sum(t.count for t in matched)
    if expected <= 0:
        return make_unknown(
            result,
            f"the {baseline_name} phase's entry requests have no {unit} in their traces "
            "(a target that does not trace its client calls: use count: spans)",
        )
    ratio = observed / expected
    result.details.update(ratio=round(ratio, 4), observed=observed, expected=round(expected, 2))
    per_op = []
    for op in sorted({t.operation for t in matched}):
        mine = [t.count for t in matched if t.operation == op]
        per_op.append(f"{op}: {means[op]:.2f} -> {sum(mine) / len(mine):.2f} over {len(mine)}")
    result.measured = (
        f"{ratio:.2f}x: {observed} {unit} in {len(matched)} entry requests of {expect.phase}, "
        f"{expected:.0f} expected from {len(base)} in {baseline_name}"
    )
    result.evidence.append(f"{unit} per entry request, {baseline_name} -> {expect.phase}: "
                           + "; ".join(per_op))  # fmt: skip
    worst = sorted(matched, key=lambda t: (t.count / max(means[t.operation], 1e-9), t.start),
                   reverse=True)[:WORST]  # fmt: skip
    violations = result.details.setdefault("violations", [])  # the report draws these traces
    for t in worst:
        if t.count <= means[t.operation]:
            break
        calls = ", ".join(f"{k} x{v}" for k, v in t.calls.most_common(4))
        violations.append({"trace_id": t.trace_id, "operation": t.operation, "count": t.count})
        result.evidence.append(
            f"trace {t.trace_id} ({t.operation} at {data.rel(t.start)}): {t.count} {unit}, "
            f"{t.count / means[t.operation]:.1f}x its baseline mean; {calls}"
        )
    notes = []
    if unmatched:
        notes.append("not judged (no such request in the baseline): "
                     + ", ".join(f"{op} x{k}" for op, k in unmatched.items()))  # fmt: skip
    if others:
        notes.append("traces not rooted at the entry, not counted: "
                     + ", ".join(f"{k} x{v}" for k, v in others.most_common(3)))  # fmt: skip
    if bounds.get("at_limit"):
        notes.append(f"a sample: at most {bounds.get('limit_per_service')} traces per service "
                     "and window were saved; per-request counts are exact")  # fmt: skip
    result.evidence += notes
    if ratio > expect.max_ratio:
        result.verdict = FAIL
        result.violation_at = worst[0].start if worst else window[0]
    return result


KIND = CheckKind(
    name="retry_amplification",
    model=RetryAmplificationExpect,
    check=check,
    data="`traces.json` (Jaeger's traces of the run): client spans per entry request, against "
    "the baseline",
)
