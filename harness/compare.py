"""``stormproof compare BASE_RUN HEAD_RUN``: verdicts and recovery figures side by side.

Reads each run folder's ``results.json`` (docs/results.md) and nothing else. For every scenario
in both runs: the verdicts, each recovery figure with its delta, and whether it regressed. A
figure regresses when it got worse by more than **both** its absolute and its relative
threshold (``DEFAULTS``; ``--max-regression FIGURE=ABS``, ``=REL%`` or ``=ABS,REL%``), so noise
on a small figure and a small change of a large one both pass. A verdict regresses when the
base passed and the head did not. When either run injected no fault (``faults_injected: 0``:
not steady, aborted), its fault figures are shown but not judged. Scenarios in one run only
are listed, not compared.

Pure: the standard library and the foundation only.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import InputInvalid
from harness.records import format_figure as fmt

KNOWN_SCHEMA = 1
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class Threshold:
    """How much worse a figure may get: by at most `absolute` (its unit) or `relative`
    (a fraction of the base value), whichever is larger."""

    label: str
    unit: str
    absolute: float
    relative: float
    higher_is_worse: bool = True
    # what a null means: "worst" (never opened / never recovered), "best" (no error seen),
    # "unknown" (not measured: not compared)
    null_is: str = "unknown"


DEFAULTS: dict[str, Threshold] = {
    "first_error_s": Threshold("first client error after fault", "s", 1.0, 0.5,
                               higher_is_worse=False, null_is="best"),
    "breaker_open_s": Threshold("breaker open after fault", "s", 1.0, 0.5, null_is="worst"),
    "recovery_s": Threshold("recovery after last revert", "s", 2.0, 0.5, null_is="worst"),
    "failed_in_fault_window": Threshold("requests failed in fault window", "", 20, 0.5),
    "error_budget_spent": Threshold("error budget spent in fault window", "x", 1.0, 0.5),
    "p99_ms": Threshold("p99 of phase", "ms", 100.0, 0.5),
}  # fmt: skip


def parse_thresholds(items: list[str] | None) -> dict[str, Threshold]:
    """``FIGURE=ABS``, ``FIGURE=REL%`` or ``FIGURE=ABS,REL%`` over the defaults."""
    out = dict(DEFAULTS)
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in DEFAULTS:
            raise InputInvalid(
                f"--max-regression {item!r}: expected FIGURE=ABS, FIGURE=REL% or "
                f"FIGURE=ABS,REL%; figures: {', '.join(DEFAULTS)}"
            )
        t = out[name]
        for part in (p.strip() for p in value.split(",")):
            try:
                if part.endswith("%"):
                    t = replace(t, relative=_non_negative(float(part[:-1]) / 100))
                else:
                    t = replace(t, absolute=_non_negative(float(part.rstrip("smx"))))
            except ValueError:
                raise InputInvalid(
                    f"--max-regression {item!r}: {part!r} is not a non-negative number "
                    "(absolute, in the figure's unit) or percentage"
                ) from None
        out[name] = t
    return out


def _non_negative(x: float) -> float:
    if not math.isfinite(x) or x < 0:
        raise ValueError(x)
    return x


# ---------------------------------------------------------------------------- loading


def load_results(run_dir: Path, command: str = "compare") -> dict[str, Any]:
    """A run folder's results.json, or InputInvalid with one message saying what is wrong."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputInvalid(f"{command}: no run folder {run_dir}")
    path = run_dir / RESULTS_FILE
    if not path.is_file():
        raise InputInvalid(
            f"{command}: {run_dir} has no {RESULTS_FILE} (a run from before results schema "
            f"version {KNOWN_SCHEMA}, or not a run folder); `stormproof report {run_dir}` "
            "writes it from the saved data"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputInvalid(f"{command}: {path} is not readable JSON: {exc}") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != KNOWN_SCHEMA or not isinstance(data.get("scenarios"), dict):
        raise InputInvalid(
            f"{command}: {path} has results schema version {version!r}; this stormproof reads "
            f"version {KNOWN_SCHEMA}; `stormproof report {run_dir}` rewrites it"
        )
    return data


# ---------------------------------------------------------------------------- comparing


@dataclass
class Row:
    scenario: str
    figure: str  # key, e.g. recovery_s or p99_ms[fault]
    label: str
    unit: str
    base: float | None
    head: float | None
    delta: float | None
    limit: str
    status: str  # ok | regression | improved | not measured


@dataclass
class Comparison:
    base_id: str
    head_id: str
    verdicts: list[tuple[str, str, str, str]] = field(default_factory=list)  # name, b, h, status
    rows: list[Row] = field(default_factory=list)
    only_base: list[str] = field(default_factory=list)
    only_head: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[str]:
        out = [f"{n}: verdict {b} -> {h}" for n, b, h, s in self.verdicts if s == "regression"]
        out += [
            f"{r.scenario}: {r.label} {fmt(r.base, r.unit)} -> {fmt(r.head, r.unit)} "
            f"(limit {r.limit})"
            for r in self.rows
            if r.status == "regression"
        ]
        return out


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def judge(base: float | None, head: float | None, t: Threshold) -> tuple[float | None, str]:
    """(delta, status) of one figure under its threshold."""
    if base is None and head is None:
        return None, "ok" if t.null_is != "unknown" else "not measured"
    if base is None or head is None:
        if t.null_is == "unknown":
            return None, "not measured"
        # one side null: it is the best or the worst value the figure can take
        head_worse = (head is None) == (t.null_is == "worst")
        return None, "regression" if head_worse else "improved"
    delta = head - base
    worse = delta if t.higher_is_worse else -delta
    allowed = max(t.absolute, t.relative * abs(base))
    if worse > allowed:
        return delta, "regression"
    if -worse > allowed:
        return delta, "improved"
    return delta, "ok"


def _limit(t: Threshold) -> str:
    way = "+" if t.higher_is_worse else "-"
    return f"{way}{fmt(t.absolute, t.unit)} or {way}{t.relative:.0%}"


def _figures(entry: dict[str, Any]) -> dict[str, Any]:
    f = entry.get("figures")
    return f if isinstance(f, dict) else {}


def compare(
    base: dict[str, Any], head: dict[str, Any], thresholds: dict[str, Threshold] | None = None
) -> Comparison:
    thresholds = thresholds or DEFAULTS
    bs, hs = base["scenarios"], head["scenarios"]
    out = Comparison(str(base.get("run_id", "base")), str(head.get("run_id", "head")))
    out.only_base = sorted(set(bs) - set(hs))
    out.only_head = sorted(set(hs) - set(bs))
    for name in [n for n in bs if n in hs]:
        b, h = bs[name], hs[name]
        bv, hv = str(b.get("verdict")), str(h.get("verdict"))
        status = "ok" if bv == hv else ("regression" if bv == "pass" else
                                        "improved" if hv == "pass" else "changed")  # fmt: skip
        out.verdicts.append((name, bv, hv, status))
        bf, hf = _figures(b), _figures(h)
        # a run with no fault injected (not steady, aborted early) has no fault figures
        unfaulted = bf.get("faults_injected") == 0 or hf.get("faults_injected") == 0
        for key, t in thresholds.items():
            if key == "p99_ms":
                continue
            bx, hx = _num(bf.get(key)), _num(hf.get(key))
            if unfaulted:
                t = replace(t, null_is="unknown")
            if key == "recovery_s":
                # null is "never recovered" only when the run says so
                if bx is None and bf.get("recovered") is not False:
                    t = replace(t, null_is="unknown")
                if hx is None and hf.get("recovered") is not False:
                    t = replace(t, null_is="unknown")
            if key == "breaker_open_s" and bx is None and hx is None:
                continue  # no breaker opened in either run: nothing to show
            delta, st = judge(bx, hx, t)
            out.rows.append(Row(name, key, t.label, t.unit, bx, hx, delta, _limit(t), st))
        t = thresholds["p99_ms"]
        bp, hp = bf.get("phases") or {}, hf.get("phases") or {}
        for phase in [p for p in bp if p in hp]:
            bx, hx = _num(bp[phase].get("p99_ms")), _num(hp[phase].get("p99_ms"))
            delta, st = judge(bx, hx, t)
            out.rows.append(Row(name, f"p99_ms[{phase}]", f"p99 in {phase}", "ms", bx, hx,
                                delta, _limit(t), st))  # fmt: skip
    return out


# ---------------------------------------------------------------------------- output

MARK = {"regression": "REGRESSION", "improved": "improved", "ok": "ok", "changed": "changed",
        "not measured": "not measured"}  # fmt: skip


def _delta(r: Row) -> str:
    if r.delta is None:
        return "—"
    sign = "+" if r.delta >= 0 else "-"
    return sign + fmt(abs(r.delta), r.unit)


def render_markdown(c: Comparison) -> str:
    n = len(c.regressions)
    lines = [
        f"## Stormproof compare: `{c.base_id}` (base) vs `{c.head_id}` (head)",
        "",
        f"**{n} regression{'s' if n != 1 else ''}**" if n else "**No regression.**",
        "",
    ]
    lines += [f"- {r}" for r in c.regressions]
    if c.regressions:
        lines.append("")
    lines += ["| scenario | base | head | |", "|---|---|---|---|"]
    lines += [f"| {n} | {b} | {h} | {MARK[s]} |" for n, b, h, s in c.verdicts]
    lines += ["", "| scenario | figure | base | head | delta | limit | |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in c.rows:
        lines.append(
            f"| {r.scenario} | {r.label} | {fmt(r.base, r.unit)} | {fmt(r.head, r.unit)} | "
            f"{_delta(r)} | {r.limit} | {MARK[r.status]} |"
        )
    if c.only_base:
        lines += ["", "Only in the base run (not compared): " + ", ".join(c.only_base)]
    if c.only_head:
        lines += ["", "Only in the head run (not compared): " + ", ".join(c.only_head)]
    return "\n".join(lines) + "\n"


def render_html(c: Comparison) -> str:
    e = html.escape
    n = len(c.regressions)
    rows = "".join(
        f'<tr class="{s.replace(" ", "-")}"><td>{e(name)}</td><td>{e(b)}</td><td>{e(h)}</td>'
        f"<td>{MARK[s]}</td></tr>"
        for name, b, h, s in c.verdicts
    )
    figs = "".join(
        f'<tr class="{r.status.replace(" ", "-")}"><td>{e(r.scenario)}</td><td>{e(r.label)}</td>'
        f'<td class="num">{fmt(r.base, r.unit)}</td><td class="num">{fmt(r.head, r.unit)}</td>'
        f'<td class="num">{_delta(r)}</td><td>{e(r.limit)}</td><td>{MARK[r.status]}</td></tr>'
        for r in c.rows
    )
    extra = ""
    if c.only_base:
        extra += f"<p>Only in the base run (not compared): {e(', '.join(c.only_base))}</p>"
    if c.only_head:
        extra += f"<p>Only in the head run (not compared): {e(', '.join(c.only_head))}</p>"
    summary = f"<p><strong>{n} regression{'s' if n != 1 else ''}</strong></p><ul>" + "".join(
        f"<li>{e(r)}</li>" for r in c.regressions
    ) + "</ul>" if n else "<p><strong>No regression.</strong></p>"  # fmt: skip
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Stormproof compare {e(c.base_id)} vs {e(c.head_id)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #1d2327; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: .3em .6em; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.regression td {{ background: #fde2e4; }} tr.improved td {{ background: #e3f6ee; }}
</style></head><body>
<h1>Stormproof compare</h1>
<p>base <code>{e(c.base_id)}</code> · head <code>{e(c.head_id)}</code></p>
{summary}
<h2>Verdicts</h2>
<table><thead><tr><th>scenario</th><th>base</th><th>head</th><th></th></tr></thead>
<tbody>{rows}</tbody></table>
<h2>Recovery figures</h2>
<table><thead><tr><th>scenario</th><th>figure</th><th>base</th><th>head</th><th>delta</th>
<th>limit</th><th></th></tr></thead><tbody>{figs}</tbody></table>
{extra}
</body></html>
"""
