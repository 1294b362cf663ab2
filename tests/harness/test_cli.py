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
