from pathlib import Path

import pytest

from target_system.shoplib.config import ConfigError, ShopConfig

BASE = {"SHOP_SERVICE": "payments", "SHOP_PORT": "8000", "SHOP_DATA_DIR": "/tmp/x"}


def test_defaults_and_overrides():
    cfg = ShopConfig.from_env(
        {
            **BASE,
            "SHOP_CALL_TIMEOUT": "0.5",
            "SHOP_RETRY_BUDGET": "0.1",
            "SHOP_LINKS": '{"payments-1": "127.0.0.1:9"}',
            "SHOP_BUGS": "retry_storm",
        }
    )
    assert cfg.instance == "payments-1"
    assert cfg.call_timeout == 0.5
    assert cfg.retry_budget_ratio == 0.1
    assert cfg.links == {"payments-1": "127.0.0.1:9"}
    assert cfg.has_bug("retry_storm") and not cfg.has_bug("double_charge")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHOP_SERVICE": "billing"}, "SHOP_SERVICE='billing': expected one of"),
        ({"SHOP_PORT": "eighty"}, "SHOP_PORT='eighty': expected a int"),
        ({"SHOP_BUGS": "no_such_bug"}, "SHOP_BUGS: unknown ['no_such_bug']"),
        ({"SHOP_LINKS": "[1]"}, "SHOP_LINKS: expected a JSON object"),
        ({"SHOP_BREAKER_OPEN_FOR": "-1"}, "SHOP_BREAKER_OPEN_FOR='-1': expected a non-negative"),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=None) as err:
        ShopConfig.from_env({**BASE, **env})
    assert message in str(err.value)


def test_topology_declares_the_shops_own_call_timeouts() -> None:
    from harness.topology import bundled_topology_path, load_topology

    cfg = ShopConfig(service="orders", instance="orders-1", port=1, data_dir=Path())
    declared = {str(lk): lk.timeout for lk in load_topology(bundled_topology_path()).links}
    assert declared == {
        "gateway->orders": cfg.gateway_timeout,
        "gateway->inventory": cfg.call_timeout,
        "orders->inventory": cfg.call_timeout,
        "orders->payments": cfg.call_timeout,
        "orders->shipping": cfg.call_timeout,
    }


def test_every_bug_switch_has_a_selftest_scenario() -> None:
    from harness.selftest import known_bugs
    from target_system.shoplib.config import BUGS

    known = known_bugs()  # the bundled topology's profile.bugs
    assert known.env == "SHOP_BUGS"
    assert set(known.scenarios) == set(BUGS)
    bundled = {p.stem for p in (Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml")}
    assert {s for names in known.scenarios.values() for s in names} <= bundled
