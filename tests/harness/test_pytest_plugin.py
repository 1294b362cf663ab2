"""The pytest plugin: collection, markers, strict markers, failure output and JUnit XML.

The engine is replaced by a fake in the inner session (conftest) so these stay fast; the real
engine is exercised by the smoke scenarios and tests/harness/test_run_e2e.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

REPO = Path(__file__).resolve().parents[2]

FAKE_ENGINE = """
import pytest
from harness import runner
from harness.journal import Journal, ScenarioInfo

class FakeEngine:
    def run_scenario(self, scenario):
        j = Journal(run_id="t", scenario=ScenarioInfo(name=scenario.name))
        if "latency" in scenario.name:
            j.add_check({"name": "breaker orders->payments", "kind": "breaker", "verdict": "fail",
                         "expected": "opens within 5 s", "measured": "never opened",
                         "evidence": ["breaker orders->payments-1 never opened (limit 5 s)"]})
            j.verdict = "fail"
        else:
            j.verdict = "pass"
        return j

    def close(self):
        return None

@pytest.fixture(autouse=True, scope="session")
def _fake_engine():
    yield

runner.Engine.create = classmethod(lambda cls, **kw: FakeEngine())
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    scen = pytester.path / "scenarios"
    scen.mkdir()
    for name in (
        "latency-orders-payments.yaml",
        "partition-orders-inventory.yaml",
        "crash-payments.yaml",
        "invariants.py",  # latency-orders-payments's invariant checks
    ):
        shutil.copy(REPO / "scenarios" / name, scen / name)
    pytester.makeini("[pytest]\nstrict_markers = true\nmarkers =\n    smoke: short\n")
    pytester.makeconftest(FAKE_ENGINE)
    return pytester


def test_collects_one_item_per_scenario_with_fault_markers(project):
    result = project.runpytest_subprocess("--collect-only", "-q", "scenarios")
    result.stdout.fnmatch_lines(
        [
            "scenarios/crash-payments.yaml::crash-payments",
            "scenarios/latency-orders-payments.yaml::latency-orders-payments",
            "scenarios/partition-orders-inventory.yaml::partition-orders-inventory",
            "3 tests collected*",
        ]
    )


def test_marker_selection_picks_exactly_the_partition_scenario(project):
    result = project.runpytest_subprocess(
        "--collect-only", "-q", "-m", "partition and not slow", "scenarios"
    )
    result.stdout.fnmatch_lines(["*partition-orders-inventory*", "1/3 tests collected*"])
    assert "latency-orders-payments" not in result.stdout.str()


def test_unregistered_tag_is_refused_with_file_and_line(project):
    bad = project.path / "scenarios" / "crash-payments.yaml"
    bad.write_text(bad.read_text().replace("tags: [smoke]", "tags: [nightly]"))
    result = project.runpytest_subprocess("-q", "scenarios")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*crash-payments.yaml:*tags*nightly*"])


def test_bad_scenario_is_a_collection_error_naming_file_line_field(project):
    bad = project.path / "scenarios" / "crash-payments.yaml"
    bad.write_text(bad.read_text().replace("instance: payments-1", "instance: paymnts-1", 1))
    result = project.runpytest_subprocess("-q", "scenarios")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*crash-payments.yaml:*faults[[]0[]].instance*paymnts-1*"])


def test_failing_scenario_shows_checks_not_a_traceback_and_junit_has_them(project):
    result = project.runpytest_subprocess("-q", "scenarios", "--junitxml=out.xml")
    assert result.ret == 1
    out = result.stdout.str()
    assert "FAIL    breaker orders->payments" in out
    assert "breaker orders->payments-1 never opened (limit 5 s)" in out
    assert "Traceback" not in out
    suite = ET.parse(project.path / "out.xml").getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"crash-payments", "latency-orders-payments", "partition-orders-inventory"}
    failure = cases["latency-orders-payments"].find("failure")
    assert failure is not None and "never opened" in (failure.text or "")


def test_an_old_marker_still_selects_but_warns(project):
    shutil.copy(
        REPO / "scenarios" / "reset-peer-orders-shipping.yaml",
        project.path / "scenarios" / "reset-peer-orders-shipping.yaml",
    )
    result = project.runpytest_subprocess("--collect-only", "-q", "-m", "reset", "scenarios")
    result.stdout.fnmatch_lines(
        [
            "*reset-peer-orders-shipping*",
            "*PytestDeprecationWarning: -m reset: the marker 'reset' is deprecated*'reset_peer'*",
        ]
    )
    # under -W error, as this suite runs, selecting by the old name is refused outright
    strict = project.runpytest_subprocess("-q", "-W", "error", "-m", "reset", "scenarios")
    assert strict.ret != 0
    new = project.runpytest_subprocess("--collect-only", "-q", "-m", "reset_peer", "scenarios")
    assert "Deprecat" not in new.stdout.str()
    new.stdout.fnmatch_lines(["*reset-peer-orders-shipping*", "1/4 tests collected*"])
