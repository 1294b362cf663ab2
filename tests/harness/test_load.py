"""Locust as a subprocess: real Locust against a tiny HTTP server on loopback; the recorder
loaded beside a user's locustfile; the check that a locustfile loads the way Locust loads it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.load import (
    RECORDER,
    LoadPlan,
    LocustProcess,
    RequestTail,
    locust_files,
    locustfile_problem,
    recorder_env,
    wait_spawned,
)
from harness.records import read_requests

REPO = Path(__file__).resolve().parents[2]
SHOP_LOCUSTFILE = REPO / "target_system" / "locustfile.py"

# A locustfile as its users write it: no Stormproof hook, no environment variable.
PLAIN = """\
from locust import HttpUser, constant, task


class Visitor(HttpUser):
    wait_time = constant(0.2)

    @task
    def home(self):
        self.client.get("/ping", name="GET /ping")
"""


class _Shop(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"order_id": "o-1", "status": "completed"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def shop() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_locust_stops_on_sigint_and_writes_its_report_even_if_sigint_was_ignored(
    shop: str, tmp_path: Path
) -> None:
    # A background job of a non-interactive shell (`cmd &`, nohup, CI runners) starts with
    # SIGINT ignored, and children inherit that; Locust must still stop on the harness's SIGINT.
    plan = LoadPlan(
        host=shop, locustfile=SHOP_LOCUSTFILE, users=2, spawn_rate=2, rate=2, run_time=60
    )
    proc = LocustProcess(plan, tmp_path, sys.executable)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc.start()
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        tail = RequestTail(proc.requests_file)
        wait_spawned(proc, tail, timeout=30)
    finally:
        rc = proc.stop(timeout=20)
    assert rc is not None and rc != -signal.SIGKILL, "Locust ignored SIGINT and was killed"
    assert (tmp_path / "locust" / "report.html").stat().st_size > 0


def write(tmp_path: Path, text: str, name: str = "locustfile.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_recorder_writes_every_request_of_a_locustfile_that_has_no_hooks(
    shop: str, tmp_path: Path
) -> None:
    locustfile = write(tmp_path, PLAIN)
    plan = LoadPlan(host=shop, locustfile=locustfile, users=2, spawn_rate=2, run_time=30)
    proc = LocustProcess(plan, tmp_path / "run", sys.executable)
    proc.start()
    try:
        tail = RequestTail(proc.requests_file)
        spawned = wait_spawned(proc, tail, timeout=30)
        deadline = time.monotonic() + 10
        while tail.stats.requests < 10 and time.monotonic() < deadline:
            time.sleep(0.2)
            tail.poll()
    finally:
        proc.stop(timeout=20)
    assert abs(spawned - time.time()) < 60
    frame = read_requests(proc.requests_file)
    assert len(frame) >= 10, "the recorder wrote no request of the user's locustfile"
    assert set(frame["name"]) == {"GET /ping"}
    assert frame["ok"].all() and (frame["status"] == 200).all()
    assert (frame["ms"] >= 0).all() and (frame["t"] >= spawned - 5).all()
    lines = [json.loads(x) for x in proc.requests_file.read_text().splitlines()]
    assert [x["users"] for x in lines if x.get("event") == "spawned"] == [2]


def test_locust_is_given_the_users_locustfile_then_the_recorder(tmp_path: Path) -> None:
    assert locust_files(tmp_path / "a.py") == f"{tmp_path / 'a.py'},{RECORDER}"
    assert RECORDER.is_file() and RECORDER.parent.name == "harness"


def test_recorder_env_leaves_out_what_the_scenario_does_not_give(tmp_path: Path) -> None:
    env = recorder_env(tmp_path / "r.jsonl")
    assert env["STORMPROOF_RATE"] == "" and env["STORMPROOF_SEED"] == ""
    assert env["STORMPROOF_STAGES"] == "[]"
    assert env["STORMPROOF_REQUESTS_FILE"] == str(tmp_path / "r.jsonl")
    env = recorder_env(None, rate=3, stages=[{"duration": 5.0, "users": 2}], seed=7)
    assert "STORMPROOF_REQUESTS_FILE" not in env
    assert (env["STORMPROOF_RATE"], env["STORMPROOF_SEED"]) == ("3.0", "7")
    assert json.loads(env["STORMPROOF_STAGES"]) == [{"duration": 5.0, "users": 2}]


# The recorder on Locust's own init event, in a subprocess (Locust patches with gevent).
_INIT = """
import json, random, sys
import locust
from locust.env import Environment
from locust.main import merge_locustfiles_content
users, shapes, _t, shape = merge_locustfiles_content(sys.argv[1:])
cls = users["Visitor"]
before = cls.wait_time
env = Environment(user_classes=list(users.values()), events=locust.events)
locust.events.init.fire(environment=env, runner=None, web_ui=None)
print(json.dumps({
    "replaced": cls.wait_time is not before,
    "wait": cls.wait_time.__qualname__,
    "pacing": [c.cell_contents for c in cls.wait_time.__closure__ or ()],
    "draw": random.random(),
    "shapes": sorted(shapes),
    "ticks": [shape.tick() if shape else None],
}))
"""


def recorder_on_init(tmp_path: Path, **env: str) -> dict:
    locustfile = write(tmp_path, PLAIN)
    done = subprocess.run(
        [sys.executable, "-c", _INIT, str(locustfile), str(RECORDER)],
        env={**os.environ, **recorder_env(None), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_recorder_applies_a_rate_seed_and_stages_only_when_given(tmp_path: Path) -> None:
    import random

    untouched = recorder_on_init(tmp_path)
    assert not untouched["replaced"] and untouched["shapes"] == []
    given = recorder_on_init(
        tmp_path,
        STORMPROOF_RATE="4.0",
        STORMPROOF_SEED="11",
        STORMPROOF_STAGES=json.dumps([{"duration": 60, "users": 3, "spawn_rate": 1.5}]),
    )
    # constant_throughput(4) is Locust's constant_pacing(1 / 4)
    assert given["replaced"] and given["wait"].startswith("constant_pacing")
    assert given["pacing"] == [0.25]
    assert given["draw"] == random.Random(11).random()
    assert given["shapes"] == ["StormproofStages"] and given["ticks"] == [[3, 1.5]]


# A non-HTTP client fires Locust's request event as Locust's own stats listener needs it: no
# `response` (the Locust docs' "Testing other systems"; examples/redis-cluster/locustfile.py).
_NON_HTTP = """
import locust
locust.events.request.fire(request_type="REDIS", name="SET", response_time=2.5,
                           response_length=0, exception=None, context={})
