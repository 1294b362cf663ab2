"""``stormproof run --dry-run``: the timeline each scenario would execute, starting nothing.

The plan is built the way the engine builds it: picks and random schedules resolved with the
scenario's seed (``harness.scenario.resolve_picks``), revert offsets by the fault driver's rule
(``FaultDriver.revert_offset``), the steady-state hypothesis as ``harness.checks.steady``
assembles it from the target's default and the scenario's own entries. All offsets are seconds
on the scenario clock (which starts when every Locust user is spawned).
"""

from __future__ import annotations

import typing
from typing import Any

from harness.checks.secret_leak import with_default
from harness.checks.steady import hypothesis
from harness.durations import format_duration
from harness.redact import redact_env
from harness.scenario import (
    TopologyFacts,
    describe_fault,
    drawn_by_seed,
    effective_load,
    fault_params,
    fault_target,
    resolve_picks,
)
from harness.targets import FaultDriver, facts_for_scenario
from harness.yamlsource import display

PLAN_VERSION = 1
_SKIP = {"name", "type", "allow_unknown"}


def _is_duration(model: type, field: str) -> bool:
    """Whether the model's field is a Duration (also inside ``Duration | None``)."""
    info = model.model_fields.get(field)  # type: ignore[attr-defined]
    if info is None:
        return False

    def has(meta: Any) -> bool:
        return getattr(getattr(meta, "func", None), "__name__", "") == "_duration"

    if any(has(m) for m in info.metadata):
        return True
    for arg in typing.get_args(info.annotation):
        if any(has(m) for m in getattr(arg, "__metadata__", ())):
            return True
    return False


_UNDO = {"crash": "restart", "stop": "restart", "pause": "resume"}


def bounds(entry: Any) -> dict[str, Any]:
    """An expectation's parameters that were set (durations in seconds)."""
    return {
        k: v
        for k, v in entry.model_dump(exclude_none=True, by_alias=True).items()
        if k not in _SKIP
    }


def _bound_text(entry: Any) -> str:
    parts = []
    for k, v in bounds(entry).items():
        if isinstance(v, float) and _is_duration(type(entry), k):
            v = format_duration(v)
        elif isinstance(v, float):
            v = f"{v:g}"
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _entry(entry: Any) -> dict[str, Any]:
    return {
        "name": entry.label(),
        "type": entry.type,
        "bounds": bounds(entry),
        "text": _bound_text(entry),
        "allow_unknown": entry.allow_unknown,
    }


def plan(scenario: Any, facts: TopologyFacts) -> dict[str, Any]:
    """What the engine would do with `scenario` on a target with `facts`, as plain values."""
    total = scenario.duration
    specs = resolve_picks(scenario, facts)
    faults = []
    for i, spec in enumerate(specs):
        until = FaultDriver.revert_offset(spec, total)
        if spec.kind == "restart" or spec.instant():
            end, ends = spec.at, "instantaneous"
        elif until is None:
            end, ends = total, "at the end of the scenario"
        else:
            end, ends = until, "reverted"
        faults.append(
            {
                "id": f"f{i + 1}",
                "kind": spec.kind,
                "target": fault_target(spec),
                "params": fault_params(spec),
                "start": spec.at,
                "end": end,
                "ends": ends,
                "text": describe_fault(spec),
            }
        )
    load = scenario.load
    users = load.max_users
    locustfile, host = effective_load(scenario, facts)
    steady = hypothesis(scenario, facts)
    return {
        "plan_version": PLAN_VERSION,
        "name": scenario.name,
        "file": str(scenario.source) if scenario.source else None,
        "line": scenario.line,
        "description": scenario.description,
        "target": scenario.target,
        "target_env": redact_env(scenario.target_env),
        "fresh_stack": scenario.fresh_stack,
        "seed": scenario.seed,
        "drawn_by_seed": drawn_by_seed(scenario),
        "duration": total,
        "phases": [{"name": n, "start": a, "end": b} for n, a, b in scenario.phase_offsets()],
        "faults": faults,
        "load": {
            "users": users,
            "spawn_rate": load.spawn_rate,
            "rate_per_user": load.rate,
            "requests_per_s": None if load.rate is None else users * load.rate,
            "locustfile": None if locustfile is None else display(locustfile),
            "host": host,
            "stages": [s.model_dump() for s in load.stages or []],
            "workers": load.workers,
        },
        "steady_state": [_entry(e) for e in steady],
        "abort": [a.model_dump(by_alias=True) for a in scenario.abort],
        # the engine adds secret_leak on a target with secrets (either backend)
        "checks": [
            _entry(e)
            for e in with_default(scenario.expect, scenario.secret_leak, bool(facts.secrets))
        ],
    }


