"""restart: an instance stopped (SIGTERM) and started again at once; nothing to revert."""

from __future__ import annotations

from typing import Literal

from harness.faults.base import FaultKind, ProcessFaultModel
from harness.faults.process import InstanceFault


class RestartFault(ProcessFaultModel):
    kind: Literal["restart"]

    def revert_after(self) -> float | None:
        return None


class Restart(InstanceFault):
    needs_revert = False
    signal_name = "SIGTERM"

    def inject(self) -> None:
        self.stack.restart(self.instance)

    def revert(self) -> None:
        pass


KIND = FaultKind(
    name="restart",
    model=RestartFault,
    driver=Restart,
    scope="instance",
    summary="process restart",
    fields="`instance`",
    random_length=None,
    instantaneous=True,
)
