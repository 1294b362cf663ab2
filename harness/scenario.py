"""Scenario files: YAML -> validated pydantic models, with file:line messages and a JSON Schema.

A scenario is refused before anything starts. Every problem names the file, the line, the field
and what was expected, e.g.::

    scenarios/x.yaml:12: faults[0].link: unknown link 'orders->paymnts'; known links: ...

Validation runs in three layers: the models (types, ranges, unknown fields), cross-checks inside
the scenario (fault windows inside the scenario, phase names, tags), and references against the
target's topology, given as plain :class:`TopologyFacts` so this module does not depend on how
topology files are read. Pydantic error locations are mapped to YAML lines by walking the node
tree from ``yaml.compose`` along the location.
"""

from __future__ import annotations

import difflib
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    field_validator,
    model_validator,
)

from harness.durations import Duration, PositiveDuration, format_duration
from harness.errors import InputInvalid, ScenarioInvalid
from harness.yamlsource import (
    Located,
    Problem,
    display,
    read_yaml,
    step,
    tag_member,
    validate,
    walk,
)

# ---------------------------------------------------------------------------- durations


_NAME_RE = r"^[a-z0-9][a-z0-9-]*$"
_ENV_KEY_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
# a topology path: printable, no NUL or control characters, a .yaml/.yml file
_TARGET_RE = r"^(bundled|[^\x00-\x1f\x7f]{1,250}\.ya?ml)$"
MAX_ITEMS = 200  # phases, faults, checks: more is a generated file gone wrong
_LINK_RE = r"^\s*[A-Za-z0-9_.-]+\s*->\s*[A-Za-z0-9_.-]+\s*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _scalar_str(value: Any) -> Any:
    # YAML turns `SHOP_BUG: 1` into an int; env values are strings either way.
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return value


EnvValue = Annotated[str, BeforeValidator(_scalar_str)]

# ---------------------------------------------------------------------------- load and phases


class Stage(_Strict):
    duration: PositiveDuration
    users: StrictInt = Field(ge=0, le=10_000)
    spawn_rate: StrictFloat = Field(default=10.0, gt=0)


class Load(_Strict):
    """Either a constant `users` count or a list of `stages`; `rate` is per user per second."""

    users: StrictInt | None = Field(default=None, ge=1, le=10_000)
    spawn_rate: StrictFloat | None = Field(default=None, gt=0)
    rate: StrictFloat = Field(default=2.0, gt=0)
    stages: list[Stage] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    workers: StrictInt = Field(
        default=0, ge=0, le=16, description="Locust distributed mode: local worker processes"
    )

    @model_validator(mode="after")
    def _users_or_stages(self) -> Load:
        if (self.users is None) == (self.stages is None):
            raise ValueError("give either users (with spawn_rate) or stages, not both")
        if self.users is not None and self.spawn_rate is None:
            self.spawn_rate = float(self.users)  # everyone within a second
        return self

    @property
    def max_users(self) -> int:
        if self.stages:
            return max(s.users for s in self.stages)
        return self.users or 0


class Phase(_Strict):
    name: str = Field(pattern=_NAME_RE)
    duration: PositiveDuration


class Pick(_Strict):
    service: str


# ---------------------------------------------------------------------------- faults

Stream = Literal["upstream", "downstream", "both"]


class _Fault(_Strict):
    at: Duration = 0.0
    for_: Duration | None = Field(default=None, alias="for", gt=0)


class _LinkFault(_Fault):
    link: str = Field(pattern=_LINK_RE, description="caller->callee service or instance")


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

# ---------------------------------------------------------------------------- expectations


class _Expect(_Strict):
    name: str | None = None
    allow_unknown: bool = False


class SagaConsistencyExpect(_Expect):
    type: Literal["saga_consistency"] = "saga_consistency"
    settle_within: Duration = 20.0

    def label(self) -> str:
        return self.name or "saga consistency"


