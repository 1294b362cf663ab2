"""reset_peer: connections on a link reset with a TCP RST (Toxiproxy `reset_peer` toxic)."""

from __future__ import annotations

from typing import Literal

from harness.durations import Duration
from harness.faults.base import TOXIC_FLAGS, FaultKind, Flag, ToxicFaultModel
from harness.faults.network import ms, toxic


class ResetPeerFault(ToxicFaultModel):
    kind: Literal["reset_peer"]
    timeout: Duration = 0.0


KIND = FaultKind(
    name="reset_peer",
    model=ResetPeerFault,
    driver=toxic("reset_peer", lambda timeout=0.0: {"timeout": ms(timeout)}),
    scope="link",
    summary="connection reset (Toxiproxy reset_peer toxic)",
    fields="`timeout`",
    flags=(
        Flag("--timeout-ms", "timeout", float, "timeout in ms (0: never)", 0.0, scale=0.001),
        *TOXIC_FLAGS,
    ),
    random_params={"timeout": 0},
    old_markers=("reset",),
)
