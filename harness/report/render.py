"""``render_report(run_dir)``: index.html from run.json, each scenario's journal and data."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.report.data import read_journal

VERDICT_ORDER = {"fail": 0, "unknown": 1, "pass": 2}
RAW_FILES = [
    "journal.json",
    "requests.jsonl",
    "registry.csv",
    "audit_before.json",
    "audit_after.json",
    "locust/report.html",
]


def scenario_dirs(run_dir: Path) -> list[Path]:
    try:
        names = json.loads((run_dir / "run.json").read_text())["scenarios"]
        return [run_dir / n for n in names if (run_dir / n).is_dir()]
    except (OSError, ValueError, KeyError):
        return sorted(p.parent for p in run_dir.glob("*/journal.json"))


def _when(t: float | None, t0: float | None = None) -> str:
    if t is None:
        return "—"
    if t0 is not None:
        return f"{t - t0:+.2f} s"
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _scenario(d: Path) -> dict[str, Any]:
    from harness.report.figures import Timeline

    j = read_journal(d)
    if j is None:
        return {"name": d.name, "journal": None, "missing": ["journal.json missing or unreadable"]}
    t0 = j.get("clock_start") or j.get("started_at")
    checks = sorted(j.get("checks") or [], key=lambda c: VERDICT_ORDER.get(c.get("verdict"), 1))
    figures = Timeline(j, d).figures() if t0 else []
    raw = [f for f in RAW_FILES if (d / f).exists()]
    raw += (
        sorted(f"prom/{p.name}" for p in (d / "prom").glob("*.csv"))
        if (d / "prom").is_dir()
        else []
    )
    passed = sum(1 for c in checks if c.get("verdict") == "pass")
    took = (j.get("ended_at") or 0) - (j.get("started_at") or 0)
    return {
        "name": d.name,
        "dir": d.name,
        "journal": j,
        "checks": checks,
        "figures": figures,
        "raw": raw,
        "passed": passed,
        "failed": len(checks) - passed,
        "t0": t0,
        "duration": f"{took:.1f} s" if j.get("ended_at") else "unfinished",
        "missing": list(j.get("missing") or []),
    }


def render_report(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    env = Environment(
        loader=PackageLoader("harness.report", "templates"), autoescape=select_autoescape(["html"])
    )
    env.filters["when"] = _when
    scenarios = [_scenario(d) for d in scenario_dirs(run_dir)]
    versions: dict[str, Any] = {}
    for s in scenarios:
        if s["journal"]:
            versions = s["journal"].get("versions") or versions
    selftest = None
    if (run_dir / "selftest.json").exists():
        try:
            selftest = json.loads((run_dir / "selftest.json").read_text())
        except ValueError:
            selftest = None
    html = env.get_template("index.html").render(
        run_id=run_dir.name,
        scenarios=scenarios,
        versions=versions,
        selftest=selftest,
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
    )
    out = run_dir / "index.html"
    out.write_text(html, encoding="utf-8")
    return out


def update_latest(reports_dir: Path, run_dir: Path) -> None:
    """Point ``reports/latest`` at ``run_dir`` (a relative symlink, replaced atomically)."""
    link = Path(reports_dir) / "latest"
    tmp = Path(reports_dir) / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path(run_dir).name)
    tmp.replace(link)
