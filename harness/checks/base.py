"""What every checker shares: the result shape, the recorded run data, and series helpers.

A checker is a pure function ``check(expect, data) -> CheckResult`` over recorded data (Elle's
shape): verdict, what was expected, what was measured, and evidence a person can read. A check
whose data is missing says "unknown" with the reason; unknown fails unless the expectation says
``allow_unknown: true``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.facts import TopologyFacts
from harness.journal import FaultRecord, Journal, ScenarioInfo
from harness.profile import NOT_MAPPED

# the request and counter readers, re-exported: the checkers and their tests import them here
from harness.records import empty_requests as empty_requests
from harness.records import increases as increases
from harness.records import label_columns as label_columns
from harness.records import read_requests, read_series
from harness.records import requests_frame as requests_frame
from harness.records import scrape_interval as scrape_interval

# the verdict names, re-exported: every checker imports them from here
from harness.verdict import FAIL as FAIL
from harness.verdict import PASS as PASS
from harness.verdict import UNKNOWN, check_fails
from harness.verdict import combine as combine

REGISTRY_COLUMNS = ("t", "service", "instance", "incarnation")


@dataclass
class CheckResult:
    name: str
    kind: str
    verdict: str  # pass | fail | unknown
    expected: str = ""
    measured: str = ""
    evidence: list[str] = field(default_factory=list)
    violation_at: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    allow_unknown: bool = False

    @property
    def passed(self) -> bool:
        return not check_fails(self)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckResult:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars unwrapped, NaN and infinity as null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def unknown(name: str, kind: str, expected: str, reason: str, **details: Any) -> CheckResult:
    return CheckResult(name, kind, UNKNOWN, expected, f"unknown: {reason}", [reason], None, details)


def make_unknown(result: CheckResult, reason: str) -> CheckResult:
    """Turn a result being built into "unknown" with the reason as its evidence."""
    result.verdict, result.measured = UNKNOWN, f"unknown: {reason}"
    result.evidence.append(reason)
    return result


def secs(x: float) -> str:
    """`2.1 s`, for evidence."""
    return f"{x:.1f} s" if abs(x) < 100 else f"{x:.0f} s"


@dataclass(frozen=True)
class FaultWindow:
    id: str
    kind: str
    target: str
    params: dict[str, Any]
    start: float  # injected_at
    end: float  # reverted_at; for a restart, its instant; never reverted: scenario end
    reverted_at: float | None


@dataclass
class RunData:
    """One scenario run's recorded data, as ``RunData.load(scenario_dir)`` reads it."""

    journal: Journal
    prom: dict[str, pd.DataFrame] = field(default_factory=dict)
    requests: pd.DataFrame = field(default_factory=lambda: empty_requests())
    registry: pd.DataFrame | None = None
    audit_before: dict[str, Any] | None = None
    audit_after: dict[str, Any] | None = None
    facts: TopologyFacts | None = None
    missing: dict[str, str] = field(default_factory=dict)  # file -> why it is absent
    # named windows besides the phases (the steady-state check's), looked up like phases
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    directory: Path | None = None  # the scenario's run folder, when read from files
    # secret name -> every value the run used (in memory only, from the stack's secrets folder;
    # never saved): None when not known (data read back from files), for secret_leak
    secret_values: dict[str, list[str]] | None = None
    # process name -> its log file on this machine (the stack's processes), for secret_leak;
    # None: the backend exposes no log files
    log_files: dict[str, Path] | None = None
    # host_pressure.csv (PSI counters sampled by the runner), for the overload rule; None: not
    # measured (``missing`` says why)
    host_pressure: pd.DataFrame | None = None

    @property
    def lease_ttl(self) -> float:
        return self.facts.lease_ttl if self.facts is not None else 5.0

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        scenario_dir: str | Path,
        facts: TopologyFacts | None = None,
        journal: Journal | None = None,
    ) -> RunData:
        """Read the collected files; `journal` (the live one) overrides journal.json."""
        d = Path(scenario_dir)
        missing: dict[str, str] = {}
        jpath = d / "journal.json"
        if journal is None and jpath.exists():
            journal = Journal.load(jpath)
        elif journal is None:
            missing["journal.json"] = "not written"
            journal = Journal(run_id="", scenario=ScenarioInfo(name=d.name))
        for line in journal.missing:
            what, _, why = line.partition(": ")
            missing.setdefault(what, why)
        prom: dict[str, pd.DataFrame] = {}
        if (d / "prom").is_dir():
            for csv in sorted((d / "prom").glob("*.csv")):
                frame = read_series(csv)
                if frame.empty:
                    missing.setdefault(f"prom/{csv.name}", "empty file")
                else:
                    prom[csv.stem] = frame
        else:
            missing.setdefault("prom/", "not collected")
        requests = empty_requests()
        if (d / "requests.jsonl").exists():
            requests = read_requests(d / "requests.jsonl")
        else:
            missing["requests.jsonl"] = "not written"
        registry = None
        if (d / "registry.csv").exists():
            registry = read_registry(d / "registry.csv")
        else:
            missing.setdefault("registry.csv", "not written")
        host_pressure = None
        if (d / "host_pressure.csv").exists():
            host_pressure = read_series(d / "host_pressure.csv", needs=("t",))
        else:
            missing.setdefault("host_pressure.csv", "not written")
        audits = {}
        for which in ("audit_before", "audit_after"):
            p = d / f"{which}.json"
            try:
                audits[which] = json.loads(p.read_text(encoding="utf-8"))
            except FileNotFoundError:
                missing.setdefault(f"{which}.json", "not written")
            except ValueError as exc:
                missing[f"{which}.json"] = f"not JSON: {exc}"
        return cls(
            journal=journal,
            prom=prom,
            requests=requests,
            registry=registry,
            audit_before=audits.get("audit_before"),
            audit_after=audits.get("audit_after"),
            facts=facts,
            missing=missing,
            directory=d,
            host_pressure=host_pressure,
        )

    # ------------------------------------------------------------------ access

    def series(self, key: str) -> pd.DataFrame | None:
        """A Prometheus frame with samples, or None."""
        frame = self.prom.get(key)
        return frame if frame is not None and not frame.empty else None

    def prom_start(self) -> float | None:
        """The first sample time over every collected series: where the queried range began."""
        starts = [float(f["t"].min()) for f in self.prom.values() if not f.empty]
        return min(starts) if starts else None

    def why_missing(self, key: str) -> str:
        f = f"prom/{key}.csv"
        return f"{f}: {self.missing.get(f, 'no samples')}"

    def unmapped(self, key: str) -> str | None:
        """``why_missing`` when the target profile does not map `key` at all, else None."""
        why = self.missing.get(f"prom/{key}.csv", "")
        return self.why_missing(key) if why.startswith(NOT_MAPPED) else None

    @property
    def clock_start(self) -> float:
        j = self.journal
        if j.clock_start is not None:
            return j.clock_start
        return j.started_at or 0.0

    def scenario_window(self) -> tuple[float, float]:
        j = self.journal
        ends = [p.end or p.planned_end for p in j.phases]
        end = max(ends) if ends else (j.ended_at or self.clock_start)
        return self.clock_start, end

    def phase_window(self, name: str) -> tuple[float, float] | None:
        if name in self.windows:
            return self.windows[name]
        for p in self.journal.phases:
            if p.name == name:
                start = p.start if p.start is not None else p.planned_start
                end = p.end if p.end is not None else p.planned_end
                return start, end
        return None

    def fault_windows(self) -> list[FaultWindow]:
        """Faults that were injected, in injection order."""
        _, scenario_end = self.scenario_window()
        out = []
        for f in self.journal.faults:
            if f.injected_at is None:
                continue
            out.append(
                FaultWindow(
                    f.id, f.kind, f.target, f.params, f.injected_at, _fault_end(f, scenario_end),
                    f.reverted_at,
                )
            )  # fmt: skip
        return sorted(out, key=lambda w: w.start)

    def last_revert(self) -> float | None:
        ends = [w.end for w in self.fault_windows()]
        return max(ends) if ends else None

    def rel(self, t: float) -> str:
        """`+12.3 s` on the scenario clock."""
        return f"+{t - self.clock_start:.1f} s"


def _fault_end(f: FaultRecord, scenario_end: float) -> float:
    if f.reverted_at is not None:
        return f.reverted_at
    if f.kind == "restart":
        return f.injected_at or scenario_end
    return scenario_end


# ---------------------------------------------------------------------------- readers


def read_registry(path: Path) -> pd.DataFrame:
    frame = read_series(path, needs=("t",))
    return frame if not frame.empty else pd.DataFrame(columns=list(REGISTRY_COLUMNS))


# ---------------------------------------------------------------------------- series helpers


def select(frame: pd.DataFrame, **labels: str | None) -> pd.DataFrame:
    """Rows whose labels equal the given values (None: any); a missing column matches nothing."""
    mask = pd.Series(True, index=frame.index)
    for col, want in labels.items():
        if want is None:
            continue
        if col not in frame.columns:
            return frame.iloc[0:0]
        mask &= frame[col] == want
    return frame[mask]


def parse_ts(value: Any) -> float | None:
    """Unix seconds from a number or an ISO-8601 string (audit payloads may use either)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    from datetime import UTC, datetime

    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
