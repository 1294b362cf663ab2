"""A target's profile: what the generic checks read, in the target's own names.

The ``profile:`` section of a topology file (one file describes a target) maps each thing a
check needs onto the series, labels and values the system exports, its registry's key layout,
the audit that tells work in flight, and the known bugs selftest switches on. Nothing in
``harness/`` names a series of any particular system: the run collects what the profile maps,
under the harness's **canonical keys and labels** (``prom/<key>.csv``), so the checkers and the
report read one vocabulary whatever the target calls things.

Every field is optional. An absent mapping means the harness does not collect that series, and
a check that needs it answers "unknown" naming the missing mapping (``why_unmapped``), never a
silent pass; a mapped series that Prometheus never returns is "unknown" naming the query.

Canonical keys a check reads (``CHECK_SERIES``) and their canonical labels:

- ``breaker_state``: ``caller``, ``callee``, ``callee_instance``; value 0 closed, 1 open,
  2 half-open (the profile says which of the system's values means open / half-open).
- ``breaker_transitions``: same labels and ``to_state`` (``open``, ``half_open``, ``closed``).
- ``outbound_requests``: ``caller``, ``callee``, ``callee_instance``, ``outcome`` (``ok``, and
  ``breaker_open`` for a call the open breaker refused without reaching the callee).
- ``discovery_seen``: ``caller``, ``callee_instance``; value > 0 while the caller sees it.
- ``event_loop_lag``: seconds, per ``instance``.
- ``up``: Prometheus' own scrape health, always collected.

Prometheus' ``instance`` label is the instance name in every series (the stack relabels it).
"""

from __future__ import annotations

import builtins
import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from harness.facts import known_metric, promql_metric_names

if TYPE_CHECKING:  # pandas is imported by whoever hands a frame in, not by topology loading
    import pandas as pd

_LABEL = r"^[a-zA-Z_][a-zA-Z0-9_]{0,127}$"
_KEY = r"^[a-z][a-z0-9_]{0,62}$"
_METRIC = r"^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$"
_ENV_KEY = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_SERVICE = r"^[a-z][a-z0-9_-]{0,39}$"
_FIELD = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"

PromQL = Annotated[str, Field(min_length=1, max_length=4000, description="a PromQL expression")]
Label = Annotated[str, Field(pattern=_LABEL, description="a Prometheus label name")]
Number = StrictInt | StrictFloat

# The canonical keys of the mapped fields, and where the profile maps each.
MAPPED: dict[str, str] = {
    "breaker_state": "breaker.state",
    "breaker_transitions": "breaker.transitions",
    "outbound_requests": "calls",
    "discovery_seen": "discovery.seen",
    "event_loop_lag": "event_loop_lag",
}
ALWAYS: dict[str, str] = {"up": "up"}  # collected for every target, profile or not
RESERVED_PREFIXES = ("promql_", "steady_promql_")  # keys of the scenario's own promql series
NOT_MAPPED = "not mapped: "  # how a recorded file's missing reason starts when never mapped


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _distinct(model: BaseModel, *names: str) -> None:
    """Refuse two of `names` (fields of `model`, None skipped) with the same value."""
    seen: dict[Any, str] = {}
    for name in names:
        value = getattr(model, name)
        if value is None:
            continue
        if value in seen:
            raise ValueError(f"{seen[value]} and {name} are both {value!r}; they must differ")
        seen[value] = name


class BreakerState(_Strict):
    """A gauge per breaker: which of its values mean open and half-open (any other: closed)."""

    query: PromQL
    open: Number = Field(description="the gauge's value while the breaker is open")
    half_open: Number | None = Field(
        default=None, description="its value while half-open; absent: the breaker has none"
    )

    @model_validator(mode="after")
    def _values_differ(self) -> BreakerState:
        _distinct(self, "open", "half_open")
        return self


class BreakerTransitions(_Strict):
    """A counter of transitions per breaker, with a label naming the state entered."""

    query: PromQL
    to_state: Label = Field(default="to_state", description="the label naming the new state")
    open: StrictStr = Field(default="open", description="its value for a move to open")
    half_open: StrictStr = Field(default="half_open", description="... to half-open")
    closed: StrictStr = Field(default="closed", description="... to closed")

    @model_validator(mode="after")
    def _values_differ(self) -> BreakerTransitions:
        _distinct(self, "open", "half_open", "closed")
        return self