class BreakerExpect(_Expect):
    type: Literal["breaker"] = "breaker"
    link: str = Field(pattern=_LINK_RE)
    opens_within: Duration = 5.0
    closes_within: Duration = 15.0
    max_calls_while_open: StrictInt | None = Field(default=None, ge=0)
    others_stay_closed: bool = True

    def label(self) -> str:
        return self.name or f"breaker {norm_link(self.link)}"


class DiscoveryExpect(_Expect):
    type: Literal["discovery"] = "discovery"
    instance: str
    leaves_within: Duration | None = None
    recovers_within: Duration | None = None
    returns_within: Duration | None = None
    baseline_margin: StrictFloat = Field(default=0.02, ge=0, le=1)

    def label(self) -> str:
        return self.name or f"discovery {self.instance}"


class SloExpect(_Expect):
    type: Literal["slo"] = "slo"
    phase: str | None = Field(
        default=None, description="required in expect; omitted in steady_state (its window)"
    )
    min_success_rate: StrictFloat | None = Field(default=None, ge=0, le=1)
    max_p50: Duration | None = None
    max_p95: Duration | None = None
    max_p99: Duration | None = None
    min_throughput: StrictFloat | None = Field(default=None, ge=0, description="ok requests/s")
    max_throughput: StrictFloat | None = Field(default=None, ge=0, description="ok requests/s")

    def label(self) -> str:
        return self.name or f"slo {self.phase}"


class SteadyExpect(_Expect):
    """The steady-state hypothesis: judged over the baseline before the first fault, and over
    the last 5 s of the last phase after recovery. Each part can be switched off."""

    type: Literal["steady"] = "steady"
    max_error_rate: StrictFloat = Field(default=0.01, ge=0, le=1)
    max_p99: Duration | None = Field(default=None, description="an absolute p99 bound")
    p99_margin: StrictFloat = Field(
        default=3.0, ge=1, description="after recovery: p99 <= margin x the baseline's p99"
    )
    breakers_closed: bool = True
    registered: bool = Field(
        default=True, description="every running instance registered and seen by its callers"
    )

    def label(self) -> str:
        return self.name or "steady state"


class PromqlExpect(_Expect):
    type: Literal["promql"] = "promql"
    query: str = Field(min_length=1)
    phase: str | None = Field(default=None, description="omitted: the whole scenario")
    agg: Literal["max", "min", "avg", "last", "first"] = "max"
    at: Literal["start", "end"] | None = Field(
        default=None, description="end: the last sample of the window (agg last); start: first"
    )
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    value: StrictFloat

    def label(self) -> str:
        return self.name or f"promql {self.query}"


EXPECT_MODELS: dict[str, type[_Expect]] = {
    "saga_consistency": SagaConsistencyExpect,
    "breaker": BreakerExpect,
    "discovery": DiscoveryExpect,
    "slo": SloExpect,
    "promql": PromqlExpect,
    "steady": SteadyExpect,
}
STEADY_KINDS = ("steady", "slo", "promql")  # what a steady-state entry can be


def _unwrap_entry(value: Any) -> Any:
    """`{breaker: {...}}` -> `{"type": "breaker", ...}` so pydantic can discriminate on type."""
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(
            "each entry is a one-key mapping {type: params}; types: " + ", ".join(EXPECT_MODELS)
        )
    ((kind, params),) = value.items()
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(f"the params of {kind!r} must be a mapping")
    return {**params, "type": kind}


Expectation = Annotated[
    SagaConsistencyExpect
    | BreakerExpect
    | DiscoveryExpect
    | SloExpect
    | PromqlExpect
    | SteadyExpect,
    Discriminator("type"),
]
ExpectEntry = Annotated[Expectation, BeforeValidator(_unwrap_entry)]
EXPECT_ADAPTER: TypeAdapter[Any] = TypeAdapter(ExpectEntry)


class AbortCondition(_Strict):
    """Abort when the client error rate over a sliding `window` stays above the bound for `for`."""

    error_rate_above: StrictFloat = Field(gt=0, le=1)
    for_: PositiveDuration = Field(alias="for")
    window: PositiveDuration = 5.0
    min_requests: StrictInt = Field(default=5, ge=1)


