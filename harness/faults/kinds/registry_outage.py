"""registry_outage: the registry process (etcd) paused; callers must keep what they know."""

from __future__ import annotations

from typing import Any, Literal

from harness.backend import StackBackend
from harness.faults.base import FaultKind, FaultModel


class RegistryOutageFault(FaultModel):
    kind: Literal["registry_outage"]

    def target_name(self) -> str:
        return "registry"


class RegistryOutage:
    needs_revert = True

    def __init__(self, stack: StackBackend, **_: Any) -> None:
        self.stack = stack

    def inject(self) -> None:
        self.stack.pause_registry()

    def revert(self) -> None:
        self.stack.resume_registry()

    def describe(self) -> dict[str, Any]:
        return {"kind": "registry_outage"}


KIND = FaultKind(
    name="registry_outage",
    model=RegistryOutageFault,
    driver=RegistryOutage,
    scope="registry",
    summary="service registry (etcd) outage",
    fields="— (etcd paused for `for`)",
    old_markers=("registry",),
)
