"""Live settings on real processes: one etcd, two shop instances (one with the bug
config_on_restart_only); the harness's etcd client writes the change as a config_change does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.infra.etcd import Etcd, etcd_command
from harness.ports import PortAllocator
from harness.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.integration
PREFIX = "/shop/config/"


def _wait(probe, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if probe():
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[Etcd, dict[str, str]]]:
    root = tmp_path_factory.mktemp("live")
    ports = PortAllocator()
    procs: list[subprocess.Popen] = []
    logs = []
    try:
        etcd_url = f"http://127.0.0.1:{ports.get('client')}"
        procs.append(
            subprocess.Popen(
                etcd_command(
                    Settings().etcd_bin(),
                    "live",
                    str(root / "etcd"),
                    ports.get("client"),
                    ports.get("peer"),
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        etcd = Etcd(etcd_url)
        _wait(etcd.healthy, 20, "etcd healthy")
        urls = {}
        for name, bugs in (("inventory-1", ""), ("inventory-2", "config_on_restart_only")):
            port = ports.get(name)
            env = {
                **os.environ,
                "SHOP_SERVICE": "inventory",
                "SHOP_INSTANCE": name,
                "SHOP_PORT": str(port),
                "SHOP_DATA_DIR": str(root / name),
                "SHOP_ETCD_URL": etcd_url,
                "SHOP_BUGS": bugs,
                "SHOP_CONFIG_POLL": "0.2",
            }
            (root / name).mkdir()
            logs.append(open(root / f"{name}.log", "w"))  # noqa: SIM115 - closed in finally
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "target_system.service"],
                    env=env,
                    cwd=REPO_ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=logs[-1],
                )
            )
            urls[name] = f"http://127.0.0.1:{port}"
        for url in urls.values():
            _wait(lambda u=url: httpx.get(u + "/health").status_code == 200, 20, url)
        yield etcd, urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in logs:
            f.close()


def config(url: str) -> dict:
    return httpx.get(url + "/config").json()


def metric(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported at {url}")


def test_a_change_is_applied_live_and_a_bad_one_rejected_whole(stack) -> None:
    etcd, urls = stack
    good, buggy = urls["inventory-1"], urls["inventory-2"]
    start = config(buggy)["version"]
    assert start > 0 and config(good)["settings"]["call_timeout"] == 1.0

    revision = etcd.write({PREFIX + "call_timeout": "3", PREFIX + "gateway_stock_check": "false"})
    took = _wait(lambda: config(good)["version"] >= revision, 5, "the change applied")
    assert took < 1.0, took  # polled every 0.2 s
    assert config(good)["settings"]["call_timeout"] == 3.0
    assert config(good)["settings"]["gateway_stock_check"] is False
    assert metric(good, "shop_config_version") == config(good)["version"]

    bad = etcd.write({PREFIX + "retry_attempts": "lots", PREFIX + "call_timeout": "5"})
    _wait(lambda: metric(good, "shop_config_rejections_total") == 1, 5, "the rejection")
    assert config(good)["version"] < bad
    assert config(good)["settings"]["call_timeout"] == 3.0  # nothing of it applied

    back = etcd.write({}, [PREFIX + "retry_attempts", PREFIX + "call_timeout"])
    _wait(lambda: config(good)["version"] >= back, 5, "the revert applied")
    assert config(good)["settings"]["call_timeout"] == 1.0  # the environment's value again

    # the bug: the store was read at start and never again
    assert config(buggy)["version"] == start
    assert config(buggy)["settings"]["call_timeout"] == 1.0


def test_the_log_names_keys_never_values(stack, tmp_path_factory) -> None:
    etcd, urls = stack
    url = urls["inventory-1"]
    before = metric(url, "shop_config_rejections_total")
    revision = etcd.write({PREFIX + "retry_attempts": "x-very-distinct-value"})
    _wait(lambda: metric(url, "shop_config_rejections_total") > before, 5, "the rejection")
    etcd.write({}, [PREFIX + "retry_attempts"])
    logs = list(Path(tmp_path_factory.getbasetemp()).glob("live*/inventory-1.log"))
    text = logs[0].read_text()
    assert f"revision {revision} rejected" in text and "retry_attempts" in text
    assert "x-very-distinct-value" not in text
