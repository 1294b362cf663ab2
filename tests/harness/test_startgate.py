"""The start gate (harness/stack/startgate.py) run for real by /bin/sh, and the compose
backend's slow_start through it (the Docker calls faked; the containers: the container smoke)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from harness.faults import KINDS
from harness.faults.kinds.slow_start import delayed
from harness.settings import Settings
from harness.stack.compose import ComposeStack
from harness.stack.startgate import (
    EXIT_GATE,
    clear,
    gate_entrypoint,
    pending_prefix,
    prepare,
    write_prefix,
)
from harness.topology import bundled_topology_path, load_topology

# a command that prints its argv, one per line, with arguments a shell would mangle
ARGV = ["/bin/sh", "-c", 'printf "%s\\n" "$0" "$@"', "cmd", "a b", "it's", "$HOME", "*"]


def gate(folder: Path, instance: str = "payments-2") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*gate_entrypoint(instance, str(folder)), *ARGV],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_without_a_prefix_the_gate_runs_the_command_unchanged(tmp_path: Path) -> None:
    done = gate(tmp_path)  # no file
    assert done.returncode == 0 and done.stdout.splitlines() == ARGV[3:]
    (tmp_path / "payments-2").write_text("")  # an emptied file
    done = gate(tmp_path)
    assert done.returncode == 0 and done.stdout.splitlines() == ARGV[3:]


def test_a_prefix_runs_once_before_the_command(tmp_path: Path) -> None:
    prefix = ["/bin/sh", "-c", 'echo "prefix got $0 and $#"; exec "$@"', "x y"]
    write_prefix(tmp_path, "payments-2", prefix)
    write_prefix(tmp_path, "payments-1", ["/bin/false"])  # another instance's: not this one's
    assert pending_prefix(tmp_path, "payments-2") == prefix
    done = gate(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"prefix got x y and {len(ARGV)}", *ARGV[3:]]
    assert pending_prefix(tmp_path, "payments-2") == []  # consumed: the next start is plain
    assert gate(tmp_path).stdout.splitlines() == ARGV[3:]
    assert pending_prefix(tmp_path, "payments-1") == ["/bin/false"]


def test_slow_starts_prefix_delays_the_command_by_its_delay(tmp_path: Path) -> None:
    write_prefix(tmp_path, "payments-2", delayed(0.6))
    t0 = time.monotonic()
    done = gate(tmp_path)
    took = time.monotonic() - t0
    assert done.returncode == 0 and done.stdout.splitlines() == ARGV[3:]
    assert took >= 0.6
    t0 = time.monotonic()
    gate(tmp_path)
    assert time.monotonic() - t0 < 0.6  # once only


def test_a_prefix_the_gate_cannot_consume_stops_the_start_saying_so(tmp_path: Path) -> None:
    (tmp_path / "payments-2").mkdir()  # not a readable file: cat fails
    (tmp_path / "payments-2" / "x").write_text("x")
    done = gate(tmp_path)
    assert done.returncode == EXIT_GATE and done.stdout == ""
    assert "stormproof-start-gate: cannot read and empty" in done.stderr


def test_the_file_is_written_whole_for_the_images_user_and_cleared(tmp_path: Path) -> None:
    folder = tmp_path / "start"
    prepare(folder)
    assert folder.stat().st_mode & 0o777 == 0o755
    path = write_prefix(folder, "orders-1", ["sleep", "1"])
    assert path.stat().st_mode & 0o777 == 0o666
    assert [p.name for p in folder.iterdir()] == ["orders-1"]  # no temporary file left
    write_prefix(folder, "orders-2", ["sleep", "1"])
    clear(folder, "orders-1")
    assert [p.name for p in folder.iterdir()] == ["orders-2"]
    prepare(folder)  # a new stack: nothing of the last one's
    assert list(folder.iterdir()) == []


class Container:
    def __init__(self, calls: list[str], name: str, folder: Path) -> None:
        self.calls, self.name, self.folder, self.status = calls, name, folder, "running"

    def stop(self, timeout: int) -> None:
        self.calls.append(f"stop {self.name}")

    def start(self) -> None:
        # what the gate will find when the container starts
        self.calls.append(f"start {self.name} under {pending_prefix(self.folder, self.name)}")

    def restart(self, timeout: int) -> None:
        self.calls.append(f"restart {self.name} under {pending_prefix(self.folder, self.name)}")

    def reload(self) -> None:
        pass


class Docker:
    def __init__(self, folder: Path) -> None:
        self.calls: list[str] = []
        self.containers, self.folder = self, folder

    def list(self, all: bool, filters: dict) -> list[Container]:
        service = filters["label"][1].split("=", 1)[1]
        return [Container(self.calls, service, self.folder)]


def test_slow_start_on_compose_stops_then_starts_the_container_under_the_delay(
    tmp_path: Path, monkeypatch
) -> None:
    topology = load_topology(bundled_topology_path())
    docker = Docker(tmp_path / "start")
    stack = ComposeStack(topology, Settings(state_dir=tmp_path), client=docker, stack_dir=tmp_path)
    assert stack.start_dir == tmp_path / "start"
    healthy: list[str | None] = []
    monkeypatch.setattr(stack, "wait_healthy", lambda i=None, timeout=None: healthy.append(i))
    fault = KINDS["slow_start"](stack, instance="payments-2", delay=6.0)
    fault.inject()
    assert docker.calls == ["stop payments-2", f"start payments-2 under {delayed(6.0)}"]
    assert healthy == []  # the inject does not wait: the delay is the fault
    fault.revert()
    assert healthy == ["payments-2"]
    # a prefix the gate never consumed (its start failed) is not taken by a later plain start
    write_prefix(stack.start_dir, "payments-2", delayed(6.0))
    stack.start_instance("payments-2")
    write_prefix(stack.start_dir, "payments-2", delayed(6.0))
    stack.restart("payments-2")
    assert docker.calls[2:] == ["start payments-2 under []", "restart payments-2 under []"]
