"""slow_close: a link's connections closed late (Toxiproxy `slow_close` toxic)."""

from __future__ import annotations

from typing import Literal

from harness.durations import Duration
from harness.faults.base import TOXIC_FLAGS, FaultKind, Flag, ToxicFaultModel
from harness.faults.network import ms, toxic


class SlowCloseFault(ToxicFaultModel):
    kind: Literal["slow_close"]
    delay: Duration


KIND = FaultKind(
    name="slow_close",
    model=SlowCloseFault,
    driver=toxic("slow_close", lambda delay: {"delay": ms(delay)}),
    scope="link",
    summary="delayed connection close (Toxiproxy slow_close toxic)",
    fields="`delay`",
    flags=(
        Flag("--delay-ms", "delay", float, "delay in ms", required=True, scale=0.001),
        *TOXIC_FLAGS,
    ),
    random_params={"delay": "2s"},
)
