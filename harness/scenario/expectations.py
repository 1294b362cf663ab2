"""Expectation (check) models of a scenario file: `{type: params}` entries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    StrictFloat,
    StrictInt,
    TypeAdapter,
)

from harness.durations import Duration
from harness.facts import LINK_RE, Strict, norm_link

# ---------------------------------------------------------------------------- expectations


class _Expect(Strict):
    name: str | None = None
    allow_unknown: bool = False


class SagaConsistencyExpect(_Expect):
    type: Literal["saga_consistency"] = "saga_consistency"
    settle_within: Duration = 20.0

    def label(self) -> str:
        return self.name or "saga consistency"


class BreakerExpect(_Expect):
    type: Literal["breaker"] = "breaker"
    link: str = Field(pattern=LINK_RE)
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
    phase: str
    min_success_rate: StrictFloat | None = Field(default=None, ge=0, le=1)
    max_p50: Duration | None = None
    max_p95: Duration | None = None
    max_p99: Duration | None = None
    min_throughput: StrictFloat | None = Field(default=None, ge=0, description="ok requests/s")
    max_throughput: StrictFloat | None = Field(default=None, ge=0, description="ok requests/s")

    def label(self) -> str:
        return self.name or f"slo {self.phase}"


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
}


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
    SagaConsistencyExpect | BreakerExpect | DiscoveryExpect | SloExpect | PromqlExpect,
    Discriminator("type"),
]
ExpectEntry = Annotated[Expectation, BeforeValidator(_unwrap_entry)]
EXPECT_ADAPTER: TypeAdapter[Any] = TypeAdapter(ExpectEntry)
