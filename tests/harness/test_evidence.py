"""The pure parts of a scenario's evidence: Jaeger's config, traces.json's bounds, log cutting
and rotation (harness.infra.jaeger, harness.infra.logs)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from harness.errors import InfraUnavailable
from harness.evidence import add_offender_traces, offender_ids, save_evidence
from harness.infra import jaeger
from harness.infra import logs as logcut
from harness.journal import Journal, ScenarioInfo

# -- Jaeger's config ------------------------------------------------------------------------


def test_jaeger_config_listens_only_where_the_stack_allocated(tmp_path: Path) -> None:
    path = tmp_path / "jaeger.yaml"
    jaeger.write_config(path, "127.0.0.1", 41001, 41002, 41003)
    cfg = yaml.safe_load(path.read_text())
    endpoints = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("endpoint", "host", "port"):
                    endpoints.append(v)
                walk(v)

    walk(cfg)
    assert sorted(endpoints) == ["127.0.0.1:41001", "127.0.0.1:41002", "127.0.0.1:41003"]
    assert cfg["receivers"] == {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:41001"}}}}
    assert cfg["extensions"]["jaeger_query"]["http"] == {"endpoint": "127.0.0.1:41002"}
    # memory storage, and no telemetry listener of the collector's own (it would take 8888)
    store = cfg["extensions"]["jaeger_storage"]["backends"]["memstore"]
    assert store == {"memory": {"max_traces": jaeger.MAX_TRACES_IN_MEMORY}}
    assert cfg["service"]["telemetry"]["metrics"] == {"level": "none"}
    assert cfg["extensions"]["jaeger_query"]["enable_tracing"] is False  # no export to :4317
    assert cfg["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    assert jaeger.command("/bin/jaeger", path) == ["/bin/jaeger", "--config", str(path)]


# -- traces.json -----------------------------------------------------------------------------


def trace(tid: str, start: int, pad: int = 0) -> dict:
    return {"traceID": tid, "spans": [{"startTime": start, "pad": "x" * pad}], "processes": {}}


def test_windows_are_the_phases_with_what_came_before_and_after() -> None:
    phases = [("baseline", 10.0, 15.0), ("fault", 15.0, 25.0), ("never", None, None)]
    assert jaeger.windows_of(0.0, 40.0, phases) == [
        ("before", 0.0, 10.0),
        ("baseline", 10.0, 15.0),
        ("fault", 15.0, 25.0),
        ("after", 25.0, 40.0),
    ]
    assert jaeger.windows_of(0.0, 9.0, [("baseline", None, None)]) == [("scenario", 0.0, 9.0)]


def test_bounded_keeps_each_trace_once_in_the_first_window_that_found_it() -> None:
    shared = trace("a", 10)
    kept, info = jaeger.bounded({"baseline": [shared, trace("b", 30)], "fault": [shared]})
    assert [t["traceID"] for t in kept] == ["a", "b"]  # by start time
    assert info["per_window"] == {"baseline": 2, "fault": 0}
    assert info["traces"] == 2 and info["dropped_for_size"] == 0


def test_the_size_cap_takes_from_every_window_in_turn_newest_first() -> None:
    # a busy recovery must not crowd out the fault's few traces
    windows = {
        "fault": [trace(f"f{i}", 100 + i, pad=1000) for i in range(2)],
        "recovery": [trace(f"r{i}", 200 + i, pad=1000) for i in range(10)],
    }
    kept, info = jaeger.bounded(windows, max_bytes=4600)
    assert sorted(t["traceID"] for t in kept) == ["f0", "f1", "r8", "r9"]
    assert info["per_window"] == {"fault": 2, "recovery": 2}
    assert info["dropped_for_size"] == 8
    assert info["bytes"] <= 4600
    assert len(json.dumps(kept, separators=(",", ":"))) <= 4600


class FakeQuery:
    url = "http://127.0.0.1:16686"

    def __init__(self, by_service: dict[str, list[dict]], fail: bool = False) -> None:
        self.by_service = by_service
        self.fail = fail
        self.asked: list[tuple] = []

    def services(self) -> list[str]:
        if self.fail:
            raise InfraUnavailable("Jaeger query /api/services failed: connection refused")
        return sorted(self.by_service)

    def traces(self, service: str, start: float, end: float, limit: int) -> list[dict]:
        self.asked.append((service, start, end, limit))
        found = [t for t in self.by_service[service] if start <= t["spans"][0]["startTime"] <= end]
        return found[:limit]


def test_save_traces_asks_each_service_in_each_window_and_says_which_hit_the_limit(
    tmp_path: Path,
) -> None:
    q = FakeQuery(
        {"gateway": [trace("a", 1), trace("b", 2), trace("c", 12)], "orders": [trace("a", 1)]}
    )
    windows = [("baseline", 0.0, 10.0), ("fault", 10.0, 20.0)]
    info = jaeger.save_traces(q, windows, tmp_path / "traces.json", per_service=2)
    assert sorted(q.asked, key=lambda a: (a[1], a[0])) == [  # asked a few at once: any order
        ("gateway", 0.0, 10.0, 2),
        ("orders", 0.0, 10.0, 2),
        ("gateway", 10.0, 20.0, 2),
        ("orders", 10.0, 20.0, 2),
    ]
    saved = json.loads((tmp_path / "traces.json").read_text())
    assert [t["traceID"] for t in saved["data"]] == ["a", "b", "c"]
    assert saved["bounds"]["at_limit"] == ["gateway in baseline"] == info["at_limit"]
    assert info["per_window"] == {"baseline": 2, "fault": 1}
    assert info["services"] == ["gateway", "orders"] and info["limit_per_service"] == 2
    assert saved["bounds"]["query_url"] == "http://127.0.0.1:16686"  # the report links to it


def test_an_unreachable_jaeger_is_infrastructure_unavailable_not_a_crash() -> None:
    query = jaeger.JaegerQuery("http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(InfraUnavailable, match="/api/services"):
        query.services()


# -- log lines ---------------------------------------------------------------------------------


def test_a_json_line_gives_its_time_trace_and_saga_and_anything_else_is_text() -> None:
    line = logcut.parse_line('{"ts": 12.5, "msg": "m", "saga_id": "s1", "trace_id": "ab"}\n')
    assert (line.ts, line.saga_id, line.trace_id) == (12.5, "s1", "ab")
    plain = logcut.parse_line("Traceback (most recent call last):\n")
    assert (plain.ts, plain.text) == (None, "Traceback (most recent call last):")
    assert logcut.parse_line('{"no": "ts"}').ts is None
    assert logcut.parse_line("{not json").ts is None
    assert logcut.parse_line('{"ts": "soon"}').ts is None


def test_cut_holds_json_lines_to_the_window_and_keeps_plain_ones() -> None:
    lines = [
        '{"ts": 9.0, "msg": "before"}',
        '{"ts": 10.0, "msg": "first"}',
        "plain text inside the byte range",
        '{"ts": 20.0, "msg": "last"}',
        '{"ts": 20.5, "msg": "after"}',
    ]
    kept = [ln.text for ln in logcut.cut(lines, 10.0, 20.0)]
    assert kept == [lines[1], lines[2], lines[3]]


def test_save_window_starts_at_the_mark_and_skips_a_partial_line(tmp_path: Path) -> None:
    log = tmp_path / "orders-1.log"
    log.write_text('{"ts": 1.0, "msg": "old"}\n')
    mark = logcut.sizes([log])[str(log)]
    with open(log, "a") as f:
        f.write('{"ts": 5.0, "msg": "new", "saga_id": "s", "trace_id": "t"}\nplain\n')
    counts = logcut.save_window(log, mark, 0.0, 10.0, tmp_path / "out" / "orders-1.log")
    assert (tmp_path / "out" / "orders-1.log").read_text().splitlines() == [
        '{"ts": 5.0, "msg": "new", "saga_id": "s", "trace_id": "t"}',
        "plain",
    ]
    assert counts == {"lines": 2, "dropped_for_size": 0, "with_trace_id": 1, "with_saga_id": 1}
    # a mark inside a line: that line began before the window
    counts = logcut.save_window(log, mark + 3, 0.0, 10.0, tmp_path / "o2.log")
    assert (tmp_path / "o2.log").read_text() == "plain\n"
    # the file shorter than the mark (truncated since): read from its start
    log.write_text("restarted\n")
    logcut.save_window(log, mark, 0.0, 10.0, tmp_path / "o3.log")
    assert (tmp_path / "o3.log").read_text() == "restarted\n"
    # nothing in the window: no file, the counts say so
    counts = logcut.save_window(log, 0, 0.0, 10.0, tmp_path / "o4.log", max_bytes=5)
    assert counts["dropped_for_size"] == 1 and (tmp_path / "o4.log").read_text() == ""
    counts = logcut.save_window(log, log.stat().st_size, 0.0, 10.0, tmp_path / "o5.log")
    assert counts["lines"] == 0 and not (tmp_path / "o5.log").exists()


def test_save_window_keeps_the_oldest_lines_up_to_its_cap(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("".join(f"line {i:03d}\n" for i in range(100)))  # 9 bytes a line
    counts = logcut.save_window(log, 0, 0.0, 1.0, tmp_path / "cut.log", max_bytes=95)
    assert counts["lines"] == 10 and counts["dropped_for_size"] == 90
    assert (tmp_path / "cut.log").read_text().splitlines()[0] == "line 000"


def test_rotate_copies_then_truncates_a_big_log_and_leaves_a_small_one(tmp_path: Path) -> None:
    log = tmp_path / "gateway-1.log"
    log.write_text("x" * 100)
    assert not logcut.rotate(log, at_bytes=100)
    # the process's descriptor, opened for append as harness.procs.spawn opens it
    with open(log, "ab", buffering=0) as writer:
        writer.write(b"y")
        assert logcut.rotate(log, at_bytes=100)
        writer.write(b"after\n")
    assert (tmp_path / "gateway-1.log.1").read_text() == "x" * 100 + "y"
    assert log.read_text() == "after\n"  # O_APPEND: written at the new end, no hole
    assert not logcut.rotate(tmp_path / "absent.log")


def test_rotate_all_rotates_each_big_log_once_and_sizes_note_where_lines_start(
    tmp_path: Path,
) -> None:
    big, small = tmp_path / "a.log", tmp_path / "b.log"
    big.write_text("z" * 50)
    small.write_text("zz")
    assert logcut.rotate_all([big, small, big, tmp_path / "none.log"], at_bytes=10) == [big]
    assert (tmp_path / "a.log.1").stat().st_size == 50
    assert logcut.sizes([big, small, tmp_path / "none.log"]) == {str(big): 0, str(small): 2}


def test_evidence_never_fails_a_run_it_notes_what_is_missing(tmp_path: Path) -> None:
    good = tmp_path / "good.log"
    good.write_text('{"ts": 5.0, "msg": "in", "saga_id": "s"}\n')
    (tmp_path / "bad.log").mkdir()  # there, but unreadable as a file
    run = SimpleNamespace(
        out=tmp_path / "out", journal=Journal(run_id="r", scenario=ScenarioInfo(name="s"))
    )
    stack = SimpleNamespace(
        jaeger_url=lambda: "", instance_logs=lambda: {"a-1": good, "b-1": tmp_path / "bad.log"}
    )
    save_evidence(run.journal, stack, run.out, 0.0, 10.0, {}, lambda: 1.0)
    assert run.journal.evidence["logs"]["a-1"]["with_saga_id"] == 1
    assert "b-1" not in run.journal.evidence["logs"]
    assert run.journal.missing[0].startswith("traces.json: not collected: no Jaeger in this stack")
    assert run.journal.missing[1].startswith("logs/b-1.log: unreadable:")


# -- the failed checks' offenders, fetched by id ------------------------------------------------


class ByIdQuery(FakeQuery):
    def __init__(self, held: dict[str, dict], fail: bool = False) -> None:
        super().__init__({}, fail)
        self.held = held

    def trace(self, trace_id: str) -> dict | None:
        self.asked.append(trace_id)
        if self.fail:
            raise InfraUnavailable(f"Jaeger query /api/traces/{trace_id} failed: refused")
        return self.held.get(trace_id)


def failed(*violations: object, verdict: str = "fail") -> dict:
    return {"name": "c", "kind": "saga_consistency", "verdict": verdict,
            "details": {"violations": list(violations)}}  # fmt: skip


def test_offender_ids_are_what_the_failed_checks_violations_name() -> None:
    checks = [
        failed({"saga_id": "s1"}, {"trace_id": "ab" * 16}, "stock at -1", {"kept": 3}),
        failed({"saga_id": "s2"}, verdict="pass"),
        failed(*({"saga_id": f"m{k}"} for k in range(5))),
    ]
    assert offender_ids(checks) == ({"s1", "m0", "m1", "m2", "m3", "m4"}, {"ab" * 16})
    assert offender_ids(checks, limit=1) == ({"s1", "m0"}, set())


def test_add_by_id_adds_only_what_traces_json_lacks_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "traces.json"
    jaeger.save_traces(FakeQuery({"gateway": [trace("a", 1)]}), [("s", 0.0, 9.0)], out)
    q = ByIdQuery({"b": trace("b", 5), "a": trace("a", 1)})
    assert jaeger.add_by_id(q, out, {"a", "b", "gone"}) == {"asked": 2, "found": 1, "traces": 2}
    assert sorted(q.asked) == ["b", "gone"]  # "a" was saved already
    saved = json.loads(out.read_text())
    assert [t["traceID"] for t in saved["data"]] == ["a", "b"]
    assert saved["bounds"]["traces"] == 2 and saved["bounds"]["by_id"] == {"asked": 2, "found": 1}
    # Jaeger gone: raised, the file as it was
    before = out.read_text()
    with pytest.raises(InfraUnavailable):
        jaeger.add_by_id(ByIdQuery({}, fail=True), out, {"c"})
    assert out.read_text() == before


def test_offender_traces_come_from_the_sagas_log_lines_and_a_dead_jaeger_is_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    (out / "logs").mkdir(parents=True)
    t1, t2 = "1" * 32, "2" * 32
    (out / "logs" / "orders-1.log").write_text(
        json.dumps({"ts": 5.0, "msg": "step charge failed", "saga_id": "s1", "trace_id": t1})
        + "\n"
        + json.dumps({"ts": 6.0, "msg": "other", "saga_id": "s9", "trace_id": t2})
        + "\n"
    )
    jaeger.save_traces(FakeQuery({"gateway": []}), [("s", 0.0, 9.0)], out / "traces.json")
    j = Journal(run_id="r", scenario=ScenarioInfo(name="s"))
    j.evidence["traces"] = {"traces": 0}
    j.add_check(failed({"saga_id": "s1"}, {"trace_id": "not hex"}))
    asked: list[str] = []

    def fetch(self: jaeger.JaegerQuery, trace_id: str) -> dict | None:
        asked.append(trace_id)
        return trace(trace_id, 5)

    monkeypatch.setattr(jaeger.JaegerQuery, "trace", fetch)
    stack = SimpleNamespace(jaeger_url=lambda: "http://127.0.0.1:9")
    add_offender_traces(j, stack, out, lambda: 1.0)
    assert asked == [t1]  # the saga's trace, not another saga's, nor an id that is not one
    assert j.evidence["traces"] == {"traces": 1, "by_id": {"asked": 1, "found": 1}}
    assert j.missing == []
    monkeypatch.undo()  # the real query: nothing listens on port 9
    j.checks[0]["details"]["violations"].append({"saga_id": "s9"})
    add_offender_traces(j, stack, out, lambda: 0.5)
    assert j.missing[0].startswith("traces.json: offenders' traces not added: Jaeger query")
    assert j.evidence["traces"]["traces"] == 1
    # no failed check, or no Jaeger: nothing asked
    j.checks[0]["verdict"] = "pass"
    add_offender_traces(j, SimpleNamespace(jaeger_url=lambda: ""), out, lambda: 0.5)
    assert len(j.missing) == 1