class Breaker(_Strict):
    """Circuit breakers, one per (caller, callee instance): the `breaker` and `steady` checks."""

    caller: Label = Field(default="caller", description="the label naming the calling service")
    callee: Label = Field(default="callee", description="the label naming the called service")
    callee_instance: Label = Field(
        default="callee_instance", description="the label naming the called instance"
    )
    state: BreakerState | None = Field(default=None, description="absent: not collected")
    transitions: BreakerTransitions | None = Field(
        default=None, description="absent: transitions are read from the state gauge alone"
    )

    @model_validator(mode="after")
    def _labels_differ(self) -> Breaker:
        _distinct(self, "caller", "callee", "callee_instance")
        if self.transitions is not None:
            ends = (self.caller, self.callee, self.callee_instance)
            if self.transitions.to_state in ends:
                raise ValueError(f"transitions.to_state {self.transitions.to_state!r} is also "
                                 "a caller / callee label")  # fmt: skip
        return self


class Calls(_Strict):
    """A counter of calls per (caller, callee instance, outcome): calls while a breaker was
    open (`breaker`), ok calls reaching a restarted instance (`discovery`)."""

    query: PromQL
    caller: Label = "caller"
    callee: Label = "callee"
    callee_instance: Label = "callee_instance"
    outcome: Label = Field(default="outcome", description="the label naming the call's outcome")
    ok: StrictStr = Field(default="ok", description="the outcome of a successful call")
    rejected: StrictStr | None = Field(
        default=None,
        description="the outcome of a call the open breaker refused (it never reached the "
        "callee); absent: every call counts as reaching it",
    )

    @model_validator(mode="after")
    def _distinct_names(self) -> Calls:
        _distinct(self, "caller", "callee", "callee_instance", "outcome")
        _distinct(self, "ok", "rejected")
        return self


class Seen(_Strict):
    """A gauge per (caller, callee instance), > 0 while the caller's discovery sees it."""

    query: PromQL
    caller: Label = "caller"
    callee_instance: Label = "callee_instance"

    @model_validator(mode="after")
    def _labels_differ(self) -> Seen:
        _distinct(self, "caller", "callee_instance")
        return self


class Discovery(_Strict):
    seen: Seen | None = Field(
        default=None, description="absent: callers' views are not measured (checks: unknown)"
    )


class Registry(_Strict):
    """Where instances register in etcd, and how a key's value reads."""

    prefix: str = Field(
        pattern=r"^/[!-~]{0,254}/$", description="the key prefix, e.g. /myapp/services/"
    )
    format: Literal["json", "path"] = Field(
        default="json",
        description="json: the value is a JSON object with the fields below; path: the key is "
        "<prefix><service>/<instance> and the incarnation is the key's lease",
    )
    service: str = Field(default="service", pattern=_FIELD, description="json: service field")
    instance: str = Field(default="instance", pattern=_FIELD, description="json: instance field")
    incarnation: str | None = Field(
        default="incarnation",
        pattern=_FIELD,
        description="json: the field naming one life of the process; absent: the key's lease",
    )


class InFlight(_Strict):
    """How to tell work in flight from an audit: the harness waits for none before a scenario
    and before collecting its data."""

    audit: str = Field(pattern=_SERVICE, description="the service whose audit lists the work")
    list: str = Field(pattern=_FIELD, description="the audit payload's field holding the list")
    state: str = Field(default="state", pattern=_FIELD, description="each item's state field")
    terminal: builtins.list[StrictStr] = Field(
        min_length=1, max_length=64, description="the states that mean done"
    )


class Bugs(_Strict):
    """Known bugs `stormproof selftest` switches on, one at a time, and the scenarios that must
    catch each."""

    env: str = Field(pattern=_ENV_KEY, description="the env var that switches a bug on")
    scenarios: dict[
        Annotated[str, Field(pattern=_NAME)],
        Annotated[list[Annotated[str, Field(pattern=_NAME)]], Field(min_length=1)],
    ] = Field(min_length=1, max_length=256, description="bug -> scenario names that catch it")


class Compose(_Strict):
    """What `stormproof compose generate` needs beyond the topology."""

    image: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9._/:-]{0,199}$",
        description="the instances' image; absent: stormproof-<topology name>:local",
    )
    dockerfile: str | None = Field(
        default=None,
        pattern=r"^[!-~]{1,1024}$",
        description="the Dockerfile, relative to the repository root; absent: no build section",
    )
    env: dict[Annotated[str, Field(pattern=_ENV_KEY)], str] = Field(
        default_factory=dict,
        description="env set in every instance's container (templates: {instance}, {port})",
    )


