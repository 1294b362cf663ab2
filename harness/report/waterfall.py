"""A trace drawn as a waterfall in plain HTML: one row per span (nested by parent), its bar on
the trace's time axis, service, operation (with the callee and retry of a call, and the reason
of a span a saga opened when it ran into trouble) and duration; an error span's bar red, a span
on the scenario's faulted link or service outlined and marked. Styled by the page's one style sheet
(``wf-*`` classes, ``d<N>`` per depth); the only inline style is each bar's position.
"""

from __future__ import annotations

import html

from markupsafe import Markup

from harness.report.traces import TROUBLE, Span, Trace

MAX_SPANS = 60  # rows drawn per trace; the rest are counted
TICKS = 4  # axis divisions
MAX_DEPTH = 12  # indentation levels (style.css has a class per level); deeper spans stay there
TROUBLE_CHARS = 120


def _ms(us: float) -> str:
    ms = us / 1000.0
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def _title(sp: Span) -> str:
    """The row's tooltip: the instance that ran the span and its HTTP status (the label
    already says the operation, the instance called and the retry)."""
    status = sp.tags.get("http.status_code", sp.tags.get("http.response.status_code"))
    who = sp.instance or sp.service
    return f"{who} · {status}" if status not in (None, "") else who


def _peer(sp: Span) -> str:
    """`` → callee-1`` on a call's span, with its retry number when it is one."""
    if not sp.peer:
        return ""
    attempt = sp.tags.get("retry.attempt")
    retry = f" (retry {attempt})" if isinstance(attempt, int) and attempt > 0 else ""
    return f" → {sp.peer}{retry}"


def _trouble(sp: Span) -> str:
    """``: why`` on the span a saga opened when it ran into trouble (its ``trouble``)."""
    why = sp.tags.get(TROUBLE)
    if why in (None, ""):
        return ""
    why = str(why)
    return ": " + (why if len(why) <= TROUBLE_CHARS else why[: TROUBLE_CHARS - 1] + "…")


def _row(sp: Span, t0: int, total: float) -> str:
    left = 100.0 * (sp.start_us - t0) / total
    width = max(0.2, 100.0 * sp.duration_us / total)
    width = min(width, 100.0 - left) if left < 100 else 0.2
    cls = "wf-r" + (" wf-e" if sp.error else "") + (" wf-f" if sp.faulted else "")
    marks = ("⚡" if sp.faulted else "") + ("✖" if sp.error else "")
    esc = html.escape
    return (
        f'<div class="{cls}" title="{esc(_title(sp))}">'
        f'<span class="wf-l d{min(sp.depth, MAX_DEPTH)}">'
        f"{esc(sp.service)} <b>{esc(sp.operation)}</b>{esc(_peer(sp) + _trouble(sp))}</span>"
        f'<span class="wf-t"><i style="left:{left:.1f}%;width:{width:.1f}%"></i></span>'
        f'<span class="wf-d">{marks}{_ms(sp.duration_us)}</span></div>'
    )


def waterfall(trace: Trace, max_spans: int = MAX_SPANS) -> Markup:
    """The trace's spans as rows on one time axis (0 at its earliest span), at most
    `max_spans` of them (depth-first order, so a cut keeps the top of the tree)."""
    t0 = trace.start_us
    total = float(max(1, trace.end_us - t0))
    ticks = "".join(
        f'<i style="left:{100 * k / TICKS:.0f}%">{_ms(total * k / TICKS)}</i>'
        for k in range(TICKS + 1)
    )
    rows = [
        '<div class="wf">',
        '<div class="wf-r wf-h"><span class="wf-l">service <b>operation</b></span>'
        f'<span class="wf-t wf-x">{ticks}</span><span class="wf-d">duration</span></div>',
    ]
    rows += [_row(sp, t0, total) for sp in trace.spans[:max_spans]]
    if len(trace.spans) > max_spans:
        rows.append(
            f'<div class="wf-more">{len(trace.spans) - max_spans} more spans not drawn</div>'
        )
    rows.append("</div>")
    return Markup("".join(rows))


def summary(trace: Trace) -> str:
    """One line: the root, its duration, the span count, errors and faulted spans."""
    r = trace.root
    text = f"{r.service} {r.operation} · {_ms(r.duration_us)} · {len(trace.spans)} spans"
    if trace.errors:
        text += f" · {trace.errors} with errors"
    if trace.faulted:
        text += f" · {trace.faulted} on the faulted link"
    return text
