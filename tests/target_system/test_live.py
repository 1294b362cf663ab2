"""Live settings: parsing, applying whole or not at all, the version, the watch and its bug."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from target_system.shoplib.breaker import CircuitBreaker
from target_system.shoplib.client import ServiceClient
from target_system.shoplib.config import ConfigError, ShopConfig
from target_system.shoplib.live import LIVE_KEYS, LiveConfig, parse_values


def cfg(**kw) -> ShopConfig:
    return ShopConfig(service="orders", instance="orders-1", port=1, data_dir=Path(), **kw)


def rejections() -> float:
    return REGISTRY.get_sample_value("shop_config_rejections_total") or 0.0


def version() -> float | None:
    return REGISTRY.get_sample_value("shop_config_version")


def test_values_parse_to_their_fields() -> None:
    assert parse_values(
        {"call_timeout": "3", "retry_attempts": "5", "gateway_stock_check": "false"}
    ) == {"call_timeout": 3.0, "retry_attempts": 5, "gateway_stock_check": False}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"call_timeout": "3s"}, "call_timeout: expected a number"),
        ({"call_timeout": "0"}, "call_timeout: expected a value above 0"),
        ({"retry_attempts": "2.5"}, "retry_attempts: expected an integer"),
        ({"breaker_failure_rate": "1.5"}, "breaker_failure_rate: expected a ratio"),
        ({"gateway_stock_check": "maybe"}, "gateway_stock_check: expected true or false"),
        ({"retry_base": "nan"}, "retry_base: expected a finite non-negative number"),
        ({"no_such": "1"}, "no_such: not a live setting (known: call_timeout, "),
    ],
)
def test_a_bad_value_names_its_key(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_values(values)
    assert message in str(err.value)


def test_a_change_is_applied_whole_with_its_revision_as_the_version() -> None:
    live = LiveConfig(cfg())
    seen: list[ShopConfig] = []
    live.on_change(seen.append)
    assert live.offer(7, {"call_timeout": ("3", 7), "retry_attempts": ("5", 7)})
    assert (live.version, live.current.call_timeout, live.current.retry_attempts) == (7, 3.0, 5)
    assert version() == 7 and seen == [live.current]
    # nothing new in the store: no re-apply, even though etcd's revision moved on
    assert not live.offer(9, {"call_timeout": ("3", 7), "retry_attempts": ("5", 7)})
    assert live.version == 7


def test_a_bad_value_rejects_the_whole_change_once_and_keeps_the_old_settings() -> None:
    live = LiveConfig(cfg())
    live.offer(5, {"call_timeout": ("2", 5)})
    before = rejections()
    change = {"call_timeout": ("4", 8), "retry_attempts": ("lots", 8)}
    assert not live.offer(8, change)
    assert (live.version, live.current.call_timeout, live.current.retry_attempts) == (5, 2.0, 3)
    assert rejections() == before + 1 and version() == 5
    assert not live.offer(9, change)  # the same bad change is not counted again
    assert rejections() == before + 1
    assert live.offer(10, {"call_timeout": ("4", 10)})  # fixed: applied
    assert (live.version, live.current.call_timeout) == (10, 4.0)


def test_a_deleted_key_brings_back_the_environments_value() -> None:
    live = LiveConfig(cfg(call_timeout=1.5))
    live.offer(3, {"call_timeout": ("3", 3)})
    assert live.offer(4, {})
    assert (live.version, live.current.call_timeout) == (4, 1.5)


def test_a_rejection_is_logged_by_key_without_its_value(caplog) -> None:
    live = LiveConfig(cfg())
    live.offer(2, {"retry_attempts": ("s3cr3t-looking", 2)})
    text = caplog.text
    assert "retry_attempts" in text and "rejected" in text and "s3cr3t-looking" not in text


def test_the_client_takes_new_breaker_thresholds_and_timeouts_live() -> None:
    live = LiveConfig(cfg())
    client = ServiceClient(live, discovery=None, session=None)  # type: ignore[arg-type]
    br: CircuitBreaker = client.breaker("payments", "payments-1")
    assert (client.cfg.call_timeout, br.min_calls) == (1.0, 5)
    live.offer(4, {"call_timeout": ("3", 4), "breaker_min_calls": ("9", 4)})
    assert (client.cfg.call_timeout, br.min_calls) == (3.0, 9)


class FakeEtcd:
    def __init__(self) -> None:
        self.revision = 1
        self.kvs: dict[str, tuple[str, int]] = {}
        self.reads = 0

    def put(self, key: str, value: str) -> None:
        self.revision += 1
        self.kvs[key] = (value, self.revision)

    async def read_prefix(self, prefix: str) -> tuple[int, dict[str, tuple[str, int]]]:
        self.reads += 1
        return self.revision, {k: v for k, v in self.kvs.items() if k.startswith(prefix)}


async def _watch_then(live: LiveConfig, etcd: FakeEtcd) -> None:
    await live.read(etcd)  # type: ignore[arg-type]
    task = asyncio.create_task(live.watch(etcd))  # type: ignore[arg-type]
    etcd.put("/shop/config/call_timeout", "3")
    await asyncio.sleep(0.1)
    task.cancel()


def test_the_watch_applies_a_change_without_a_restart() -> None:
    live, etcd = LiveConfig(cfg(config_poll=0.01)), FakeEtcd()
    asyncio.run(_watch_then(live, etcd))
    assert (live.version, live.current.call_timeout) == (2, 3.0)


def test_the_bug_config_on_restart_only_reads_at_start_and_never_again() -> None:
    live = LiveConfig(cfg(config_poll=0.01, bugs=frozenset({"config_on_restart_only"})))
    etcd = FakeEtcd()
    asyncio.run(_watch_then(live, etcd))
    assert (live.version, live.current.call_timeout, etcd.reads) == (1, 1.0, 1)


def test_the_topology_declares_the_live_keys_and_prefix_the_shop_reads() -> None:
    from harness.topology import bundled_topology_path, load_topology

    config = load_topology(bundled_topology_path()).config
    assert config is not None
    assert config.keys == {k: kind for k, (kind, _) in LIVE_KEYS.items()}
    assert config.prefix == cfg().config_prefix
    assert config.version_metric == "shop_config_version"


def test_live_keys_are_fields_with_environment_defaults() -> None:
    env = {"SHOP_SERVICE": "gateway", "SHOP_PORT": "1", "SHOP_DATA_DIR": "/tmp/x"}
    base = ShopConfig.from_env({**env, "SHOP_GATEWAY_STOCK_CHECK": "off"})
    assert base.gateway_stock_check is False
    for key in LIVE_KEYS:
        assert hasattr(base, key), key