def plans(scenarios: list[Any]) -> list[dict[str, Any]]:
    return [plan(s, facts_for_scenario(s, s.source)) for s in scenarios]


def _t(seconds: float) -> str:
    return f"{seconds:>6.1f}s"


def render_text(p: dict[str, Any]) -> str:
    """The plan as a person reads it at the terminal."""
    head = f"{p['name']}  ({format_duration(p['duration'])}, seed {p['seed']}"
    head += ", faults drawn by the seed)" if p["drawn_by_seed"] else ")"
    lines = [head]
    if p["file"]:
        lines.append(f"  file: {p['file']}:{p['line']}")
    env = " ".join(f"{k}={v}" for k, v in p["target_env"].items())
    lines.append(f"  target: {p['target']}" + (f" with {env}" if env else "")
                 + (" (fresh stack)" if p["fresh_stack"] else ""))  # fmt: skip
    ld = p["load"]
    if ld["stages"]:
        shape = " -> ".join(
            f"{s['users']} users for {format_duration(s['duration'])}" for s in ld["stages"]
        )
    else:
        shape = f"{ld['users']} users (spawn {ld['spawn_rate']:g}/s)"
    pace = (
        "at the locustfile's own pace"
        if ld["rate_per_user"] is None
        else f"x {ld['rate_per_user']:g} req/s each = up to {ld['requests_per_s']:g} req/s"
    )
    lines.append(
        f"  load: {shape} {pace}" + (f", {ld['workers']} workers" if ld["workers"] else "")
    )
    lines.append(f"  locustfile: {ld['locustfile']}, host {ld['host']}")
    events: list[tuple[float, int, str]] = []
    for ph in p["phases"]:
        events.append(
            (ph["start"], 0, f"phase {ph['name']} ({format_duration(ph['end'] - ph['start'])})")
        )
    for f in p["faults"]:
        events.append((f["start"], 1, f"inject {f['id']} {f['text']}"))
        if f["ends"] == "reverted":
            undo = _UNDO.get(f["kind"], "revert")
            events.append((f["end"], 1, f"{undo} {f['id']} {f['kind']} on {f['target']}"))
        elif f["ends"] != "instantaneous":
            events.append(
                (f["end"], 2, f"revert {f['id']} {f['kind']} on {f['target']} (scenario end)")
            )
    events.append((p["duration"], 3, "end: load stops, data collected, checks judged"))
    lines.append("  timeline:")
    lines += [f"    {_t(t)}  {text}" for t, _, text in sorted(events, key=lambda e: (e[0], e[1]))]
    if p["steady_state"]:
        lines.append("  steady state (before the first fault, and over the end of the last phase):")
        lines += [f"    {e['name']}: {e['text'] or 'defaults'}" for e in p["steady_state"]]
    else:
        lines.append("  steady state: none")
    for a in p["abort"]:
        lines.append(
            f"  abort: error rate > {a['error_rate_above']:g} for {format_duration(a['for'])} "
            f"(window {format_duration(a['window'])})"
        )
    lines.append("  checks:" if p["checks"] else "  checks: none")
    lines += [f"    {c['name']}: {c['text'] or 'defaults'}" for c in p["checks"]]
    return "\n".join(lines)
