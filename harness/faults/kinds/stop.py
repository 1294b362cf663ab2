"""stop: an instance stopped gracefully (SIGTERM), started again after `restart_after`."""

from __future__ import annotations

from typing import Literal

from harness.faults.base import FaultKind, RestartableFaultModel
from harness.faults.process import InstanceFault


class StopFault(RestartableFaultModel):
    kind: Literal["stop"]


class Stop(InstanceFault):
    signal_name = "SIGTERM"

    def inject(self) -> None:
        self.stack.terminate(self.instance)


KIND = FaultKind(
    name="stop",
    model=StopFault,
    driver=Stop,
    scope="instance",
    summary="graceful process stop (SIGTERM)",
    fields="as crash (SIGTERM)",
    random_length="restart_after",
)
