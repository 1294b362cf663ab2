"""What every backend shares beyond the protocol (``harness.backend.StackBackend``)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import httpx

from harness.backend import StackBackend
from harness.errors import InfraUnavailable
from harness.topology import Endpoint


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


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block is done, then raise KeyboardInterrupt once if
    one came: a second Ctrl-C while the stack stops must not leave half of it running. Outside
    the main thread (where signals cannot be handled) the block just runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, lambda signum, _frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if pending:
        raise KeyboardInterrupt


def healthy(
    address: str, health: Endpoint, timeout: float = 1.0, client: httpx.Client | None = None
) -> bool:
    """One health probe: HTTP GET of the path answering 200, or a TCP connect. Give a
    ``client`` when probing in a loop: a new one costs ~25 ms of CPU (its TLS context) per
    probe, taken from the instances starting on the same cores."""
    if health.path is None:
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True
        except OSError:
            return False
    url = f"http://{address}{health.path}"
    try:
        return (client or httpx).get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False
