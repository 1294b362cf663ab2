"""The run journal (`journal.json`): one JSON record per scenario run, rewritten as the run goes.

The HTML report and the pytest outcome are read from it (and the collected data), never from
the runner. All times are unix seconds. Check results are stored as plain dicts (the shape of
``harness.checks.base.CheckResult.to_dict``) so this module does not import the checkers.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from harness.verdict import check_fails

SCHEMA_VERSION = 1


class _Record(BaseModel):
    # Fields added by later versions survive a load/write round trip.
    model_config = ConfigDict(extra="allow")


class ScenarioInfo(_Record):
    name: str
    file: str | None = None
    line: int | None = None
    tags: list[str] = Field(default_factory=list)
    markers: list[str] = Field(default_factory=list)
    seed: int = 0


class TargetInfo(_Record):
    name: str = ""
    topology: str | None = None
    env: dict[str, str] = Field(default_factory=dict)


class PhaseRecord(_Record):
    name: str
    planned_start: float
    planned_end: float
    start: float | None = None
    end: float | None = None


class FaultRecord(_Record):
    """One fault. `target` is ``harness.scenario.fault_target(spec)``.

    For crash and stop with a restart, `reverted_at` is when the instance was started again;
    for pause, when it was resumed; a restart fault is instantaneous (`injected_at` only).
    """

    id: str
    kind: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    planned_at: float  # scenario-clock offset, s
    planned_for: float | None = None
    injected_at: float | None = None
    reverted_at: float | None = None
    drift_ms: float | None = None
    error: str | None = None
    # what the driver reported while injecting and reverting (config_change: the store
    # revisions `revision` and `reverted_revision`, which config_applied reads)
    recorded: dict[str, Any] = Field(default_factory=dict)


class Event(_Record):
    t: float
    kind: str
    message: str


class LoadSummary(_Record):
    users: int = 0
    rate: float | None = None  # requests/s per user; None: the locustfile's own wait_time
    locustfile: str | None = None
    host: str | None = None
    requests: int = 0
    failures: int = 0


class OverloadInfo(_Record):
    max_event_loop_lag_s: float | None = None
    inconclusive: bool = False  # an instance's event loop lagged beyond the bound
    # every failed check was a latency check the host explains (harness/checks/host.py)
    host_explains: bool = False
    # host stalls, host pressure (PSI shares per sample, or why not measured), explanations
    host: dict[str, Any] = Field(default_factory=dict)


class _HasToDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class _LoadAccessor:
    """``Journal.load(path)`` on the class; ``journal.load`` (the LoadSummary) on an instance."""

    def __get__(self, obj: Journal | None, cls: type[Journal]) -> Any:
        return cls.read if obj is None else obj.load_summary


class Journal(_Record):
    schema_: int = Field(default=SCHEMA_VERSION, alias="schema")
    run_id: str
    scenario: ScenarioInfo
    versions: dict[str, str | None] = Field(default_factory=dict)
    target: TargetInfo = Field(default_factory=TargetInfo)
    started_at: float | None = None
    clock_start: float | None = None
    ended_at: float | None = None
    phases: list[PhaseRecord] = Field(default_factory=list)
    faults: list[FaultRecord] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    checks: list[dict[str, Any]] = Field(default_factory=list)
    load_summary: LoadSummary = Field(default_factory=LoadSummary, alias="load")
    overload: OverloadInfo = Field(default_factory=OverloadInfo)
    verdict: str | None = None
    missing: list[str] = Field(default_factory=list)
    # seconds spent in each step around the phases (stack, settle, audit, load start, stop,
    # scrape grace, collect, checks): where a scenario's time outside its phases goes
    steps: dict[str, float] = Field(default_factory=dict)
    # what was saved beside the journal besides metrics: traces.json's bounds and each
    # instance's cut log (logs/<instance>.log) with its line counts (harness.infra.logs)
    evidence: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    # ------------------------------------------------------------------ building

    def event(self, kind: str, message: str, t: float | None = None) -> Event:
        ev = Event(t=time.time() if t is None else t, kind=kind, message=message)
        self.events.append(ev)
        return ev

    def plan_phases(self, clock_start: float, offsets: Iterable[tuple[str, float, float]]) -> None:
        """Phases from scenario offsets (``Scenario.phase_offsets()``) on a started clock."""
        self.clock_start = clock_start
        self.phases = [
            PhaseRecord(name=n, planned_start=clock_start + a, planned_end=clock_start + b)
            for n, a, b in offsets
        ]

    def phase(self, name: str) -> PhaseRecord:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(f"no phase {name!r} in the journal")

    def add_fault(self, record: FaultRecord) -> FaultRecord:
        self.faults.append(record)
        return record

    def fault(self, fault_id: str) -> FaultRecord:
        for f in self.faults:
            if f.id == fault_id:
                return f
        raise KeyError(f"no fault {fault_id!r} in the journal")

    def fault_injected(self, fault_id: str, t: float) -> None:
        f = self.fault(fault_id)
        f.injected_at = t
        if self.clock_start is not None:
            f.drift_ms = round((t - (self.clock_start + f.planned_at)) * 1000, 1)

    def fault_reverted(self, fault_id: str, t: float, error: str | None = None) -> None:
        f = self.fault(fault_id)
        f.reverted_at = t
        if error:
            f.error = error

    def add_check(self, result: _HasToDict | Mapping[str, Any]) -> None:
        self.checks.append(dict(result) if isinstance(result, Mapping) else result.to_dict())

    def failed_checks(self) -> list[dict[str, Any]]:
        """Checks that fail the scenario, by the one verdict rule (``harness.verdict``)."""
        return [c for c in self.checks if check_fails(c)]

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step into ``steps[name]`` (added up when a step runs more than once)."""
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.steps[name] = round(self.steps.get(name, 0.0) + time.monotonic() - t0, 3)

    def add_missing(self, what: str, reason: str) -> None:
        entry = f"{what}: {reason}"
        if entry not in self.missing:
            self.missing.append(entry)

    # ------------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        return _finite(self.model_dump(mode="json", by_alias=True))

    def write(self, path: str | Path) -> None:
        """Atomically replace `path`: a reader never sees half a journal."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        fd, tmp = tempfile.mkstemp(prefix=".journal-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def read(cls, path: str | Path) -> Journal:
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))

    # `load` names both the JSON block (journal.load.users) and the loader (Journal.load(path)).
    load: ClassVar[_LoadAccessor] = _LoadAccessor()


def _finite(value: Any) -> Any:
    # JSON has no NaN or infinity; a measurement that is not a number is recorded as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
