"""Process faults on instances: crash (SIGKILL), stop (SIGTERM), pause (SIGSTOP), restart.

Revert starts a crashed or stopped instance again on its own port (so its proxies and its
Prometheus target stay valid) and waits until it is healthy; a pause is reverted by SIGCONT.
"""

from __future__ import annotations

from typing import Any


class Crash:
    needs_revert = True
    signal_name = "SIGKILL"

    def __init__(self, stack: Any, instance: str) -> None:
        stack.topology.instance(instance)
        self.stack = stack
        self.instance = instance

    def inject(self) -> None:
        self.stack.kill(self.instance)

    def revert(self) -> None:
        if not self.stack.is_running(self.instance):
            self.stack.start_instance(self.instance)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": type(self).__name__.lower(),
            "instance": self.instance,
            "signal": self.signal_name,
        }


class Stop(Crash):
    signal_name = "SIGTERM"

    def inject(self) -> None:
        self.stack.terminate(self.instance)


class Pause(Crash):
    signal_name = "SIGSTOP"

    def inject(self) -> None:
        self.stack.pause(self.instance)

    def revert(self) -> None:
        self.stack.resume(self.instance)


class Restart(Crash):
    needs_revert = False
    signal_name = "SIGTERM"

    def inject(self) -> None:
        self.stack.restart(self.instance)

    def revert(self) -> None:
        pass
