"""A small plotting module: inline SVG timelines for the report, written as text.

A :class:`Chart` is one figure: a title, a plot area at fixed margins, series in data
coordinates (lines, step lines, filled steps, bars), vertical spans and lines, a legend at the
right. Every figure of a scenario is built on one :class:`Frame` (the same width, x range and
margins), so figures stacked in the page line up as if they shared one time axis.

The SVG carries geometry and class names only: colours, line styles and fonts come from the
page's one style sheet (``templates/style.css``, the ``svg.tl`` rules). Coordinates are in CSS
pixels of the figure at its natural width (``Frame.width``), rounded to a tenth of a pixel;
step series are written as ``H``/``V`` path commands, one per change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape

import numpy as np

TITLE_H = 30  # px above the plot area: the title
BOTTOM_H = 34  # px below it: the x tick labels and the axis note
LEGEND_GAP = 12  # px between the plot area and the legend
LEGEND_ROW = 15  # px between legend entries
LABEL_ROW = 15  # px between the staggered labels of overlapping fault windows
TICK = 4  # px of a tick mark
YLABEL_GAP = 48  # px from the plot area to the middle of the y axis label


def num(v: float) -> str:
    """A pixel coordinate rounded to a tenth, without a trailing ``.0``."""
    s = f"{v:.1f}"
    if s.endswith(".0"):
        s = s[:-2]
    return "0" if s == "-0" else s


def nice_ticks(lo: float, hi: float, target: int = 7) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten,
    about `target` of them (fewer when the range is small)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(1, target)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * 0.999)
    first = math.ceil(lo / step - 1e-9)
    out = []
    k = first
    while k * step <= hi + step * 1e-9:
        out.append(round(k * step, 12))
        k += 1
    return out


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis over [lo, hi]: the powers of ten inside it, and 2 and 5 times them
    too when fewer than three powers of ten fall inside."""
    if lo <= 0 or hi <= lo:
        return []
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)

    def inside(mults: tuple[int, ...]) -> list[float]:
        out = [m * 10.0**d for d in decades for m in mults]
        return [v for v in out if lo <= v * (1 + 1e-9) and v <= hi * (1 + 1e-9)]

    powers = inside((1,))
    return powers if len(powers) >= 3 else inside((1, 2, 5))


def defs(slots: int) -> str:
    """What the page defines once for all its figures: a filter per fault colour that lays a
    box of that colour (the class ``fc<k>``'s ``--fc``) behind a fault window's label."""
    filters = "".join(
        f'<filter id="tl-fb{k}" class="fc{k}" x="-.03" y="-.1" width="1.06" height="1.2">'
        '<feFlood/><feComposite in="SourceGraphic"/></filter>'
        for k in range(slots)
    )
    return f'<svg class="tl-defs" aria-hidden="true">{filters}</svg>'


def tick_label(v: float) -> str:
    return f"{v:g}"


