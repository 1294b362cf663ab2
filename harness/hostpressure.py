"""Host pressure over a run: Linux PSI (``/proc/pressure/{cpu,io}``) sampled in the background,
saved as ``host_pressure.csv``.

One row per sample: the time and the kernel's cumulative stall counters in microseconds
(``cpu_some``, ``io_some``, ``io_full``: time during which some, or every, non-idle task waited
for a CPU or for IO). The overload rule (``harness.checks.host``) turns consecutive samples into
the share of each interval the host stalled (``harness.records.pressure_shares``); the kernel's
own 10 s averages are too smooth for a half-second stall. A host without PSI (kernel older than
4.20, or ``psi=0``) is recorded as not measured, with the reason, never as zero pressure.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.records import PRESSURE_COLUMNS

PSI_DIR = Path("/proc/pressure")


def parse_psi(text: str) -> dict[str, int]:
    """``some avg10=0.00 ... total=123`` lines -> {"some": 123, "full": ...} (microseconds)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        for item in rest.split():
            key, _, value = item.partition("=")
            if key == "total" and value.isdigit():
                out[kind] = int(value)
    return out


def read_psi(root: Path = PSI_DIR) -> dict[str, int]:
    """One sample: cpu_some, io_some, io_full totals. Raises OSError when PSI is absent."""
    cpu = parse_psi((root / "cpu").read_text(encoding="ascii"))
    io = parse_psi((root / "io").read_text(encoding="ascii"))
    if "some" not in cpu or "some" not in io or "full" not in io:
        raise OSError(f"{root}: no 'total=' in the cpu or io pressure lines")
    return {"cpu_some": cpu["some"], "io_some": io["some"], "io_full": io["full"]}


def psi_unavailable(root: Path = PSI_DIR) -> str | None:
    """Why this host's pressure cannot be measured, or None when it can."""
    try:
        read_psi(root)
    except OSError as exc:
        return f"this host has no PSI ({exc})"
    return None


@dataclass
class PressureSampler:
    """Reads PSI every ``interval`` s in a thread; ``save`` writes ``host_pressure.csv``."""

    interval: float = 0.5
    root: Path = PSI_DIR
    rows: list[dict[str, float]] = field(default_factory=list)
    unavailable: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.unavailable = psi_unavailable(self.root)
        if self.unavailable is not None:
            return
        self._thread = threading.Thread(target=self._run, name="psi-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            # one unreadable sample: the next interval is simply longer
            with contextlib.suppress(OSError):
                self.rows.append({"t": time.time(), **read_psi(self.root)})
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def save(self, path: Path) -> str | None:
        """Write the samples; returns why there are none (then no file is written)."""
        if self.unavailable is not None:
            return self.unavailable
        import pandas as pd

        pd.DataFrame(self.rows, columns=list(PRESSURE_COLUMNS)).to_csv(path, index=False)
        return None if len(self.rows) > 1 else "fewer than two samples"
