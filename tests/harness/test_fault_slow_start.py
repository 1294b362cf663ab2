"""slow_start: the model, the driver's calls on the stack, and the delaying prefix for real."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from harness.errors import FaultError
from harness.faults.kinds.slow_start import SlowStart, delayed
from harness.scenario import FAULT_ADAPTER, describe_fault


def test_the_model_lasts_its_delay_and_refuses_for() -> None:
    spec = FAULT_ADAPTER.validate_python(
        {"kind": "slow_start", "instance": "payments-2", "at": "5s", "delay": "6s"}
    )
    assert spec.revert_after() == 6.0
    assert describe_fault(spec) == "slow_start 6s on payments-2 at 5s"
    with pytest.raises(ValueError, match="lasts its delay; remove for"):
        FAULT_ADAPTER.validate_python(
            {"kind": "slow_start", "instance": "payments-2", "delay": "6s", "for": "2s"}
        )


class FakeTopology:
    def instance(self, name: str) -> None:
        pass


class FakeStack:
    topology = FakeTopology()
    prefixes_commands = True

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def is_running(self, instance: str) -> bool:
        return True

    def terminate(self, instance: str) -> None:
        self.calls.append(("terminate", instance))

    def start_instance(self, instance: str, wait: bool = True, prefix: Any = ()) -> None:
        self.calls.append(("start", instance, wait, list(prefix)))

    def wait_healthy(self, instance: str | None = None, timeout: float | None = None) -> float:
        self.calls.append(("wait_healthy", instance))
        return 0.0


def test_inject_stops_then_starts_behind_the_delay_and_revert_waits_for_health() -> None:
    stack = FakeStack()
    fault = SlowStart(stack, instance="payments-2", delay=6.0)
    fault.inject()
    fault.revert()
    assert stack.calls == [
        ("terminate", "payments-2"),
        ("start", "payments-2", False, delayed(6.0)),
        ("wait_healthy", "payments-2"),
    ]


def test_a_backend_without_prefix_is_refused() -> None:
    class Compose(FakeStack):
        prefixes_commands = False

        def terminate(self, instance: str) -> None:
            raise AssertionError("refused before the instance is touched")

    with pytest.raises(FaultError, match="local backend"):
        SlowStart(Compose(), instance="payments-2", delay=1.0).inject()


def test_the_prefix_delays_the_command_and_passes_its_arguments() -> None:
    t0 = time.monotonic()
    out = subprocess.run(
        [*delayed(0.3), sys.executable, "-c", "import sys; print(sys.argv[1:])", "a b", "c"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert time.monotonic() - t0 >= 0.3
    assert out.stdout.strip() == "['a b', 'c']"