class Profile(_Strict):
    """What the generic checks read, in the target's own names (docs/own-system.md)."""

    metrics: list[Annotated[str, Field(pattern=_METRIC)]] | None = Field(
        default=None,
        max_length=4096,
        description="every metric the target exports: promql expectations are validated "
        "against it; absent: queries are not checked for names",
    )
    series: dict[Annotated[str, Field(pattern=_KEY)], PromQL] = Field(
        default_factory=dict,
        max_length=256,
        description="more series collected every run, key -> PromQL, as prom/<key>.csv",
    )
    breaker: Breaker = Field(default_factory=Breaker)
    calls: Calls | None = None
    discovery: Discovery = Field(default_factory=Discovery)
    event_loop_lag: PromQL | None = Field(
        default=None,
        description="each instance's event-loop lag in seconds (overloaded runs are "
        "inconclusive); absent: overload is not measured",
    )
    registry: Registry | None = Field(
        default=None,
        description="the etcd key layout (with `registry: etcd`); absent: the registry is not "
        "polled and registry-based checks are unknown",
    )
    in_flight: InFlight | None = Field(
        default=None, description="absent: the harness does not wait for work to drain"
    )
    bugs: Bugs | None = Field(default=None, description="absent: selftest has nothing to run")
    compose: Compose = Field(default_factory=Compose)

    # ------------------------------------------------------------------ collection

    def queries(self) -> dict[str, SeriesQuery]:
        """Canonical key -> query (with the relabelling to canonical names), for every mapped
        series, ``up`` and the profile's own ``series``."""
        out: dict[str, SeriesQuery] = {k: SeriesQuery(q) for k, q in ALWAYS.items()}
        b = self.breaker
        ends = {b.caller: "caller", b.callee: "callee", b.callee_instance: "callee_instance"}
        if b.state is not None:
            values = {b.state.open: 1.0}
            if b.state.half_open is not None:
                values[b.state.half_open] = 2.0
            out["breaker_state"] = SeriesQuery(b.state.query, ends, gauge=values)
        if b.transitions is not None:
            tr = b.transitions
            states = {tr.open: "open", tr.half_open: "half_open", tr.closed: "closed"}
            out["breaker_transitions"] = SeriesQuery(
                tr.query, {**ends, tr.to_state: "to_state"}, {"to_state": states}
            )
        if self.calls is not None:
            c = self.calls
            outcomes = {c.ok: "ok"}
            if c.rejected is not None:
                outcomes[c.rejected] = "breaker_open"
            labels = {c.caller: "caller", c.callee: "callee", c.callee_instance: "callee_instance"}
            out["outbound_requests"] = SeriesQuery(
                c.query, {**labels, c.outcome: "outcome"}, {"outcome": outcomes}
            )
        if self.discovery.seen is not None:
            s = self.discovery.seen
            out["discovery_seen"] = SeriesQuery(
                s.query, {s.caller: "caller", s.callee_instance: "callee_instance"}
            )
        if self.event_loop_lag is not None:
            out["event_loop_lag"] = SeriesQuery(self.event_loop_lag)
        for key, query in self.series.items():
            out.setdefault(key, SeriesQuery(query))
        return out

    def why_unmapped(self, key: str) -> str | None:
        """Why canonical `key` is not collected; None when it is."""
        if key in self.queries():
            return None
        if key in MAPPED:
            return f"{NOT_MAPPED}the target profile sets no {MAPPED[key]}"
        return f"{NOT_MAPPED}the target profile's series has no {key!r}"

    def known_metrics(self) -> set[str] | None:
        """Metric names promql queries may use (``up`` included); None: not checked."""
        return None if self.metrics is None else {*self.metrics, "up"}


