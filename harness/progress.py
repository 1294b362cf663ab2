"""Live progress of a run on the terminal: scenario, phase, time left, throughput, errors, faults.

On a TTY one status line is redrawn in place; elsewhere (CI logs) a line is printed every few
seconds so a long run is never silent. A terminal or pipe that goes away (the reader exited:
``stormproof run ... | head``, a parent killed) silences the progress, never the run: the
journal, the checks and the report do not depend on anyone reading.
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
        self.lost = False  # the stream went away: nothing more is written

    def _write(self, text: str) -> None:
        if self.lost:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (BrokenPipeError, ValueError, OSError):  # closed pipe or file
            self.lost = True

    def say(self, message: str) -> None:
        self._clear()
        self._write(message + "\n")

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
            self._write("\r\x1b[K" + line[:200])
            self._drawn = True
        else:
            self._write(line + "\n")

    def _clear(self) -> None:
        if self._drawn:
            self._write("\r\x1b[K")
            self._drawn = False


class Silent(Progress):
    def say(self, message: str) -> None:
        pass

    def status(self, *args: object, **kwargs: object) -> None:
        pass
