"""Registration of this instance in etcd: a key under a lease, kept alive by its own task."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from target_system.shoplib.config import ShopConfig
from target_system.shoplib.etcd import PREFIX, Etcd, EtcdError

log = logging.getLogger("shop.registry")


class Registration:
    def __init__(self, cfg: ShopConfig, etcd: Etcd, address: str, incarnation: str) -> None:
        self.cfg = cfg
        self.etcd = etcd
        self.key = f"{PREFIX}{cfg.service}/{cfg.instance}"
        self.value = json.dumps(
            {
                "service": cfg.service,
                "instance": cfg.instance,
                "address": address,
                "incarnation": incarnation,
            }
        )
        self.lease: str | None = None
        self._ever_registered = False
        self._task: asyncio.Task | None = None
        self._healthy = True

    async def _register(self) -> None:
        self.lease = await self.etcd.grant(self.cfg.lease_ttl)
        await self.etcd.put(self.key, self.value, self.lease)
        self._ever_registered = True

    async def start(self) -> None:
        try:
            await self._register()
        except EtcdError as exc:
            log.warning("registry unreachable at start, will keep trying: %s", exc)
            self.lease = None
        self._task = asyncio.create_task(self._keepalive())

    async def _keepalive(self) -> None:
        period = max(0.5, self.cfg.lease_ttl / 3)
        while True:
            await asyncio.sleep(period)
            try:
                if self.lease is None or not await self.etcd.keepalive(self.lease):
                    if self.cfg.has_bug("lease_not_renewed") and self._ever_registered:
                        continue  # the bug: a lost lease is never taken again
                    # The lease is gone (expired during an outage): take a new one.
                    await self._register()
                    log.info("registered again with a new lease")
                if not self._healthy:
                    log.info("registry reachable again")
                self._healthy = True
            except EtcdError as exc:
                if self._healthy:
                    log.warning("registry keepalive failed: %s", exc)
                self._healthy = False

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.lease is not None:
            # a revoke that fails is harmless: the lease expires by itself
            with contextlib.suppress(EtcdError):
                await self.etcd.revoke(self.lease)
