"""The scenario model: load, phases, faults, steady state, abort conditions, expectations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from harness.checks.abort import AbortCondition
from harness.durations import PositiveDuration
from harness.facts import MAX_ITEMS, NAME_RE, Strict
from harness.loadconf import LOCUSTFILE_RE, HostTemplate
from harness.scenario.expectations import ExpectEntry
from harness.scenario.faultspec import FAULT_MARKERS, FaultSpec, RandomFault

_ENV_KEY_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
# a topology path: printable, no NUL or control characters, a .yaml/.yml file
_TARGET_RE = r"^(bundled|[^\x00-\x1f\x7f]{1,250}\.ya?ml)$"


def _scalar_str(value: Any) -> Any:
    # YAML turns `MY_FLAG: 1` into an int; env values are strings either way.
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return value


EnvValue = Annotated[str, BeforeValidator(_scalar_str)]

# ---------------------------------------------------------------------------- load and phases


class Stage(Strict):
    duration: PositiveDuration
    users: StrictInt = Field(ge=0, le=10_000)
    spawn_rate: StrictFloat = Field(default=10.0, gt=0)


# a tenth of the requests traced: tracing every one costs the shop 31-36 % of its capacity, a
# quarter 17-20 %, a tenth 11-14 % (CPU per order against a control process, docs/performance.md
# "Profiled: where tracing's CPU goes"); a 10 s fault phase at 16 requests/s still has ~16
# traces, and a saga in trouble is traced whatever the share
DEFAULT_TRACE_SAMPLE = 0.1


class Load(Strict):
    """Either a constant `users` count or a list of `stages`; `rate` is per user per second.

    `locustfile` and `host` default to the target topology's `load:` section."""

    locustfile: str | None = Field(
        default=None,
        pattern=LOCUSTFILE_RE,
        description="the locustfile, relative to this file; default: the target's",
    )
    host: HostTemplate | None = Field(
        default=None, description="where the load goes; default: the target's, else http://{entry}"
    )
    users: StrictInt | None = Field(default=None, ge=1, le=10_000)
    spawn_rate: StrictFloat | None = Field(default=None, gt=0)
    rate: StrictFloat | None = Field(
        default=None,
        gt=0,
        description="requests/s per user (constant_throughput on every user class); "
        "default: the locustfile's own wait_time",
    )
    stages: list[Stage] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    workers: StrictInt = Field(
        default=0, ge=0, le=16, description="Locust distributed mode: local worker processes"
    )
    trace_sample: StrictFloat = Field(
        default=DEFAULT_TRACE_SAMPLE,
        ge=0,
        le=1,
        description="the share of requests whose traceparent is flagged sampled (a traced "
        "target records those only)",
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


class Phase(Strict):
    name: str = Field(pattern=NAME_RE)
    duration: PositiveDuration


# ---------------------------------------------------------------------------- scenario


class Scenario(Strict):
    name: str = Field(pattern=NAME_RE, max_length=63)
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
    secret_leak: Literal["auto", "none"] = Field(
        default="auto",
        description="auto: a secret_leak check is added when the target declares secrets and "
        "`expect` lists none; none: no such check",
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


def markers(scenario: Scenario) -> list[str]:
    """pytest markers: one per fault kind, `jitter`, the tags, and `slow` beyond 60 s."""
    out: set[str] = set(scenario.tags)
    for f in scenario.faults:
        kinds = f.kinds if isinstance(f, RandomFault) else [f.kind]
        out.update(FAULT_MARKERS[k] for k in kinds)
        out.update(f.extra_markers())
    if scenario.duration > 60:
        out.add("slow")
    return sorted(out)
