"""Prometheus: its config written from the topology, and "ready" meaning every target is up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from harness.infra.waiting import wait_for


def write_config(path: Path, targets: list[dict], interval: str = "1s") -> None:
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
