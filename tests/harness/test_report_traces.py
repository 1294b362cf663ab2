"""The report's trace and log evidence, from small hand-made traces.json and logs/ (pure
rendering: nothing is started)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.report import render_report
from harness.report.traces import Traces, mark_faulted, parse_trace, read_log_rows, read_traces
from tests.harness.test_report import FAIL, T0, journal, scenario, section

US = 1_000_000
PROCS = {
    "p1": ("gateway", "gateway-1"),
    "p2": ("orders", "orders-1"),
    "p3": ("payments", "payments-1"),
    "p4": ("payments", "payments-2"),
    "p5": ("inventory", "inventory-1"),
}


def _type(v: object) -> str:
    return "bool" if isinstance(v, bool) else "int64" if isinstance(v, int) else "string"


def sp(sid: str, parent: str | None, op: str, start: float, ms: float, pid: str, **tags) -> dict:
    """A span of Jaeger's JSON: `start` in seconds after T0, `ms` its duration."""
    return {
        "spanID": sid,
        "operationName": op,
        "references": [{"refType": "CHILD_OF", "spanID": parent}] if parent else [],
        "startTime": int((T0 + start) * US),
        "duration": int(ms * 1000),
        "tags": [
            {"key": k.replace("__", "."), "type": _type(v), "value": v} for k, v in tags.items()
        ],
        "processID": pid,
    }


def jtrace(tid: str, spans: list[dict]) -> dict:
    procs = {
        p: {
            "serviceName": s,
            "tags": [{"key": "service.instance.id", "type": "string", "value": i}],
        }
        for p, (s, i) in PROCS.items()
    }
    return {"traceID": tid, "spans": spans, "processes": procs}


def saga_trace(tid: str, saga: str, start: float, ms: float, peer: str = "payments-2") -> dict:
    """gateway -> orders (saga) -> inventory, and a charge to `peer` that timed out once and
    was retried; the parent of the root is Locust's span, which is not in the trace."""
    pid = "p4" if peer == "payments-2" else "p3"
    return jtrace(tid, [
        sp(f"{tid}-c1", f"{tid}-o2", "POST", start + 0.02, ms / 3, "p2",
           peer__instance=peer, retry__attempt=0, saga_id=saga, otel__status_code="ERROR"),
        sp(f"{tid}-g", "locust", "POST /orders", start, ms, "p1"),
        sp(f"{tid}-o1", f"{tid}-g", "POST /orders", start + 0.001, ms - 2, "p2"),
        sp(f"{tid}-o2", f"{tid}-o1", "saga", start + 0.002, ms - 4, "p2", saga_id=saga),
        sp(f"{tid}-i", f"{tid}-o2", "POST", start + 0.003, 5, "p2", peer__instance="inventory-1"),
        sp(f"{tid}-i2", f"{tid}-i", "POST /reservations", start + 0.004, 3, "p5", saga_id=saga),
        sp(f"{tid}-p1", f"{tid}-c1", "POST /charges", start + 0.03, 2, pid, saga_id=saga),
        sp(f"{tid}-c2", f"{tid}-o2", "POST", start + 0.02 + ms / 3000, 8, "p2",
           peer__instance=peer, retry__attempt=1, saga_id=saga),
        sp(f"{tid}-p2", f"{tid}-c2", "POST /charges", start + 0.03 + ms / 3000, 3, pid,
           http__status_code=500),
    ])  # fmt: skip


def test_a_trace_is_a_tree_in_depth_first_order_with_its_root_the_span_without_a_parent():
    t = parse_trace(saga_trace("t1", "s1", 10.0, 300))
    assert t is not None and t.root.operation == "POST /orders" and t.root.service == "gateway"
    order = [(s.depth, s.service, s.operation) for s in t.spans]
    assert order[:4] == [
        (0, "gateway", "POST /orders"),
        (1, "orders", "POST /orders"),
        (2, "orders", "saga"),
        (3, "orders", "POST"),  # the inventory call: the earliest child first
    ]
    assert [s.span_id for s in t.spans if s.error] == ["t1-c1", "t1-p2"]  # status ERROR, 500
    assert t.spans[1].instance == "orders-1" and t.saga_ids == {"s1"}
    assert t.start_us == int((T0 + 10) * US) and t.root.duration_us == 300_000
    assert parse_trace({"traceID": "x", "spans": [{"spanID": "a"}]}) is None  # no times


