"""Poll with a deadline; say what never became ready."""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.errors import InfraUnavailable


def wait_for(
    what: str,
    probe: Callable[[], bool],
    timeout: float,
    every: float = 0.05,
    alive: Callable[[], str | None] | None = None,
) -> float:
    """Call ``probe`` until it returns True; return the seconds it took.

    ``alive`` may return a reason when the thing waited for has died, to fail at once. A probe
    that raises is "not ready yet", except for the errors of a wrong call (TypeError,
    AttributeError, NameError): those are the harness's bug and raise at once instead of
    being waited out.
    """
    t0 = time.monotonic()
    last_error = ""
    while time.monotonic() - t0 < timeout:
        try:
            if probe():
                return time.monotonic() - t0
        except (TypeError, AttributeError, NameError):
            raise
        except Exception as exc:  # a probe failing is what waiting is for
            last_error = f" (last error: {exc})"
        if alive is not None:
            dead = alive()
            if dead:
                raise InfraUnavailable(f"{what} died while starting: {dead}")
        time.sleep(every)
    raise InfraUnavailable(f"{what} not ready within {timeout:.0f}s{last_error}")
