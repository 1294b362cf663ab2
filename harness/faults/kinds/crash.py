"""crash: an instance killed (SIGKILL), started again after `restart_after` or `for`."""

from __future__ import annotations

from typing import Literal

from harness.faults.base import FaultKind, RestartableFaultModel
from harness.faults.process import InstanceFault


class CrashFault(RestartableFaultModel):
    kind: Literal["crash"]


class Crash(InstanceFault):
    signal_name = "SIGKILL"

    def inject(self) -> None:
        self.stack.kill(self.instance)


KIND = FaultKind(
    name="crash",
    model=CrashFault,
    driver=Crash,
    scope="instance",
    summary="process crash (SIGKILL)",
    fields="`instance` or `pick: {service: ledger}`, `restart_after`",
    random_length="restart_after",
)
