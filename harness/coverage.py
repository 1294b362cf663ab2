"""The fault coverage map: which failure family each scenario puts on each link, from files alone.

Rows are the target's links (caller -> callee service) and its registry; columns are failure
families. A cell lists the scenarios whose (seeded, concrete) faults put that family on that
link; an empty cell is a gap. Nothing is started: this reads validated scenarios and the
target's topology facts.

Families, and the faults that count:
- slow: latency above the caller's timeout on the link (the topology's `timeout:`);
- request lost: a black hole on the request stream (upstream or both), a request partition;
- response lost: a black hole on the response stream only, a response partition (the callee
  acted, the caller never heard: the test of idempotency);
- refused/reset: `down` (connection refused) or `reset_peer`;
- crashed: `crash` or `stop` of an instance of the callee; paused: `pause` of one;
- registry outage: an outage longer than the lease TTL (its own row);
- live settings (a `config` row, on a target that declares `config:`): changed live
  (`config_change`), changed while the store is unreachable (`config_store_outage`);
- secrets (a `secret:NAME` row per declared secret): rotated with a grace, rotated without one
  (`secret_rotate`; a rotation of every secret counts for each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.faults.kinds.config_change import ConfigChangeFault
from harness.faults.kinds.config_store_outage import ConfigStoreOutageFault
from harness.faults.kinds.secret_rotate import SecretRotateFault
from harness.scenario import (
    BlackholeFault,
    CrashFault,
    DownFault,
    LatencyFault,
    PartitionFault,
    PauseFault,
    RegistryOutageFault,
    ResetPeerFault,
    Scenario,
    StopFault,
    TopologyFacts,
    resolve_picks,
    split_link,
)

FAMILIES: dict[str, str] = {
    "slow": "slow > timeout",
    "request_lost": "request lost",
    "response_lost": "response lost",
    "refused_reset": "refused/reset",
    "crashed": "crashed",
    "paused": "paused",
}
REGISTRY_ROW = "registry"
REGISTRY_FAMILY = "registry_outage"
CONFIG_ROW = "config"
CONFIG_FAMILIES = {"config_live": "changed live", "config_outage": "changed, store down"}
SECRET_ROW = "secret:"  # + the secret's name
SECRET_FAMILIES = {"secret_grace": "rotated, grace", "secret_no_grace": "rotated, no grace"}
FAMILY_LABELS = {
    **FAMILIES,
    REGISTRY_FAMILY: "outage > lease TTL",
    **CONFIG_FAMILIES,
    **SECRET_FAMILIES,
}


@dataclass
class CoverageMap:
    """cells[(row, family)] = scenario names; a row is 'caller->callee' or 'registry'."""

    target: str
    rows: list[str]
    cells: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # why a family could not be judged

    def families(self, row: str) -> list[str]:
        if row == REGISTRY_ROW:
            return [REGISTRY_FAMILY]
        if row == CONFIG_ROW:
            return list(CONFIG_FAMILIES)
        if row.startswith(SECRET_ROW):
            return list(SECRET_FAMILIES)
        return list(FAMILIES)

    def columns(self) -> list[str]:
        """The families some row has, in the labels' order (a table's columns)."""
        return [f for f in FAMILY_LABELS if any(f in self.families(r) for r in self.rows)]

    def gaps(self) -> list[tuple[str, str]]:
        return [(r, f) for r in self.rows for f in self.families(r) if not self.cells.get((r, f))]

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "families": {f: FAMILY_LABELS[f] for f in self.columns()},
            "rows": {
                r: {f: self.cells.get((r, f), []) for f in self.families(r)} for r in self.rows
            },
            "gaps": [f"{r} {f}" for r, f in self.gaps()],
            "notes": self.notes,
        }


def coverage(target: str, facts: TopologyFacts, scenarios: list[Scenario]) -> CoverageMap:
    rows = [f"{a}->{b}" for a, b in facts.links]
    if facts.registry != "none":
        rows.append(REGISTRY_ROW)
    if facts.config is not None:
        rows.append(CONFIG_ROW)
    rows += [SECRET_ROW + name for name in facts.secrets]
    cmap = CoverageMap(target, rows)
    for a, b in facts.links:
        if (a, b) not in facts.timeouts:
            cmap.notes.append(f"{a}->{b}: no timeout declared in the topology; 'slow' cannot hold")
    for s in scenarios:
        # a live configuration change may move a caller's timeout: the topology's timeouts
        # no longer say whether a latency fault in the same scenario is beyond it
        live_config = any(getattr(f, "kind", None) == "config_change" for f in s.faults)
        if live_config:
            cmap.notes.append(
                f"{s.name}: changes configuration live, so its latency faults are not counted "
                "as slow beyond a timeout"
            )
        for spec in resolve_picks(s, facts):
            for row, family in covered_by(spec, facts, s.duration):
                if live_config and family == "slow":
                    continue
                names = cmap.cells.setdefault((row, family), [])
                if s.name not in names:
                    names.append(s.name)
    return cmap


def covered_by(spec: Any, facts: TopologyFacts, total: float) -> list[tuple[str, str]]:
    """(row, family) cells one concrete fault covers."""
    if isinstance(spec, RegistryOutageFault):
        length = spec.for_ if spec.for_ is not None else total - spec.at
        return [(REGISTRY_ROW, REGISTRY_FAMILY)] if length > facts.lease_ttl else []
    if isinstance(spec, ConfigChangeFault | ConfigStoreOutageFault):
        live = isinstance(spec, ConfigChangeFault)
        return [(CONFIG_ROW, "config_live" if live else "config_outage")]
    if isinstance(spec, SecretRotateFault):
        family = "secret_grace" if spec.grace else "secret_no_grace"
        names = [spec.secret] if spec.secret is not None else list(facts.secrets)
        return [(SECRET_ROW + n, family) for n in names]
    if isinstance(spec, CrashFault | StopFault | PauseFault):
        service = facts.instances.get(spec.instance or "")
        family = "paused" if isinstance(spec, PauseFault) else "crashed"
        return [(f"{a}->{b}", family) for a, b in facts.links if b == service]
    if isinstance(spec, PartitionFault):
        family = "response_lost" if spec.direction == "response" else "request_lost"
        return [(link, family) for link in _cut(spec, facts)]
    link = _service_link(spec, facts)
    if link is None:
        return []
    if isinstance(spec, LatencyFault):
        timeout = facts.timeouts.get(split_link(link))  # type: ignore[arg-type]
        return [(link, "slow")] if timeout is not None and spec.latency > timeout else []
    if isinstance(spec, BlackholeFault):
        return [(link, "response_lost" if spec.stream == "downstream" else "request_lost")]
    if isinstance(spec, DownFault | ResetPeerFault):
        return [(link, "refused_reset")]
    return []


def _service_link(spec: Any, facts: TopologyFacts) -> str | None:
    link = getattr(spec, "link", None)
    if link is None:
        return None
    caller, callee = split_link(link)
    callee = facts.instances.get(callee, callee)
    return f"{caller}->{callee}" if (caller, callee) in facts.links else None


def _cut(spec: PartitionFault, facts: TopologyFacts) -> list[str]:
    side = {m: i for i, g in enumerate(spec.groups) for m in g}
    out = []
    for a, b in facts.links:
        here = side.get(a)
        there = [side.get(i, side.get(b)) for i in facts.services.get(b, [])]
        if here is not None and any(t is not None and t != here for t in there):
            out.append(f"{a}->{b}")
    return out


def render_text(cmap: CoverageMap) -> str:
    """The matrix as a terminal table: each cell the covering scenarios (first, +N more)."""
    cols = cmap.columns()
    head = ["", *(FAMILY_LABELS[c] for c in cols)]
    table = [head]
    for r in cmap.rows:
        row = [r]
        for c in cols:
            if c not in cmap.families(r):
                row.append("")
                continue
            names = cmap.cells.get((r, c), [])
            row.append(
                "GAP" if not names else names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "")
            )
        table.append(row)
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = [f"coverage of {cmap.target}:"]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
              for row in table]  # fmt: skip
    gaps = cmap.gaps()
    lines.append(
        f"  {len(gaps)} gaps: " + ", ".join(f"{r} {FAMILY_LABELS[f]}" for r, f in gaps)
        if gaps
        else "  no gaps"
    )
    lines += [f"  note: {n}" for n in cmap.notes]
    return "\n".join(lines)
