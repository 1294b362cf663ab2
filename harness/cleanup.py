"""Cleanup that runs every step, whatever an earlier step raised.

A ``finally`` that calls ``revert(); stop_load(); stop_poller()`` in a row skips the rest as soon
as one raises: a revert that fails would leave Locust running. :class:`Cleanup` runs each step,
keeps every error, and :meth:`Cleanup.raise_first` raises the first one afterwards (the first
foreign one, a bug or an unmapped error, when there is one), with the others attached as notes,
so a failed cleanup still fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError


@dataclass
class Cleanup:
    errors: list[tuple[str, BaseException]] = field(default_factory=list)

    def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)``; on any error (Ctrl-C included) keep it and carry on."""
        try:
            return fn(*args)
        except BaseException as exc:  # every step must run; raise_first() raises it afterwards
            self.errors.append((name, exc))
            return None

    def describe(self) -> str:
        return "; ".join(f"{name} failed: {exc!r}" for name, exc in self.errors)

    @property
    def foreign(self) -> bool:
        """Whether an error outside the harness's own tree (a bug, an unmapped error) was kept."""
        return any(not isinstance(exc, HarnessError) for _, exc in self.errors)

    def raise_first(self) -> None:
        """Raise the first foreign error if there is one, else the first error; the others
        are attached as notes."""
        if not self.errors:
            return
        name, first = next(
            ((n, e) for n, e in self.errors if not isinstance(e, HarnessError)), self.errors[0]
        )
        first.add_note(f"(while cleaning up: {name})")
        for other_name, other in self.errors:
            if other is not first:
                first.add_note(f"cleanup step {other_name} failed too: {other!r}")
        raise first
