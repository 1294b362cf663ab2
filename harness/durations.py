"""Human durations: ``500ms``, ``1.5s``, ``30s``, ``2m``, ``1h``; a bare number is seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(value: str | int | float) -> float:
    """Return seconds; raise ValueError with the expected form when ``value`` is not one."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 500ms, 30s or 2m, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a non-negative duration, got {value!r}")
        return float(value)
    m = _RE.match(str(value))
    if not m:
        raise ValueError(f"expected a duration like 500ms, 30s or 2m, got {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}m"
