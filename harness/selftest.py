"""``stormproof selftest``: switch on each known bug of the bundled shop and prove it is caught.

For each bug, the scenarios that bear on it run against a stack started with that bug on
(``SHOP_BUGS=<bug>``); the correct target runs the same scenarios once. The detection matrix
(bug x scenario -> caught, by which check, with what evidence) is printed, saved as
``selftest.json`` beside the run's report, and rendered into the HTML report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.errors import InputInvalid
from harness.settings import Settings, add_backend_options

# Which bundled scenarios bear on which bug (selftest --all runs every scenario for every bug).
BUG_SCENARIOS: dict[str, list[str]] = {
    "no_compensation": ["latency-orders-payments"],
    "double_charge": ["blackhole-payments"],
    "breaker_disabled": ["latency-orders-payments"],
    "breaker_stuck_open": ["latency-orders-payments"],
    "retry_storm": ["jitter-timeouts-orders-payments"],
    "stale_discovery": ["crash-payments"],
    "no_redrive": ["crash-orders-redrive"],
    "lease_not_renewed": ["registry-outage"],
    "no_call_timeout": ["blackhole-payments"],
    "compensation_gives_up": ["blackhole-shipping-response"],
    "reserve_not_idempotent": ["blackhole-inventory-response"],
    "breaker_per_service": ["pause-payments"],
    "config_on_restart_only": ["config-change-timeouts"],
}
CORRECT = "correct"


def register(sub: Any) -> None:
    p = sub.add_parser("selftest", help="prove every known bug of the shop is caught")
    p.add_argument("--scenarios", default="scenarios", help="directory of bundled scenarios")
    p.add_argument("--bug", action="append", help="only these bugs (repeatable)")
    p.add_argument("--all", action="store_true", help="run every scenario against every bug")
    p.add_argument("--report", type=Path, help="report directory (default reports/<run-id>)")
    add_backend_options(p.add_argument)
    p.set_defaults(func=cmd_selftest)


def plan(scenarios: dict[str, Any], bugs: list[str], run_all: bool) -> list[tuple[str, Any]]:
    """(bug or 'correct', scenario) pairs to run, the correct target first."""
    names = set()
    pairs: list[tuple[str, Any]] = []
    for bug in bugs:
        wanted = sorted(scenarios) if run_all else BUG_SCENARIOS[bug]
        missing = [n for n in wanted if n not in scenarios]
        if missing:
            raise InputInvalid(f"selftest: bug {bug} needs scenarios {missing}; not found")
        for name in wanted:
            names.add(name)
            pairs.append((bug, scenarios[name]))
    return [(CORRECT, scenarios[n]) for n in sorted(names)] + pairs


def variant(scenario: Any, bug: str) -> Any:
    if bug == CORRECT:
        return scenario
    env = dict(scenario.target_env)
    env["SHOP_BUGS"] = bug
    copy = scenario.model_copy(update={"name": f"{scenario.name}--{bug}", "target_env": env})
    copy._source = scenario.source
    copy._line = scenario.line
    return copy


def cell(bug: str, scenario: str, journal: Any) -> dict[str, Any]:
    failed = journal.failed_checks()
    # not-steady: the bug left the stack unhealthy before any fault (the correct one was steady)
    caught = journal.verdict in ("fail", "not-steady")
    evidence = "; ".join(str(e) for c in failed for e in (c.get("evidence") or [])[:2])
    return {
        "bug": bug,
        "scenario": scenario,
        "verdict": journal.verdict,
        "caught": caught,
        "checks": [c.get("name") for c in failed],
        "evidence": evidence[:600],
    }


def cmd_selftest(args: argparse.Namespace) -> int:
    from harness.runner import Engine, install_interrupt_handler
    from harness.targets import check_backend, load_scenarios

    bugs = args.bug or list(BUG_SCENARIOS)
    unknown = [b for b in bugs if b not in BUG_SCENARIOS]
    if unknown:
        raise InputInvalid(f"unknown bug {unknown}; known: {', '.join(BUG_SCENARIOS)}")
    scenarios = {s.name: s for s in load_scenarios([args.scenarios])}
    pairs = plan(scenarios, bugs, args.all)
    settings = Settings().with_backend(args.backend, args.compose_project)
    check_backend(settings)
    install_interrupt_handler()
    engine = Engine.create(report_dir=args.report, settings=settings)
    cells: list[dict[str, Any]] = []
    out = engine.run_dir / "selftest.json"
    try:
        for i, (bug, scenario) in enumerate(pairs, 1):
            engine.progress.say(f"[{i}/{len(pairs)}] {bug}: {scenario.name}")
            journal = engine.run_scenario(variant(scenario, bug))
            cells.append(cell(bug, scenario.name, journal))
            _save(out, bugs, pairs, cells)
    finally:
        engine.close()
    print(format_matrix(cells))
    print(f"report: {engine.run_dir / 'index.html'}")
    return 0 if matrix_ok(cells, bugs) else 1


def _save(path: Path, bugs: list[str], pairs: list, cells: list) -> None:
    data = {
        "bugs": [CORRECT, *bugs],
        "scenarios": sorted({s.name for _, s in pairs}),
        "cells": cells,
    }
    path.write_text(json.dumps(data, indent=2))


def matrix_ok(cells: list[dict[str, Any]], bugs: list[str]) -> bool:
    """Every bug caught by at least one scenario; the correct target by none."""
    false_alarm = any(c["bug"] == CORRECT and c["verdict"] != "pass" for c in cells)
    missed = [b for b in bugs if not any(c["bug"] == b and c["caught"] for c in cells)]
    return not false_alarm and not missed


def format_matrix(cells: list[dict[str, Any]]) -> str:
    lines = ["| bug | scenario | caught | by |", "|---|---|---|---|"]
    for c in cells:
        mark = ("yes" if c["caught"] else "no") if c["bug"] != CORRECT else c["verdict"]
        lines.append(f"| {c['bug']} | {c['scenario']} | {mark} | {', '.join(c['checks'])} |")
    return "\n".join(lines)
