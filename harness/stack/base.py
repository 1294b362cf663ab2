"""What every backend shares beyond the protocol (``harness.backend.StackBackend``)."""

from __future__ import annotations

from collections.abc import Callable

from harness.backend import StackBackend
from harness.errors import InfraUnavailable


def settle(stack: StackBackend, say: Callable[[str], None] = lambda _m: None) -> None:
    """Back to a clean state on any backend: no toxic, every proxy enabled, the registry and
    every instance resumed, every dead instance started again, all healthy."""
    if stack.toxiproxy is None:
        raise InfraUnavailable("Toxiproxy is not running in this stack")
    stack.toxiproxy.reset()
    if "etcd" in stack.paused:
        stack.resume_registry()
    for name in sorted(stack.paused):
        stack.resume(name)
    for inst in stack.topology.instances():
        if not stack.is_running(inst.name):
            say(f"restarting {inst.name}")
            stack.start_instance(inst.name, wait=False)
    stack.wait_healthy()
