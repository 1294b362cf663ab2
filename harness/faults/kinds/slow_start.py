"""slow_start: an instance restarted with a start-up delay before its server execs.

The instance stops gracefully (SIGTERM), and its process is started again at once but waits
`delay` in a shell before it execs the real command: a supervisor sees a process, callers see
nothing listening. The revert, due `delay` after the injection, waits until it is healthy.
The pid stays the same across the exec, so the stack's process record keeps pointing at it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from harness.backend import StackBackend
from harness.durations import PositiveDuration, format_duration, parse_duration
from harness.errors import FaultError
from harness.faults.base import FaultKind, Flag, ProcessFaultModel
from harness.faults.process import InstanceFault


class SlowStartFault(ProcessFaultModel):
    kind: Literal["slow_start"]
    delay: PositiveDuration

    @model_validator(mode="after")
    def _no_for(self) -> SlowStartFault:
        if self.for_ is not None:
            raise ValueError("a slow_start lasts its delay; remove for")
        return self

    def revert_after(self) -> float | None:
        return self.delay

    def headline(self) -> str:
        return f"slow_start {format_duration(self.delay)}"


def delayed(delay: float) -> list[str]:
    """A command prefix that sleeps `delay` seconds, then execs the rest of the command line."""
    return ["/bin/sh", "-c", 'sleep "$0" && exec "$@"', f"{delay:g}"]


class SlowStart(InstanceFault):
    signal_name = "SIGTERM"

    def __init__(self, stack: StackBackend, instance: str, delay: float, **_: Any) -> None:
        super().__init__(stack, instance)
        self.delay = delay

    def inject(self) -> None:
        if not self.stack.prefixes_commands:
            raise FaultError(
                f"slow_start needs a backend that starts commands itself, not "
                f"{type(self.stack).__name__}; use the local backend"
            )
        if self.stack.is_running(self.instance):
            self.stack.terminate(self.instance)
        self.stack.start_instance(self.instance, wait=False, prefix=delayed(self.delay))

    def revert(self) -> None:
        self.stack.wait_healthy(self.instance)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kind": "slow_start", "delay": self.delay}


KIND = FaultKind(
    name="slow_start",
    model=SlowStartFault,
    driver=SlowStart,
    scope="instance",
    summary="process restarted with a start-up delay before it listens",
    fields="`instance` or `pick`, `delay` (the wait before the server starts)",
    flags=(Flag("--delay", "delay", parse_duration, "start-up delay, e.g. 5s", required=True),),
    random_params={},
    random_length="delay",
)
