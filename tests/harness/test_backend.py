"""The ``StackBackend`` protocol: both backends satisfy it, and one setting chooses between them.

No stack starts here: the backends are built without starting (the compose one on a fake
Docker client), and the engine is replaced where a command would create it.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from harness import cli, pytest_plugin, runner, targets
from harness.backend import StackBackend
from harness.cli_stack import attach
from harness.errors import InfraUnavailable, InputInvalid
from harness.settings import Settings
from harness.stack.compose import ComposeStack
from harness.stack.local import LocalStack
from harness.topology import bundled_topology_path, load_topology

TOPOLOGY = load_topology(bundled_topology_path())
PROTOCOL_METHODS = [
    name
    for name, value in vars(StackBackend).items()
    if inspect.isfunction(value) and not name.startswith("_")
]


class FakeDocker:
    containers = None


def backends(tmp_path) -> list[Any]:
    return [
        LocalStack(TOPOLOGY, Settings(), tmp_path),
        ComposeStack(TOPOLOGY, Settings(), client=FakeDocker()),
    ]


def test_both_backends_are_stack_backends(tmp_path) -> None:
    for backend in backends(tmp_path):
        assert isinstance(backend, StackBackend), type(backend).__name__


@pytest.mark.parametrize("method", PROTOCOL_METHODS)
def test_each_backend_method_takes_the_protocol_parameters(method, tmp_path) -> None:
    want = inspect.signature(getattr(StackBackend, method))
    for backend in backends(tmp_path):
        got = inspect.signature(getattr(type(backend), method))
        assert list(got.parameters) == list(want.parameters), f"{type(backend).__name__}.{method}"
        for name, param in want.parameters.items():
            assert got.parameters[name].default == param.default, (
                f"{type(backend).__name__}.{method}({name}=...)"
            )


# a command prefix on compose (the start gate): tests/harness/test_startgate.py


# -------------------------------------------------------------- one choice, three entry points


class Chosen(Exception):
    """Raised where the engine would be created, carrying the settings it was handed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


@pytest.fixture
def engine_spy(monkeypatch: pytest.MonkeyPatch) -> None:
    def create(cls: Any, **kw: Any) -> Any:
        raise Chosen(kw["settings"])

    monkeypatch.setattr(runner.Engine, "create", classmethod(create))
    monkeypatch.setattr(targets, "check_backend", lambda _s, _scenarios=(): None)
    monkeypatch.setattr(runner, "install_interrupt_handler", lambda: None)


class FakeConfig:
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.stash = pytest.Stash()

    def getoption(self, name: str) -> Any:
        return self.options[name]


def chosen_by_each_entry_point(flag: str | None) -> dict[str, str]:
    out = {}
    extra = ["--backend", flag] if flag else []
    for name, call in (
        ("run", lambda: cli.main(["run", "scenarios/crash-payments.yaml", *extra])),
        ("selftest", lambda: cli.main(["selftest", "--bug", "double_charge", *extra])),
        (
            "pytest",
            lambda: pytest_plugin._engine(
                FakeConfig(
                    {
                        "--stormproof-backend": flag,
                        "--stormproof-compose-project": None,
                        "--stormproof-report": None,
                        "--load-workers": 0,
                    }
                )
            ),
        ),
    ):
        with pytest.raises(Chosen) as caught:
            call()
        out[name] = caught.value.settings.backend
    return out


@pytest.mark.usefixtures("engine_spy")
def test_run_pytest_and_selftest_take_the_backend_from_the_same_setting(monkeypatch) -> None:
    monkeypatch.delenv("STORMPROOF_BACKEND", raising=False)
    assert chosen_by_each_entry_point(None) == dict.fromkeys(("run", "selftest", "pytest"), "local")
    monkeypatch.setenv("STORMPROOF_BACKEND", "compose")
    assert chosen_by_each_entry_point(None) == dict.fromkeys(
        ("run", "selftest", "pytest"), "compose"
    )
    assert chosen_by_each_entry_point("local") == dict.fromkeys(
        ("run", "selftest", "pytest"), "local"
    )


def test_an_unknown_backend_in_the_environment_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("STORMPROOF_BACKEND", "kubernetes")
    with pytest.raises(InputInvalid, match=r"unknown backend 'kubernetes'.*local, compose"):
        Settings()


def test_compose_without_an_engine_is_one_infra_error_before_anything_runs(
    monkeypatch, capsys
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)

    def no_engine(_settings: Any = None) -> Any:
        raise InfraUnavailable("the compose backend needs a running Docker engine")

    monkeypatch.setattr("harness.stack.compose.docker_client", no_engine)
    status = cli.main(["run", "--backend", "compose", "scenarios/crash-payments.yaml"])
    assert status == cli.EXIT_INFRA
    err = capsys.readouterr().err
    assert err.count("Docker engine") == 1


def test_the_stack_commands_refuse_the_compose_backend_clearly(monkeypatch) -> None:
    monkeypatch.setenv("STORMPROOF_BACKEND", "compose")
    with pytest.raises(InputInvalid, match="stormproof fault works with the local backend only"):
        attach(Settings(), "fault")
