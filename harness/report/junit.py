"""JUnit XML beside the report: one testcase per scenario, for CI dashboards.

verdict fail -> <failure> whose message carries the failed checks' evidence; aborted, error, an
unfinished run or a missing journal -> <error>; inconclusive -> <skipped> with the reason;
not-steady (the stack was broken before any fault) -> <failure type="NotSteady">.
A scenario run several times (``run --repeat N``) adds one testcase ``<name> (N runs)`` from
results.json: flaky -> <failure type="Flaky"> naming each run's verdict; any other verdict
but pass -> <failure type="Repeated">.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.report.data import read_journal, read_json
from harness.report.render import scenario_dirs
from harness.verdict import check_fails

CLASSNAME = "stormproof.scenarios"
MAX_MESSAGE = 2000  # CI front ends show the message attribute on one line; the body has it all
EVIDENCE_PER_CHECK = 10


def _failed_checks(j: dict[str, Any]) -> tuple[str, str]:
    """(one-line message, full text) describing the failed checks and their evidence."""
    short, full = [], []
    for c in j["checks"]:
        if not check_fails(c):
            continue
        head = f"{c.get('name', c.get('kind', 'check'))} {c['verdict'].upper()}"
        evidence = c["evidence"] or [str(c.get("measured") or "no evidence recorded")]
        # an evidence item may carry a saga's step timeline: its first line names the saga
        firsts = [(e.splitlines() or [""])[0] for e in evidence[:3]]
        short.append(f"{head}: {'; '.join(firsts)}")
        full.append(
            f"{head}\n  expected: {c.get('expected', '')}\n  measured: {c.get('measured', '')}"
        )
        full += [f"  - {e}" for e in evidence[:EVIDENCE_PER_CHECK]]
        if len(evidence) > EVIDENCE_PER_CHECK:
            full.append(f"  ... and {len(evidence) - EVIDENCE_PER_CHECK} more (see the report)")
    message = " | ".join(short) or "the scenario failed (no failed check recorded)"
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return message, "\n".join(full)


def _events(j: dict[str, Any], kinds: tuple[str, ...]) -> list[str]:
    return [
        f"{e.get('kind')}: {e.get('message', '')}" for e in j["events"] if e.get("kind") in kinds
    ]


def _inconclusive_reason(j: dict[str, Any]) -> str:
    lag = j["overload"].get("max_event_loop_lag_s")
    reason = "inconclusive: the services were overloaded"
    if j["overload"].get("host_explains") and not j["overload"].get("inconclusive"):
        reason, lag = "inconclusive: the host stalled, not the target", None
    if lag is not None:
        reason += f" (max event-loop lag {lag:.3f} s)"
    overload = [m.split(": ", 1)[1] for m in _events(j, ("overload",))]
    return reason + (": " + "; ".join(overload) if overload else "")


def _testcase(suite: ET.Element, d: Path, counts: dict[str, int]) -> float:
    j = read_journal(d)
    counts["tests"] += 1
    if j is None:
        case = ET.SubElement(
            suite, "testcase", classname=CLASSNAME, name=d.name, file="", time="0.000"
        )
        counts["errors"] += 1
        ET.SubElement(case, "error", message=f"no journal.json in {d}")
        return 0.0
    took = 0.0
    if j["started_at"] is not None and j["ended_at"] is not None:
        took = max(0.0, j["ended_at"] - j["started_at"])
    sc = j["scenario"]
    case = ET.SubElement(
        suite,
        "testcase",
        classname=CLASSNAME,
        name=str(sc.get("name") or d.name),
        file=str(sc.get("file") or ""),
        time=f"{took:.3f}",
    )
    verdict = j.get("verdict")
    if verdict == "fail":
        counts["failures"] += 1
        message, text = _failed_checks(j)
        ET.SubElement(case, "failure", message=message, type="CheckFailed").text = text
    elif verdict == "not-steady":
        counts["failures"] += 1
        lines = _events(j, ("not-steady",))
        message = lines[0].splitlines()[0] if lines else "not steady before the faults"
        ET.SubElement(
            case, "failure", message=message[:MAX_MESSAGE], type="NotSteady"
        ).text = "\n".join([*lines, _failed_checks(j)[1]]).strip()
    elif verdict == "inconclusive":
        counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=_inconclusive_reason(j))
    elif verdict != "pass":
        counts["errors"] += 1
        lines = _events(j, ("abort", "error"))
        what = {"aborted": "scenario aborted", "error": "scenario error"}.get(
            str(verdict), "scenario did not finish (no verdict in the journal)"
        )
        first = lines[0].splitlines()[0] if lines else ""
        message = f"{what}: {first}" if first else what
        ET.SubElement(
            case, "error", message=message[:MAX_MESSAGE], type=str(verdict)
        ).text = "\n".join([*lines, _failed_checks(j)[1]]).strip()
    return took


def _repeated(suite: ET.Element, run_dir: Path, counts: dict[str, int]) -> None:
    """One testcase per repeated scenario, from results.json (docs/results.md)."""
    results = read_json(run_dir / "results.json")
    entries = results.get("scenarios") if isinstance(results, dict) else None
    for name, e in (entries or {}).items() if isinstance(entries, dict) else []:
        if not isinstance(e, dict) or not isinstance(e.get("count"), int) or e["count"] < 2:
            continue
        counts["tests"] += 1
        case = ET.SubElement(
            suite, "testcase", classname=CLASSNAME, name=f"{name} ({e['count']} runs)", time="0"
        )
        verdict = str(e.get("verdict"))
        if verdict == "pass":
            continue
        counts["failures"] += 1
        runs = ", ".join(str(v) for v in e.get("verdicts") or [])
        message = f"{verdict}: {e.get('passed')} of {e['count']} runs passed ({runs})"
        kind = "Flaky" if verdict == "flaky" else "Repeated"
        checks = [f"{c.get('name')}: {c.get('evidence')}" for c in e.get("failed_checks") or []
                  if isinstance(c, dict)]  # fmt: skip
        ET.SubElement(case, "failure", message=message[:MAX_MESSAGE], type=kind).text = "\n".join(
            [message, *checks]
        )


def write_junit(run_dir: Path) -> Path:
    """Write ``run_dir/junit.xml`` (one testcase per scenario) and return its path."""
    run_dir = Path(run_dir)
    root = ET.Element("testsuites", name="stormproof")
    suite = ET.SubElement(root, "testsuite", name="stormproof.scenarios")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total = sum(_testcase(suite, d, counts) for d in scenario_dirs(run_dir))
    _repeated(suite, run_dir, counts)
    for el in (root, suite):
        for k, v in counts.items():
            el.set(k, str(v))
        el.set("time", f"{total:.3f}")
    out = run_dir / "junit.xml"
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(out, encoding="utf-8", xml_declaration=True)
    return out
