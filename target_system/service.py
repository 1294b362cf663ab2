"""Run one shop instance: ``python -m target_system.service`` with SHOP_* settings."""

from __future__ import annotations

import sys

from target_system.shoplib.app import make_app, run
from target_system.shoplib.config import ConfigError, ShopConfig
from target_system.shoplib.logs import setup_logging


def build(cfg: ShopConfig):
    from target_system.services import gateway, orders, participants

    app, ctx = make_app(cfg)
    if cfg.service == "gateway":
        gateway.gateway(app, cfg, ctx)
    elif cfg.service == "orders":
        orders.orders(app, cfg, ctx)
    else:
        getattr(participants, cfg.service)(app, cfg)
    return app


def main() -> int:
    try:
        cfg = ShopConfig.from_env()
    except ConfigError as exc:
        print(f"target_system: {exc}", file=sys.stderr)
        return 2
    setup_logging(cfg)
    run(cfg, build(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
