"""What a check kind is: its expectation model and ``CheckKind``.

A check kind is one module under ``harness/checks/`` that defines its expectation model (a
subclass of ``ExpectModel`` with ``type: Literal["<name>"]``), its pure checker, and a
``KIND = CheckKind(...)`` naming them with the Prometheus series it reads. The registry in
``harness/checks/__init__.py`` lists every ``KIND``; the scenario's expectation union and the
runner's collection are generated from it.

A checker is called as ``check(expect, data, *keys)``: ``keys`` are the prom keys of the extra
series it asked for with ``queries`` (none for most checks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.facts import Strict, TopologyFacts


class ExpectModel(Strict):
    name: str | None = None
    allow_unknown: bool = False


@dataclass(frozen=True)
class CheckKind:
    name: str
    model: type[ExpectModel]
    check: Callable[..., Any]
    # canonical prom keys it reads (harness/profile.py maps them per target), for docs and tests
    series: tuple[str, ...] = ()
    data: str = ""  # other recorded data it reads, for the docs
    # (expect, index in its list, key prefix) -> {prom key: PromQL}: extra series to collect
    queries: Callable[[Any, int, str], dict[str, str]] | None = None
    # facts -> {prom key: PromQL}: series named by the target (its topology), not the scenario
    target_queries: Callable[[TopologyFacts], dict[str, str]] | None = None

    def keys(self, expect: Any, index: int, prefix: str) -> list[str]:
        return list(self.queries(expect, index, prefix)) if self.queries else []
