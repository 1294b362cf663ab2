"""Cleanup order with small fakes: a revert that raises (one of ours, an unmapped error, or a
Docker SDK error) never skips stopping Locust and the registry poller, and still fails the run."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import docker.errors
import pytest
import requests

import harness.scenario_run as scenario_run
from harness.cleanup import Cleanup
from harness.errors import FaultError, StackError
from harness.faults import KINDS
from harness.journal import FaultRecord
from harness.progress import Progress
from harness.scenario_run import Planned, ScenarioRun
from harness.settings import Settings
from harness.stack.compose import ComposeStack
from harness.targets import FaultDriver
from harness.topology import bundled_topology_path, load_topology


def test_every_step_runs_and_the_first_error_is_raised_with_the_others_noted():
    calls: list[str] = []
    cleanup = Cleanup()

    def fails(name: str, exc: BaseException) -> None:
        calls.append(name)
        raise exc

    cleanup.step("a", fails, "a", RuntimeError("first"))
    cleanup.step("b", calls.append, "b")
    cleanup.step("c", fails, "c", KeyboardInterrupt())
    cleanup.step("d", calls.append, "d")
    assert calls == ["a", "b", "c", "d"]
    with pytest.raises(RuntimeError, match="first") as info:
        cleanup.raise_first()
    assert any("c failed too" in note for note in info.value.__notes__)


# -- one scenario run, every collaborator a fake ------------------------------------------------


class FakeLocust:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def stop(self) -> int:
        self.calls.append("stop Locust")
        return 0


class FakeTail:
    stats = SimpleNamespace(requests=0, failures=0)

    def poll(self) -> None:
        pass


class FakePoller:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def start(self) -> None:
        self.calls.append("start poller")

    def stop(self) -> None:
        self.calls.append("stop poller")

    def save(self, path) -> None:
        self.calls.append("save registry.csv")


class FakeFaults:
    def __init__(self, calls: list[str], error: BaseException | None) -> None:
        self.calls, self.error = calls, error

    def revert(self, fault_id: str) -> None:
        self.calls.append(f"revert {fault_id}")
        if self.error is not None:
            raise self.error

    def revert_all(self) -> None:
        self.calls.append("revert_all")


def _run(tmp_path, monkeypatch, revert_error: BaseException | None):
    calls: list[str] = []
    stack = SimpleNamespace(
        topology_path="topology.yaml",
        wait_sagas_settled=lambda timeout: 0.0,
        audit=lambda: {},
        registry_poller=lambda: FakePoller(calls),
        unmapped=lambda kinds=None: {},
        faults=FakeFaults(calls, revert_error),
        facts=None,
        log_files=lambda: {},
        instance_logs=lambda: {},
        jaeger_url=lambda: "",
    )
    engine = SimpleNamespace(
        run_id="run",
        versions=lambda: {},
        stack_for=lambda scenario: stack,
        settings=SimpleNamespace(timeouts=SimpleNamespace(settle=1.0)),
        progress=Progress(stream=io.StringIO()),
    )
    scenario = SimpleNamespace(
        name="fake",
        description="",
        source=None,
        line=None,
        tags=[],
        faults=[],
        duration=1.0,
        seed=1,
        target="bundled",
        target_env={},
        load=SimpleNamespace(max_users=1),
        expect=[],
        abort=[],
        steady_state="none",
        phase_offsets=lambda: [("only", 0.0, 1.0)],
    )
    run = ScenarioRun(engine, scenario, tmp_path)

    def plan_faults(self):
        record = FaultRecord(id="f1", kind="pause", target="payments-1", planned_at=0.0)
        self.journal.add_fault(record)
        spec = SimpleNamespace(kind="pause")
        return [Planned(record=record, spec=spec, at=0.0, until=None, active=True)]

    monkeypatch.setattr(ScenarioRun, "_start_load", lambda self: (FakeLocust(calls), FakeTail()))
    monkeypatch.setattr(ScenarioRun, "_plan_faults", plan_faults)
    monkeypatch.setattr(ScenarioRun, "_loop", lambda self, clock, plan, tail: None)
    monkeypatch.setattr(scenario_run, "wait_spawned", lambda locust, tail, timeout: 0.0)
    return run, calls


CLEANUP_ORDER = ["revert f1", "revert_all", "stop Locust", "stop poller", "save registry.csv"]


def test_a_clean_revert_then_load_and_poller_stopped(tmp_path, monkeypatch):
    run, calls = _run(tmp_path, monkeypatch, None)
    # no data to collect from fakes: the checks after a clean run are not what is tested here
    monkeypatch.setattr(ScenarioRun, "_finish", lambda self, tail, aborted, error: None)
    journal = run.execute()
    assert calls == ["start poller", *CLEANUP_ORDER]
    assert journal.faults[0].reverted_at is not None


@pytest.mark.parametrize(
    "error",
    [
        StackError("docker: unpause payments-1 failed: 500 Server Error"),
        FaultError("Toxiproxy DELETE /proxies/x/toxics/y: HTTP 500"),
    ],
)
def test_a_revert_failing_with_our_error_fails_the_run_after_every_step(
    tmp_path, monkeypatch, error
):
    run, calls = _run(tmp_path, monkeypatch, error)
    journal = run.execute()
    assert calls == ["start poller", *CLEANUP_ORDER]
    assert journal.verdict == "error"
    saved = json.loads((tmp_path / "journal.json").read_text())
    assert saved["verdict"] == "error"
    assert any("revert of f1 failed" in e["message"] for e in saved["events"])


def test_a_revert_failing_with_a_foreign_error_still_stops_everything_then_raises(
    tmp_path, monkeypatch
):
    run, calls = _run(tmp_path, monkeypatch, RuntimeError("a bug in a fault driver"))
    with pytest.raises(RuntimeError, match="a bug in a fault driver"):
        run.execute()
    assert calls == ["start poller", *CLEANUP_ORDER]
    saved = json.loads((tmp_path / "journal.json").read_text())
    assert saved["verdict"] == "error"


def test_the_fault_driver_reverts_every_fault_even_if_one_raises():
    reverted: list[str] = []

    class Fault:
        def __init__(self, name: str, error: BaseException | None) -> None:
            self.name, self.error = name, error

        def revert(self) -> None:
            reverted.append(self.name)
            if self.error is not None:
                raise self.error

    driver = FaultDriver(backend=None)
    driver.active = {
        "f1": Fault("f1", None),
        "f2": Fault("f2", RuntimeError("boom")),
        "f3": Fault("f3", StackError("docker: unpause failed")),
    }
    with pytest.raises(RuntimeError, match="boom") as info:
        driver.revert_all()  # the bug first, the expected failure as a note
    assert reverted == ["f3", "f2", "f1"]
    assert any("unpause failed" in note for note in info.value.__notes__)
    driver.active = {"f1": Fault("f1", StackError("gone")), "f2": Fault("f2", None)}
    with pytest.raises(FaultError, match="f1: gone"):
        driver.revert_all()
    assert reverted[-2:] == ["f2", "f1"]


# -- Docker SDK errors mapped at the boundary -----------------------------------------------------


class BrokenContainer:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __getattr__(self, verb: str):
        if verb in ("kill", "stop", "pause", "unpause", "restart", "start", "reload"):

            def call(**_kw):
                raise self.error

            return call
        raise AttributeError(verb)


class BrokenDocker:
    def __init__(self, error: BaseException, list_error: BaseException | None = None) -> None:
        self.error, self.list_error = error, list_error
        self.containers = self

    def list(self, all: bool, filters: dict):
        if self.list_error is not None:
            raise self.list_error
        return [BrokenContainer(self.error)]


TOPOLOGY = load_topology(bundled_topology_path())
DOCKER_ERRORS = [
    docker.errors.APIError("500 Server Error: cannot pause"),
    docker.errors.NotFound("No such container: abc"),
    requests.exceptions.ConnectionError("Connection aborted"),
]


@pytest.mark.parametrize("error", DOCKER_ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("kind", ["crash", "pause", "stop"])
def test_docker_errors_become_stack_errors_on_inject_and_revert(kind, error, monkeypatch):
    stack = ComposeStack(TOPOLOGY, Settings(), client=BrokenDocker(error))
    monkeypatch.setattr(stack, "is_running", lambda _i: False)
    fault = KINDS[kind](stack, instance="payments-1")
    with pytest.raises(StackError, match=r"^docker: ") as info:
        fault.inject()
    assert info.value.__cause__ is error
    with pytest.raises(StackError, match=r"^docker: ") as info:
        fault.revert()
    assert info.value.__cause__ is error


def test_an_engine_gone_while_listing_containers_is_a_stack_error():
    error = requests.exceptions.ConnectionError("Connection refused")
    stack = ComposeStack(TOPOLOGY, Settings(), client=BrokenDocker(error, list_error=error))
    with pytest.raises(StackError, match="engine did not answer") as info:
        stack.pause_registry()
    assert info.value.__cause__ is error
