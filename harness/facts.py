"""What scenario models, fault kinds and check kinds share, below all of them.

The strict model base, the name patterns, link names (``caller->callee``), and a target's
topology as plain :class:`TopologyFacts`, so validation and checks need not know how topology
files are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from harness.durations import Duration

NAME_RE = r"^[a-z0-9][a-z0-9-]*$"
# ``caller->callee``; the callee a service or instance, optionally ``:port`` (a named port)
LINK_RE = r"^\s*[A-Za-z0-9_.-]+\s*->\s*[A-Za-z0-9_.-]+(\s*:\s*[a-z][a-z0-9_-]*)?\s*$"
MAX_ITEMS = 200  # phases, faults, checks: more is a generated file gone wrong


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SteadyParams(Strict):
    """The steady-state hypothesis's parameters: the `steady` check's, and a topology's default.

    Judged over the baseline before the first fault, and over the last 5 s of the last phase
    after recovery. Each part can be switched off."""

    max_error_rate: StrictFloat = Field(default=0.01, ge=0, le=1)
    max_p99: Duration | None = Field(default=None, description="an absolute p99 bound")
    p99_margin: StrictFloat = Field(
        default=3.0, ge=1, description="after recovery: p99 <= margin x the baseline's p99"
    )
    breakers_closed: bool = True
    registered: bool = Field(
        default=True, description="every running instance registered and seen by its callers"
    )


@dataclass(frozen=True)
class ConfigFacts:
    """A target's live settings: key prefix in its registry, key -> type, the version gauge."""

    prefix: str
    keys: dict[str, str]
    version_metric: str


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
    # the target's default steady-state hypothesis (SteadyParams fields); None: no default
    steady: dict[str, Any] | None = None
    # (caller, callee) -> the callee's named ports the caller's links reach (first: main)
    link_ports: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # service -> its named ports (the first is the one `{port}` and health default to)
    service_ports: dict[str, list[str]] = field(default_factory=dict)
    # per_link | shared | per_instance (a proxy per caller instance: instances can be cut off)
    proxy_mode: str = "per_link"
    # the target's default load (its topology's `load:`): absolute locustfile, host template
    load_locustfile: Path | None = None
    load_host: str | None = None
    # live settings in the registry (topology `config:`); None: the target declares none
    config: ConfigFacts | None = None
    # secret name -> the services that read it (topology `secrets:`); empty: none declared
    secrets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # services with no metrics endpoint (scraped through an exporter, or not at all)
    unscraped: frozenset[str] = frozenset()

    @property
    def instances(self) -> dict[str, str]:
        """instance -> service"""
        return {i: s for s, insts in self.services.items() for i in insts}

    def link_names(self) -> list[str]:
        return [f"{a}->{b}" for a, b in self.links]


def norm_link(link: str) -> str:
    caller, callee = split_link(link)
    port = link_port(link)
    return f"{caller}->{callee}" + (f":{port}" if port else "")


def split_link(link: str) -> tuple[str, str]:
    """(caller, callee) of ``caller->callee[:port]``, the port left out (see link_port)."""
    caller, _, callee = link.partition("->")
    return caller.strip(), callee.partition(":")[0].strip()


def link_port(link: str) -> str | None:
    """The named port of ``caller->callee:port``; None when the link names none."""
    _, _, port = link.partition("->")[2].partition(":")
    return port.strip() or None


def service_of(instance: str) -> str:
    """The service of an instance; instance names are `<service>-<index>` (architecture.md)."""
    base, _, idx = instance.rpartition("-")
    return base if base and idx.isdigit() else instance


# ---------------------------------------------------------------------------- PromQL names

_PROMQL_WORDS_TEXT = (
    "by without on ignoring group_left group_right bool offset and or unless inf nan "
    "sum min max avg count stddev stdvar topk bottomk quantile count_values"
)
_PROMQL_WORDS = frozenset(_PROMQL_WORDS_TEXT.split())
_METRIC_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def promql_metric_names(query: str) -> list[str]:
    """Metric names a PromQL query selects (best effort: strings, labels and ranges stripped)."""
    q = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', "", query)
    q = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", q)
    q = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", q)
    names = []
    for m in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)\s*(\()?", q):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.append(word)
    return names


def known_metric(name: str, metrics: set[str]) -> bool:
    """Whether `name` is one of `metrics`, or a histogram / counter series of one."""
    if name in metrics:
        return True
    return any(name.endswith(s) and name[: -len(s)] in metrics for s in _METRIC_SUFFIXES)
