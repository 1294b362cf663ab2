"""Seeded schedules: `pick` resolved to an instance, `random` faults drawn, from the seed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from harness.facts import TopologyFacts, split_link
from harness.faults.base import ProcessFaultModel
from harness.faults.kinds import FAULT_KINDS
from harness.scenario.faultspec import FAULT_ADAPTER, RandomFault
from harness.scenario.models import Scenario

# ---------------------------------------------------------------------------- seeded schedules

# Parameters of generated faults, from each kind's module: well beyond a caller's usual timeouts, so
# the outcome is no coin toss.
RANDOM_PARAMS: dict[str, dict[str, Any]] = {n: k.random_params for n, k in FAULT_KINDS.items()}


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
        spec: dict[str, Any] = {"kind": kind, "at": at, **RANDOM_PARAMS[kind]}
        scope = FAULT_KINDS[kind].scope
        if scope == "link":
            spec["link"] = rng.choice(links)
        elif scope == "groups":
            caller, callee = split_link(rng.choice(links))
            spec["groups"] = [[caller], [callee]]
        elif scope == "instance":
            spec["instance"] = rng.choice(instances)
        lasting = FAULT_KINDS[kind].random_length
        if lasting is not None:
            spec[lasting] = dur
        out.append(FAULT_ADAPTER.validate_python(spec))
    return out


def drawn_by_seed(scenario: Scenario) -> bool:
    """Whether the scenario's faults are drawn with its seed (a `random` fault or a `pick`)."""
    return any(
        isinstance(f, RandomFault) or (isinstance(f, ProcessFaultModel) and f.pick is not None)
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
        elif isinstance(f, ProcessFaultModel) and f.pick is not None:
            chosen = rng.choice(sorted(facts.services[f.pick.service]))
            out.append(f.model_copy(update={"instance": chosen, "pick": None}))
        else:
            out.append(f)
    return out
