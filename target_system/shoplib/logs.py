"""JSON log lines on stderr, with the saga id on every line about a saga and the trace id on
every line written inside a recorded span."""

from __future__ import annotations

import json
import logging
import sys
import time

from target_system.shoplib.config import ShopConfig
from target_system.shoplib.tracing import current_trace_id


class _Json(logging.Formatter):
    def __init__(self, cfg: ShopConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "service": self.cfg.service,
            "instance": self.cfg.instance,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        saga = getattr(record, "saga_id", None)
        if saga:
            line["saga_id"] = saga
        trace_id = current_trace_id()
        if trace_id:
            line["trace_id"] = trace_id
        return json.dumps(line)


def setup_logging(cfg: ShopConfig, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Json(cfg))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