locust.events.request.fire(request_type="REDIS", name="GET", response_time=1.0,
                           response_length=0, exception=ConnectionError("refused"), context={})
"""


def test_the_recorder_takes_a_request_event_without_a_response(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", f"import harness.locust_recorder\n{_NON_HTTP}"],
        env={**os.environ, **recorder_env(out)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Uncaught exception in event handler" not in done.stderr, done.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(x["name"], x["ok"], x["status"], x["error"]) for x in lines] == [
        ("SET", True, 0, None),
        ("GET", False, 0, "refused"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PLAIN, None),
        ("def broken(:\n", "Locust cannot load it: SyntaxError: "),
        ("import no_such_module_here\n", "Locust cannot load it: ModuleNotFoundError: "),
        ("x = 1\n", "Locust cannot load it: No User class found!"),
        (
            PLAIN + "\nfrom locust import LoadTestShape\n\n\nclass Ramp(LoadTestShape):\n"
            "    def tick(self):\n        return None\n",
            "it defines LoadTestShape Ramp, but the scenario's users or stages shape the load",
        ),
    ],
    ids=["ok", "syntax", "import", "no-user", "own-shape"],
)
def test_a_locustfile_is_loaded_the_way_locust_loads_it(
    tmp_path: Path, text: str, expected: str | None
) -> None:
    problem = locustfile_problem(write(tmp_path, text))
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and problem.startswith(expected), problem
        assert "\n" not in problem


def test_the_web_ui_accepts_a_locustfile_with_its_own_shape(tmp_path: Path) -> None:
    shaped = PLAIN + (
        "\nfrom locust import LoadTestShape\n\n\nclass Ramp(LoadTestShape):\n"
        "    def tick(self):\n        return None\n"
    )
    path = write(tmp_path, shaped)
    assert locustfile_problem(path) is not None
    assert locustfile_problem(path, own_shape_ok=True) is None


def test_the_bundled_shop_locustfile_loads_with_the_recorder() -> None:
    assert locustfile_problem(SHOP_LOCUSTFILE) is None


def test_a_changed_locustfile_is_checked_again(tmp_path: Path) -> None:
    path = write(tmp_path, "x = 1\n")
    assert locustfile_problem(path) is not None
    time.sleep(0.01)
    write(tmp_path, PLAIN + "\n# now with a user\n")
    assert locustfile_problem(path) is None
    assert locustfile_problem(tmp_path / "gone.py") == "cannot read it: No such file or directory"


# The recorder's traceparent on every request, in a subprocess (Locust patches with gevent);
# the transport is replaced, so nothing goes on the network.
_TRACEPARENT = """
import json, sys
from locust import events
import requests
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
import importlib.util
spec = importlib.util.spec_from_file_location("rec", sys.argv[1])
rec = importlib.util.module_from_spec(spec); spec.loader.exec_module(rec)
sent = []
def fake_send(self, method, url, **kwargs):
    sent.append(dict(kwargs.get("headers") or {}))
    r = requests.Response(); r.status_code = 200; r._content = b"{}"; r.url = url
    r.request = requests.Request(method, url).prepare()
    return r