def test_the_faulted_link_marks_the_callers_calls_and_the_callees_spans_under_them():
    t = parse_trace(saga_trace("t1", "s1", 10.0, 300))
    services = {"payments-1": "payments", "payments-2": "payments", "inventory-1": "inventory"}

    def marked(target: str, start: float = 0.0, end: float = 60.0) -> set[str]:
        mark_faulted(t, [(target, T0 + start, T0 + end)], services)
        return {s.span_id for s in t.spans if s.faulted}

    assert marked("orders->payments") == {"t1-c1", "t1-p1", "t1-c2", "t1-p2"}
    assert marked("orders->payments-1") == set()  # the other instance: nothing here
    # an instance: its spans and the calls to it
    assert marked("payments-2") == {"t1-c1", "t1-p1", "t1-c2", "t1-p2"}
    assert marked("inventory") == {"t1-i", "t1-i2"}
    # only while the fault was active: the retry (from +10.12 s) ran after its revert
    assert marked("orders->payments", 0.0, 10.1) == {"t1-c1", "t1-p1"}
    assert marked("orders->payments", 11.0, 20.0) == set()


def log(d: Path, instance: str, lines: list) -> None:
    (d / "logs").mkdir(exist_ok=True)
    text = "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines)
    (d / "logs" / f"{instance}.log").write_text(text)


def line(t: float, msg: str, saga: str | None = None, trace: str | None = None, **kw) -> dict:
    return {"ts": T0 + t, "level": kw.pop("level", "info"), "msg": msg, "saga_id": saga,
            "trace_id": trace, **kw}  # fmt: skip


def test_log_rows_are_matched_by_saga_or_trace_id_across_instances_in_time_order(tmp_path):
    log(tmp_path, "orders-1", [
        line(10.5, "saga cancelled", "s1", "t1"), line(10.1, "other saga", "s2", "t2"),
        "Traceback (most recent call last): s1", '{"ts": "x", "saga_id": "s1"}',
    ])  # fmt: skip
    log(tmp_path, "payments-2", [line(10.2, "charge", None, "t1", step="charge")])
    rows = read_log_rows(tmp_path, {"s1", "t1"})
    assert [(r.instance, r.msg, r.extra) for r in rows] == [
        ("payments-2", "charge", "step=charge"),
        ("orders-1", "saga cancelled", ""),
    ]
    assert read_log_rows(tmp_path, set()) == []


def saga_check(sagas: list[str]) -> dict:
    violations = [
        {"saga_id": s, "order_id": s, "state": "CANCELLED", "problems": ["kept 300"],
         "timeline": []}
        for s in sagas
    ]  # fmt: skip
    return {**FAIL, "name": "saga consistency", "kind": "saga_consistency",
            "details": {"violations": violations}}  # fmt: skip


def write_traces(d: Path, traces: list[dict], **bounds) -> None:
    b = {"traces": len(traces), "limit_per_service": 100, "at_limit": ["gateway in fault"],
         "dropped_for_size": 0, **bounds}  # fmt: skip
    # as save_traces writes it (compact), so the report indexes it without decoding
    (d / "traces.json").write_text(json.dumps({"data": traces, "bounds": b}, separators=(",", ":")))


