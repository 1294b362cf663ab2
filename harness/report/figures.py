"""Timelines of one scenario on a shared time axis (seconds from the scenario clock), with
fault windows shaded and labelled and check violations marked. PNGs embedded as base64."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from harness.report.data import counter_increase, read_csv, read_requests

MAX_POINTS = 900  # per series: longer runs are binned so a soak's page stays light
FAULT_COLOURS = ["#f4a261", "#e76f51", "#9b5de5", "#00bbf9", "#f15bb5"]


@dataclass
class Figure:
    title: str
    png: str | None  # base64, or None when there is no data
    note: str = ""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _bin(seconds: pd.Series, span: float) -> pd.Series:
    width = max(1.0, span / MAX_POINTS)
    return (seconds // width) * width


class Timeline:
    def __init__(self, journal: dict[str, Any], scenario_dir: Path) -> None:
        self.j = journal
        self.dir = scenario_dir
        self.t0 = journal.get("clock_start") or journal.get("started_at") or 0.0
        phases = journal.get("phases") or []
        end = phases[-1].get("planned_end") if phases else None
        end = end or journal.get("ended_at") or self.t0
        self.span = max(1.0, end - self.t0 + 3.0)

    def _axes(self, title: str, ylabel: str) -> tuple[Any, Any]:
        fig, ax = plt.subplots(figsize=(11, 2.4))
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_xlabel("seconds from the scenario clock", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.25)
        ax.set_xlim(-2.0, self.span)
        self._decorate(ax)
        return fig, ax

    def _decorate(self, ax: Any) -> None:
        for i, f in enumerate(self.j.get("faults") or []):
            start = f.get("injected_at")
            if start is None:
                continue
            end = f.get("reverted_at") or (self.j.get("ended_at") or start)
            colour = FAULT_COLOURS[i % len(FAULT_COLOURS)]
            ax.axvspan(start - self.t0, max(end, start + 0.2) - self.t0, color=colour, alpha=0.18)
            ax.annotate(
                f"{f.get('kind')} {f.get('target')}",
                xy=(start - self.t0, 1.0),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                va="top",
                color=colour,
            )
        for c in self.j.get("checks") or []:
            if c.get("violation_at"):
                ax.axvline(c["violation_at"] - self.t0, color="#d00000", lw=1.2, ls="--")

    def figures(self) -> list[Figure]:
        return [
            self.throughput(),
            self.latency(),
            self.breakers(),
            self.registry(),
            self.sagas(),
        ]

    def throughput(self) -> Figure:
        title = "Client throughput and failures (requests/s, Locust)"
        req = read_requests(self.dir)
        if req.empty:
            return Figure(title, None, "requests.jsonl missing or empty")
        sec = _bin(req["t"] - self.t0, self.span)
        ok = req["ok"].astype(bool)
        width = max(1.0, self.span / MAX_POINTS)
        fig, ax = self._axes(title, "req/s")
        ax.plot(sec[ok].value_counts().sort_index() / width, label="ok", color="#2a9d8f")
        failed = sec[~ok].value_counts().sort_index() / width
        ax.plot(failed, label="failed", color="#d00000")
        ax.legend(fontsize=7, loc="upper right")
        return Figure(title, _png(fig))

    def latency(self) -> Figure:
        title = "Client latency percentiles (ms)"
        req = read_requests(self.dir)
        if req.empty:
            return Figure(title, None, "requests.jsonl missing or empty")
        sec = _bin(req["t"] - self.t0, self.span)
        grouped = req.assign(sec=sec).groupby("sec")["ms"]
        fig, ax = self._axes(title, "ms")
        for q, colour in ((0.5, "#264653"), (0.95, "#e9c46a"), (0.99, "#e76f51")):
            ax.plot(grouped.quantile(q), label=f"p{int(q * 100)}", color=colour)
        ax.set_yscale("log")
        ax.legend(fontsize=7, loc="upper right")
        return Figure(title, _png(fig))

    def breakers(self) -> Figure:
        title = "Breaker state per link (0 closed, 1 open, 2 half-open)"
        frame = read_csv(self.dir / "prom" / "breaker_state.csv")
        if frame.empty or "caller" not in frame:
            return Figure(title, None, "prom/breaker_state.csv missing or empty")
        fig, ax = self._axes(title, "state")
        for (caller, inst), g in frame.groupby(["caller", "callee_instance"]):
            g = g.sort_values("t")
            ax.step(g["t"] - self.t0, g["value"], where="post", label=f"{caller}→{inst}")
        ax.set_yticks([0, 1, 2], ["closed", "open", "half-open"])
        ax.legend(fontsize=6, loc="upper right", ncol=4)
        return Figure(title, _png(fig))

    def registry(self) -> Figure:
        title = "Instances in the registry per service"
        frame = read_csv(self.dir / "registry.csv")
        if frame.empty or "service" not in frame:
            return Figure(title, None, "registry.csv missing or empty")
        counts = frame.groupby(["t", "service"]).size().unstack(fill_value=0)
        fig, ax = self._axes(title, "instances")
        for service in counts.columns:
            ax.step(counts.index - self.t0, counts[service], where="post", label=service)
        ax.legend(fontsize=7, loc="lower right", ncol=5)
        return Figure(title, _png(fig))

    def sagas(self) -> Figure:
        title = "Sagas in flight, completed and cancelled per second"
        inflight = read_csv(self.dir / "prom" / "sagas_in_flight.csv")
        total = read_csv(self.dir / "prom" / "sagas_total.csv")
        if inflight.empty and total.empty:
            return Figure(title, None, "prom/sagas_in_flight.csv and prom/sagas_total.csv missing")
        fig, ax = self._axes(title, "sagas")
        if not inflight.empty:
            s = inflight.groupby("t")["value"].sum()
            ax.plot(s.index - self.t0, s.values, label="in flight", color="#264653")
        if not total.empty and "outcome" in total:
            by = [c for c in total.columns if c not in ("t", "value")]
            inc = counter_increase(total, by)
            for outcome, colour in (("completed", "#2a9d8f"), ("cancelled", "#e76f51")):
                s = inc[inc["outcome"] == outcome].groupby("t")["inc"].sum()
                ax.plot(s.index - self.t0, s.values, label=f"{outcome}/s", color=colour)
        ax.legend(fontsize=7, loc="upper right")
        return Figure(title, _png(fig))
