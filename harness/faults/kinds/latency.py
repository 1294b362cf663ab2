"""latency: every byte on a link delayed (Toxiproxy `latency` toxic), with optional jitter."""

from __future__ import annotations

from typing import Literal

from harness.durations import Duration, format_duration
from harness.faults.base import TOXIC_FLAGS, FaultKind, Flag, ToxicFaultModel
from harness.faults.network import ms, toxic


class LatencyFault(ToxicFaultModel):
    kind: Literal["latency"]
    latency: Duration
    jitter: Duration = 0.0

    def extra_markers(self) -> list[str]:
        return ["jitter"] if self.jitter > 0 else []

    def headline(self) -> str:
        return f"latency {format_duration(self.latency)}"


KIND = FaultKind(
    name="latency",
    model=LatencyFault,
    driver=toxic(
        "latency", lambda latency, jitter=0.0: {"latency": ms(latency), "jitter": ms(jitter)}
    ),
    scope="link",
    summary="latency fault on a link (Toxiproxy latency toxic)",
    fields="`latency`, `jitter`, `stream`, `toxicity`",
    flags=(
        Flag("--ms", "latency", float, "latency in ms", required=True, scale=0.001),
        Flag("--jitter", "jitter", float, "latency jitter in ms", 0.0, scale=0.001),
        *TOXIC_FLAGS,
    ),
    random_params={"latency": "1500ms"},
    extra_markers={"jitter": "latency fault with jitter"},
)