def test_a_failed_saga_check_draws_each_offenders_trace_and_logs_and_counts_the_rest(tmp_path):
    run = tmp_path / "r"
    sagas = [f"s{k}" for k in range(7)]
    d = scenario(run, journal("sagas", "fail", [saga_check(sagas)]), data=False)
    # s0: traced; s1: its log names a trace that was not saved; s2..: nothing at all
    write_traces(d, [saga_trace("t0", "s0", 6.0, 1200), saga_trace("t9", "s9", 2.0, 50)],
                 query_url="http://127.0.0.1:16686")  # fmt: skip
    log(d, "orders-1", [line(6.5, "saga cancelled", "s0", "t0", level="error"),
                        line(7.0, "step charge failed", "s1", "tx")])  # fmt: skip
    log(d, "payments-2", [line(6.1, "charge taken", None, "t0"), line(7.1, "late", None, "tx")])
    html = section(render_report(run).read_text(), "sagas")
    ev = html.split("Failed checks: traces and logs")[1].split("<h3>")[0]
    assert "saga consistency: the sagas and traces it names (5 of 7 shown)" in ev
    assert "2 more not drawn" in ev and "saga s5" not in ev
    assert 'href="#s-sagas-c0">traces and logs of 7 offenders' in html
    first = ev.split("saga s1 ")[0]
    assert "trace <code>t0</code> at +6.00 s" in first and "9 spans" in first
    assert "1.20 s" in first and "2 with errors" in first and "4 on the faulted link" in first
    assert first.count('class="wf-r wf-e wf-f"') == 2  # the timed-out call, the 500
    assert '<span class="wf-l d3">orders <b>POST</b> → payments-2 (retry 1)' in first
    assert '<span class="wf-l d2">orders <b>saga</b>' in first  # nested by parent
    assert 'href="http://127.0.0.1:16686/api/traces/t0"' in first
    # its log lines from both instances, by time
    assert re.search(r"payments-2.*charge taken.*orders-1.*saga cancelled", first, re.S)
    second = ev.split("saga s1 ")[1].split("saga s2 ")[0]
    assert "No trace: tx is not in traces.json (not sampled, or beyond its bounds: 2 traces" in (
        second
    )
    # the log lines all the same, those of the trace its own line names too, each once
    assert re.search(r"orders-1.*step charge failed.*payments-2.*late", second, re.S)
    assert second.count("step charge failed") == 1
    third = ev.split("saga s2 ")[1].split("saga s3 ")[0]
    assert "No trace: no trace id is known for it" in third
    assert "No log line carries its saga or trace id." in third
    # the slowest panel: only traces whose root started inside the fault (5.02 s to 15.01 s)
    panel = html.split("Slowest traces in the fault window")[1].split("<h3>")[0]
    assert "<code>t0</code>" in panel and "<code>t9</code>" not in panel
    assert "Jaeger's query API at" in html and "serves no UI" in html
    # the raw files, beside the others
    assert 'href="sagas/traces.json"' in html and 'href="sagas/logs/payments-2.log"' in html


def test_without_traces_json_the_page_says_why_and_still_shows_the_log_lines(tmp_path):
    run = tmp_path / "r"
    why = "not collected: no service exported traces (OTLP/HTTP to {otlp_endpoint})"
    j = journal("untraced", "fail", [saga_check(["s0"])], missing=[f"traces.json: {why}"])
    d = scenario(run, j, data=False)
    log(d, "orders-1", [line(6.5, "saga cancelled", "s0", None)])
    html = section(render_report(run).read_text(), "untraced")
    assert f"No trace: {why}." in html and f"No traces: {why}." in html
    assert "saga cancelled" in html
    assert "Slowest traces" not in html  # nothing to rank
    assert read_traces(d, j["missing"]).why_not == why


