"""Mutated bundled files through `stormproof validate`: exit 2 with file:line, or ok; never a
traceback or a hang. `bench/fuzz_inputs.py` runs the same with 10,000 cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz_cases import mutants, run_case, scenario_bases, topology_bases


@pytest.mark.parametrize(("kind", "count"), [("scenario", 300), ("topology", 100)])
def test_mutated_inputs_never_crash_the_cli(tmp_path: Path, kind: str, count: int) -> None:
    bases = scenario_bases() if kind == "scenario" else topology_bases()
    outcomes: dict[str, int] = {}
    defects = []
    for i, (ops, data) in enumerate(mutants(20261201, bases, count)):
        out = run_case(kind, data, tmp_path)
        outcomes[out.kind] = outcomes.get(out.kind, 0) + 1
        if out.kind in ("traceback", "hang"):
            defects.append(f"#{i} {ops}: {out.kind} {out.detail}")
    assert defects == []
    # the mutator must reach both sides: some files still valid, most refused
    assert outcomes.get("ok", 0) > 0 and outcomes.get("refused", 0) > count // 2
