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
from harness.settings import Settings, add_backend_options

# Markers besides the fault kinds' own, which come from the kind registry.
MARKERS = {
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
    add_backend_options(group.addoption, prefix="--stormproof-")
    parser.addini(
        "stormproof_paths",
        type="linelist",
        default=["scenarios"],
        help="directories whose *.yaml files are collected as scenarios",
    )


def pytest_configure(config: pytest.Config) -> None:
    from harness.faults.kinds import MARKER_HELP, old_markers_in

    for name, text in {**MARKER_HELP, **MARKERS}.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    for old, new in old_markers_in(config.getoption("markexpr", None)).items():
        config.issue_config_time_warning(
            pytest.PytestDeprecationWarning(
                f"-m {old}: the marker {old!r} is deprecated and goes in the next release; "
                f"use {new!r} (markers equal fault kind names)"
            ),
            stacklevel=2,
        )
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
        from harness.faults.kinds import with_aliases
        from harness.load import locustfile_problem
        from harness.scenario import load_scenario, markers
        from harness.targets import facts_for_scenario

        try:
            scenario = load_scenario(
                self.path,
                facts_for_target=facts_for_scenario,
                allowed_tags=_registered_markers(self.config),
                check_locustfile=locustfile_problem,
            )
        except ScenarioInvalid as exc:
            raise self.CollectError(str(exc)) from exc
        item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
        for marker in ["scenario", *with_aliases(markers(scenario))]:
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
        from harness.targets import check_backend

        settings = Settings().with_backend(
            config.getoption("--stormproof-backend"),
            config.getoption("--stormproof-compose-project"),
        )
        check_backend(settings)
        report = config.getoption("--stormproof-report")
        engine = Engine.create(
            report_dir=Path(report) if report else None,
            load_workers=config.getoption("--load-workers"),
            settings=settings,
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
