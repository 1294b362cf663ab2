"""JUnit XML beside the report: one testcase per scenario, failures carrying the evidence."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.report.data import read_journal
from harness.report.render import scenario_dirs


def _failed_text(j: dict) -> str:
    lines = []
    for c in j.get("checks") or []:
        if c.get("verdict") == "pass" or (c.get("verdict") == "unknown" and c.get("allow_unknown")):
            continue
        lines.append(f"{c.get('verdict', '?').upper()} {c.get('name')}: {c.get('measured', '')}")
        lines += [f"  - {e}" for e in (c.get("evidence") or [])[:10]]
    for ev in j.get("events") or []:
        if ev.get("kind") in ("abort", "error"):
            lines.append(f"{ev['kind']}: {ev.get('message', '').splitlines()[0]}")
    return "\n".join(lines)


def write_junit(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    suite = ET.Element("testsuite", name="stormproof")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for d in scenario_dirs(run_dir):
        j = read_journal(d)
        if j is None:
            continue
        took = max(0.0, (j.get("ended_at") or 0) - (j.get("started_at") or 0))
        total_time += took
        sc = j.get("scenario") or {}
        case = ET.SubElement(
            suite,
            "testcase",
            classname="stormproof.scenarios",
            name=sc.get("name", d.name),
            file=str(sc.get("file") or ""),
            time=f"{took:.3f}",
        )
        counts["tests"] += 1
        verdict = j.get("verdict")
        text = _failed_text(j)
        if verdict == "fail":
            counts["failures"] += 1
            first = text.splitlines()[0] if text else "a check failed"
            ET.SubElement(case, "failure", message=first).text = text
        elif verdict in ("aborted", "error", None):
            counts["errors"] += 1
            ET.SubElement(
                case, "error", message=f"scenario {verdict or 'did not finish'}"
            ).text = text
        elif verdict == "inconclusive":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message="inconclusive: services were overloaded")
    for k, v in counts.items():
        suite.set(k, str(v))
    suite.set("time", f"{total_time:.3f}")
    out = run_dir / "junit.xml"
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    tree.write(out, encoding="utf-8", xml_declaration=True)
    return out