# ---------------------------------------------------------------------------- scenario


class Scenario(_Strict):
    name: str = Field(pattern=_NAME_RE, max_length=63)
    description: str = Field(default="", max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=32)
    target: str = Field(
        default="bundled",
        pattern=_TARGET_RE,
        description="bundled, or the path of a topology file (relative to this file)",
    )
    seed: StrictInt = Field(default=0, ge=0, le=2**63 - 1)
    fresh_stack: bool = False
    target_env: dict[Annotated[str, Field(pattern=_ENV_KEY_RE)], EnvValue] = Field(
        default_factory=dict, max_length=256
    )
    load: Load
    phases: list[Phase] = Field(min_length=1, max_length=MAX_ITEMS)
    faults: list[FaultSpec] = Field(default_factory=list, max_length=MAX_ITEMS)
    steady_state: list[ExpectEntry] | Literal["none"] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="added to the target's default hypothesis; none: no steady-state check",
    )
    abort: list[AbortCondition] = Field(default_factory=list, max_length=MAX_ITEMS)
    expect: list[ExpectEntry] = Field(default_factory=list, max_length=MAX_ITEMS)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if re.fullmatch(r"stack-\d+", name):
            raise ValueError(f"{name!r} is reserved for the run folder's stacks")
        return name

    _source: Path | None = PrivateAttr(default=None)
    _line: int = PrivateAttr(default=1)

    @property
    def source(self) -> Path | None:
        """The file the scenario came from (None when built in code)."""
        return self._source

    @property
    def line(self) -> int:
        """Line of the `name` field, for pytest's failure location."""
        return self._line

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.phases)

    def phase_offsets(self) -> list[tuple[str, float, float]]:
        """(name, start, end) offsets on the scenario clock; phases are consecutive."""
        out, t = [], 0.0
        for p in self.phases:
            out.append((p.name, t, t + p.duration))
            t += p.duration
        return out


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
    # the target's default steady-state hypothesis (SteadyExpect fields); None: no default
    steady: dict[str, Any] | None = None

    @property
    def instances(self) -> dict[str, str]:
        """instance -> service"""
        return {i: s for s, insts in self.services.items() for i in insts}

    def link_names(self) -> list[str]:
        return [f"{a}->{b}" for a, b in self.links]


# ---------------------------------------------------------------------------- helpers


def norm_link(link: str) -> str:
    caller, callee = split_link(link)
    return f"{caller}->{callee}"


def split_link(link: str) -> tuple[str, str]:
    caller, _, callee = link.partition("->")
    return caller.strip(), callee.strip()


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


