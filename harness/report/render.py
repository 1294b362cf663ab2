"""``render_report(run_dir)``: ``index.html`` from run.json, each scenario's journal and data.

The page is self-contained (figures as inline SVG, trace waterfalls as HTML, one inline style
sheet, no script), so it opens from file:// with no server. It is written whatever state the
run is in: a missing journal, a run that never started its clock or a directory without data
is described, not fatal.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import os
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from harness.records import format_figure
from harness.report.data import read_journal, read_json
from harness.report.evidence import Evidence
from harness.report.figures import FAULT_SLOTS, Timeline
from harness.report.svg import defs as svg_defs
from harness.report.traces import read_traces
from harness.verdict import check_fails

RAW_FILES = ["journal.json", "requests.jsonl", "registry.csv", "traces.json"]
MAX_EVIDENCE = 10  # per check shown at once; the rest folds away
MAX_DETAILS_CHARS = 6000


def scenario_dirs(run_dir: Path) -> list[Path]:
    """The scenarios of a run: run.json's list, or every subdirectory holding a journal."""
    listed = read_json(run_dir / "run.json")
    names = listed.get("scenarios") if isinstance(listed, dict) else None
    if isinstance(names, list):
        return [run_dir / str(n) for n in names]
    return sorted(p.parent for p in run_dir.glob("*/journal.json"))


def _clock(t: float | None, t0: float | None = None) -> str:
    """A time on the scenario clock (``+12.30 s``), or wall-clock when there is no clock."""
    if t is None:
        return "—"
    if t0 is not None:
        return f"{t - t0:+.2f} s"
    return _wall(t)


def _wall(t: Any) -> str:
    if not isinstance(t, int | float):
        return "—"
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _check_rank(c: dict[str, Any]) -> int:
    if c["verdict"] == "fail":
        return 0
    if check_fails(c):
        return 1  # unknown and not allowed: fails the scenario
    return 2 if c["verdict"] == "unknown" else 3


def _raw_links(d: Path) -> list[str]:
    links = [f for f in RAW_FILES if (d / f).is_file()]
    links += sorted(p.name for p in d.glob("audit_*.json"))
    links += sorted(f"prom/{p.name}" for p in d.glob("prom/*.csv"))
    links += sorted(f"logs/{p.name}" for p in d.glob("logs/*.log"))
    return links


def _locust_links(d: Path) -> list[str]:
    files = sorted(p.name for p in d.glob("locust/*") if p.is_file())
    # Locust's own HTML report first: it is the one a person wants to open
    files.sort(key=lambda n: (n != "report.html", n))
    return [f"locust/{n}" for n in files]


def _duration(j: dict[str, Any]) -> str:
    if j["started_at"] is None or j["ended_at"] is None:
        return "unfinished"
    return f"{j['ended_at'] - j['started_at']:.1f} s"


def _details(c: dict[str, Any]) -> str:
    if not c["details"]:
        return ""
    text = json.dumps(c["details"], indent=1, default=str)
    if len(text) > MAX_DETAILS_CHARS:
        text = text[:MAX_DETAILS_CHARS] + f"\n… {len(text) - MAX_DETAILS_CHARS} more characters"
    return text


