"""Fault drivers, one module per family; ``KINDS`` maps a kind's name to its constructor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.faults import network, process, registry
from harness.faults.base import Fault

KINDS: dict[str, Callable[..., Fault]] = {
    "latency": network.latency,
    "bandwidth": network.bandwidth,
    "blackhole": network.blackhole,
    "reset_peer": network.reset_peer,
    "slow_close": network.slow_close,
    "slicer": network.slicer,
    "limit_data": network.limit_data,
    "down": network.Down,
    "partition": network.Partition,
    "crash": process.Crash,
    "stop": process.Stop,
    "pause": process.Pause,
    "restart": process.Restart,
    "registry_outage": registry.RegistryOutage,
}

__all__ = ["KINDS", "Fault", "make"]


def make(stack: Any, kind: str, **params: Any) -> Fault:
    return KINDS[kind](stack, **params)