def markers(scenario: Scenario) -> list[str]:
    """pytest markers: one per fault kind, `jitter`, the tags, and `slow` beyond 60 s."""
    out: set[str] = set(scenario.tags)
    for f in scenario.faults:
        kinds = f.kinds if isinstance(f, RandomFault) else [f.kind]
        out.update(FAULT_MARKERS[k] for k in kinds)
        if isinstance(f, LatencyFault) and f.jitter > 0:
            out.add("jitter")
    if scenario.duration > 60:
        out.add("slow")
    return sorted(out)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario file as written (expectations as one-key mappings)."""
    schema = Scenario.model_json_schema(mode="validation")
    defs = schema.setdefault("$defs", {})
    entries: dict[str, dict[str, Any]] = {}
    for kind, model in EXPECT_MODELS.items():
        d = defs.get(model.__name__)
        if d is not None:
            d.get("properties", {}).pop("type", None)
        entries[kind] = {
            "type": "object",
            "properties": {kind: {"$ref": f"#/$defs/{model.__name__}"}},
            "required": [kind],
            "additionalProperties": False,
        }
    expect = [e for k, e in entries.items() if k != "steady"]
    schema["properties"]["expect"]["items"] = {"oneOf": expect}
    steady = schema["properties"]["steady_state"]
    steady.pop("maxLength", None)
    steady["anyOf"] = [
        {"type": "array", "items": {"oneOf": [entries[k] for k in STEADY_KINDS]},
         "maxItems": MAX_ITEMS},
        {"const": "none"},
    ]  # fmt: skip
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Stormproof scenario"
    return schema


# ---------------------------------------------------------------------------- YAML locations


def _yaml_loc(loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """Drop the `kind` tags pydantic inserts (``faults.0.latency.link``): `kind` is a field in
    the YAML, not a key level. Expectation `type` tags stay: there the type is the YAML key."""
    out: list[str | int] = []
    tp: Any = Scenario
    for part in loc:
        is_kind_tag = tp is not None and tag_member(tp, part, "kind") is not None
        tp = step(tp, part) if tp is not None else None
        if not is_kind_tag:
            out.append(part)
    return tuple(out)


# ---------------------------------------------------------------------------- loading


def _parse(path: Path) -> tuple[Scenario, yaml.Node]:
    data, root = read_yaml(path, "name, load, phases")
    scenario = validate(Scenario, data, root, path, _yaml_loc)
    scenario._source = path
    scenario._line = walk(root, ("name",))[0]
    return scenario, root


def load_scenario(
    path: str | Path,
    facts_for_target: Callable[[Scenario, Path], TopologyFacts] | None = None,
    allowed_tags: Iterable[str] | None = DEFAULT_ALLOWED_TAGS,
) -> Scenario:
    """Parse and validate one scenario file; raise ScenarioInvalid naming file:line: field.

    `facts_for_target(scenario, path)` returns the target's topology facts (None: references
    are not checked). `allowed_tags=None` accepts any tag.
    """
    path = Path(path)
    try:
        scenario, root = _parse(path)
        _check(scenario, root, path, facts_for_target, allowed_tags)
    except Located as exc:
        err = ScenarioInvalid(str(exc))
        err.problems = exc.problems  # type: ignore[attr-defined]
        raise err from None
    return scenario


def validate_files(
    paths: Iterable[str | Path],
    facts_for_target: Callable[[Scenario, Path], TopologyFacts] | None = None,
    allowed_tags: Iterable[str] | None = DEFAULT_ALLOWED_TAGS,
) -> list[Problem]:
    """Every problem in every file, plus scenario names used twice; empty when all is well."""
    return load_files(paths, facts_for_target, allowed_tags)[0]


def load_files(
    paths: Iterable[str | Path],
    facts_for_target: Callable[[Scenario, Path], TopologyFacts] | None = None,
    allowed_tags: Iterable[str] | None = DEFAULT_ALLOWED_TAGS,
) -> tuple[list[Problem], list[Scenario]]:
    """(every problem, the scenarios that validated): validate all before running any."""
    problems: list[Problem] = []
    scenarios: list[Scenario] = []
    names: dict[str, str] = {}
    for p in paths:
        path = Path(p)
        try:
            scenario, root = _parse(path)
            _check(scenario, root, path, facts_for_target, allowed_tags)
        except Located as exc:
            problems += exc.problems
            continue
        shown = display(path)
        if scenario.name in names:
            problems.append(
                Problem(
                    shown,
                    scenario.line,
                    "name",
                    f"duplicate scenario name {scenario.name!r} (also in {names[scenario.name]})",
                )
            )
            continue
        names[scenario.name] = f"{shown}:{scenario.line}"
        scenarios.append(scenario)
    return problems, scenarios


def _check(
    scenario: Scenario,
    root: yaml.Node,
    path: Path,
    facts_for_target: Callable[[Scenario, Path], TopologyFacts] | None,
    allowed_tags: Iterable[str] | None,
) -> None:
    shown = display(path)
    found = cross_check(scenario, None if allowed_tags is None else set(allowed_tags))
    if facts_for_target is not None:
        try:
            facts = facts_for_target(scenario, path)
        except InputInvalid as exc:
            found.append((("target",), f"cannot read the target: {exc}"))
        else:
            found += reference_check(scenario, facts)
    if found:
        # in file order: a misspelt link comes before the checks it makes meaningless
        problems = sorted(
            (Problem(shown, *walk(root, loc), msg) for loc, msg in found), key=lambda p: p.line
        )
        raise Located(problems)


# ---------------------------------------------------------------------------- cross-checks

Found = list[tuple[tuple[str | int, ...], str]]


def _service_of(instance: str) -> str:
    # Instance names are `<service>-<index>` (architecture.md).
    base, _, idx = instance.rpartition("-")
    return base if base and idx.isdigit() else instance


def _end(f: Any, total: float) -> float:
    if isinstance(f, CrashFault | StopFault) and f.restart_after is not None:
        return f.at + f.restart_after
    if isinstance(f, RestartFault):
        return f.at
    return f.at + f.for_ if f.for_ is not None else total


def _touches_link(f: Any, caller: str, callee: str) -> bool:
    """Whether fault `f` can disturb calls from `caller` to `callee` (service or instance)."""
    callee_service = _service_of(callee)
    if isinstance(f, _LinkFault):
        fc, fe = split_link(f.link)
        return (
            fc == caller
            and callee_service == _service_of(fe)
            and (fe in (callee, callee_service) or callee == callee_service)
        )
    if isinstance(f, _ProcessFault):
        if f.pick is not None:
            return f.pick.service == callee_service
        return f.instance == callee or (
            callee == callee_service and _service_of(f.instance or "") == callee_service
        )
    if isinstance(f, PartitionFault):
        side = {m: i for i, g in enumerate(f.groups) for m in g}
        a = side.get(caller)
        b = side.get(callee, side.get(callee_service))
        return a is not None and b is not None and a != b
    return isinstance(f, RandomFault)


def cross_check(scenario: Scenario, allowed_tags: set[str] | None) -> Found:
    """Problems inside the scenario itself, as (YAML location, message)."""
    found: Found = []
    total = scenario.duration
    if allowed_tags is not None:
        for i, tag in enumerate(scenario.tags):
            if tag not in allowed_tags:
                found.append(
                    (("tags", i), f"unknown tag {tag!r}; registered markers: "
                     + ", ".join(sorted(allowed_tags)))
                )  # fmt: skip
    seen: dict[str, int] = {}
    for i, p in enumerate(scenario.phases):
        if p.name in seen:
            found.append((("phases", i, "name"), f"duplicate phase name {p.name!r}"))
        seen.setdefault(p.name, i)
    busy: dict[str, list[tuple[float, float, int]]] = {}
    for i, f in enumerate(scenario.faults):
        found += _check_fault(i, f, total)
        if isinstance(f, _ProcessFault) and f.instance:
            end = _end(f, total)
            for s, e, j in busy.get(f.instance, []):
                if f.at < e and s < max(end, f.at + 1e-9):
                    found.append(
                        (("faults", i, "at"),
                         f"overlaps faults[{j}] on {f.instance} ({format_duration(s)}"
                         f"-{format_duration(e)})")
                    )  # fmt: skip
            busy.setdefault(f.instance, []).append((f.at, end, i))
        if isinstance(f, DownFault):
            # one flag per proxy: the first revert would re-enable a link the other still holds
            caller, callee = split_link(f.link)
            end = _end(f, total)
            for j, g in enumerate(scenario.faults[:i]):
                if (
                    isinstance(g, DownFault)
                    and _touches_link(g, caller, callee)
                    and f.at < _end(g, total)
                    and g.at < end
                ):
                    found.append(
                        (("faults", i, "at"),
                         f"overlaps faults[{j}], also down on {norm_link(g.link)}; "
                         "merge them into one fault")
                    )  # fmt: skip
    names: dict[str, str] = {}
    for section in ("steady_state", "expect"):
        entries = getattr(scenario, section)
        for i, e in enumerate(entries if isinstance(entries, list) else []):
            loc: tuple[str | int, ...] = (section, i, e.type)
            if e.name is not None:
                if e.name in names:
                    found.append(((*loc, "name"), f"duplicate check name (also {names[e.name]})"))
                names.setdefault(e.name, f"{section}[{i}]")
            found += _check_expect(loc, e, scenario)
    return found


def _check_fault(i: int, f: Any, total: float) -> Found:
    loc: tuple[str | int, ...] = ("faults", i)
    out: Found = []
    end = format_duration(total)
    if f.at >= total:
        out.append(((*loc, "at"), f"starts at {format_duration(f.at)}, "
                    f"not before the scenario ends at {end}"))  # fmt: skip
        return out
    if f.for_ is not None and f.at + f.for_ > total + 1e-9:
        out.append(((*loc, "for"), f"ends at {format_duration(f.at + f.for_)}, "
                    f"after the scenario ends at {end}"))  # fmt: skip
    if isinstance(f, _ProcessFault):
        if (f.instance is None) == (f.pick is None):
            out.append(((*loc, "instance"), "give either instance or pick: {service: ...}"))
        if isinstance(f, RestartFault) and f.for_ is not None:
            out.append(((*loc, "for"), "a restart is instantaneous; remove for"))
        if isinstance(f, CrashFault | StopFault) and f.restart_after is not None:
            if f.for_ is not None:
                out.append(((*loc, "for"), "give either for or restart_after, not both"))
            elif f.at + f.restart_after > total + 1e-9:
                out.append(((*loc, "restart_after"), "restarts at "
                            f"{format_duration(f.at + f.restart_after)}, after the scenario "
                            f"ends at {end}"))  # fmt: skip
    if isinstance(f, PartitionFault):
        members = [m for g in f.groups for m in g]
        if any(not g for g in f.groups):
            out.append(((*loc, "groups"), "every group needs at least one member"))
        dup = sorted({m for m in members if members.count(m) > 1})
        if dup:
            out.append(((*loc, "groups"), f"{', '.join(dup)} in more than one group"))
    if isinstance(f, RandomFault) and f.window is not None:
        lo, hi = f.window
        if not lo < hi <= total + 1e-9:
            out.append(((*loc, "window"), f"expected [start, end] with start < end <= {end}"))
    return out


def _check_expect(loc: tuple[str | int, ...], e: Any, scenario: Scenario) -> Found:
    out: Found = []
    phases = [p.name for p in scenario.phases]
    phase = getattr(e, "phase", None)
    if loc[0] == "steady_state":
        if e.type not in STEADY_KINDS:
            out.append((loc, f"a steady-state entry is one of {', '.join(STEADY_KINDS)}; "
                        f"{e.type} belongs in expect"))  # fmt: skip
        if phase is not None:
            out.append(((*loc, "phase"), "steady state is judged before the first fault and "
                        "over the last phase; remove phase"))  # fmt: skip
        return out
    if isinstance(e, SteadyExpect):
        out.append((loc, "steady belongs in steady_state"))
    if isinstance(e, SloExpect) and phase is None:
        out.append(((*loc, "phase"), "missing required field"))
    if phase is not None and phase not in phases:
        out.append(((*loc, "phase"), f"unknown phase {phase!r}; phases: {', '.join(phases)}"))
    if isinstance(e, BreakerExpect):
        caller, callee = split_link(e.link)
        if not any(_touches_link(f, caller, callee) for f in scenario.faults):
            out.append(((*loc, "link"), f"no fault touches {norm_link(e.link)}; the breaker "
                        "check measures from such a fault"))  # fmt: skip
    if isinstance(e, DiscoveryExpect):
        svc = _service_of(e.instance)
        faults = [
            f for f in scenario.faults
            if isinstance(f, _ProcessFault)
            and (f.instance == e.instance or (f.pick is not None and f.pick.service == svc))
        ]  # fmt: skip
        if not faults:
            out.append(((*loc, "instance"), f"no crash, stop, pause or restart of {e.instance}"))
        elif e.returns_within is not None and not any(
            isinstance(f, PauseFault | RestartFault)
            or (isinstance(f, CrashFault | StopFault) and (f.restart_after or f.for_))
            for f in faults
        ):
            out.append(((*loc, "returns_within"), f"no fault restarts {e.instance}; "
                        "give the crash a restart_after"))  # fmt: skip
    return out


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


def _known_metric(name: str, metrics: set[str]) -> bool:
    if name in metrics:
        return True
    return any(name.endswith(s) and name[: -len(s)] in metrics for s in _METRIC_SUFFIXES)


def _known_list(what: str, known: Iterable[str], value: str) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(value, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {value!r}{hint}; known {what}s: {', '.join(known)}"


def reference_check(scenario: Scenario, facts: TopologyFacts) -> Found:
    """Names of services, instances, links and metrics checked against the target."""
    out: Found = []
    instances = facts.instances

    def link_problem(link: str) -> str | None:
        caller, callee = split_link(link)
        if caller not in facts.services:
            return _known_list("service", facts.services, caller) + " (the caller of " + link + ")"
        callee_service = instances.get(callee, callee)
        if callee_service not in facts.services or (caller, callee_service) not in facts.links:
            return _known_list("link", facts.link_names(), norm_link(link))
        return None

    for i, f in enumerate(scenario.faults):
        loc: tuple[str | int, ...] = ("faults", i)
        if isinstance(f, _LinkFault) and (msg := link_problem(f.link)):
            out.append(((*loc, "link"), msg))
        if isinstance(f, _ProcessFault):
            if f.instance is not None and f.instance not in instances:
                out.append(((*loc, "instance"), _known_list("instance", instances, f.instance)))
            if f.pick is not None and f.pick.service not in facts.services:
                out.append(((*loc, "pick", "service"),
                            _known_list("service", facts.services, f.pick.service)))  # fmt: skip
        if isinstance(f, PartitionFault):
            names = set(facts.services) | set(instances)
            bad = [m for g in f.groups for m in g if m not in names]
            for m in bad:
                out.append(((*loc, "groups"), _known_list("service or instance", names, m)))
            callers = {a for a, _ in facts.links}
            for m in (m for g in f.groups for m in g if m in instances):
                if instances[m] in callers:
                    out.append(((*loc, "groups"), f"{m} is an instance of a calling service; "
                                "proxies are per caller service, so only all of "
                                f"{instances[m]} can be cut off"))  # fmt: skip
            if not bad and not any(
                _touches_link(f, a, b) or _touches_link(f, a, inst)
                for a, b in facts.links
                for inst in facts.services.get(b, [])
            ):
                out.append(((*loc, "groups"), "the groups cut no link; links: "
                            + ", ".join(facts.link_names())))  # fmt: skip
    for section in ("steady_state", "expect"):
        entries = getattr(scenario, section)
        for i, e in enumerate(entries if isinstance(entries, list) else []):
            loc = (section, i, e.type)
            if isinstance(e, BreakerExpect) and (msg := link_problem(e.link)):
                out.append(((*loc, "link"), msg))
            if isinstance(e, DiscoveryExpect) and e.instance not in instances:
                out.append(((*loc, "instance"), _known_list("instance", instances, e.instance)))
            if isinstance(e, PromqlExpect) and facts.metrics is not None:
                for name in promql_metric_names(e.query):
                    if not _known_metric(name, facts.metrics):
                        out.append(((*loc, "query"), _known_list("metric", facts.metrics, name)))
    return out


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


__all__ = [
    "FAULT_ADAPTER",
    "AbortCondition",
    "BreakerExpect",
    "DiscoveryExpect",
    "Expectation",
    "Load",
    "Phase",
    "Problem",
    "PromqlExpect",
    "SagaConsistencyExpect",
    "Scenario",
    "SloExpect",
    "SteadyExpect",
    "TopologyFacts",
    "drawn_by_seed",
    "json_schema",
    "load_files",
    "load_scenario",
    "markers",
    "random_schedule",
    "resolve_picks",
    "validate_files",
]
