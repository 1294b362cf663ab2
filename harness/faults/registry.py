"""Registry outage: the registry process (etcd) paused; callers must keep what they know."""

from __future__ import annotations

from typing import Any


class RegistryOutage:
    needs_revert = True

    def __init__(self, stack: Any, **_: Any) -> None:
        self.stack = stack

    def inject(self) -> None:
        self.stack.pause_registry()

    def revert(self) -> None:
        self.stack.resume_registry()

    def describe(self) -> dict[str, Any]:
        return {"kind": "registry_outage"}
