"""Live progress of a run on the terminal: scenario, phase, time left, throughput, errors, faults.

On a TTY one status line is redrawn in place; elsewhere (CI logs) a line is printed every few
seconds so a long run is never silent.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, interval: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if interval is not None else (0.5 if self.tty else 5.0)
        self._last = 0.0
        self._drawn = False

    def say(self, message: str) -> None:
        self._clear()
        print(message, file=self.stream, flush=True)

    def status(
        self,
        scenario: str,
        phase: str,
        elapsed: float,
        total: float,
        rps: float,
        error_rate: float,
        faults: list[str],
    ) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        active = ", ".join(faults) if faults else "none"
        line = (
            f"  {scenario} | {phase:<10} {elapsed:5.1f}/{total:.0f}s | "
            f"{rps:6.1f} req/s, {error_rate * 100:5.1f}% errors | faults: {active}"
        )
        if self.tty:
            self.stream.write("\r\x1b[K" + line[:200])
            self.stream.flush()
            self._drawn = True
        else:
            print(line, file=self.stream, flush=True)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False


class Silent(Progress):
    def say(self, message: str) -> None:
        pass

    def status(self, *args: object, **kwargs: object) -> None:
        pass
