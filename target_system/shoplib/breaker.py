"""A circuit breaker per (caller, callee instance): failure rate over a sliding window.

closed → open when at least ``min_calls`` calls in the last ``window`` seconds failed at a rate
of ``failure_rate`` or more; open → half-open after ``open_for`` (checked on each call and by
``tick()``); half-open admits exactly one probe at a time: success closes, failure re-opens.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        window: float = 5.0,
        min_calls: int = 5,
        failure_rate: float = 0.5,
        open_for: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[str, str], None] | None = None,
        stuck_open: bool = False,
    ) -> None:
        self.name = name
        self.window = window
        self.min_calls = min_calls
        self.failure_rate = failure_rate
        self.open_for = open_for
        self.clock = clock
        self.on_transition = on_transition
        self.stuck_open = stuck_open
        self._state = CLOSED
        self._calls: deque[tuple[float, bool]] = deque()
        self._opened_at = 0.0
        self._probe_out = False

    @property
    def state(self) -> str:
        self.tick()
        return self._state

    def _move(self, new: str) -> None:
        old, self._state = self._state, new
        if new == OPEN:
            self._opened_at = self.clock()
        if new != HALF_OPEN:
            self._probe_out = False
        if new == CLOSED:
            self._calls.clear()
        if self.on_transition is not None and old != new:
            self.on_transition(old, new)

    def tick(self) -> None:
        """Leave open when its time is up, without waiting for a call."""
        if (
            self._state == OPEN
            and not self.stuck_open
            and self.clock() - self._opened_at >= self.open_for
        ):
            self._move(HALF_OPEN)

    def allow(self) -> bool:
        self.tick()
        if self._state == CLOSED:
            return True
        if self._state == HALF_OPEN and not self._probe_out:
            self._probe_out = True
            return True
        return False

    def record_success(self) -> None:
        if self._state == HALF_OPEN:
            self._move(CLOSED)
            return
        self._record(True)

    def record_failure(self) -> None:
        if self._state == HALF_OPEN:
            self._move(OPEN)
            return
        if self._state == CLOSED:
            self._record(False)
            total = len(self._calls)
            failed = sum(1 for _, ok in self._calls if not ok)
            if total >= self.min_calls and failed / total >= self.failure_rate:
                self._move(OPEN)

    def release_probe(self) -> None:
        """A probe that ended without a verdict (its call was cancelled) frees the half-open
        slot for the next call; the breaker stays half-open."""
        if self._state == HALF_OPEN:
            self._probe_out = False

    def _record(self, ok: bool) -> None:
        now = self.clock()
        self._calls.append((now, ok))
        while self._calls and self._calls[0][0] < now - self.window:
            self._calls.popleft()
