"""What a fault kind is: the ``Fault`` driver protocol, the model bases, and ``FaultKind``.

A fault kind is one module under ``harness/faults/kinds/`` that defines its scenario model (a
subclass of one of the bases here, with ``kind: Literal["<name>"]``), its driver (a callable
``driver(stack, **params) -> Fault``), and a ``KIND = FaultKind(...)`` naming them with its
marker help, its ``stormproof fault`` flags and its random-schedule parameters. The registry in
``harness/faults/kinds/__init__.py`` lists every ``KIND``; the scenario's fault union, the pytest
markers, the CLI and the docs tables are generated from it.

A driver's ``inject()`` and ``revert()`` act only on the stack object it is handed. Active
faults are reverted newest first in ``finally`` by ``harness.targets.FaultDriver``; a failed
revert fails the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import Field, StrictFloat

from harness.durations import Duration, format_duration
from harness.facts import LINK_RE, Strict, norm_link


class Fault(Protocol):
    needs_revert: bool

    def inject(self) -> None: ...
    def revert(self) -> None: ...
    def describe(self) -> dict[str, Any]: ...


# ---------------------------------------------------------------------------- model bases

Stream = Literal["upstream", "downstream", "both"]


class Pick(Strict):
    service: str


class FaultModel(Strict):
    """Every fault: when it starts on the scenario clock and, optionally, how long it lasts."""

    at: Duration = 0.0
    for_: Duration | None = Field(default=None, alias="for", gt=0)

    def target_name(self) -> str:
        """The `target` the journal records (the checks match on it)."""
        return str(getattr(self, "kind", "?"))

    def revert_after(self) -> float | None:
        """Seconds from `at` to the revert; None: at the end of the scenario."""
        return self.for_

    def instant(self) -> bool:
        """Whether this fault is done when injected (no window), beyond instantaneous kinds:
        a `secret_rotate` with no grace."""
        return False

    def extra_markers(self) -> list[str]:
        """Markers besides the kind's own (e.g. `jitter`)."""
        return []

    def headline(self) -> str:
        """The start of the one-line description: the kind and its main parameter."""
        return str(getattr(self, "kind", "?"))


class LinkFaultModel(FaultModel):
    link: str = Field(
        pattern=LINK_RE, description="caller->callee service or instance, optionally :port"
    )

    def target_name(self) -> str:
        return norm_link(self.link)


class ToxicFaultModel(LinkFaultModel):
    stream: Stream = "downstream"
    toxicity: StrictFloat = Field(default=1.0, ge=0, le=1)


class ProcessFaultModel(FaultModel):
    instance: str | None = None
    pick: Pick | None = None

    def target_name(self) -> str:
        return self.instance or f"pick:{self.pick.service if self.pick else '?'}"

    def brings_back(self) -> bool:
        """Whether the instance runs again within the scenario (discovery's `returns_within`)."""
        return True


class RestartableFaultModel(ProcessFaultModel):
    """An instance taken down, optionally started again after `restart_after` (crash, stop)."""

    restart_after: Duration | None = None

    def revert_after(self) -> float | None:
        return self.restart_after or self.for_

    def brings_back(self) -> bool:
        return bool(self.restart_after or self.for_)


def describe(spec: FaultModel) -> str:
    """One line for logs and reports: 'latency 1.5s on api->ledger at 5s for 10s'."""
    when = f" at {format_duration(spec.at)}" if spec.at else " at 0s"
    span = f" for {format_duration(spec.for_)}" if spec.for_ else ""
    if getattr(spec, "restart_after", None):
        span += f", restarted after {format_duration(spec.restart_after)}"  # type: ignore[attr-defined]
    return f"{spec.headline()} on {spec.target_name()}{when}{span}"


# ---------------------------------------------------------------------------- the kind


@dataclass(frozen=True)
class Flag:
    """A ``stormproof fault`` option that fills one model field of a kind.

    The same option may serve several kinds (``--timeout-ms``); it is declared once per kind
    and must mean the same in each. ``scale`` turns the option's unit into the field's (ms to
    seconds: 0.001). ``required`` options have no default.
    """

    option: str
    param: str
    type: Callable[[str], Any] = float
    help: str = ""
    default: Any = None
    required: bool = False
    scale: float | None = None
    choices: tuple[str, ...] | None = None

    @property
    def dest(self) -> str:
        return self.option.lstrip("-").replace("-", "_")


TOXIC_FLAGS = (
    Flag("--stream", "stream", str, "upstream, downstream or both", "downstream",
         choices=("upstream", "downstream", "both")),
    Flag("--toxicity", "toxicity", float, "share of connections affected (0..1)", 1.0),
)  # fmt: skip

# What a fault acts on, which decides its CLI target, its random draw and its docs row.
Scope = Literal["link", "groups", "instance", "registry", "config", "secret"]
SCOPE_TARGETS: dict[str, str] = {
    "link": "link",
    "groups": "groups: [[a], [b, c]]",
    "instance": "instance or pick",
    "registry": "—",
    "config": "keys of the topology's `config:`",
    "secret": "a secret of the topology's `secrets:`",
}


@dataclass(frozen=True)
class FaultKind:
    name: str
    model: type[FaultModel]
    driver: Callable[..., Fault]
    scope: Scope
    summary: str  # the marker's help and the docs' description
    fields: str  # the README's "fields" cell
    flags: tuple[Flag, ...] = ()
    # fields of a randomly drawn fault of this kind, beyond its target and length
    random_params: dict[str, Any] = field(default_factory=dict)
    # which field carries a drawn fault's length (`for`, `restart_after`, ...); None: instant
    random_length: str | None = "for"
    instantaneous: bool = False  # no `for`: done when injected (restart)
    randomizable: bool = True  # may a `random` fault draw it (False: it needs values of its own)
    extra_markers: dict[str, str] = field(default_factory=dict)  # marker -> help
    old_markers: tuple[str, ...] = ()  # deprecated aliases, kept for one release

    @property
    def marker(self) -> str:
        return self.name


__all__ = [
    "TOXIC_FLAGS",
    "Fault",
    "FaultKind",
    "FaultModel",
    "Flag",
    "LinkFaultModel",
    "Pick",
    "ProcessFaultModel",
    "RestartableFaultModel",
    "Stream",
    "ToxicFaultModel",
    "describe",
]