def _scenario(d: Path) -> dict[str, Any]:
    j = read_journal(d)
    base = {"name": d.name, "dir": d.name, "anchor": f"s-{d.name}"}
    if j is None:
        why = "directory missing" if not d.is_dir() else "journal.json missing or unreadable"
        return {**base, "journal": None, "verdict": "missing", "notes": [why], "checks": []}
    timeline = Timeline(j, d)
    t0 = timeline.t0
    checks = sorted(j["checks"], key=_check_rank)
    for c in checks:
        c["failed"] = check_fails(c)
        c["details_text"] = _details(c)
        # a multi-line item (a saga's step timeline) shows its first line; the rest folds
        c["evidence_items"] = [
            {"head": (e.splitlines() or [""])[0], "rest": "\n".join(e.splitlines()[1:])}
            for e in c["evidence"]
        ]
    failed = sum(1 for c in checks if c["failed"])
    ev = Evidence(d, j, read_traces(d, j["missing"]))
    for i, c in enumerate(checks):
        c["anchor"] = f"{base['anchor']}-c{i}"
        if c["verdict"] == "fail":
            c["trace_evidence"] = ev.check_evidence(c, timeline.requests(), t0)
    notes = list(j["missing"])
    if timeline.clock_note:
        notes.append(timeline.clock_note)
    figures = timeline.figures()
    if figures and not any(f.svg for f in figures):
        notes.append(
            "No timeline data was collected (requests.jsonl, registry.csv and prom/*.csv "
            "are absent or empty)."
        )
    events = sorted(j["events"], key=lambda e: e["t"] if e["t"] is not None else float("inf"))
    return {
        **base,
        "name": j["scenario"]["name"],
        "journal": j,
        "verdict": j.get("verdict") or "unfinished",
        "checks": checks,
        "passed": sum(1 for c in checks if c["verdict"] == "pass"),
        "failed": failed,
        "figures": figures,
        "faults": timeline.faults,
        "t0": t0,
        "duration": _duration(j),
        "events": events,
        "notes": notes,
        "raw": _raw_links(d),
        "locust": _locust_links(d),
        "max_evidence": MAX_EVIDENCE,
        "traces": ev.source(),
        "slowest": ev.slowest(),
        "faulted": bool(ev.fault_windows()),
    }


def _environment(scenarios: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    versions: dict[str, Any] = {}
    targets: list[dict[str, Any]] = []
    for s in scenarios:
        j = s["journal"]
        if not j:
            continue
        for k, v in j["versions"].items():
            versions.setdefault(k, v)
        if j["target"] and j["target"] not in targets:
            targets.append(j["target"])
    return versions, targets


STEP_LABELS = {
    "stack": "start or settle the stack",
    "settle_before": "wait until no work is in flight",
    "audit_before": "audit snapshot before",
    "load_start": "start Locust until every user is spawned",
    "stop": "revert faults, stop Locust and the poller",
    "scrape_grace": "wait for the last scrape",  # runs before the scrape wait
    "settle_after": "wait until no work is in flight (after)",
    "audit_after": "audit snapshot after",
    "scrape_wait": "wait for two scrapes after the work settled",
    "collect": "read the series from Prometheus",
    "evidence": "save the traces and log lines",
    "checks": "run the checks",
    "offender_traces": "fetch the failed checks' offenders' traces",
}


def time_budget(scenarios: list[dict[str, Any]], run: dict[str, Any]) -> dict[str, Any] | None:
    """Where the run's time went: the declared phases, each step around them summed over the
    scenarios (journal ``steps``), and the whole run's wall time; None before any step."""
    steps: dict[str, float] = {}
    phases = 0.0
    for s in scenarios:
        j = s["journal"]
        if not j:
            continue
        for k, v in (j.get("steps") or {}).items():
            if isinstance(v, int | float):
                steps[k] = steps.get(k, 0.0) + float(v)
        for ph in j.get("phases") or []:
            phases += float(ph.get("planned_end", 0)) - float(ph.get("planned_start", 0))
    if not steps:
        return None
    wall = None
    start, end = run.get("started_at"), run.get("ended_at")
    if isinstance(start, int | float) and isinstance(end, int | float):
        wall = end - start
    rows = [(STEP_LABELS.get(k, k), v) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])]
    return {
        "phases": phases,
        "steps": rows,
        "outside": sum(steps.values()),
        "wall": wall,
        "ratio": wall / phases if wall and phases else None,
    }


