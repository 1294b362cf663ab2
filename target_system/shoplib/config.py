"""Settings of one shop instance, read from SHOP_* environment variables (and only here)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

BUGS = (
    "no_compensation",  # no compensation when payment fails
    "double_charge",  # a retried charge charges again
    "breaker_disabled",  # calls never go through a breaker
    "breaker_stuck_open",  # an open breaker never half-opens
    "retry_storm",  # retries with no backoff and no budget
    "stale_discovery",  # the discovery cache never drops an instance
    "no_redrive",  # orders does not re-drive in-flight sagas after a restart
    "lease_not_renewed",  # a lease lost in a registry outage is never taken again
    "no_call_timeout",  # service-to-service calls wait for an answer forever
    "compensation_gives_up",  # a compensation that failed counts as done
    "reserve_not_idempotent",  # inventory applies a retried reservation again
    "breaker_per_service",  # one breaker per callee service, not per instance
    "config_on_restart_only",  # settings from the store read once at start, never watched
    "stale_credential",  # orders never reloads a rotated payments credential
    "logs_secret",  # orders logs the credential it reloads after a rotation
)
SERVICES = ("gateway", "orders", "inventory", "payments", "shipping")


_ENV_NAMES = {"retry_budget_ratio": "RETRY_BUDGET"}


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class ShopConfig:
    service: str
    instance: str
    port: int
    data_dir: Path
    host: str = "127.0.0.1"
    etcd_url: str | None = None
    otlp_endpoint: str | None = None  # OTLP/HTTP base URL traces go to; unset: no tracing
    # share of the traces this service starts itself (a request with no sampled traceparent)
    trace_sample: float = 1.0
    advertise: str | None = None  # the address registered; default host:port
    links: dict[str, str] = field(default_factory=dict)
    peers: dict[str, list[str]] = field(default_factory=dict)
    bugs: frozenset[str] = frozenset()
    lease_ttl: float = 5.0
    call_timeout: float = 1.0
    gateway_timeout: float = 8.0
    order_wait: float = 5.0
    retry_attempts: int = 3
    retry_base: float = 0.05
    retry_max: float = 0.5
    retry_budget_ratio: float = 0.2
    breaker_window: float = 3.0
    breaker_min_calls: int = 5
    breaker_failure_rate: float = 0.5
    breaker_open_for: float = 2.0
    discovery_refresh: float = 0.5
    redrive_every: float = 1.0
    gateway_stock_check: bool = True  # the gateway asks inventory for stock before ordering
    config_prefix: str = "/shop/config/"  # where the live settings live in etcd
    config_poll: float = 0.5  # how often the store is read for a change
    secrets_dir: Path | None = None  # SHOP_SECRETS_DIR: payments_token lives here; None: no auth
    secret_poll: float = 1.0  # how often a caller checks the secrets folder for a rotation

    def has_bug(self, name: str) -> bool:
        return name in self.bugs

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ShopConfig:
        env = os.environ if env is None else env

        def get(name: str, default: str | None = None) -> str | None:
            value = env.get("SHOP_" + name)
            return default if value in (None, "") else value

        def need(name: str) -> str:
            value = get(name)
            if value is None:
                raise ConfigError(f"SHOP_{name} is required")
            return value

        service = need("SERVICE")
        if service not in SERVICES:
            raise ConfigError(f"SHOP_SERVICE={service!r}: expected one of {', '.join(SERVICES)}")
        values: dict[str, object] = {
            "service": service,
            "instance": get("INSTANCE", f"{service}-1"),
            "port": _num("PORT", need("PORT"), int),
            "data_dir": Path(need("DATA_DIR")),
            "host": get("HOST", "127.0.0.1"),
            "etcd_url": get("ETCD_URL"),
            "otlp_endpoint": get("OTLP_ENDPOINT"),
            "advertise": get("ADVERTISE"),
            "links": _json_map("LINKS", get("LINKS", "{}")),
            "peers": _json_map("PEERS", get("PEERS", "{}")),
            "secrets_dir": None if get("SECRETS_DIR") is None else Path(need("SECRETS_DIR")),
        }
        bugs = {b.strip() for b in (get("BUGS", "") or "").split(",") if b.strip()}
        unknown = bugs - set(BUGS)
        if unknown:
            raise ConfigError(f"SHOP_BUGS: unknown {sorted(unknown)}; known: {', '.join(BUGS)}")
        values["bugs"] = frozenset(bugs)
        for f in fields(cls):
            if f.name in values or f.name == "bugs":
                continue
            var = _ENV_NAMES.get(f.name, f.name.upper())
            raw = get(var)
            if raw is None:
                continue
            if isinstance(f.default, bool):
                values[f.name] = _bool(var, raw)
            elif isinstance(f.default, str):
                values[f.name] = raw
            else:
                kind = int if isinstance(f.default, int) else float
                values[f.name] = _num(var, raw, kind)
        cfg = cls(**values)  # type: ignore[arg-type]
        token = None if cfg.secrets_dir is None else cfg.secrets_dir / "payments_token"
        if token is not None and service in ("orders", "payments") and not token.is_file():
            raise ConfigError(f"SHOP_SECRETS_DIR={cfg.secrets_dir}: no payments_token file in it")
        if cfg.trace_sample > 1:
            raise ConfigError(f"SHOP_TRACE_SAMPLE={cfg.trace_sample}: expected a share 0-1")
        if not 0 < cfg.port < 65536:
            raise ConfigError(f"SHOP_PORT={cfg.port}: expected a port number 1-65535")
        return cfg


def _num(name: str, raw: str, kind: type) -> int | float:
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"SHOP_{name}={raw!r}: expected a {kind.__name__}") from None
    if value < 0:
        raise ConfigError(f"SHOP_{name}={raw!r}: expected a non-negative number")
    return value


def _bool(name: str, raw: str) -> bool:
    if raw.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if raw.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"SHOP_{name}={raw!r}: expected true or false")


def _json_map(name: str, raw: str) -> dict:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"SHOP_{name}: expected a JSON object ({exc})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"SHOP_{name}: expected a JSON object")
    return value
