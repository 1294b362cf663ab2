"""Secrets on real processes: payments reads payments_token from a folder the harness's
SecretVolume writes (real files, the ..data symlink swapped by rename), and orders' client code
(ServiceClient with a Credential) calls it over HTTP: grace accepted, old value refused after
it, a 401 after a no-grace rotation reloaded and retried once, and the bug stale_credential
refused for good."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from harness.infra.secrets import SecretVolume
from harness.ports import PortAllocator
from harness.settings import REPO_ROOT
from target_system.shoplib.client import ServiceClient
from target_system.shoplib.config import ShopConfig
from target_system.shoplib.credentials import Credential
from target_system.shoplib.discovery import Endpoint

pytestmark = pytest.mark.integration
NAME = "payments_token"


def _wait(probe, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if probe():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s")


@pytest.fixture(scope="module")
def payments(tmp_path_factory) -> Iterator[tuple[str, SecretVolume, Path]]:
    root = tmp_path_factory.mktemp("secrets")
    volume = SecretVolume(root / "secrets", {NAME: 32})
    volume.create()
    port = PortAllocator().get("payments-1")
    env = {
        **os.environ,
        "SHOP_SERVICE": "payments",
        "SHOP_INSTANCE": "payments-1",
        "SHOP_PORT": str(port),
        "SHOP_DATA_DIR": str(root),
        "SHOP_SECRETS_DIR": str(root / "secrets"),
    }
    log_path = root / "payments-1.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "target_system.service"],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(lambda: httpx.get(url + "/health").status_code == 200, 20, "payments healthy")
            yield url, volume, log_path
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def charge(url: str, token: str | None, saga: str) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = {"saga_id": saga, "customer": "customer-1", "amount": 1}
    return httpx.post(url + "/charges", json=body, headers=headers).status_code


def test_grace_accepts_old_and_new_then_only_new(payments) -> None:
    url, volume, log_path = payments
    old = volume.current()[NAME]
    assert charge(url, None, "s0") == 401
    assert charge(url, "f" * 64, "s1") == 401
    assert charge(url, old, "s2") == 200
    assert httpx.get(url + "/audit").status_code == 200  # the harness's audit needs none

    volume.rotate([NAME], grace=True)
    new = volume.current()[NAME]
    assert new != old and volume.current()[NAME + ".previous"] == old
    assert charge(url, old, "s3") == 200 and charge(url, new, "s4") == 200

    volume.end_grace([NAME])
    assert charge(url, old, "s5") == 401 and charge(url, new, "s6") == 200
    assert "wrong credential" in log_path.read_text()
    for value in volume.values()[NAME]:
        assert value not in log_path.read_text()  # payments never logs one


def _client(url: str, cred: Credential) -> tuple[ServiceClient, aiohttp.ClientSession]:
    cfg = ShopConfig(service="orders", instance="orders-1", port=1, data_dir=Path("."))

    class OnePayments:
        def endpoints(self, service: str) -> list[Endpoint]:
            return [Endpoint("payments-1", url.removeprefix("http://"))]

    session = aiohttp.ClientSession()
    return ServiceClient(cfg, OnePayments(), session, {"payments": cred}), session  # type: ignore[arg-type]


async def _call(url: str, cred: Credential, saga: str) -> int:
    client, session = _client(url, cred)
    try:
        body = {"saga_id": saga, "customer": "customer-1", "amount": 1}
        return (await client.call("payments", "POST", "/charges", body)).status
    finally:
        await session.close()


def test_a_401_after_a_rotation_without_grace_is_reloaded_and_retried_once(payments) -> None:
    url, volume, _ = payments
    cached = Credential(volume.dir)
    stale = Credential(volume.dir, stale=True)
    before = cached.value
    volume.rotate([NAME], grace=False)  # the old value is refused at once
    assert charge(url, before, "t0") == 401
    assert cached.changed() and cached.value == before  # not polled yet: still the old one
    assert asyncio.run(_call(url, cached, "t1")) == 200
    assert cached.value == volume.current()[NAME]
    # the bug: never reloaded, so refused for good
    assert asyncio.run(_call(url, stale, "t2")) == 401
    assert stale.value == before
