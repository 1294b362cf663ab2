"""Seeded schedules: `pick` resolved to an instance, `random` faults drawn, from the seed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from harness.facts import TopologyFacts, split_link
from harness.scenario.faultspec import FAULT_ADAPTER, LINK_KINDS, RandomFault, _ProcessFault
from harness.scenario.models import Scenario

# ---------------------------------------------------------------------------- seeded schedules

# Parameters of generated faults: well beyond the shop's timeouts, so the outcome is no coin toss.
RANDOM_PARAMS: dict[str, dict[str, Any]] = {
    "latency": {"latency": "1500ms"},
    "bandwidth": {"rate_kbps": 1},
    "blackhole": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slow_close": {"delay": "2s"},
    "slicer": {"average_size": 16, "size_variation": 8, "delay_us": 2000},
    "limit_data": {"bytes": 64},
}


def random_schedule(
    seed: int,
    facts: TopologyFacts,
    kinds: Sequence[str],
    window: tuple[float, float],
    count: int,
    length: float = 5.0,
) -> list[Any]:
    """`count` faults of `kinds` inside `window` (scenario offsets), fixed by `seed`.

    The window is cut into `count` equal slots with one fault each, so generated faults never
    overlap (two crashes of one instance at once would be meaningless).
    """
    rng = random.Random(seed)
    start, end = window
    slot = (end - start) / count
    links = sorted(f"{a}->{b}" for a, b in facts.links)
    instances = sorted(
        i for s, insts in facts.services.items() if s != facts.entry for i in insts
    ) or sorted(facts.instances)
    out = []
    for n in range(count):
        kind = rng.choice(sorted(set(kinds)))
        dur = min(length, slot)
        at = round(start + n * slot + rng.uniform(0, slot - dur), 3)
        spec: dict[str, Any] = {"kind": kind, "at": at}
        if kind in LINK_KINDS:
            spec.update(RANDOM_PARAMS.get(kind, {}), link=rng.choice(links), **{"for": dur})
        elif kind == "partition":
            caller, callee = split_link(rng.choice(links))
            spec.update(groups=[[caller], [callee]], **{"for": dur})
        elif kind in ("crash", "stop"):
            spec.update(instance=rng.choice(instances), restart_after=dur)
        elif kind == "pause":
            spec.update(instance=rng.choice(instances), **{"for": dur})
        elif kind == "restart":
            spec.update(instance=rng.choice(instances))
        else:
            spec["for"] = dur
        out.append(FAULT_ADAPTER.validate_python(spec))
    return out


def drawn_by_seed(scenario: Scenario) -> bool:
    """Whether the scenario's faults are drawn with its seed (a `random` fault or a `pick`)."""
    return any(
        isinstance(f, RandomFault) or (isinstance(f, _ProcessFault) and f.pick is not None)
        for f in scenario.faults
    )


def resolve_picks(scenario: Scenario, facts: TopologyFacts) -> list[Any]:
    """The concrete fault list: `pick` replaced by an instance, `random` expanded; seeded."""
    rng = random.Random(scenario.seed)
    out: list[Any] = []
    for f in scenario.faults:
        if isinstance(f, RandomFault):
            lo, hi = f.window or (f.at, scenario.duration)
            out += random_schedule(
                rng.randrange(2**31), facts, f.kinds, (lo, hi), f.count, f.for_ or 5.0
            )
        elif isinstance(f, _ProcessFault) and f.pick is not None:
            chosen = rng.choice(sorted(facts.services[f.pick.service]))
            out.append(f.model_copy(update={"instance": chosen, "pick": None}))
        else:
            out.append(f)
    return out
