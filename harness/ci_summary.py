"""The CI job page: a Markdown summary of a run, appended to ``$GITHUB_STEP_SUMMARY``.

Built from the run folder's ``results.json`` only (docs/results.md): each scenario's verdict
(and runs passed, with ``--repeat``), the failed checks with one line of evidence each, the
recovery figures, and where the report is: ``$STORMPROOF_REPORT_URL`` when the workflow sets
it (an artifact link), else the Actions run page (``$GITHUB_SERVER_URL``,
``$GITHUB_REPOSITORY``, ``$GITHUB_RUN_ID``) and the report's path in the workspace.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.records import format_figure

FIGURES = [
    ("first_error_s", "first client error", "s"),
    ("breaker_open_s", "breaker open", "s"),
    ("recovery_s", "recovery", "s"),
    ("failed_in_fault_window", "failed in fault window", ""),
    ("error_budget_spent", "error budget spent", "x"),
]
ICON = {"pass": "✅", "fail": "❌", "flaky": "⚠️", "inconclusive": "❔", "not-steady": "⛔",
        "aborted": "🛑", "error": "💥"}  # fmt: skip
MAX_FAILED = 20


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def report_location(report: Path | None, env: Mapping[str, str]) -> str:
    where = []
    if env.get("STORMPROOF_REPORT_URL"):
        where.append(f"[HTML report]({env['STORMPROOF_REPORT_URL']})")
    elif env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        where.append(f"HTML report in the [run's artifacts]({url})")
    if report is not None:
        where.append(f"`{report}`")
    return "Report: " + " · ".join(where) if where else ""


def render(results: dict[str, Any], report: Path | None = None, env: Mapping[str, str] = {}) -> str:
    """The Markdown summary of one run's results.json."""
    entries = results.get("scenarios") or {}
    verdicts = [str(e.get("verdict")) for e in entries.values()]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in sorted(set(verdicts)))
    lines = [f"## Stormproof run `{results.get('run_id', '?')}`: {counts or 'no scenarios'}", ""]
    where = report_location(report, env)
    if where:
        lines += [where, ""]
    lines += ["| scenario | verdict | runs passed | "
              + " | ".join(label for _, label, _ in FIGURES) + " | p99 per phase |",
              "|---|---|---|" + "---|" * len(FIGURES) + "---|"]  # fmt: skip
    for name, e in entries.items():
        f = e.get("figures") or {}
        phases = ", ".join(
            f"{p} {format_figure(st.get('p99_ms'), 'ms')}"
            for p, st in (f.get("phases") or {}).items()
            if isinstance(st, dict)
        )
        v = str(e.get("verdict"))
        lines.append(
            f"| {_cell(name)} | {ICON.get(v, '')} {v} | {e.get('passed', '?')}/{e.get('count', 1)}"
            " | " + " | ".join(format_figure(f.get(k), u) for k, _, u in FIGURES) + f" | {phases} |"
        )
    failed = [(n, c) for n, e in entries.items() for c in e.get("failed_checks") or []]
    if failed:
        lines += ["", "### Failed checks", ""]
        for name, c in failed[:MAX_FAILED]:
            lines.append(f"- **{_cell(name)}** · {_cell(c.get('name'))} "
                         f"({c.get('verdict')}): {_cell(c.get('evidence') or '')}")  # fmt: skip
        if len(failed) > MAX_FAILED:
            lines.append(f"- ... and {len(failed) - MAX_FAILED} more (see the report)")
    return "\n".join(lines) + "\n"


def write_step_summary(
    run_dir: Path, report: Path | None = None, env: Mapping[str, str] | None = None
) -> Path | None:
    """Append the summary to ``$GITHUB_STEP_SUMMARY`` when it is set; return its path."""
    env = os.environ if env is None else env
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    try:
        results = json.loads((Path(run_dir) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        results = {"run_id": Path(run_dir).name, "scenarios": {}}
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(render(results, report, env) + "\n")
    return Path(target)
