"""Human durations: ``500ms``, ``1.5s``, ``30s``, ``2m``, ``1h``; a bare number is seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

MAX_SECONDS = 86_400.0  # a day: longer is a typo, and Toxiproxy takes milliseconds as int32
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(value: str | int | float) -> float:
    """Return seconds; raise ValueError with the expected form when ``value`` is not one."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 500ms, 30s or 2m, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"expected a non-negative duration, got {value!r}")
        seconds = float(value)
    else:
        m = _RE.match(str(value)[:64])
        if not m or len(str(value)) > 64:
            raise ValueError(f"expected a duration like 500ms, 30s or 2m, got {str(value)[:64]!r}")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds > MAX_SECONDS:
        raise ValueError(f"expected a duration of at most 24h, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}m"


# ---------------------------------------------------------------------------- as a field type


def _duration(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value  # let pydantic reject booleans with its own message
    if isinstance(value, int | float | str):
        return parse_duration(value)
    return value


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"},
        {"type": "number", "minimum": 0},
    ],
    "description": "a duration: 500ms, 1.5s, 30s, 2m, or a number of seconds",
}
Duration = Annotated[float, BeforeValidator(_duration), WithJsonSchema(_DURATION_SCHEMA)]
PositiveDuration = Annotated[
    float, Field(gt=0), BeforeValidator(_duration), WithJsonSchema(_DURATION_SCHEMA)
]
