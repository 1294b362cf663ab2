"""The Fault protocol and the undo ledger.

A fault kind is one class with ``inject()`` and ``revert()``; ``KINDS`` in ``harness.faults``
maps its name to its constructor, so a new kind is one new file and one registry line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import HarnessError, RevertFailed


class Fault(Protocol):
    needs_revert: bool

    def inject(self) -> None: ...
    def revert(self) -> None: ...
    def describe(self) -> dict[str, Any]: ...


@dataclass
class UndoLedger:
    """Reverts, newest first, all of them even when some fail (like MonkeyPatch.undo)."""

    entries: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)

    def push(self, description: str, revert: Callable[[], None]) -> None:
        self.entries.append((description, revert))
        self.log.append({"what": description, "injected_at": time.time()})

    def undo(self) -> None:
        failures = []
        while self.entries:
            description, revert = self.entries.pop()
            try:
                revert()
                self.log.append({"what": description, "reverted_at": time.time()})
            except (HarnessError, OSError) as exc:
                failures.append(f"{description}: {exc}")
        if failures:
            raise RevertFailed("revert failed: " + "; ".join(failures))
