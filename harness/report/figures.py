"""Timelines of one scenario, all on one time axis (seconds from the journal's clock_start),
with fault windows shaded and labelled, phase boundaries dotted and check violations marked.

Figures are inline SVG written by :mod:`harness.report.svg`. Every figure of a scenario is
built on one :class:`~harness.report.svg.Frame` (the same width, x range and margins), so the
figures stacked in the page line up vertically as if they shared one axis. Long series are
binned to at most ``MAX_POINTS`` per line; step series keep only their change points, which is
lossless. A figure that cannot be drawn becomes a note, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.records import increases, read_requests, read_series
from harness.report.data import data_span
from harness.report.svg import Chart, Frame, Mark, Span

MAX_POINTS = 900
# the fault colours are the page's CSS classes fc0..fc5 (templates/style.css), in this order
FAULT_SLOTS = 6
SERVICE_SLOTS = 10  # registry lines: classes c0..c9
STATE_HEIGHT = {0: 0.0, 2: 0.4, 1: 0.8}  # closed, half-open, open: open drawn highest
LANE_PX = 22  # the height of one breaker lane


@dataclass
class Figure:
    key: str
    title: str
    svg: str | None  # an inline <svg> element, or None with a note saying why
    note: str = ""


@dataclass
class FaultWindow:
    id: str
    label: str
    start: float | None  # seconds on the scenario clock; None: never injected
    end: float | None  # None when never injected
    open_ended: bool  # never reverted: shaded to the end of the axis
    slot: int  # its colour: the page's CSS class fc<slot>
    error: str | None

    @property
    def css(self) -> str:
        return f"fc{self.slot}"


def _change_points(s: pd.Series) -> pd.Series:
    """The samples where a step series changes value, plus the last: lossless for a step plot."""
    if len(s) < 3:
        return s
    keep = s.ne(s.shift())
    keep.iloc[-1] = True
    return s[keep]


class Timeline:
    """The figures of one scenario directory, read from its journal and saved data only."""

    def __init__(self, journal: dict[str, Any], scenario_dir: Path) -> None:
        self.j = journal
        self.dir = scenario_dir
        self._requests: pd.DataFrame | None = None
        self.t0, self.clock_note = self._origin()
        self.x0, self.x1 = self._x_range()
        self.frame = Frame(self.x0, self.x1)
        self.bin = float(max(1, math.ceil((self.x1 - self.x0) / MAX_POINTS)))
        self.faults = self._fault_windows()
        self.violations = [
            (c["violation_at"] - self.t0, str(c.get("name", "")))
            for c in journal["checks"]
            if c.get("violation_at") is not None and self.t0 is not None
        ]

    def requests(self) -> pd.DataFrame:
        """requests.jsonl, read once for every figure that needs it."""
        if self._requests is None:
            self._requests = read_requests(self.dir / "requests.jsonl")
        return self._requests

    # -- the shared axis ---------------------------------------------------------------------

    def _origin(self) -> tuple[float | None, str]:
        if self.j["clock_start"] is not None:
            return self.j["clock_start"], ""
        if self.j["started_at"] is not None:
            return self.j["started_at"], (
                "The scenario clock never started: times are from the scenario's start."
            )
        span = data_span(self.dir)
        if span is not None:
            return span[0], "The journal has no times: times are from the first request."
        return None, "The journal has no times and there are no requests: no timelines."

    def _x_range(self) -> tuple[float, float]:
        if self.t0 is None:
            return 0.0, 1.0
        ends = [self.j["ended_at"]]
        ends += [p["planned_end"] for p in self.j["phases"]] + [p["end"] for p in self.j["phases"]]
        ends += [f["reverted_at"] for f in self.j["faults"]]
        known = [e for e in ends if e is not None]
        if not known:
            span = data_span(self.dir)
            known = [span[1]] if span else [self.t0 + 1.0]
        return -3.0, max(1.0, max(known) - self.t0) + 3.0

    def _fault_windows(self) -> list[FaultWindow]:
        out = []
        for i, f in enumerate(self.j["faults"]):
            start = f["injected_at"]
            slot = i % FAULT_SLOTS
            label = f"{f['id']} {f.get('kind', '?')} {f.get('target', '')}".strip()
            if start is None or self.t0 is None:
                out.append(FaultWindow(f["id"], label, None, None, False, slot, f.get("error")))
                continue
            end = f["reverted_at"]
            s = start - self.t0
            e = self.x1 if end is None else max(end - self.t0, s + 0.3)  # instantaneous: a sliver
            out.append(FaultWindow(f["id"], label, s, e, end is None, slot, f.get("error")))
        return out

    def _chart(self, title: str, ylabel: str, plot_height: int = 146) -> Chart:
        """A figure on the scenario's frame with its fault windows, phase boundaries and
        violations; which figure carries their full labels is decided when it is drawn."""
        chart = Chart(self.frame, title, ylabel, height=plot_height + 64)
        for w in self.faults:
            if w.start is None or w.end is None:
                continue
            long = w.label + (" (not reverted)" if w.open_ended else "")
            chart.spans.append(Span(w.start, w.end, w.css, w.id, long))
        for p in self.j["phases"]:
            start = p["start"] if p["start"] is not None else p["planned_start"]
            if start is None or self.t0 is None:
                continue
            chart.marks.append(Mark(start - self.t0, "ph", str(p.get("name", ""))))
        for x, name in self.violations:
            chart.marks.append(Mark(x, "vi", name))
        return chart

    def _seconds(self, t: pd.Series) -> pd.Series:
        return t - self.t0

    def _binned(self, seconds: pd.Series) -> pd.Series:
        return (seconds // self.bin) * self.bin

    # -- the figures -------------------------------------------------------------------------

    def figures(self) -> list[Figure]:
        """The five timelines, each an SVG or a note. The first one drawn carries the full
        labels of the fault windows, phases and violations; the others name faults by id."""
        if self.t0 is None:
            return []
        makers: list[tuple[str, str, Callable[[str], tuple[Chart | None, str]]]] = [
            ("throughput", "Client throughput and failures per second", self.throughput),
            ("latency", "Client latency p50 / p95 / p99 (ms)", self.latency),
            ("breakers", "Breaker state per (caller, callee instance)", self.breakers),
            ("registry", "Instances in the registry per service", self.registry),
            ("sagas", "Sagas in flight, completed and cancelled per second", self.sagas),
        ]
        out = []
        labelled = False
        for key, title, make in makers:
            try:
                chart, note = make(title)
                svg = None if chart is None else chart.svg(labelled=not labelled)
            except Exception as exc:  # odd saved data must cost one figure, not the report
                chart, svg, note = None, None, f"could not be drawn: {exc!r}"
            labelled = labelled or svg is not None
            out.append(Figure(key, title, svg, note))
        return out

    def throughput(self, title: str) -> tuple[Chart | None, str]:
        req = self.requests()
        if req.empty:
            return None, "requests.jsonl is missing or has no requests"
        b = self._binned(self._seconds(req["t"]))
        # every bin between the first and last request: a second with no request is a zero
        full = pd.Index(
            [b.min() + k * self.bin for k in range(int((b.max() - b.min()) / self.bin) + 1)]
        )
        ok = b[req["ok"]].value_counts().reindex(full, fill_value=0) / self.bin
        failed = b[~req["ok"]].value_counts().reindex(full, fill_value=0) / self.bin
        chart = self._chart(title, "requests/s")
        x = full.to_numpy(dtype=float)
        chart.add("step", x, ok.to_numpy(dtype=float), "ok", "ok")
        chart.add("fill", x, failed.to_numpy(dtype=float), "fa")
        chart.add("step", x, failed.to_numpy(dtype=float), "fail", "failed")
        chart.ylim = (0.0, max(1.0, float(max(ok.max(), failed.max()))) * 1.5)
        return chart, ""

    def latency(self, title: str) -> tuple[Chart | None, str]:
        req = self.requests()
        if req.empty:
            return None, "requests.jsonl is missing or has no durations"
        grouped = req.assign(b=self._binned(self._seconds(req["t"]))).groupby("b")["ms"]
        chart = self._chart(title, "ms")
        lowest = math.inf
        for q, cls in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            s = grouped.quantile(q)
            chart.add("line", s.index, s.to_numpy(dtype=float), cls, f"p{round(q * 100)}")
            lowest = min(lowest, float(s.min()))
        lo, hi = float(req["ms"].clip(lower=0.1).min()), float(req["ms"].max())
        if hi / max(lo, 0.1) > 30:
            chart.log = True
            # down to a power of ten, so the lowest line has a labelled tick below it
            bottom = 10.0 ** math.floor(
                math.log10(max(0.1, lowest if math.isfinite(lowest) else lo))
            )
            chart.ylim = (bottom, hi * 2.5)  # headroom for the fault labels
        else:
            chart.ylim = (0.0, max(1.0, hi) * 1.35)
        return chart, ""

    def breakers(self, title: str) -> tuple[Chart | None, str]:
        frame = read_series(self.dir / "prom" / "breaker_state.csv", ("t", "value", "caller"))
        if frame.empty:
            return None, "prom/breaker_state.csv is missing or empty"
        callee = "callee_instance" if "callee_instance" in frame else "callee"
        if callee not in frame:
            return None, "prom/breaker_state.csv has no callee label"
        # several caller instances may hold a breaker to the same callee: show the worst
        worst = frame.assign(rank=frame["value"].map({0: 0, 2: 1, 1: 2}).fillna(0))
        worst = worst.groupby(["caller", callee, "t"])["rank"].max()
        # reversed so the first link reads at the top of the figure
        lanes = sorted(worst.index.droplevel("t").unique(), reverse=True)
        chart = self._chart(title, "", plot_height=max(146, round(LANE_PX * (len(lanes) + 0.55))))
        heights = {0: 0.0, 1: STATE_HEIGHT[2], 2: STATE_HEIGHT[1]}
        bars: dict[int, list[tuple[float, float, float, float]]] = {2: [], 1: []}
        for i, (caller, inst) in enumerate(lanes):
            s = _change_points(worst.loc[(caller, inst)].sort_index())
            x = (s.index.to_numpy() - self.t0).astype(float)
            chart.add("step", x, s.map(heights).to_numpy(dtype=float) + i, "bl")
            # each segment (this change point to the next) filled by its state
            for k in range(len(x) - 1):
                if s.iloc[k] in bars:
                    bars[s.iloc[k]].append((x[k], x[k + 1] - x[k], float(i), heights[s.iloc[k]]))
        for rank, cls, label in ((2, "bo", "open"), (1, "bh", "half-open")):
            xs, ws, ys, hs = zip(*bars[rank], strict=True) if bars[rank] else ([], [], [], [])
            chart.add("bars", xs, ys, cls, label, widths=ws, heights=hs)
        chart.legend.append(("line", "bl", "closed (baseline)"))
        chart.yticks = [(float(i), f"{c}→{n}") for i, (c, n) in enumerate(lanes)]
        chart.ygrid = False
        chart.ylim = (-0.3, len(lanes) + 0.25)  # headroom for the fault labels
        return chart, ""

    def registry(self, title: str) -> tuple[Chart | None, str]:
        frame = read_series(self.dir / "registry.csv", ("t", "service"))
        if frame.empty:
            return None, "registry.csv is missing or empty"
        frame["t"] = pd.to_numeric(frame["t"], errors="coerce")
        counts = frame.dropna(subset=["t"]).groupby(["t", "service"]).size().unstack(fill_value=0)
        chart = self._chart(title, "instances")
        services = list(counts.columns)
        for i, service in enumerate(services):
            s = _change_points(counts[service])
            # a small offset per service keeps equal counts from hiding each other
            offset = (i - (len(services) - 1) / 2) * 0.04
            chart.add(
                "step",
                self._seconds(s.index.to_series()).to_numpy(dtype=float),
                s.to_numpy(dtype=float) + offset,
                f"rg c{i % SERVICE_SLOTS}",
                str(service),
            )
        top = int(counts.to_numpy().max()) if counts.size else 1
        chart.ylim = (-0.3, top + 0.6)
        chart.yticks = [(float(v), str(v)) for v in range(0, top + 1)]
        return chart, ""

    def sagas(self, title: str) -> tuple[Chart | None, str]:
        inflight = read_series(self.dir / "prom" / "sagas_in_flight.csv")
        total = read_series(self.dir / "prom" / "sagas_total.csv", ("t", "value", "outcome"))
        if inflight.empty and total.empty:
            return None, "prom/sagas_in_flight.csv and prom/sagas_total.csv are missing or empty"
        chart = self._chart(title, "sagas  ·  sagas/s")
        if not inflight.empty:
            s = inflight.groupby("t")["value"].sum()
            # the peak of each bin: a short spike of stuck sagas must stay visible
            s = s.groupby(self._binned(self._seconds(s.index.to_series())).values).max()
            chart.add("line", s.index, s.to_numpy(dtype=float), "if", "in flight")
        if not total.empty:
            # the gauge is scraped from the first sample of the range: a completed or cancelled
            # series that appears later was created during it, and its first value counts
            starts = [float(f["t"].min()) for f in (inflight, total) if not f.empty]
            inc = increases(total, range_start=min(starts))
            for outcome, cls in (("completed", "sc"), ("cancelled", "sx")):
                sub = inc[inc["outcome"] == outcome]
                if sub.empty:
                    continue
                per_bin = (
                    sub.groupby(self._binned(self._seconds(sub["t"])))["increase"].sum() / self.bin
                )
                chart.add("step", per_bin.index, per_bin.to_numpy(dtype=float), cls, f"{outcome}/s")
        chart.ylim = (0.0, max(1.0, chart.data_max() * 1.05) * 1.25)
        notes = []
        if inflight.empty:
            notes.append("prom/sagas_in_flight.csv is missing or empty")
        if total.empty:
            notes.append("prom/sagas_total.csv is missing or empty")
        return chart, "; ".join(notes)
