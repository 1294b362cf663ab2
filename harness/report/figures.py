"""Timelines of one scenario, all on one time axis (seconds from the journal's clock_start),
with fault windows shaded and labelled, phase boundaries dotted and check violations marked.

Every figure has the same width, x range and fixed margins (no tight bounding box), so the
PNGs stacked in the page line up vertically as if they shared one axis. Long series are
binned to at most ``MAX_POINTS`` per line; step series keep only their change points, which is
lossless. A figure that cannot be drawn becomes a note, never an exception.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import pandas as pd

from harness.records import increases, read_requests, read_series
from harness.report.data import data_span

MAX_POINTS = 900
DPI = 90
WIDTH_IN = 12.0
LEFT_IN, RIGHT_IN = 1.55, 1.85  # room for lane labels on the left and the legend on the right
FAULT_COLOURS = ["#f4a261", "#9b5de5", "#00bbf9", "#f15bb5", "#90be6d", "#8d99ae"]
VIOLATION_COLOUR = "#c1121f"
STATE_HEIGHT = {0: 0.0, 2: 0.4, 1: 0.8}  # closed, half-open, open: open drawn highest


@dataclass
class Figure:
    key: str
    title: str
    png: str | None  # base64 PNG, or None with a note saying why
    note: str = ""


@dataclass
class FaultWindow:
    id: str
    label: str
    start: float | None  # seconds on the scenario clock; None: never injected
    end: float | None  # None when never injected
    open_ended: bool  # never reverted: shaded to the end of the axis
    colour: str
    error: str | None


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


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
        self.t0, self.clock_note = self._origin()
        self.x0, self.x1 = self._x_range()
        self.bin = float(max(1, math.ceil((self.x1 - self.x0) / MAX_POINTS)))
        self.faults = self._fault_windows()
        self.violations = [
            (c["violation_at"] - self.t0, str(c.get("name", "")))
            for c in journal["checks"]
            if c.get("violation_at") is not None and self.t0 is not None
        ]

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
            colour = FAULT_COLOURS[i % len(FAULT_COLOURS)]
            label = f"{f['id']} {f.get('kind', '?')} {f.get('target', '')}".strip()
            if start is None or self.t0 is None:
                out.append(FaultWindow(f["id"], label, None, None, False, colour, f.get("error")))
                continue
            end = f["reverted_at"]
            s = start - self.t0
            e = self.x1 if end is None else max(end - self.t0, s + 0.3)  # instantaneous: a sliver
            out.append(FaultWindow(f["id"], label, s, e, end is None, colour, f.get("error")))
        return out

    def _axes(self, title: str, ylabel: str, height: float = 2.5, first: bool = False) -> Any:
        fig = plt.figure(figsize=(WIDTH_IN, height))
        fig.subplots_adjust(
            left=LEFT_IN / WIDTH_IN,
            right=1 - RIGHT_IN / WIDTH_IN,
            top=1 - 0.42 / height,
            bottom=0.48 / height,
        )
        ax = fig.add_subplot()
        ax.set_title(title, fontsize=10, loc="left", fontweight="bold")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.25)
        ax.set_xlim(self.x0, self.x1)
        ax.annotate(
            "s from clock start",
            xy=(1.0, 0.0),
            xytext=(4, -4),
            xycoords="axes fraction",
            textcoords="offset points",
            fontsize=7,
            color="#6c757d",
            va="top",
        )
        self._decorate(ax, first)
        return fig, ax

    def _decorate(self, ax: Any, first: bool) -> None:
        """Fault windows, phase boundaries and violations. The first figure of a scenario
        carries the full labels; the others name faults by id only, to keep the data clear."""
        for k, w in enumerate(self.faults):
            if w.start is None:
                continue
            ax.axvspan(w.start, w.end, color=w.colour, alpha=0.22, lw=0)
            text = w.label + (" (not reverted)" if w.open_ended else "") if first else w.id
            ax.annotate(
                text,
                xy=(w.start, 1.0 - (0.11 * (k % 3) if first else 0.0)),
                xytext=(2, -2),
                xycoords=("data", "axes fraction"),
                textcoords="offset points",
                fontsize=7,
                va="top",
                color="#333333",
                bbox={"boxstyle": "square,pad=0.1", "fc": w.colour, "alpha": 0.45, "lw": 0},
                annotation_clip=False,
                clip_on=True,  # a label near the right edge must not run into the legend
            )
        for p in self.j["phases"]:
            start = p["start"] if p["start"] is not None else p["planned_start"]
            if start is None or self.t0 is None:
                continue
            ax.axvline(start - self.t0, color="#6c757d", lw=0.8, ls=":")
            if first:
                ax.annotate(
                    p.get("name", ""),
                    xy=(start - self.t0, 0.0),
                    xytext=(2, 2),
                    xycoords=("data", "axes fraction"),
                    textcoords="offset points",
                    fontsize=7,
                    color="#6c757d",
                )
        for k, (x, name) in enumerate(self.violations):
            ax.axvline(
                x, color=VIOLATION_COLOUR, lw=1.4, ls="--", label="violation" if k == 0 else None
            )
            if first:
                ax.annotate(
                    f"✗ {name}",
                    xy=(x, 0.55),
                    xytext=(3, 0),
                    xycoords=("data", "axes fraction"),
                    textcoords="offset points",
                    fontsize=7,
                    color=VIOLATION_COLOUR,
                )

    @staticmethod
    def _legend(ax: Any) -> None:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)

    def _seconds(self, t: pd.Series) -> pd.Series:
        return t - self.t0

    def _binned(self, seconds: pd.Series) -> pd.Series:
        return (seconds // self.bin) * self.bin

    # -- the figures -------------------------------------------------------------------------

    def figures(self) -> list[Figure]:
        if self.t0 is None:
            return []
        makers: list[tuple[str, str, Callable[[str], Figure]]] = [
            ("throughput", "Client throughput and failures per second", self.throughput),
            ("latency", "Client latency p50 / p95 / p99 (ms)", self.latency),
            ("breakers", "Breaker state per (caller, callee instance)", self.breakers),
            ("registry", "Instances in the registry per service", self.registry),
            ("sagas", "Sagas in flight, completed and cancelled per second", self.sagas),
        ]
        out = []
        for key, title, make in makers:
            try:
                out.append(make(title))
            except Exception as exc:  # odd saved data must cost one figure, not the report
                plt.close("all")
                out.append(Figure(key, title, None, f"could not be drawn: {exc!r}"))
        return out

    def throughput(self, title: str) -> Figure:
        req = read_requests(self.dir / "requests.jsonl")
        if req.empty:
            return Figure("throughput", title, None, "requests.jsonl is missing or has no requests")
        b = self._binned(self._seconds(req["t"]))
        # every bin between the first and last request: a second with no request is a zero
        full = pd.Index(
            [b.min() + k * self.bin for k in range(int((b.max() - b.min()) / self.bin) + 1)]
        )
        ok = b[req["ok"]].value_counts().reindex(full, fill_value=0) / self.bin
        failed = b[~req["ok"]].value_counts().reindex(full, fill_value=0) / self.bin
        fig, ax = self._axes(title, "requests/s", first=True)
        ax.step(full, ok.values, where="post", color="#2a9d8f", lw=1.2, label="ok")
        ax.fill_between(full, failed.values, step="post", color="#d62828", alpha=0.55, lw=0)
        ax.step(full, failed.values, where="post", color="#d62828", lw=1.0, label="failed")
        ax.set_ylim(bottom=0, top=max(1.0, float(max(ok.max(), failed.max()))) * 1.5)
        self._legend(ax)
        return Figure("throughput", title, _png(fig))

    def latency(self, title: str) -> Figure:
        req = read_requests(self.dir / "requests.jsonl")
        if req.empty:
            return Figure("latency", title, None, "requests.jsonl is missing or has no durations")
        grouped = req.assign(b=self._binned(self._seconds(req["t"]))).groupby("b")["ms"]
        fig, ax = self._axes(title, "ms")
        for q, colour in ((0.5, "#264653"), (0.95, "#e9a23b"), (0.99, "#d62828")):
            s = grouped.quantile(q)
            ax.plot(s.index, s.values, color=colour, lw=1.1, label=f"p{round(q * 100)}")
        lo, hi = float(req["ms"].clip(lower=0.1).min()), float(req["ms"].max())
        if hi / max(lo, 0.1) > 30:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
            ax.set_ylim(top=hi * 2.5)  # headroom for the fault labels
        else:
            ax.set_ylim(bottom=0, top=max(1.0, hi) * 1.35)
        self._legend(ax)
        return Figure("latency", title, _png(fig))

    def breakers(self, title: str) -> Figure:
        frame = read_series(self.dir / "prom" / "breaker_state.csv", ("t", "value", "caller"))
        if frame.empty:
            return Figure("breakers", title, None, "prom/breaker_state.csv is missing or empty")
        callee = "callee_instance" if "callee_instance" in frame else "callee"
        if callee not in frame:
            return Figure("breakers", title, None, "prom/breaker_state.csv has no callee label")
        # several caller instances may hold a breaker to the same callee: show the worst
        worst = frame.assign(rank=frame["value"].map({0: 0, 2: 1, 1: 2}).fillna(0))
        worst = worst.groupby(["caller", callee, "t"])["rank"].max()
        # reversed so the first link reads at the top of the figure
        lanes = sorted(worst.index.droplevel("t").unique(), reverse=True)
        height = max(2.5, 1.0 + 0.24 * len(lanes))
        fig, ax = self._axes(title, "", height=height)
        heights = {0: 0.0, 1: STATE_HEIGHT[2], 2: STATE_HEIGHT[1]}
        for i, (caller, inst) in enumerate(lanes):
            s = _change_points(worst.loc[(caller, inst)].sort_index())
            x = (s.index.to_numpy() - self.t0).astype(float)
            y = s.map(heights).to_numpy() + i
            ax.step(x, y, where="post", color="#264653", lw=1.0)
            # each segment (this change point to the next) filled by its state
            for rank, colour in ((2, "#d62828"), (1, "#e9a23b")):
                bars = [(x[k], x[k + 1] - x[k]) for k in range(len(x) - 1) if s.iloc[k] == rank]
                if bars:
                    ax.broken_barh(bars, (i, heights[rank]), color=colour, alpha=0.65, lw=0)
        ax.set_yticks(range(len(lanes)), [f"{c}→{n}" for c, n in lanes], fontsize=7)
        ax.set_ylim(-0.3, len(lanes) + 0.25)  # headroom for the fault labels
        ax.grid(axis="y", alpha=0.0)
        ax.fill_between([], [], color="#d62828", alpha=0.6, label="open")
        ax.fill_between([], [], color="#e9a23b", alpha=0.6, label="half-open")
        ax.plot([], [], color="#264653", lw=1.0, label="closed (baseline)")
        self._legend(ax)
        return Figure("breakers", title, _png(fig))

    def registry(self, title: str) -> Figure:
        frame = read_series(self.dir / "registry.csv", ("t", "service"))
        if frame.empty:
            return Figure("registry", title, None, "registry.csv is missing or empty")
        frame["t"] = pd.to_numeric(frame["t"], errors="coerce")
        counts = frame.dropna(subset=["t"]).groupby(["t", "service"]).size().unstack(fill_value=0)
        fig, ax = self._axes(title, "instances")
        services = list(counts.columns)
        for i, service in enumerate(services):
            s = _change_points(counts[service])
            # a small offset per service keeps equal counts from hiding each other
            offset = (i - (len(services) - 1) / 2) * 0.04
            ax.step(
                self._seconds(s.index.to_series()),
                s.values + offset,
                where="post",
                lw=1.3,
                label=service,
            )
        top = int(counts.to_numpy().max()) if counts.size else 1
        ax.set_ylim(-0.3, top + 0.6)
        ax.set_yticks(range(0, top + 1))
        self._legend(ax)
        return Figure("registry", title, _png(fig))

    def sagas(self, title: str) -> Figure:
        inflight = read_series(self.dir / "prom" / "sagas_in_flight.csv")
        total = read_series(self.dir / "prom" / "sagas_total.csv", ("t", "value", "outcome"))
        if inflight.empty and total.empty:
            return Figure(
                "sagas",
                title,
                None,
                "prom/sagas_in_flight.csv and prom/sagas_total.csv are missing or empty",
            )
        fig, ax = self._axes(title, "sagas  ·  sagas/s")
        if not inflight.empty:
            s = inflight.groupby("t")["value"].sum()
            # the peak of each bin: a short spike of stuck sagas must stay visible
            s = s.groupby(self._binned(self._seconds(s.index.to_series())).values).max()
            ax.plot(s.index, s.values, color="#264653", lw=1.2, label="in flight")
        if not total.empty:
            # the gauge is scraped from the first sample of the range: a completed or cancelled
            # series that appears later was created during it, and its first value counts
            starts = [float(f["t"].min()) for f in (inflight, total) if not f.empty]
            inc = increases(total, range_start=min(starts))
            for outcome, colour in (("completed", "#2a9d8f"), ("cancelled", "#d62828")):
                sub = inc[inc["outcome"] == outcome]
                if sub.empty:
                    continue
                per_bin = (
                    sub.groupby(self._binned(self._seconds(sub["t"])))["increase"].sum() / self.bin
                )
                ax.step(
                    per_bin.index,
                    per_bin.values,
                    where="post",
                    color=colour,
                    lw=1.1,
                    label=f"{outcome}/s",
                )
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.25)
        self._legend(ax)
        notes = []
        if inflight.empty:
            notes.append("prom/sagas_in_flight.csv is missing or empty")
        if total.empty:
            notes.append("prom/sagas_total.csv is missing or empty")
        return Figure("sagas", title, _png(fig), "; ".join(notes))
