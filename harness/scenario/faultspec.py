"""The faults of a scenario file: the union of every registered kind's model, plus `random`.

Each kind's model lives in its module under ``harness/faults/kinds/``; this module only
assembles them, so a new kind needs no line here.
"""

from __future__ import annotations

import functools
import operator
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, TypeAdapter

from harness.durations import Duration
from harness.faults.base import FaultModel, describe
from harness.faults.kinds import FAULT_KINDS, LINK_KINDS, MARKER_HELP, PROCESS_KINDS

RandomKind = Literal[tuple(n for n, k in FAULT_KINDS.items() if k.randomizable)]  # type: ignore[valid-type]


class RandomFault(FaultModel):
    """`count` faults of `kinds`, placed with the scenario's seed inside `window`.

    `for` is the length of each generated fault (default 5 s).
    """

    kind: Literal["random"]
    count: StrictInt = Field(ge=1, le=100)
    kinds: list[RandomKind] = Field(min_length=1)  # type: ignore[valid-type]
    window: tuple[Duration, Duration] | None = None


_MODELS = [k.model for k in FAULT_KINDS.values()] + [RandomFault]
FaultSpec = Annotated[functools.reduce(operator.or_, _MODELS), Field(discriminator="kind")]  # type: ignore[valid-type]
FAULT_ADAPTER: TypeAdapter[Any] = TypeAdapter(FaultSpec)

FAULT_MARKERS: dict[str, str] = {name: k.marker for name, k in FAULT_KINDS.items()}
# Every marker a scenario can carry besides its tags: the pytest plugin registers these.
ALL_FAULT_MARKERS = frozenset(MARKER_HELP)
DEFAULT_ALLOWED_TAGS = frozenset({"smoke", "slow", "selftest", "soak", "e2e"} | ALL_FAULT_MARKERS)


def fault_target(spec: Any) -> str:
    """The `target` string the journal records for a fault (the checks match on it).

    link kinds: ``caller->callee``; process kinds: the instance; partition: groups joined as
    ``a,b|c``; registry_outage: ``registry``.
    """
    return spec.target_name()


def fault_params(spec: Any) -> dict[str, Any]:
    """The kind's own parameters (durations in seconds), for the journal."""
    skip = {"at", "for_", "kind", "link", "instance", "pick", "groups"}
    return {k: v for k, v in spec.model_dump().items() if k not in skip}


def describe_fault(spec: Any) -> str:
    """One line for logs and reports: 'latency 1.5s on api->ledger at 5s for 10s'."""
    return describe(spec)


__all__ = [
    "ALL_FAULT_MARKERS",
    "DEFAULT_ALLOWED_TAGS",
    "FAULT_ADAPTER",
    "FAULT_MARKERS",
    "LINK_KINDS",
    "PROCESS_KINDS",
    "FaultSpec",
    "RandomFault",
    "RandomKind",
    "describe_fault",
    "fault_params",
    "fault_target",
]
