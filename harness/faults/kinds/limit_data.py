"""limit_data: connections closed after a number of bytes (Toxiproxy `limit_data` toxic)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt

from harness.faults.base import TOXIC_FLAGS, FaultKind, Flag, ToxicFaultModel
from harness.faults.network import toxic


class LimitDataFault(ToxicFaultModel):
    kind: Literal["limit_data"]
    bytes: StrictInt = Field(ge=0)


KIND = FaultKind(
    name="limit_data",
    model=LimitDataFault,
    driver=toxic("limit_data", lambda bytes: {"bytes": bytes}),
    scope="link",
    summary="connection closed after N bytes (Toxiproxy limit_data toxic)",
    fields="`bytes`",
    flags=(
        Flag("--bytes", "bytes", int, "bytes let through", required=True),
        *TOXIC_FLAGS,
    ),
    random_params={"bytes": 64},
)
