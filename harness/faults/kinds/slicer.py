"""slicer: data on a link cut into small packets sent apart (Toxiproxy `slicer` toxic)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt

from harness.faults.base import TOXIC_FLAGS, FaultKind, Flag, ToxicFaultModel
from harness.faults.network import toxic


class SlicerFault(ToxicFaultModel):
    kind: Literal["slicer"]
    average_size: StrictInt = Field(ge=1)
    size_variation: StrictInt = Field(default=0, ge=0)
    delay_us: StrictInt = Field(default=0, ge=0)


KIND = FaultKind(
    name="slicer",
    model=SlicerFault,
    driver=toxic(
        "slicer",
        lambda average_size, size_variation=0, delay_us=0: {
            "average_size": average_size,
            "size_variation": size_variation,
            "delay": delay_us,
        },
    ),
    scope="link",
    summary="responses sliced into small packets (Toxiproxy slicer toxic)",
    fields="`average_size`, `size_variation`, `delay_us`",
    flags=(
        Flag("--average-size", "average_size", int, "average slice size in bytes", 64),
        *TOXIC_FLAGS,
    ),
    random_params={"average_size": 16, "size_variation": 8, "delay_us": 2000},
)
