"""Which instances of a service are alive, and the address this caller must use for each.

Alive instances come from etcd (a prefix read every ``discovery_refresh`` seconds); the address
goes through this caller's link map (its Toxiproxy listeners) and falls back to the registered
address. When the registry is unreachable or suddenly empty, the last known set is kept:
deletes are honoured only while the registry answers with a non-empty view.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from target_system.shoplib import metrics as m
from target_system.shoplib.config import ShopConfig
from target_system.shoplib.etcd import PREFIX, Etcd, EtcdError

log = logging.getLogger("shop.discovery")


@dataclass(frozen=True)
class Endpoint:
    instance: str
    address: str


class Discovery:
    def __init__(self, cfg: ShopConfig, etcd: Etcd | None, services: list[str]) -> None:
        self.cfg = cfg
        self.etcd = etcd
        self.services = services
        self._known: dict[str, dict[str, str]] = {s: {} for s in services}
        self._ever: dict[str, set[str]] = {s: set() for s in services}
        self._task: asyncio.Task | None = None
        if etcd is None:
            for service, addrs in cfg.peers.items():
                if service in self._known:
                    self._known[service] = {f"{service}-{i + 1}": a for i, a in enumerate(addrs)}
            self._publish()

    async def start(self) -> None:
        if self.etcd is None:
            return
        await self.refresh()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.discovery_refresh)
            await self.refresh()

    async def refresh(self) -> None:
        assert self.etcd is not None
        for service in self.services:
            try:
                records = await self.etcd.list(f"{PREFIX}{service}/")
            except EtcdError:
                m.DISCOVERY_RESOLVE_FAILURES.labels(self.cfg.service, service).inc()
                continue
            current = {r["instance"]: r["address"] for r in records if "instance" in r}
            if not current and self._known[service]:
                # A registry that suddenly lists nothing is more likely sick than right.
                continue
            if self.cfg.has_bug("stale_discovery"):
                current = {**self._known[service], **current}
            self._known[service] = current
        self._publish()

    def _publish(self) -> None:
        for service, known in self._known.items():
            m.DISCOVERY_INSTANCES.labels(self.cfg.service, service).set(len(known))
            for inst in self._ever[service] | set(known):
                m.DISCOVERY_SEEN.labels(self.cfg.service, service, inst).set(
                    1 if inst in known else 0
                )
            self._ever[service] |= set(known)

    def endpoints(self, service: str) -> list[Endpoint]:
        known = self._known.get(service, {})
        return [
            Endpoint(inst, self.cfg.links.get(inst, addr)) for inst, addr in sorted(known.items())
        ]
