"""What scenario models, fault kinds and check kinds share, below all of them.

The strict model base, the name patterns, link names (``caller->callee``), and a target's
topology as plain :class:`TopologyFacts`, so validation and checks need not know how topology
files are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

NAME_RE = r"^[a-z0-9][a-z0-9-]*$"
LINK_RE = r"^\s*[A-Za-z0-9_.-]+\s*->\s*[A-Za-z0-9_.-]+\s*$"
MAX_ITEMS = 200  # phases, faults, checks: more is a generated file gone wrong


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class TopologyFacts:
    """What validation and the checks need to know about a target, as plain values."""

    services: dict[str, list[str]]  # service -> instance names
    links: list[tuple[str, str]]  # (caller service, callee service)
    metrics: set[str] | None = None  # known metric names, for promql queries
    lease_ttl: float = 5.0
    entry: str | None = None
    # (caller, callee) -> the caller's timeout on that link, where the topology declares it
    timeouts: dict[tuple[str, str], float] = field(default_factory=dict)
    registry: str = "etcd"

    @property
    def instances(self) -> dict[str, str]:
        """instance -> service"""
        return {i: s for s, insts in self.services.items() for i in insts}

    def link_names(self) -> list[str]:
        return [f"{a}->{b}" for a, b in self.links]


def norm_link(link: str) -> str:
    caller, callee = split_link(link)
    return f"{caller}->{callee}"


def split_link(link: str) -> tuple[str, str]:
    caller, _, callee = link.partition("->")
    return caller.strip(), callee.strip()


def service_of(instance: str) -> str:
    """The service of an instance; instance names are `<service>-<index>` (architecture.md)."""
    base, _, idx = instance.rpartition("-")
    return base if base and idx.isdigit() else instance
