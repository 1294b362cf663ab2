"""Prometheus: its config written from the topology, and "ready" meaning every target is up."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from harness.infra.waiting import wait_for

SCRAPE_INTERVAL = 1.0  # seconds, every job (harness/stack/composefile.py writes 1 s too)


def write_config(path: Path, targets: list[dict], interval: str = f"{SCRAPE_INTERVAL:g}s") -> None:
    """``targets``: dicts with job, address, metrics path and labels (instance, service)."""
    jobs: dict[str, dict] = {}
    for t in targets:
        job = jobs.setdefault(
            t["job"],
            {
                "job_name": t["job"],
                "metrics_path": t.get("path", "/metrics"),
                "scrape_interval": interval,
                "scrape_timeout": "900ms",
                "static_configs": [],
            },
        )
        job["static_configs"].append({"targets": [t["address"]], "labels": t.get("labels", {})})
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": list(jobs.values()),
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def command(binary: str, config: Path, data: Path, port: int) -> list[str]:
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=2d",
        "--log.level=warn",
    ]


def _query(client: httpx.Client, url: str, params: dict[str, str]) -> list[dict]:
    r = client.get(url + "/api/v1/query", params=params)
    r.raise_for_status()
    return r.json()["data"]["result"]


def targets_up(url: str, expected: int, client: httpx.Client) -> bool:
    """True once ``expected`` targets each have a sample of up == 1."""
    return len(_query(client, url, {"query": "up == 1"})) >= expected


def wait_targets_up(
    url: str, expected: int, timeout: float, alive: Callable[[], str | None]
) -> float:
    """Poll until every target has a sample of up == 1 (one client for every poll: a new one
    costs ~25 ms of CPU, taken from the instances starting beside it)."""
    with httpx.Client(timeout=2.0) as client:
        return wait_for(
            f"Prometheus scraping all {expected} targets",
            lambda: targets_up(url, expected, client),
            timeout,
            every=0.1,
            alive=alive,
        )


def fewest_scrapes_since(url: str, since: float, client: httpx.Client) -> int:
    """The fewest samples of ``up`` that any target has stamped at or after ``since`` (unix s).

    A sample's timestamp is when its scrape began, so a sample stamped after ``since`` read
    the target's counters after that moment. A target with no such sample counts 0.
    """
    now = time.time()
    # rounded down, less 1 ms for `now` sent to the millisecond: never reaches before `since`
    window_ms = int((now - since) * 1000) - 1
    if window_ms <= 0:
        return 0
    query = f"count_over_time(up[{window_ms}ms]) or (up * 0)"
    counts = [
        int(float(s["value"][1]))
        for s in _query(client, url, {"query": query, "time": f"{now:.3f}"})
    ]
    return min(counts) if counts else 0


def wait_scrapes_since(
    url: str, since: float, scrapes: int = 2, timeout: float = 10.0, every: float = 0.1
) -> bool:
    """Poll until every target has ``scrapes`` samples stamped at or after ``since``: the data
    then holds the state of that moment, whatever the scrapes' phase. False after ``timeout``
    (Prometheus unreachable, or a scrape loop stalled); the caller says so in the journal."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            try:
                if fewest_scrapes_since(url, since, client) >= scrapes:
                    return True
            except (httpx.HTTPError, KeyError, ValueError):
                pass  # unreachable or an odd answer: keep polling until the deadline
            if time.monotonic() >= deadline:
                return False
            time.sleep(every)
