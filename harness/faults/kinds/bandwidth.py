"""bandwidth: a link's throughput capped (Toxiproxy `bandwidth` toxic)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt

from harness.faults.base import TOXIC_FLAGS, FaultKind, Flag, ToxicFaultModel
from harness.faults.network import toxic


class BandwidthFault(ToxicFaultModel):
    kind: Literal["bandwidth"]
    rate_kbps: StrictInt = Field(ge=0)


KIND = FaultKind(
    name="bandwidth",
    model=BandwidthFault,
    driver=toxic("bandwidth", lambda rate_kbps: {"rate": rate_kbps}),
    scope="link",
    summary="bandwidth limit on a link",
    fields="`rate_kbps`",
    flags=(
        Flag("--rate-kbps", "rate_kbps", int, "bandwidth in KB/s", required=True),
        *TOXIC_FLAGS,
    ),
    random_params={"rate_kbps": 1},
)
