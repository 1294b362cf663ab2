"""pytest plugin: scenario files as test items, one marker per fault type, a shared stack.

Registered through the ``pytest11`` entry point. The engine does not know pytest exists; this
module only maps scenario files to items and verdicts to outcomes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError, ScenarioInvalid

FAULT_MARKERS = {
    "latency": "latency fault on a link (Toxiproxy latency toxic)",
    "jitter": "latency fault with jitter",
    "bandwidth": "bandwidth limit on a link",
    "blackhole": "black hole on a link (Toxiproxy timeout toxic)",
    "reset": "connection reset (Toxiproxy reset_peer toxic)",
    "slow_close": "delayed connection close (Toxiproxy slow_close toxic)",
    "slicer": "responses sliced into small packets (Toxiproxy slicer toxic)",
    "limit_data": "connection closed after N bytes (Toxiproxy limit_data toxic)",
    "down": "link down: proxy disabled, connection refused",
    "partition": "network partition between service groups (both ways or one way)",
    "crash": "process crash (SIGKILL)",
    "stop": "graceful process stop (SIGTERM)",
    "pause": "process pause (SIGSTOP) and resume",
    "restart": "process restart",
    "registry": "service registry (etcd) outage",
    "scenario": "a scenario file run against the real stack",
    "slow": "a scenario longer than 60 s (soaks)",
}

ENGINE_KEY = pytest.StashKey["Any"]()
RESULTS_KEY = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stormproof")
    group.addoption(
        "--stormproof-report",
        default=None,
        help="directory for the run's reports (default: reports/<run-id>)",
    )
    group.addoption(
        "--load-workers",
        type=int,
        default=0,
        help="run Locust in distributed mode with N local workers",
    )
    parser.addini(
        "stormproof_paths",
        type="linelist",
        default=["scenarios"],
        help="directories whose *.yaml files are collected as scenarios",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in FAULT_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.stash[RESULTS_KEY] = []


def _registered_markers(config: pytest.Config) -> set[str]:
    return {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    roots = [
        Path(parent.config.rootpath, p).resolve() for p in parent.config.getini("stormproof_paths")
    ]
    resolved = file_path.resolve()
    if not any(root == resolved.parent or root in resolved.parents for root in roots):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from harness.scenario import load_scenario, markers
        from harness.targets import facts_for_scenario

        try:
            scenario = load_scenario(
                self.path,
                facts_for_target=facts_for_scenario,
                allowed_tags=_registered_markers(self.config),
            )
        except ScenarioInvalid as exc:
            raise self.CollectError(str(exc)) from exc
        item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
        for marker in ["scenario", *markers(scenario)]:
            item.add_marker(marker)
        yield item


class ScenarioFailed(Exception):
    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        engine = _engine(self.config)
        journal = engine.run_scenario(self.scenario)
        self.config.stash[RESULTS_KEY].append(journal)
        from harness.summary import failure_summary, inconclusive_reason

        verdict = journal.verdict
        if verdict == "pass":
            return
        if verdict == "inconclusive":
            pytest.skip(f"inconclusive: {inconclusive_reason(journal)}")
        raise ScenarioFailed(failure_summary(journal))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed | HarnessError):
            return f"{self.path}:{self.scenario.line}: scenario {self.name!r}\n{excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, max(0, self.scenario.line - 1), f"scenario {self.name}"


def _engine(config: pytest.Config) -> Any:
    engine = config.stash.get(ENGINE_KEY, None)
    if engine is None:
        from harness.runner import Engine

        report = config.getoption("--stormproof-report")
        engine = Engine.create(
            report_dir=Path(report) if report else None,
            load_workers=config.getoption("--load-workers"),
        )
        config.stash[ENGINE_KEY] = engine
    return engine


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    engine = session.config.stash.get(ENGINE_KEY, None)
    if engine is None:
        return
    report = engine.close()
    if report is not None:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(f"stormproof report: {report}")