def test_a_latency_check_names_its_slowest_requests_and_finds_their_traces(tmp_path):
    run = tmp_path / "r"
    check = {
        **FAIL,
        "name": "slo fault",
        "kind": "slo",
        "details": {"latency": {"window": [T0 + 5, T0 + 15], "bounds_ms": {"p99": 500}}},
    }
    d = scenario(run, journal("slow", "fail", [check]), data=False)
    reqs = [{"t": T0 + 1, "ms": 9000, "name": "POST /orders", "ok": True, "trace_id": "early"}]
    reqs += [{"t": T0 + 5 + k, "ms": 100 * k, "name": "POST /orders", "ok": True,
              "status": 201, "trace_id": f"t{k}"} for k in range(8)]  # fmt: skip
    (d / "requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reqs))
    write_traces(d, [saga_trace("t7", "s7", 12.0, 700)])
    html = section(render_report(run).read_text(), "slow")
    ev = html.split("Failed checks: traces and logs")[1].split("<h3>")[0]
    assert "the slowest requests of the window its latency bound covers (5 of 8 shown)" in ev
    labels = re.findall(r'<p class="off-label">request POST /orders at (\S+) s, (\d+) ms', ev)
    assert labels == [("+12.00", "700"), ("+11.00", "600"), ("+10.00", "500"),
                      ("+9.00", "400"), ("+8.00", "300")]  # fmt: skip
    assert "trace <code>t7</code>" in ev and "No trace: t6 is not in traces.json" in ev
    assert "The Jaeger query address was not recorded." in html


def test_violations_that_name_no_saga_link_nothing_and_names_are_escaped(tmp_path):
    run = tmp_path / "r"
    inv = {**FAIL, "name": "invariant x", "kind": "invariant",
           "details": {"violations": ["stock at -1"]}}  # fmt: skip
    kept = {**FAIL, "name": "invariant y", "kind": "invariant",
            "details": {"violations": [{"saga_id": "s0", "kept": 3}], "count": 12}}  # fmt: skip
    d = scenario(run, journal("inv", "fail", [inv, kept]), data=False)
    t = saga_trace("t0", "s0", 6.0, 100)
    t["spans"][0]["operationName"] = "<script>alert(1)</script>"
    write_traces(d, [t])
    html = section(render_report(run).read_text(), "inv")
    assert "invariant x: its violations name no saga_id or trace_id" in html
    # the function found 12, the details kept the first: counted as 12
    assert "invariant y: the sagas and traces it names (1 of 12 shown)" in html
    assert "11 more not drawn" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_malformed_traces_json_is_a_reason_not_a_crash(tmp_path):
    (tmp_path / "traces.json").write_text("{not json")
    assert "unreadable" in (read_traces(tmp_path).why_not or "")
    (tmp_path / "traces.json").write_text(json.dumps({"data": [1, {"spans": "x"}], "bounds": 3}))
    t = read_traces(tmp_path)
    assert t.why_not is None and len(t) == 0 and t.bounds == {} and t.get("x") is None
    assert len(Traces()) == 0


def test_the_slowest_traces_are_ranked_by_root_duration_among_those_started_in_a_window():
    data = [saga_trace(f"t{k}", f"s{k}", 5.5 + k, 100 * (k + 1)) for k in range(8)]
    data.append(saga_trace("outside", "sx", 30.0, 9000))
    traces = Traces(data)
    slow = traces.slowest([(T0 + 5, T0 + 11)], 3)  # t0..t5 started inside
    assert [t.trace_id for t in slow] == ["t5", "t4", "t3"]
    assert [t.root.operation for t in slow] == ["POST /orders"] * 3
    assert [t.trace_id for t in traces.for_saga("s2")] == ["t2"] and traces.for_saga("no") == []
    assert traces.services_of["payments-2"] == "payments"


def test_an_indexed_traces_json_reads_as_the_decoded_one(tmp_path):
    data = [saga_trace(f"t{k}", f"s{k}", 5.5 + k, 100 * (k + 1)) for k in range(4)]
    data[2]["spans"][0]["operationName"] = 'odd {"traceID":"fake","spans":[ name'
    write_traces(tmp_path, data)
    indexed = read_traces(tmp_path)
    decoded = Traces(data)
    assert Traces.index((tmp_path / "traces.json").read_text()) is not None
    assert len(indexed) == len(decoded) == 4
    assert indexed.services_of == decoded.services_of
    for traces in (indexed, decoded):
        assert [t.trace_id for t in traces.slowest([(T0, T0 + 9)], 2)] == ["t3", "t2"]
        assert [t.trace_id for t in traces.for_saga("s1")] == ["t1"]
        t2 = traces.get("t2")
        assert t2 is not None and any(s.operation.startswith("odd {") for s in t2.spans)
        assert traces.get("fake") is None
    # another layout (indented, or a count its bounds disagree with): decoded whole
    (tmp_path / "traces.json").write_text(json.dumps({"data": data, "bounds": {}}, indent=1))
    assert Traces.index((tmp_path / "traces.json").read_text()) is None
    assert len(read_traces(tmp_path)) == 4


def test_offenders_with_a_saved_trace_are_drawn_first(tmp_path):
    run = tmp_path / "r"
    sagas = [f"s{k}" for k in range(7)]  # only the last one's trace was sampled
    d = scenario(run, journal("sampled", "fail", [saga_check(sagas)]), data=False)
    write_traces(d, [saga_trace("t6", "s6", 6.0, 900)])
    ev = section(render_report(run).read_text(), "sampled").split("Failed checks: traces and logs")[
        1
    ]
    assert "trace <code>t6</code>" in ev and "saga s6 " in ev
    assert ev.index("saga s6 ") < ev.index("saga s0 ")  # drawn before the untraced ones
    assert "saga s4 " not in ev  # still 5 of 7 shown: s6, then s0..s3


def escalated_trace(tid: str, saga: str, start: float) -> dict:
    """What the shop records of a saga whose request was not sampled, from its first trouble:
    the span that opened then (its parent, the saga's own span, was not recorded), the retry
    and the compensation under it, and the participants' server spans."""
    return jtrace(tid, [
        sp(f"{tid}-e", f"{tid}-unrecorded", "saga (traced from first error)", start, 900, "p2",
           saga_id=saga, trouble="payments timeout: payments-2: no answer within 1s"),
        sp(f"{tid}-c2", f"{tid}-e", "POST", start + 0.1, 400, "p2", peer__instance="payments-2",
           retry__attempt=1, saga_id=saga, otel__status_code="ERROR"),
        sp(f"{tid}-r", f"{tid}-e", "POST", start + 0.6, 20, "p2", peer__instance="inventory-1",
           retry__attempt=0, saga_id=saga),
        sp(f"{tid}-r2", f"{tid}-r", "POST /reservations/{saga_id}/release", start + 0.61, 10,
           "p5", saga_id=saga),
    ])  # fmt: skip


def test_a_trace_recorded_from_a_sagas_first_trouble_draws_without_its_root(tmp_path):
    t = parse_trace(escalated_trace("e1", "s1", 8.0))
    assert t is not None and t.root.operation == "saga (traced from first error)"
    assert [(s.depth, s.span_id) for s in t.spans] == [
        (0, "e1-e"), (1, "e1-c2"), (1, "e1-r"), (2, "e1-r2")
    ]  # fmt: skip
    run = tmp_path / "r"
    d = scenario(run, journal("late", "fail", [saga_check(["s1"])]), data=False)
    write_traces(d, [saga_trace("t0", "s0", 6.0, 300), escalated_trace("e1", "s1", 8.0)],
                 by_id={"asked": 3, "found": 1})  # fmt: skip
    log(d, "orders-1", [line(7.9, "step charge timeout", "s1", "e1")])
    ev = section(render_report(run).read_text(), "late").split("Failed checks: traces and logs")[1]
    assert "trace <code>e1</code>" in ev and "4 spans" in ev
    assert (
        '<span class="wf-l d0">orders <b>saga (traced from first error)</b>: payments timeout: '
        "payments-2: no answer within 1s</span>"
    ) in ev
    assert "→ payments-2 (retry 1)" in ev and "step charge timeout" in ev
    assert "1 of 3 traces of the failed checks&#39; offenders added by id" in ev  # the source