def _selftest(run_dir: Path) -> dict[str, Any] | None:
    data = read_json(run_dir / "selftest.json")
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None
    cells = [c for c in data["cells"] if isinstance(c, dict)]
    bugs = [str(b) for b in data.get("bugs") or sorted({str(c.get("bug")) for c in cells})]
    names = [
        str(s) for s in data.get("scenarios") or sorted({str(c.get("scenario")) for c in cells})
    ]
    grid = {(str(c.get("bug")), str(c.get("scenario"))): c for c in cells}
    return {"bugs": bugs, "scenarios": names, "grid": grid, "cells": cells}


def _results(run_dir: Path) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """(scenario name, results entry) pairs and each run folder's own figures, from
    results.json (``harness.recovery`` writes it; docs/results.md); empty when absent."""
    data = read_json(run_dir / "results.json")
    entries = data.get("scenarios") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        return [], {}
    pairs = [(str(k), v) for k, v in entries.items() if isinstance(v, dict)]
    by_dir = {}
    for _, e in pairs:
        for r in e.get("runs") or []:
            if isinstance(r, dict) and isinstance(r.get("figures"), dict):
                by_dir[str(r.get("dir"))] = r["figures"]
    return pairs, by_dir


FIGURE_COLUMNS = [
    ("first_error_s", "first client error after fault", "s"),
    ("breaker_open_s", "breaker open after fault", "s"),
    ("recovery_s", "recovery after last revert", "s"),
    ("failed_in_fault_window", "requests failed in fault window", ""),
    ("error_budget_spent", "error budget spent in fault window", "x"),
]


def _text(value: Any) -> Markup:
    """Escaped for a text node only (``&``, ``<``, ``>``): quotes need no escaping there, and
    the JSON of a check's details is full of them."""
    return Markup(html.escape(str(value), quote=False))


# indentation from the templates before a tag: collapsible whitespace in every element of the
# page (no tag follows a line break inside a <pre> or a pre-wrap cell, whose text is escaped)
_INDENT = re.compile(r"\n[ \t]+(?=<)")


@functools.cache
def _environment_jinja() -> Environment:
    """One environment per process: its templates are compiled once, not on every render."""
    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["clock"] = _clock
    env.filters["wall"] = _wall
    env.filters["figure"] = format_figure
    env.filters["text"] = _text
    return env


def render_report(run_dir: Path) -> Path:
    """Write ``run_dir/index.html`` and return its path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = read_json(run_dir / "run.json")
    run = run if isinstance(run, dict) else {}
    scenarios = [_scenario(d) for d in scenario_dirs(run_dir)]
    recovery, by_dir = _results(run_dir)
    for s in scenarios:
        s["figures_run"] = by_dir.get(s["dir"])
    versions, targets = _environment(scenarios)
    totals: dict[str, int] = {}
    for s in scenarios:
        totals[s["verdict"]] = totals.get(s["verdict"], 0) + 1
    page = (
        _environment_jinja()
        .get_template("index.html")
        .render(
            run_id=run.get("run_id") or run_dir.name,
            run=run,
            scenarios=scenarios,
            totals=totals,
            versions=versions,
            targets=targets,
            selftest=_selftest(run_dir),
            budget=time_budget(scenarios, run),
            recovery=recovery,
            figure_columns=FIGURE_COLUMNS,
            generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            svg_defs=svg_defs(FAULT_SLOTS),
        )
    )
    page = _INDENT.sub("\n", page)
    out = run_dir / "index.html"
    tmp = run_dir / f".index.html.{os.getpid()}"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)  # a reader (or a browser refresh) never sees half a page
    return out


def update_latest(reports_dir: Path, run_dir: Path) -> None:
    """Point ``reports_dir/latest`` at ``run_dir`` with a relative symlink, replaced atomically."""
    reports_dir, run_dir = Path(reports_dir), Path(run_dir)
    link = reports_dir / "latest"
    tmp = reports_dir / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(run_dir.resolve(), reports_dir.resolve()))
    tmp.replace(link)
