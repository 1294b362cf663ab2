"""Expectation (check) entries of a scenario file: `{type: params}`, one model per check kind.

The models live in their check modules under ``harness/checks/``; the union is assembled by the
check registry (``harness.checks``), so a new check kind needs no line here.
"""

from __future__ import annotations

from harness.checks import EXPECT_ADAPTER, EXPECT_MODELS, Expectation, ExpectEntry
from harness.checks.breaker import BreakerExpect
from harness.checks.discovery import DiscoveryExpect
from harness.checks.invariant import InvariantExpect
from harness.checks.promql import PromqlExpect
from harness.checks.saga import SagaConsistencyExpect
from harness.checks.slo import SloExpect
from harness.checks.steady import STEADY_KINDS, SteadyExpect

__all__ = [
    "EXPECT_ADAPTER",
    "EXPECT_MODELS",
    "STEADY_KINDS",
    "BreakerExpect",
    "DiscoveryExpect",
    "ExpectEntry",
    "Expectation",
    "InvariantExpect",
    "PromqlExpect",
    "SagaConsistencyExpect",
    "SloExpect",
    "SteadyExpect",
]
