"""Fault models of a scenario file, the fault union, and how a fault is named."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictFloat, StrictInt, TypeAdapter

from harness.durations import Duration, format_duration
from harness.facts import LINK_RE, MAX_ITEMS, Strict, norm_link

# ---------------------------------------------------------------------------- faults


class Pick(Strict):
    service: str


Stream = Literal["upstream", "downstream", "both"]


class _Fault(Strict):
    at: Duration = 0.0
    for_: Duration | None = Field(default=None, alias="for", gt=0)


class _LinkFault(_Fault):
    link: str = Field(pattern=LINK_RE, description="caller->callee service or instance")


class _ToxicFault(_LinkFault):
    stream: Stream = "downstream"
    toxicity: StrictFloat = Field(default=1.0, ge=0, le=1)


class LatencyFault(_ToxicFault):
    kind: Literal["latency"]
    latency: Duration
    jitter: Duration = 0.0


class BandwidthFault(_ToxicFault):
    kind: Literal["bandwidth"]
    rate_kbps: StrictInt = Field(ge=0)


class BlackholeFault(_ToxicFault):
    kind: Literal["blackhole"]
    timeout: Duration = Field(default=0.0, description="0: the connection is never closed")


class ResetPeerFault(_ToxicFault):
    kind: Literal["reset_peer"]
    timeout: Duration = 0.0


class SlowCloseFault(_ToxicFault):
    kind: Literal["slow_close"]
    delay: Duration


class SlicerFault(_ToxicFault):
    kind: Literal["slicer"]
    average_size: StrictInt = Field(ge=1)
    size_variation: StrictInt = Field(default=0, ge=0)
    delay_us: StrictInt = Field(default=0, ge=0)


class LimitDataFault(_ToxicFault):
    kind: Literal["limit_data"]
    bytes: StrictInt = Field(ge=0)


class DownFault(_LinkFault):
    kind: Literal["down"]


class PartitionFault(_Fault):
    kind: Literal["partition"]
    groups: list[list[str]] = Field(min_length=2, max_length=MAX_ITEMS)
    direction: Literal["both", "request", "response"] = "both"


class _ProcessFault(_Fault):
    instance: str | None = None
    pick: Pick | None = None


class CrashFault(_ProcessFault):
    kind: Literal["crash"]
    restart_after: Duration | None = None


class StopFault(_ProcessFault):
    kind: Literal["stop"]
    restart_after: Duration | None = None


class PauseFault(_ProcessFault):
    kind: Literal["pause"]


class RestartFault(_ProcessFault):
    kind: Literal["restart"]


class RegistryOutageFault(_Fault):
    kind: Literal["registry_outage"]


RandomKind = Literal[
    "latency", "bandwidth", "blackhole", "reset_peer", "slow_close", "slicer", "limit_data",
    "down", "partition", "crash", "stop", "pause", "restart", "registry_outage",
]  # fmt: skip


class RandomFault(_Fault):
    """`count` faults of `kinds`, placed with the scenario's seed inside `window`.

    `for` is the length of each generated fault (default 5 s).
    """

    kind: Literal["random"]
    count: StrictInt = Field(ge=1, le=100)
    kinds: list[RandomKind] = Field(min_length=1)
    window: tuple[Duration, Duration] | None = None


FaultSpec = Annotated[
    LatencyFault | BandwidthFault | BlackholeFault | ResetPeerFault | SlowCloseFault
    | SlicerFault | LimitDataFault | DownFault | PartitionFault | CrashFault | StopFault
    | PauseFault | RestartFault | RegistryOutageFault | RandomFault,
    Field(discriminator="kind"),
]  # fmt: skip
FAULT_ADAPTER: TypeAdapter[Any] = TypeAdapter(FaultSpec)

LINK_KINDS = frozenset(
    {"latency", "bandwidth", "blackhole", "reset_peer", "slow_close", "slicer", "limit_data",
     "down"}
)  # fmt: skip
PROCESS_KINDS = frozenset({"crash", "stop", "pause", "restart"})
FAULT_MARKERS: dict[str, str] = {
    "latency": "latency", "bandwidth": "bandwidth", "blackhole": "blackhole",
    "reset_peer": "reset", "slow_close": "slow_close", "slicer": "slicer",
    "limit_data": "limit_data", "down": "down", "partition": "partition", "crash": "crash",
    "stop": "stop", "pause": "pause", "restart": "restart", "registry_outage": "registry",
}  # fmt: skip
# Every marker a scenario can carry besides its tags: the pytest plugin registers these.
ALL_FAULT_MARKERS = frozenset([*FAULT_MARKERS.values(), "jitter"])
DEFAULT_ALLOWED_TAGS = frozenset({"smoke", "slow", "selftest", "soak", "e2e"} | ALL_FAULT_MARKERS)


def fault_target(spec: Any) -> str:
    """The `target` string the journal records for a fault (the checks match on it).

    link kinds: ``caller->callee``; process kinds: the instance; partition: groups joined as
    ``a,b|c``; registry_outage: ``registry``.
    """
    if isinstance(spec, _LinkFault):
        return norm_link(spec.link)
    if isinstance(spec, _ProcessFault):
        return spec.instance or f"pick:{spec.pick.service if spec.pick else '?'}"
    if isinstance(spec, PartitionFault):
        return "|".join(",".join(g) for g in spec.groups)
    if isinstance(spec, RegistryOutageFault):
        return "registry"
    return spec.kind


def fault_params(spec: Any) -> dict[str, Any]:
    """The kind's own parameters (durations in seconds), for the journal."""
    skip = {"at", "for_", "kind", "link", "instance", "pick", "groups"}
    return {k: v for k, v in spec.model_dump().items() if k not in skip}


def describe_fault(spec: Any) -> str:
    """One line for logs and reports: 'latency 1.5s on orders->payments at 5s for 10s'."""
    head = spec.kind
    if isinstance(spec, LatencyFault):
        head += f" {format_duration(spec.latency)}"
    when = f" at {format_duration(spec.at)}" if spec.at else " at 0s"
    span = f" for {format_duration(spec.for_)}" if spec.for_ else ""
    if getattr(spec, "restart_after", None):
        span += f", restarted after {format_duration(spec.restart_after)}"
    return f"{head} on {fault_target(spec)}{when}{span}"