@dataclass(frozen=True)
class SeriesQuery:
    """One collected series: its PromQL, and how its labels and values become canonical."""

    promql: str
    labels: dict[str, str] = field(default_factory=dict)  # the target's label -> canonical
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # canonical label -> map
    gauge: dict[float, float] | None = None  # the target's value -> canonical; others: 0

    def normalize(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` (long format: t, value, one column per label) in canonical names."""
        if frame.empty:
            return frame
        renames = {src: dst for src, dst in self.labels.items() if src != dst}
        if renames:
            # a label already named like a canonical one, but not the mapped label: dropped
            clash = [c for c in renames.values() if c in frame.columns and c not in renames]
            frame = frame.drop(columns=clash).rename(columns=renames)
        for col, mapping in self.values.items():
            if col in frame.columns and any(k != v for k, v in mapping.items()):
                frame = frame.assign(**{col: frame[col].map(lambda v, m=mapping: m.get(v, v))})
        if self.gauge is not None and any(k != v for k, v in self.gauge.items()):
            mapped = frame["value"].map(lambda v: self.gauge.get(float(v), 0.0))  # type: ignore[union-attr]
            frame = frame.assign(value=mapped)
        return frame


def cross_check(profile: Profile, services: dict[str, Any], registry: str,
                steady: Any) -> list[tuple[tuple[Any, ...], str]]:  # fmt: skip
    """(location under the topology, message) for what the profile's schema cannot see."""
    found: list[tuple[tuple[Any, ...], str]] = []
    at = ("profile",)
    for key in profile.series:
        if key in MAPPED or key in ALWAYS or key.startswith(RESERVED_PREFIXES):
            why = (
                f"is set by profile.{MAPPED[key]}"
                if key in MAPPED
                else "is always collected"
                if key in ALWAYS
                else f"starts with a prefix kept for promql expectations {RESERVED_PREFIXES}"
            )
            found.append(((*at, "series", key), f"key {key!r} {why}; name the series otherwise"))
    known_metrics = profile.known_metrics()
    if known_metrics is not None:
        for loc, query in _queries_at(profile):
            for name in promql_metric_names(query):
                if not known_metric(name, known_metrics):
                    close = difflib.get_close_matches(name, sorted(known_metrics), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    found.append(((*at, *loc), f"unknown metric {name!r}{hint}; not in "
                                  "profile.metrics"))  # fmt: skip
    if profile.registry is not None and registry != "etcd":
        found.append(((*at, "registry"), "a registry layout needs `registry: etcd`"))
    for key, value in profile.compose.env.items():
        for var in re.findall(r"{([^{}]*)}", value):
            if var not in ("instance", "port"):
                found.append(((*at, "compose", "env", key),
                              f"unknown template variable {{{var}}}; known: {{instance}}, "
                              "{port}"))  # fmt: skip
    known = ", ".join(services)
    flight = profile.in_flight
    if flight is not None:
        svc = services.get(flight.audit)
        if svc is None:
            found.append(((*at, "in_flight", "audit"),
                          f"unknown service {flight.audit!r}; known: {known}"))  # fmt: skip
        elif not getattr(svc, "audit", None):
            found.append(((*at, "in_flight", "audit"),
                          f"service {flight.audit!r} has no `audit:` endpoint"))  # fmt: skip
    if steady is not None and not isinstance(steady, str):
        if steady.breakers_closed and profile.breaker.state is None:
            found.append((("steady_state", "breakers_closed"),
                          "needs profile.breaker.state (the breakers' state gauge); say "
                          "`breakers_closed: false` for a system without breakers"))  # fmt: skip
        if steady.registered and registry == "etcd" and profile.registry is None:
            found.append((("steady_state", "registered"),
                          "needs profile.registry (where instances register in etcd); "
                          "say `registered: false` otherwise"))  # fmt: skip
        if steady.registered and registry == "etcd" and profile.discovery.seen is None:
            found.append((("steady_state", "registered"),
                          "needs profile.discovery.seen (each caller's view of its callees); "
                          "say `registered: false` otherwise"))  # fmt: skip
    return found


def _queries_at(profile: Profile) -> list[tuple[tuple[str, ...], str]]:
    """(location under profile, PromQL) for every query the profile holds."""
    out = [(("series", key), q) for key, q in profile.series.items()]
    b = profile.breaker
    if b.state is not None:
        out.append((("breaker", "state", "query"), b.state.query))
    if b.transitions is not None:
        out.append((("breaker", "transitions", "query"), b.transitions.query))
    if profile.calls is not None:
        out.append((("calls", "query"), profile.calls.query))
    if profile.discovery.seen is not None:
        out.append((("discovery", "seen", "query"), profile.discovery.seen.query))
    if profile.event_loop_lag is not None:
        out.append((("event_loop_lag",), profile.event_loop_lag))
    return out
