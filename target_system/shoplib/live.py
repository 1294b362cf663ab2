"""Live settings: a few of ShopConfig's fields read from etcd and applied without a restart.

Every instance reads the keys under ``cfg.config_prefix`` (``/shop/config/<key>``, one plain
text value per key) every ``cfg.config_poll`` seconds through the v3 JSON gateway. The
environment gives the start-up values; a key in the store overrides its field, and a key
deleted from the store brings the environment's value back.

A change is applied whole or not at all: every value is parsed first, and one that does not
parse (or a key that is not a live setting) rejects the whole change, logged with the key and
counted in ``shop_config_rejections_total``; the instance keeps what it had. The version an
instance applied is the etcd revision of the read that brought the change, exported as
``shop_config_version``: after a write at revision R, an instance that applied it reports a
version >= R. Values are logged by key only (there are no secrets among them yet, but a
config log line is where a future one would leak).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from target_system.shoplib import metrics as m
from target_system.shoplib.config import ConfigError, ShopConfig
from target_system.shoplib.etcd import Etcd, EtcdError

log = logging.getLogger("shop.config")


# Parsers raise ValueError with messages of their own, never Python's (which quote the value):
# a rejection is logged, and a log line must not carry a value.
def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError("expected a finite non-negative number")
    return value


def _integer(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("expected an integer") from None
    if value < 0:
        raise ValueError("expected a non-negative integer")
    return value


def _positive(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def check(raw: str) -> Any:
        value = parse(raw)
        if value <= 0:
            raise ValueError("expected a value above 0")
        return value

    return check


def _ratio(raw: str) -> float:
    value = _number(raw)
    if value > 1:
        raise ValueError("expected a ratio between 0 and 1")
    return value


def _boolean(raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected true or false")


# key in the store (= ShopConfig field) -> (its type's name, the parser of its text value).
# The same keys and types are in target_system/topology.yaml (`config: keys:`), which the
# harness validates config_change faults against; tests/target_system/test_live.py keeps the
# two equal.
LIVE_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "call_timeout": ("number", _positive(_number)),
    "retry_attempts": ("integer", _positive(_integer)),
    "retry_base": ("number", _number),
    "retry_max": ("number", _number),
    "retry_budget_ratio": ("number", _number),
    "breaker_window": ("number", _positive(_number)),
    "breaker_min_calls": ("integer", _positive(_integer)),
    "breaker_failure_rate": ("number", _ratio),
    "breaker_open_for": ("number", _number),
    "gateway_stock_check": ("boolean", _boolean),
}


def parse_values(values: dict[str, str]) -> dict[str, Any]:
    """Store values (key -> text) as ShopConfig fields; ConfigError naming every bad key."""
    out: dict[str, Any] = {}
    problems = []
    for key, raw in sorted(values.items()):
        spec = LIVE_KEYS.get(key)
        if spec is None:
            problems.append(f"{key}: not a live setting (known: {', '.join(LIVE_KEYS)})")
            continue
        try:
            out[key] = spec[1](raw)
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    if problems:
        raise ConfigError("; ".join(problems))
    return out


Listener = Callable[[ShopConfig], None]


class LiveConfig:
    """The settings in force: the environment's, overlaid by the store's last good read."""

    def __init__(self, base: ShopConfig) -> None:
        self.base = base
        self.current = base
        self.version = 0  # the etcd revision applied; 0: the environment's values only
        self.listeners: list[Listener] = []
        self._seen: dict[str, tuple[str, int]] | None = None  # key -> (value, mod_revision)
        m.CONFIG_VERSION.set(0)

    @property
    def prefix(self) -> str:
        return self.base.config_prefix

    def on_change(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def offer(self, revision: int, kvs: dict[str, tuple[str, int]]) -> bool:
        """One read of the store (etcd revision, key -> (value, mod revision)), keys relative
        to the prefix. True when it brought a change that was applied."""
        if kvs == self._seen:
            return False  # nothing changed since the last read (applied or rejected)
        self._seen = dict(kvs)
        values = {k: v for k, (v, _) in kvs.items()}
        try:
            parsed = parse_values(values)
        except ConfigError as exc:
            m.CONFIG_REJECTIONS.inc()
            log.warning(
                "config change at revision %d rejected, keeping version %d: %s",
                revision,
                self.version,
                exc,
            )
            return False
        new = dataclasses.replace(self.base, **parsed)
        changed = sorted(
            f.name
            for f in dataclasses.fields(new)
            if getattr(new, f.name) != getattr(self.current, f.name)
        )
        self.current = new
        self.version = revision
        m.CONFIG_VERSION.set(revision)
        for listener in self.listeners:
            listener(new)
        log.info(
            "config version %d applied; changed: %s; from the store: %s",
            revision,
            ", ".join(changed) or "nothing",
            ", ".join(sorted(parsed)) or "no key",
        )
        return True

    async def read(self, etcd: Etcd) -> None:
        revision, kvs = await etcd.read_prefix(self.prefix)
        self.offer(revision, {k[len(self.prefix) :]: v for k, v in kvs.items()})

    async def watch(self, etcd: Etcd) -> None:
        """Poll the store; the bug ``config_on_restart_only`` reads it once at start only."""
        while True:
            await asyncio.sleep(self.base.config_poll)
            if self.base.has_bug("config_on_restart_only"):
                continue  # the bug: a change waits for the next restart
            try:
                await self.read(etcd)
            except EtcdError as exc:
                log.debug("config read failed, keeping version %d: %s", self.version, exc)
