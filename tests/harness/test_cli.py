"""The command line: bad input gets one clear message and exit status 2, before anything runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_validate_ok_for_the_bundled_suite(capsys):
    assert main(["validate", "scenarios"]) == 0
    assert "ok  scenarios/latency-orders-payments.yaml" in capsys.readouterr().out


def test_validate_bad_file_exit_2_with_file_line_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nload: {users: 2}\nphases: [{name: a, duration: 5s}]\n"
        "faults:\n  - {at: 1s, kind: latency, link: orders->paymnts, latency: 1s}\n"
    )
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:5: faults[0].link" in err and "orders->paymnts" in err
    assert len(err.strip().splitlines()) == 1


def test_run_refuses_bad_input_before_starting_anything(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    done = run("run", str(bad), "--report", str(tmp_path / "rep"))
    assert done.returncode == 2
    assert not (tmp_path / "rep").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["run", "scenarios", "-m", "partition and ("],
        ["run", "no/such/dir"],
        ["fault", "nonsense"],
        ["run", "scenarios", "--load-workers", "two"],
    ],
)
def test_bad_arguments_exit_2(args):
    done = run(*args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip()


def test_schema_is_printed(capsys):
    assert main(["validate", "--schema"]) == 0
    assert "properties" in json.loads(capsys.readouterr().out)


def test_validate_takes_topology_files_too(tmp_path, capsys):
    assert main(["validate", "target_system/topology.yaml", "scenarios/crash-payments.yaml"]) == 0
    out = capsys.readouterr().out
    assert "ok  target_system/topology.yaml: topology shop (7 instances, 5 links)" in out
    assert "ok  scenarios/crash-payments.yaml: crash-payments" in out
    bad = tmp_path / "t.yaml"
    bad.write_text("services:\n  a: {command: [x]}\nlinks: [a -> b]\n")
    assert main(["validate", str(bad), "scenarios/crash-payments.yaml"]) == 2
    assert "t.yaml:3: links[0]: unknown service 'b'; known: a" in capsys.readouterr().err
    assert main(["validate", "--schema", "topology"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Stormproof topology"


def test_coverage_prints_the_map_and_fails_on_gaps_when_asked(capsys):
    assert main(["coverage", "scenarios/crash-payments.yaml"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("coverage of bundled:")
    assert "crash-payments" in out and "GAP" in out
    assert main(["coverage", "--fail-on-gap", "scenarios/crash-payments.yaml"]) == 1
    capsys.readouterr()
    assert main(["coverage", "--json", "scenarios/crash-payments.yaml"]) == 0
    (cmap,) = json.loads(capsys.readouterr().out)
    assert cmap["rows"]["orders->payments"]["crashed"] == ["crash-payments"]


def test_validate_and_load_a_folder_holding_its_topology(capsys):
    """examples/x/ holds topology.yaml beside scenarios/: the topology is checked as one, not
    read as a scenario."""
    from harness.targets import load_scenarios

    assert main(["validate", "examples/two-service/"]) == 0
    out = capsys.readouterr().out
    assert "examples/two-service/topology.yaml: topology" in out
    assert len([s for s in load_scenarios(["examples/two-service/"])]) == 3
