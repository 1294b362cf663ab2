"""pause: an instance frozen (SIGSTOP) and resumed (SIGCONT) at the end of `for`.

A stopped server still completes TCP handshakes (the kernel does), so callers see read
timeouts, and on SIGCONT its pending deadlines all fire at once.
"""

from __future__ import annotations

from typing import Literal

from harness.faults.base import FaultKind, ProcessFaultModel
from harness.faults.process import InstanceFault


class PauseFault(ProcessFaultModel):
    kind: Literal["pause"]


class Pause(InstanceFault):
    signal_name = "SIGSTOP"

    def inject(self) -> None:
        self.stack.pause(self.instance)

    def revert(self) -> None:
        self.stack.resume(self.instance)


KIND = FaultKind(
    name="pause",
    model=PauseFault,
    driver=Pause,
    scope="instance",
    summary="process pause (SIGSTOP) and resume",
    fields="`instance` (SIGSTOP; SIGCONT at the end of `for`)",
)
