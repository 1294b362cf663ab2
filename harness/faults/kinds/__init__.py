"""The fault kind registry: one line per kind module, in the order the docs list them.

Everything else about fault kinds is read from here: the scenario's fault union and
``RandomKind`` (``harness.scenario.faultspec``), the drivers (``harness.faults.KINDS``), the
pytest markers, the ``stormproof fault`` command, and the tables in README.md and
docs/architecture.md (``python -m harness.faults.kinds.tables`` rewrites them).
"""

from __future__ import annotations

import re

from harness.faults.base import FaultKind
from harness.faults.kinds import (
    bandwidth,
    blackhole,
    config_change,
    config_store_outage,
    crash,
    down,
    latency,
    limit_data,
    partition,
    pause,
    registry_outage,
    reset_peer,
    restart,
    secret_rotate,
    slicer,
    slow_close,
    slow_start,
    stop,
)

FAULT_KINDS: dict[str, FaultKind] = {
    k.name: k
    for k in (
        latency.KIND,
        bandwidth.KIND,
        blackhole.KIND,
        reset_peer.KIND,
        slow_close.KIND,
        slicer.KIND,
        limit_data.KIND,
        down.KIND,
        partition.KIND,
        crash.KIND,
        stop.KIND,
        pause.KIND,
        restart.KIND,
        slow_start.KIND,
        registry_outage.KIND,
        config_change.KIND,
        config_store_outage.KIND,
        secret_rotate.KIND,
    )
}

LINK_KINDS = frozenset(n for n, k in FAULT_KINDS.items() if k.scope == "link")
PROCESS_KINDS = frozenset(n for n, k in FAULT_KINDS.items() if k.scope == "instance")
# marker -> help, for pytest: each kind's own, the extras (jitter), the deprecated aliases
MARKER_HELP: dict[str, str] = {}
MARKER_ALIASES: dict[str, str] = {}  # old marker -> the kind's marker
for _k in FAULT_KINDS.values():
    MARKER_HELP[_k.marker] = _k.summary
    MARKER_HELP.update(_k.extra_markers)
    for _old in _k.old_markers:
        MARKER_ALIASES[_old] = _k.marker
        MARKER_HELP[_old] = f"deprecated: use {_k.marker}"


def with_aliases(markers: list[str]) -> list[str]:
    """`markers` plus the deprecated alias of each, so `-m reset` still selects for a release."""
    old = [o for o, new in MARKER_ALIASES.items() if new in markers]
    return sorted({*markers, *old})


def old_markers_in(expression: str | None) -> dict[str, str]:
    """Deprecated marker names a `-m` expression uses -> the names to use instead."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression or ""))
    return {w: MARKER_ALIASES[w] for w in sorted(words) if w in MARKER_ALIASES}


__all__ = [
    "FAULT_KINDS",
    "LINK_KINDS",
    "MARKER_ALIASES",
    "MARKER_HELP",
    "PROCESS_KINDS",
    "old_markers_in",
    "with_aliases",
]
