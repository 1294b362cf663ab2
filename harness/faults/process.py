"""The driver base of the process fault kinds: one instance, found in the topology.

Revert starts a stopped instance again on its own port (so its proxies and its Prometheus
target stay valid) and waits until it is healthy.
"""

from __future__ import annotations

from typing import Any

from harness.backend import StackBackend


class InstanceFault:
    needs_revert = True
    signal_name = ""

    def __init__(self, stack: StackBackend, instance: str, **_: Any) -> None:
        stack.topology.instance(instance)
        self.stack = stack
        self.instance = instance

    def inject(self) -> None:
        raise NotImplementedError

    def revert(self) -> None:
        if not self.stack.is_running(self.instance):
            self.stack.start_instance(self.instance)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": type(self).__name__.lower(),
            "instance": self.instance,
            "signal": self.signal_name,
        }
