"""wait_for: a probe that raises is "not ready yet", unless the call itself is wrong."""

from __future__ import annotations

import pytest

from harness.errors import InfraUnavailable
from harness.infra.waiting import wait_for


def test_a_probe_that_raises_is_waited_out_and_its_last_error_named() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("nothing listens")

    with pytest.raises(InfraUnavailable, match=r"not ready within 0s.*nothing listens"):
        wait_for("thing", refused, timeout=0.2, every=0.01)


def test_a_probe_that_comes_up_returns_the_time_it_took() -> None:
    calls = iter([OSError("not yet"), False, True])

    def probe() -> bool:
        c = next(calls)
        if isinstance(c, Exception):
            raise c
        return c

    assert wait_for("thing", probe, timeout=5, every=0.001) < 5


def test_a_wrong_call_raises_at_once_instead_of_being_waited_out() -> None:
    calls = []

    def wrong() -> bool:
        calls.append(1)
        return len(5)  # type: ignore[arg-type]  # a TypeError: the harness's bug

    with pytest.raises(TypeError):
        wait_for("thing", wrong, timeout=30, every=0.01)
    assert len(calls) == 1
