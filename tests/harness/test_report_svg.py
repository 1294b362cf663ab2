"""The report's SVG timelines: the plotting module (harness/report/svg.py) and the figures a
scenario's data gives (harness/report/figures.py), read back as XML."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from harness.report import render_report
from harness.report.data import read_journal
from harness.report.figures import Timeline
from harness.report.svg import Chart, Frame, Mark, Span, log_ticks, nice_ticks, num
from tests.harness.test_report import FAIL, PASS, T0, journal, make_run, scenario, section

NS = "{http://www.w3.org/2000/svg}"


def xml(svg: str) -> ET.Element:
    # inline SVG in HTML needs no namespace; ElementTree does, to parse it as SVG
    return ET.fromstring(svg.replace('<svg class="tl"', f'<svg xmlns="{NS[1:-1]}" class="tl"', 1))


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def paths(root: ET.Element, cls: str) -> list[str]:
    """The paths of one class inside the plot area (the legend's samples left out)."""
    area = root.find(f"{NS}svg")
    return [p.get("d", "") for p in area.iter(f"{NS}path") if p.get("class") == cls]


def vertices(d: str) -> list[tuple[float, float]]:
    """The points a path with M, L (implicit), H, V and z commands visits, in order."""
    out: list[tuple[float, float]] = []
    x = y = 0.0
    for cmd, args in re.findall(r"([MHVhvz])([^MHVhvz]*)", d):
        nums = [float(v) for v in args.split()]
        if cmd == "M":
            for k in range(0, len(nums), 2):
                x, y = nums[k], nums[k + 1]
                out.append((x, y))
        elif cmd == "H":
            x = nums[0]
            out.append((x, y))
        elif cmd == "V":
            y = nums[0]
            out.append((x, y))
        elif cmd == "h":
            x += nums[0]
            out.append((x, y))
        elif cmd == "v":
            y += nums[0]
            out.append((x, y))
    return out


def step_value_at(points: list[tuple[float, float]], x: float) -> float:
    """The y of a step path at x, read from its horizontal segments."""
    for (ax, ay), (bx, by) in itertools.pairwise(points):
        if ay == by and min(ax, bx) <= x <= max(ax, bx):
            return ay
    raise AssertionError(f"no horizontal segment over x={x}")


# -- the plotting module ---------------------------------------------------------------------


def test_coordinates_are_rounded_to_a_tenth_of_a_pixel():
    assert [num(v) for v in (3.0, 3.04, 3.06, -0.04, 120.25, 7.95)] == [
        "3",
        "3",
        "3.1",
        "0",
        "120.2",
        "8",
    ]


@pytest.mark.parametrize(
    "lo,hi", [(-3, 33), (-3, 1803), (0, 1), (0, 0.37), (-0.3, 2.6), (0, 58.5), (5, 5.02)]
)
def test_nice_ticks_are_round_evenly_spaced_and_inside_the_range(lo, hi):
    ticks = nice_ticks(lo, hi, target=7)
    assert 2 <= len(ticks) <= 11
    assert all(lo - 1e-9 <= t <= hi + 1e-9 for t in ticks)
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    # round values: the step divides every tick
    assert all(np.isclose(t / steps[0], round(t / steps[0])) for t in ticks)


def test_log_ticks_are_powers_of_ten_with_2_and_5_on_short_ranges():
    assert log_ticks(8, 25_000) == [10, 100, 1000, 10_000]
    assert log_ticks(3, 120) == [5, 10, 20, 50, 100]
    assert log_ticks(15, 10_000) == [100, 1000, 10_000]
    assert log_ticks(0, 10) == [] and log_ticks(5, 5) == []


def test_a_step_series_writes_only_its_changes_and_reads_back_exactly():
    frame = Frame(0.0, 10.0)
    chart = Chart(frame, "t", ylim=(0.0, 4.0))
    ys = [1, 1, 1, 3, 3, 0, 0, 0, 2, 2]
    chart.add("step", range(10), ys, "ok", "ok")
    root = xml(chart.svg())
    (d,) = paths(root, "ok")
    assert d.count("V") == 3  # 1 -> 3 -> 0 -> 2: three changes, nothing for repeated values
    assert d.count("H") == 4  # to each change, and on to the last point
    points = vertices(d)
    ph = chart.plot_height
    for k in range(9):  # each value holds from its x to the next one
        mid = float(frame.x([k + 0.5])[0])
        assert step_value_at(points, mid) == pytest.approx(ph * (1 - ys[k] / 4), abs=0.05)
    assert points[-1][0] == pytest.approx(float(frame.x([9])[0]), abs=0.05)  # to the last point


def test_a_line_breaks_at_a_missing_value_and_an_empty_fill_is_left_out():
    chart = Chart(Frame(0.0, 4.0), "t", ylim=(0.0, 1.0))
    chart.add("line", [0, 1, 2, 3], [0.5, float("nan"), 0.5, 0.5], "p50")
    chart.add("fill", [0, 1, 2], [0, 0, 0], "fa")
    root = xml(chart.svg())
    (d,) = paths(root, "p50")
    assert d.count("M") == 2
    assert paths(root, "fa") == []


def test_a_log_axis_refuses_limits_at_or_below_zero():
    chart = Chart(Frame(0.0, 1.0), "t", ylim=(0.0, 10.0), log=True)
    chart.add("line", [0, 1], [1, 2], "p50")
    with pytest.raises(ValueError, match="positive limits"):
        chart.svg()


def test_labels_are_escaped_and_the_figure_is_well_formed():
    chart = Chart(Frame(0.0, 10.0), "a <b> & c", "ms <", ylim=(0.0, 1.0))
    chart.spans.append(Span(1.0, 2.0, "fc0", "f<1>", "f<1> latency a->b & c"))
    chart.marks.append(Mark(5.0, "ph", "<phase>"))
    chart.marks.append(Mark(6.0, "vi", "check <x>"))
    chart.add("step", [0, 5], [0.2, 0.4], "ok", "<ok>")
    svg = chart.svg(labelled=True)
    assert "<b>" not in svg and "<phase>" not in svg
    found = texts(xml(svg))
    for t in ("a <b> & c", "ms <", "f<1> latency a->b & c", "<phase>", "✗ check <x>", "<ok>"):
        assert t in found
    assert "violation" in found  # the legend explains the dashed line
    unlabelled = texts(xml(chart.svg(labelled=False)))
    assert "f<1>" in unlabelled and "<phase>" not in unlabelled


def test_a_long_legend_makes_the_figure_taller():
    chart = Chart(Frame(0.0, 10.0), "t", ylim=(0.0, 1.0))
    for k in range(20):
        chart.add("step", [0, 5], [0.5, 0.5], f"c{k % 10}", f"service-{k}")
    root = xml(chart.svg())
    height = float(root.get("viewBox").split()[3])
    last = max(float(t.get("y")) for t in root.iter(f"{NS}text") if t.get("class") == "lg")
    assert last < height - 20


# -- the figures of a scenario ---------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("svg"))


def figures_of(d: Path) -> dict[str, ET.Element]:
    figs = Timeline(read_journal(d), d).figures()
    return {f.key: xml(f.svg) for f in figs if f.svg}


def test_every_figure_of_a_scenario_shares_width_x_range_and_margins(run_dir):
    figs = figures_of(run_dir / "good")
    assert list(figs) == ["throughput", "latency", "breakers", "registry", "sagas"]
    geometry = set()
    for root in figs.values():
        width = root.get("viewBox").split()[2]
        area = root.find(f"{NS}svg")  # the plot area
        xt = next(t for t in root.iter(f"{NS}text") if t.get("class") == "xt")
        positions = tuple((s.get("x"), s.text) for s in xt)
        geometry.add((width, area.get("x"), area.get("width"), positions))
    assert len(geometry) == 1
    (_, _, _, positions) = geometry.pop()
    assert [t for _, t in positions][:3] == ["0", "5", "10"]


def test_the_data_stays_inside_the_plot_area(run_dir):
    for key, root in figures_of(run_dir / "good").items():
        area = root.find(f"{NS}svg")
        w, h = float(area.get("width")), float(area.get("height"))
        for p in area.iter(f"{NS}path"):
            if p.get("class") in ("gr", "ph", "vi"):
                continue
            for x, y in vertices(p.get("d")):
                assert -0.05 <= x <= w + 0.05 and -0.05 <= y <= h + 0.05, (key, p.get("class"))


def test_fault_windows_phases_and_the_first_figure_carry_full_labels(run_dir):
    figs = figures_of(run_dir / "good")
    first, rest = (
        texts(figs["throughput"]),
        [texts(r) for k, r in figs.items() if k != "throughput"],
    )
    assert "f1 latency orders->payments" in first
    assert "baseline" in first and "fault" in first
    for t in rest:
        assert "f1" in t and "f1 latency orders->payments" not in t and "baseline" not in t
    # the window is shaded from injection (+5.02 s) to revert (+15.01 s) in every figure
    frame = Frame(-3.0, 33.0)
    for root in figs.values():
        (band,) = [r for r in root.iter(f"{NS}rect") if "fw" in (r.get("class") or "")]
        assert band.get("class") == "fw fc0"
        assert float(band.get("x")) == pytest.approx(float(frame.x([5.02])[0]), abs=0.05)
        width = float(frame.x([15.01])[0] - frame.x([5.02])[0])
        assert float(band.get("width")) == pytest.approx(width, abs=0.1)
        assert len(vertices(paths(root, "ph")[0])) == 4  # two phase boundaries, dotted


def test_without_requests_the_first_figure_drawn_carries_the_labels(tmp_path):
    d = scenario(tmp_path, journal("noreq", "pass", [PASS]))
    (d / "requests.jsonl").unlink()
    figs = figures_of(d)
    assert list(figs) == ["breakers", "registry", "sagas"]
    assert "f1 latency orders->payments" in texts(figs["breakers"])
    assert "f1 latency orders->payments" not in texts(figs["registry"])


def test_a_violation_is_a_dashed_line_in_every_figure_and_named_in_the_first(run_dir):
    figs = figures_of(run_dir / "bad")
    frame = Frame(-3.0, 33.0)
    for key, root in figs.items():
        (d,) = paths(root, "vi")
        (x, _), _ = vertices(d)
        assert x == pytest.approx(float(frame.x([10.0])[0]), abs=0.05)
        assert "violation" in texts(root)
        named = f"✗ {FAIL['name']}" in texts(root)
        assert named == (key == "throughput")


def test_breaker_states_are_bars_on_the_lane_of_their_link(run_dir):
    root = figures_of(run_dir / "good")["breakers"]
    lanes = [s.text for t in root.iter(f"{NS}text") if t.get("class") == "yt" for s in t]
    assert lanes == ["orders→payments-2", "orders→payments-1"]  # first link at the top
    (opened,) = paths(root, "bo")
    (half,) = paths(root, "bh")
    assert opened.count("z") == 1 and half.count("z") == 1  # open 7-12 s, half-open 12-13 s
    frame = Frame(-3.0, 33.0)
    xs = sorted({x for x, _ in vertices(opened)})
    assert xs == pytest.approx([float(v) for v in frame.x([7.0, 12.0])], abs=0.05)
    assert {"open", "half-open", "closed (baseline)"} <= set(texts(root))


def test_latency_over_a_wide_range_is_on_a_log_axis(tmp_path):
    d = scenario(tmp_path, journal("slow", "pass", [PASS]))
    with open(d / "requests.jsonl", "a") as f:
        f.write(json.dumps({"t": T0 + 6, "ms": 4000.0, "ok": True, "name": "x"}) + "\n")
    root = figures_of(d)["latency"]
    labels = [s.text for t in root.iter(f"{NS}text") if t.get("class") == "yt" for s in t]
    assert labels == ["10", "100", "1000", "10000"]  # from the power of ten below the data
    assert {"p50", "p95", "p99"} <= set(texts(root))


def test_the_registry_lines_step_with_the_membership(run_dir):
    root = figures_of(run_dir / "good")["registry"]
    (d,) = paths(root, "rg c0")  # one service, payments: 2 instances, 1 from 8 s to 14 s
    assert d.count("V") == 2
    assert "payments" in texts(root)


def test_the_page_styles_figures_from_one_style_sheet(run_dir):
    html = render_report(run_dir).read_text()
    assert html.count("<style>") == 1
    assert html.count('id="tl-fb0"') == 1  # the label filters, defined once for the page
    good = section(html, "good")
    assert "style=" not in good and "fill=" not in good and "stroke=" not in good
    assert '<span class="swatch fc0"></span>' in good


def test_a_soak_stays_small_binned_to_a_bounded_number_of_points(tmp_path):
    d = scenario(tmp_path, journal("soak", "pass", [PASS], ended_at=T0 + 3600), data=False)
    rows = [
        {"t": T0 + i * 0.5, "ms": 20.0 + i % 50, "ok": i % 97 != 0, "name": "x"}
        for i in range(7200)
    ]
    (d / "requests.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    figs = Timeline(read_journal(d), d).figures()
    throughput = next(f for f in figs if f.key == "throughput")
    assert throughput.svg is not None
    root = xml(throughput.svg)
    # 3606 s in 5 s bins: at most 722 points per line, each a few bytes
    assert len(vertices(paths(root, "ok")[0])) <= 2 * 722
    assert len(throughput.svg) < 40_000