HttpSession._send_request_safe_mode = fake_send
s = HttpSession(base_url="http://127.0.0.1:9", request_event=events.request, user=None)
s.get("/a")
s.get("/b", headers={"TraceParent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
seen = []
def original(self, method, url, *args, **kwargs):
    seen.append((args, kwargs.get("headers")))
wrapped = rec._with_traceparent(original, 4)
wrapped(None, "GET", "/c")
wrapped(None, "GET", "/d", None, None, False, False, {"x": "1"})
print(json.dumps({"sent": sent, "seen": [[list(a), h] for a, h in seen],
                  "fast_wrapped": hasattr(FastHttpSession.request, "__wrapped__")}))
"""


def test_the_recorder_gives_every_request_a_traceparent_and_logs_its_trace_id(
    tmp_path: Path,
) -> None:
    requests_file = tmp_path / "requests.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", _TRACEPARENT, str(RECORDER)],
        env={**os.environ, **recorder_env(requests_file)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    first = out["sent"][0]["traceparent"]
    version, trace_id, span_id, flags = first.split("-")
    assert (version, len(trace_id), len(span_id), flags) == ("00", 32, 16, "01")
    assert "traceparent" not in out["sent"][1]  # the locustfile's own is kept, not doubled
    lines = [json.loads(x) for x in requests_file.read_text().splitlines()]
    assert [x["trace_id"] for x in lines] == [trace_id, "1" * 32]
    # FastHttpSession wrapped too; a positional headers argument is the caller's, left alone
    assert out["fast_wrapped"]
    (no_args, added), (positional, untouched) = out["seen"]
    assert no_args == [] and added["traceparent"].startswith("00-")
    assert len(positional) == 5 and untouched is None
    off = recorder_env(None, trace_sample=None)
    assert off["STORMPROOF_TRACEPARENT"] == ""


def test_the_load_s_trace_share_sets_the_sampled_flag(tmp_path: Path) -> None:
    for share, flags in ((0.0, {"00"}), (1.0, {"01"})):
        done = subprocess.run(
            [sys.executable, "-c", _TRACEPARENT, str(RECORDER)],
            env={**os.environ, **recorder_env(tmp_path / f"{share}.jsonl", trace_sample=share)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout.splitlines()[-1])
        assert {out["sent"][0]["traceparent"].split("-")[3]} == flags
        assert out["seen"][0][1]["traceparent"].endswith(flags.pop())
