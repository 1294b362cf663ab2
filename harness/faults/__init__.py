"""Fault drivers: ``KINDS`` maps a kind's name to its driver, from the kind registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.backend import StackBackend
from harness.faults.base import Fault
from harness.faults.kinds import FAULT_KINDS

KINDS: dict[str, Callable[..., Fault]] = {name: k.driver for name, k in FAULT_KINDS.items()}

__all__ = ["KINDS", "Fault", "make"]


def make(stack: StackBackend, kind: str, **params: Any) -> Fault:
    return KINDS[kind](stack, **params)
