"""blackhole: data on a link swallowed, the connection held open (Toxiproxy `timeout` toxic).

Named `blackhole` because pytest-timeout owns the `timeout` marker.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.durations import Duration
from harness.faults.base import TOXIC_FLAGS, FaultKind, Flag, ToxicFaultModel
from harness.faults.network import ms, toxic


class BlackholeFault(ToxicFaultModel):
    kind: Literal["blackhole"]
    timeout: Duration = Field(default=0.0, description="0: the connection is never closed")


KIND = FaultKind(
    name="blackhole",
    model=BlackholeFault,
    driver=toxic("timeout", lambda timeout=0.0: {"timeout": ms(timeout)}),
    scope="link",
    summary="black hole on a link (Toxiproxy timeout toxic)",
    fields=(
        "`timeout` (0: never closes). Toxiproxy's `timeout` toxic; named so because "
        "pytest-timeout owns the `timeout` marker"
    ),
    flags=(
        Flag("--timeout-ms", "timeout", float, "timeout in ms (0: never)", 0.0, scale=0.001),
        *TOXIC_FLAGS,
    ),
    random_params={"timeout": 0},
)
