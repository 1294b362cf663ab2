"""Stormproof's recorder: event listeners loaded by Locust beside the user's own locustfile.

The harness runs ``locust -f USER_LOCUSTFILE,harness/locust_recorder.py``; Locust imports both
and merges them, so the user's locustfile runs exactly as written and nobody copies a hook.
This module defines **no User class** and, unless the scenario gives stages, no shape. It is
never imported by the harness itself (Locust monkey-patches the process with gevent); it
imports only the standard library and Locust.

What it does, each part only when the harness asks for it through the environment:

    STORMPROOF_REQUESTS_FILE  one JSON line per request (start time ``t``, duration ``ms``,
                              ``name``, ``ok``, ``status``, ``error``, ``pid``), plus
                              ``{"event": "spawned"}`` when every user runs: the scenario clock
    STORMPROOF_RATE           requests/s per user: ``wait_time = constant_throughput(rate)`` set
                              on every user class at the init event (unset: the classes' own)
    STORMPROOF_STAGES         JSON list of {"duration": s, "users": n, "spawn_rate": r}: a
                              LoadTestShape that holds each stage for its duration
    STORMPROOF_SEED           seeds Python's ``random`` module at the init event
    STORMPROOF_TRACEPARENT    a share 0-1 (empty: off): every request of an HttpUser or
                              FastHttpUser client carries a W3C ``traceparent`` of its own (a
                              fresh trace id, flagged sampled for that share of the requests)
                              unless the locustfile set one, and its line in the requests file
                              the ``trace_id``: the target's entry span continues Locust's trace
                              (a target that honours the flag records only the sampled ones).
                              Done by wrapping the two client classes' ``request`` method, the
                              one every get/post goes through; the locustfile is not touched.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import threading
import time
from typing import Any

from locust import LoadTestShape, constant_throughput, events

_REQUESTS_FILE = os.environ.get("STORMPROOF_REQUESTS_FILE") or None
_RATE = os.environ.get("STORMPROOF_RATE") or None
_STAGES: list[dict[str, Any]] = json.loads(os.environ.get("STORMPROOF_STAGES") or "[]")
_SEED = os.environ.get("STORMPROOF_SEED") or None
_TRACEPARENT = os.environ.get("STORMPROOF_TRACEPARENT") or ""
_SAMPLE = float(_TRACEPARENT) if _TRACEPARENT else 0.0
# the sampling draws: not the seeded ``random`` sequence the locustfile sees
_draws = random.Random(secrets.randbits(64))
_out = None


class _Current(threading.local):  # greenlet-local: Locust has monkey-patched threading
    trace_id: str | None = None


_current = _Current()


def traceparent(share: float = 1.0) -> tuple[str, str]:
    """A new W3C traceparent, flagged sampled for ``share`` of the calls, and its trace id
    (from ``secrets``: the seeded ``random`` sequence the locustfile sees is left alone)."""
    trace_id = secrets.token_hex(16)
    flags = "01" if share >= 1 or _draws.random() < share else "00"
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}", trace_id


def _with_traceparent(original: Any, headers_at: int | None) -> Any:
    """``request`` adding a traceparent to the headers; ``headers_at``: the index in ``*args``
    where a positional ``headers`` would sit (then nothing is added, it is the caller's)."""

    def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if headers_at is None or len(args) <= headers_at:
            headers = dict(kwargs.get("headers") or {})
            given = next((v for k, v in headers.items() if k.lower() == "traceparent"), None)
            if given is None:
                headers["traceparent"], _current.trace_id = traceparent(_SAMPLE)
                kwargs["headers"] = headers
            else:
                parts = str(given).split("-")
                _current.trace_id = parts[1] if len(parts) == 4 else None
        else:
            _current.trace_id = None
        # kept after the call: with catch_response the request event fires at the with's end
        return original(self, method, url, *args, **kwargs)

    request.__wrapped__ = original  # type: ignore[attr-defined]
    return request


if _TRACEPARENT:
    from locust.clients import HttpSession
    from locust.contrib.fasthttp import FastHttpSession

    HttpSession.request = _with_traceparent(HttpSession.request, None)  # type: ignore[method-assign]
    # FastHttpSession.request(method, url, name, data, catch_response, stream, headers, ...)
    FastHttpSession.request = _with_traceparent(FastHttpSession.request, 4)  # type: ignore[method-assign]


def _write(record: dict[str, Any]) -> None:
    global _out
    if _REQUESTS_FILE is None:
        return
    if _out is None:
        _out = open(_REQUESTS_FILE, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives with the process
    _out.write(json.dumps(record, separators=(",", ":")) + "\n")


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    if _SEED is not None:
        random.seed(int(_SEED))
    if _RATE is not None:
        for user_class in environment.user_classes:
            user_class.wait_time = constant_throughput(float(_RATE))


@events.request.add_listener
def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,  # optional: a non-HTTP client's event carries none (Locust's own
    exception: BaseException | None = None,  # stats listener needs neither)
    start_time: float | None = None,
    **_kw: Any,
) -> None:
    _write(
        {
            "t": start_time if start_time is not None else time.time() - response_time / 1000,
            "ms": round(response_time, 3),
            "name": name,
            "ok": exception is None,
            "status": getattr(response, "status_code", 0) or 0,
            "error": None if exception is None else str(exception)[:200],
            "pid": os.getpid(),
            **({"trace_id": _current.trace_id} if _TRACEPARENT else {}),
        }
    )


@events.spawning_complete.add_listener
def _on_spawned(user_count: int, **_kw: Any) -> None:
    _write({"event": "spawned", "t": time.time(), "users": user_count})


if _STAGES:

    class StormproofStages(LoadTestShape):
        """The scenario's staged load: each stage holds its user count for its duration."""

        def tick(self) -> tuple[int, float] | None:
            elapsed = self.get_run_time()
            for stage in _STAGES:
                if elapsed < stage["duration"]:
                    return stage["users"], stage["spawn_rate"]
                elapsed -= stage["duration"]
            return None
