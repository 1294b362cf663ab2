"""The Fault protocol.

A fault kind is one class with ``inject()`` and ``revert()``; ``KINDS`` in ``harness.faults``
maps its name to its constructor, so a new kind is one new file and one registry line. Active
faults are reverted newest first in ``finally`` by ``harness.targets.FaultDriver`` and
``harness.scenario_run.ScenarioRun``; a failed revert fails the run.
"""

from __future__ import annotations

from typing import Any, Protocol


class Fault(Protocol):
    needs_revert: bool

    def inject(self) -> None: ...
    def revert(self) -> None: ...
    def describe(self) -> dict[str, Any]: ...
