from target_system.shoplib.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make(clock: Clock, **kw):
    moves = []
    br = CircuitBreaker(
        "t",
        window=3.0,
        min_calls=5,
        failure_rate=0.5,
        open_for=2.0,
        clock=clock,
        on_transition=lambda a, b: moves.append((a, b)),
        **kw,
    )
    return br, moves


def test_opens_on_failure_rate_only_after_min_calls():
    clock = Clock()
    br, moves = make(clock)
    for _ in range(4):
        br.record_failure()
    assert br.state == CLOSED  # 4 calls < min_calls
    br.record_failure()
    assert br.state == OPEN
    assert moves == [(CLOSED, OPEN)]
    assert not br.allow()


def test_successes_in_window_keep_it_closed_and_age_out():
    clock = Clock()
    br, _ = make(clock)
    for _ in range(6):
        br.record_success()
    clock.t += 2.0
    for _ in range(5):
        br.record_failure()
    assert br.state == CLOSED  # 5 of 11 failed: below 50 %
    clock.t += 1.5  # the successes leave the 3 s window, the failures stay
    br.record_failure()
    assert br.state == OPEN


def test_half_open_admits_exactly_one_probe_then_closes_on_success():
    clock = Clock()
    br, moves = make(clock)
    for _ in range(5):
        br.record_failure()
    clock.t += 1.9
    assert not br.allow()
    clock.t += 0.2
    assert br.state == HALF_OPEN  # tick() moved it without a call
    assert br.allow()
    assert not br.allow()  # one probe at a time
    br.record_success()
    assert br.state == CLOSED
    assert moves == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_failed_probe_reopens_for_a_full_period():
    clock = Clock()
    br, _ = make(clock)
    for _ in range(5):
        br.record_failure()
    clock.t += 2.0
    assert br.allow()
    br.record_failure()
    assert br.state == OPEN
    clock.t += 1.0
    assert br.state == OPEN
    clock.t += 1.0
    assert br.state == HALF_OPEN


def test_stuck_open_bug_never_half_opens():
    clock = Clock()
    br, _ = make(clock, stuck_open=True)
    for _ in range(5):
        br.record_failure()
    clock.t += 60
    assert br.state == OPEN
    assert not br.allow()


def test_a_released_probe_frees_the_half_open_slot_without_closing():
    clock = Clock()
    br, moves = make(clock)
    for _ in range(5):
        br.record_failure()
    clock.t += 2.0
    assert br.allow()  # the probe
    assert not br.allow()
    br.release_probe()  # it ended without a verdict
    assert br.state == HALF_OPEN
    assert br.allow()  # the next call may probe
    assert moves == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]


def test_a_cancelled_probe_call_does_not_leave_the_breaker_half_open_for_good():
    import asyncio
    from pathlib import Path

    from target_system.shoplib.client import ServiceClient
    from target_system.shoplib.config import ShopConfig
    from target_system.shoplib.discovery import Endpoint

    class OneInstance:
        def endpoints(self, service: str) -> list[Endpoint]:
            return [Endpoint("payments-1", "127.0.0.1:1")]

    cfg = ShopConfig(service="orders", instance="orders-1", port=1, data_dir=Path())
    client = ServiceClient(cfg, discovery=OneInstance(), session=None)  # type: ignore[arg-type]
    br = client.breaker("payments", "payments-1")
    for _ in range(cfg.breaker_min_calls):
        br.record_failure()
    br._opened_at -= cfg.breaker_open_for  # its open period is over: the next call probes

    async def hangs(*args, **kwargs):
        await asyncio.sleep(3600)

    client._attempt = hangs  # type: ignore[method-assign]

    async def scenario() -> None:
        probe = asyncio.create_task(client.call("payments", "GET", "/x"))
        await asyncio.sleep(0.01)
        assert br.state == HALF_OPEN and not br.allow()  # the probe is out
        probe.cancel()
        await asyncio.gather(probe, return_exceptions=True)

    asyncio.run(scenario())
    assert br.state == HALF_OPEN
    assert br.allow()  # the slot is free again: the next call probes