@dataclass(frozen=True)
class Frame:
    """What every figure of a scenario shares: the x range (seconds) and the horizontal
    geometry. Room on the left for tick and lane labels, on the right for the legend."""

    x0: float
    x1: float
    width: int = 1080
    left: int = 150
    right: int = 170

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    def x(self, values: np.ndarray) -> np.ndarray:
        """Data seconds -> px inside the plot area (0 at its left edge)."""
        span = self.x1 - self.x0 if self.x1 > self.x0 else 1.0
        return (np.asarray(values, dtype=float) - self.x0) * (self.plot_width / span)

    def xticks(self) -> list[float]:
        return nice_ticks(self.x0, self.x1, target=max(4, int(self.plot_width // 80)))


@dataclass
class Series:
    kind: str  # "line", "step", "fill" (area under a step line) or "bars"
    xs: np.ndarray
    ys: np.ndarray
    cls: str
    # bars only: each bar spans xs[k] .. xs[k] + widths[k] and ys[k] .. ys[k] + heights[k]
    widths: np.ndarray | None = None
    heights: np.ndarray | None = None


@dataclass
class Span:
    """A shaded vertical band (a fault window) with its label."""

    start: float
    end: float
    cls: str  # a class naming its colour (``fc0``..)
    short: str  # the label on every figure
    long: str  # the label on the labelled figure


@dataclass
class Mark:
    """A vertical line across the plot (a phase boundary or a check's violation)."""

    x: float
    cls: str  # "ph" or "vi"
    label: str  # shown on the labelled figure only


@dataclass
class Chart:
    frame: Frame
    title: str
    ylabel: str = ""
    height: int = 210
    series: list[Series] = field(default_factory=list)
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, class, text)
    spans: list[Span] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    ylim: tuple[float, float] | None = None
    log: bool = False
    yticks: list[tuple[float, str]] | None = None  # (value, label); None: chosen from ylim
    ygrid: bool = True

    # -- building ----------------------------------------------------------------------------

    def add(
        self,
        kind: str,
        xs: Iterable[float],
        ys: Iterable[float],
        cls: str,
        label: str | None = None,
        widths: Iterable[float] | None = None,
        heights: Iterable[float] | None = None,
    ) -> None:
        x = np.asarray(list(xs) if not isinstance(xs, np.ndarray) else xs, dtype=float)
        y = np.asarray(list(ys) if not isinstance(ys, np.ndarray) else ys, dtype=float)
        if len(x) != len(y):
            raise ValueError(f"{cls}: {len(x)} x values for {len(y)} y values")
        w = None if widths is None else np.asarray(list(widths), dtype=float)
        h = None if heights is None else np.asarray(list(heights), dtype=float)
        self.series.append(Series(kind, x, y, cls, w, h))
        if label is not None:
            self.legend.append(("box" if kind in ("bars", "fill") else "line", cls, label))

    def data_max(self) -> float:
        """The largest finite y of the series (bars: their tops); 0 without data."""
        tops = [0.0]
        for s in self.series:
            y = s.ys + s.heights if s.heights is not None else s.ys
            y = y[np.isfinite(y)]
            if len(y):
                tops.append(float(y.max()))
        return max(tops)

    # -- drawing -----------------------------------------------------------------------------

    @property
    def plot_height(self) -> float:
        return self.height - TITLE_H - BOTTOM_H

    def _y(self, values: np.ndarray) -> np.ndarray:
        lo, hi = self.ylim or (0.0, max(1.0, self.data_max() * 1.1))
        v = np.asarray(values, dtype=float)
        if self.log:
            if lo <= 0 or hi <= 0:
                raise ValueError(f"a log axis needs positive limits, not {lo:g}..{hi:g}")
            lo, hi = math.log10(lo), math.log10(hi)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.log10(np.where(v > 0, v, np.nan))
        span = hi - lo if hi > lo else 1.0
        return self.plot_height * (1.0 - (v - lo) / span)

    def _yticks(self) -> list[tuple[float, str]]:
        if self.yticks is not None:
            return self.yticks
        lo, hi = self.ylim or (0.0, max(1.0, self.data_max() * 1.1))
        values = log_ticks(lo, hi) if self.log else nice_ticks(lo, hi, target=6)
        return [(v, tick_label(v)) for v in values]

    def svg(self, labelled: bool = False) -> str:
        """The figure as an ``<svg>`` element. `labelled`: the fault windows carry their full
        labels (staggered on three rows), phases and violations their names; otherwise fault
        windows are named by id only, to keep the data clear."""
        f = self.frame
        # a long legend makes the figure taller rather than running off its bottom
        self.height = max(self.height, TITLE_H + 6 + LEGEND_ROW * len(self._entries()) + BOTTOM_H)
        pw, ph = f.plot_width, self.plot_height
        out = [
            f'<svg class="tl" viewBox="0 0 {f.width} {self.height}" role="img" '
            f'aria-label="{escape(self.title)}">',
            f'<text class="ttl" x="{f.left}" y="{TITLE_H - 10}">{escape(self.title)}</text>',
        ]
        if self.ylabel:
            where = f"translate({f.left - YLABEL_GAP} {num(TITLE_H + ph / 2)}) rotate(-90)"
            out.append(f'<text class="yl" transform="{where}">{escape(self.ylabel)}</text>')
        # the plot area: a nested svg clips what it holds to the axes
        out.append(f'<svg x="{f.left}" y="{TITLE_H}" width="{num(pw)}" height="{num(ph)}">')
        out += self._spans(ph)
        out += self._grid(pw, ph)
        out.append(self._marks("ph", ph))
        for s in self.series:
            out.append(self._series(s, ph))
        out.append(self._marks("vi", ph))
        out += self._labels(ph, labelled)
        out.append("</svg>")
        out.append(
            f'<rect class="frm" x="{f.left}" y="{TITLE_H}" width="{num(pw)}" height="{num(ph)}"/>'
        )
        out += self._ticks(pw, ph)
        out += self._legend()
        out.append("</svg>")
        return "".join(out)

    def _spans(self, ph: float) -> list[str]:
        out = []
        for s in self.spans:
            a, b = self.frame.x([s.start, s.end])
            out.append(
                f'<rect class="fw {s.cls}" x="{num(a)}" y="0" width="{num(max(b - a, 0.5))}" '
                f'height="{num(ph)}"/>'
            )
        return out

    def _marks(self, cls: str, ph: float) -> str:
        """The vertical lines of one class, as one path."""
        xs = self.frame.x([m.x for m in self.marks if m.cls == cls])
        d = "".join(f"M{num(x)} 0V{num(ph)}" for x in xs)
        return f'<path class="{cls}" d="{d}"/>' if d else ""

    def _grid(self, pw: float, ph: float) -> list[str]:
        d = [f"M{num(x)} 0V{num(ph)}" for x in self.frame.x(self.frame.xticks())]
        if self.ygrid:
            ys = self._y(np.array([v for v, _ in self._yticks()], dtype=float))
            d += [f"M0 {num(y)}H{num(pw)}" for y in ys if np.isfinite(y)]
        return [f'<path class="gr" d="{"".join(d)}"/>'] if d else []

    def _series(self, s: Series, ph: float) -> str:
        x = self.frame.x(s.xs)
        y = self._y(s.ys)
        if s.kind == "bars":
            assert s.widths is not None and s.heights is not None
            w = self.frame.x(s.xs + s.widths) - x
            top = self._y(s.ys + s.heights)
            d = "".join(
                f"M{num(x[k])} {num(top[k])}h{num(max(w[k], 0.5))}V{num(y[k])}H{num(x[k])}z"
                for k in range(len(x))
                if np.isfinite(y[k]) and np.isfinite(top[k])
            )
            return f'<path class="{s.cls}" d="{d}"/>' if d else ""
        ok = np.isfinite(x) & np.isfinite(y)
        if s.kind == "line":  # a missing value breaks the line, as in a plot of the data
            parts, gap = [], True
            for a, b, good in zip(x, y, ok, strict=True):
                if good:
                    parts.append(f"{'M' if gap else ' '}{num(a)} {num(b)}")
                gap = not good
            return f'<path class="{s.cls}" d="{"".join(parts)}"/>' if parts else ""
        x, y = x[ok], y[ok]
        if not len(x):
            return ""
        # post steps: y[k-1] holds until x[k]; a point that does not change the value adds
        # nothing to the line, so only the changes (and the last point) are written
        py = [num(v) for v in y]
        rest = []
        for k in range(1, len(x)):
            if py[k] != py[k - 1]:
                rest.append(f"H{num(x[k])}V{py[k]}")
        if len(x) > 1 and py[-1] == py[-2]:
            rest.append(f"H{num(x[-1])}")
        steps = "".join(rest)
        if s.kind == "fill":  # the area between the step line and the bottom of the axes
            if all(v == num(ph) for v in py):
                return ""  # nothing to fill
            d = f"M{num(x[0])} {num(ph)}V{py[0]}{steps}V{num(ph)}z"
        else:
            d = f"M{num(x[0])} {py[0]}{steps}"
        return f'<path class="{s.cls}" d="{d}"/>'

    def _labels(self, ph: float, labelled: bool) -> list[str]:
        out = []
        for k, s in enumerate(self.spans):
            a = self.frame.x([s.start])[0]
            row = k % 3 if labelled else 0
            text = s.long if labelled else s.short
            out.append(
                f'<text class="fl {s.cls}" x="{num(a + 3)}" y="{11 + LABEL_ROW * row}">'
                f"{escape(text)}</text>"
            )
        if labelled:
            for m in self.marks:
                x = num(self.frame.x([m.x])[0] + 3)
                if m.cls == "ph" and m.label:
                    out.append(
                        f'<text class="pl" x="{x}" y="{num(ph - 4)}">{escape(m.label)}</text>'
                    )
                elif m.cls == "vi" and m.label:
                    out.append(
                        f'<text class="vl" x="{x}" y="{num(ph * 0.45)}">✗ {escape(m.label)}</text>'
                    )
        return out

    def _ticks(self, pw: float, ph: float) -> list[str]:
        f = self.frame
        bottom = TITLE_H + ph
        xs = f.x(f.xticks())
        marks = [f"M{num(f.left + x)} {num(bottom)}v{TICK}" for x in xs]
        xt = "".join(
            f'<tspan x="{num(f.left + x)}">{tick_label(v)}</tspan>'
            for x, v in zip(xs, f.xticks(), strict=True)
        )
        out = [f'<text class="xt" y="{num(bottom + TICK + 11)}">{xt}</text>'] if xt else []
        ticks = self._yticks()
        ys = self._y(np.array([v for v, _ in ticks], dtype=float))
        yt = []
        for y, (_, label) in zip(ys, ticks, strict=True):
            if not np.isfinite(y) or y < -0.5 or y > ph + 0.5:
                continue
            marks.append(f"M{f.left} {num(TITLE_H + y)}h-{TICK}")
            # every tspan has both coordinates: each starts a text chunk anchored at its end
            at = f'x="{f.left - TICK - 3}" y="{num(TITLE_H + y + 3.5)}"'
            yt.append(f"<tspan {at}>{escape(label)}</tspan>")
        if yt:
            out.append(f'<text class="yt">{"".join(yt)}</text>')
        out.append(f'<path class="tk" d="{"".join(marks)}"/>')
        out.append(
            f'<text class="xl" x="{num(f.left + pw + 4)}" y="{num(bottom + TICK + 11)}">'
            "s from clock start</text>"
        )
        return out

    def _entries(self) -> list[tuple[str, str, str]]:
        entries = list(self.legend)
        if any(m.cls == "vi" for m in self.marks):
            entries.append(("line", "vi", "violation"))
        return entries

    def _legend(self) -> list[str]:
        f = self.frame
        x = f.left + f.plot_width + LEGEND_GAP
        out = []
        for k, (kind, cls, text) in enumerate(self._entries()):
            y = TITLE_H + 6 + LEGEND_ROW * k
            if kind == "box":
                out.append(f'<rect class="{cls}" x="{x}" y="{y - 4}" width="18" height="8"/>')
            else:
                out.append(f'<path class="{cls}" d="M{x} {y}h18"/>')
            out.append(f'<text class="lg" x="{x + 24}" y="{y + 3.5}">{escape(text)}</text>')
        return out
