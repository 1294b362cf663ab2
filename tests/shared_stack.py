"""One bundled-shop stack shared by the integration tests that can share it.

Starting the shop's stack (etcd, Toxiproxy, Jaeger, seven instances, Prometheus scraping them
all) costs about 10 s, and stopping it 1.5 s more. A test asks for ``shop_stack`` instead of
starting its own and gets the one stack of the session, brought back to a steady state first,
as the engine does between two scenarios:

- settled: no toxic, every proxy enabled, nothing paused, every instance (and Jaeger) running
  and healthy (``LocalStack.settle``);
- no saga in flight (the target profile's ``in_flight`` audit);
- Prometheus holding a sample of ``up == 1`` from every target, so a restarted instance is
  scraped again before the next test reads a series.

Only tests that leave nothing in the processes' memory that this cannot reset may share it.
A test that kills an instance under load does leave such state: its callers' breakers open or
half-open (tests/target_system/test_shop_integration.py keeps a stack of its own for that; run
before the traces test on one stack, the gateway refused that test's first order with "every
breaker to orders is open").

The tests that use it run one after the other, where the first of them was collected (their
order among themselves kept), and the stack is stopped right after the last of them, so it
never idles beside a stack that another test starts (``stormproof up``, the launcher, the smoke
scenarios); at the end of the session at the latest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.infra import prometheus as prom
from harness.settings import Settings
from harness.stack.local import LocalStack
from harness.targets import StackKey, TargetStack
from harness.topology import bundled_topology_path, load_topology

FIXTURE = "shop_stack"
# a test that finds sagas of an earlier test still in flight after this long fails its setup
SAGAS_SETTLE_S = 30.0


class SharedShop:
    """The session's shop stack: started on first use, made steady before each test, stopped
    after the last test that uses it."""

    def __init__(self, root: Path, users: set[str]) -> None:
        self.root = root
        self.users = users  # node ids of the tests still to come that use the stack
        self.stack: LocalStack | None = None
        self.starts = 0
        self.fresh = False

    def get(self) -> LocalStack:
        if self.stack is None:
            self.starts += 1
            base = self.root / f"stack-{self.starts}"
            settings = Settings(state_dir=base / "state", reports_dir=base / "reports")
            stack = LocalStack(load_topology(bundled_topology_path()), settings, base / "run")
            try:
                stack.start()  # waits until healthy and until Prometheus scrapes every target
            except BaseException:
                stack.stop()
                raise
            self.stack, self.fresh = stack, True
        elif not self.fresh:
            steady(self.stack)
        self.fresh = False
        return self.stack

    def done_with(self, nodeid: str) -> None:
        self.users.discard(nodeid)
        if not self.users:
            self.stop()

    def stop(self) -> None:
        stack, self.stack = self.stack, None
        if stack is not None:
            stack.stop()


def scrape_targets(stack: LocalStack) -> int:
    """How many targets the stack's Prometheus scrapes: instances with metrics, Toxiproxy,
    and etcd when the topology has a registry."""
    t = stack.topology
    instances = sum(1 for i in t.instances() if t.services[i.service].metrics)
    return instances + 1 + (1 if stack.etcd is not None else 0)


def steady(stack: LocalStack) -> None:
    """Back to the state a fresh stack starts in, or fail saying what never came back."""
    stack.settle()
    timeouts = stack.settings.timeouts
    target = TargetStack(StackKey(bundled_topology_path(), (), True), stack, stack.settings)
    target.wait_sagas_settled(SAGAS_SETTLE_S)
    expected = scrape_targets(stack)
    prom.wait_targets_up(
        stack.prometheus_url(), expected, timeouts.prometheus_targets, alive=lambda: None
    )


SHARED_KEY = pytest.StashKey[SharedShop]()


def uses_shared_stack(item: pytest.Item) -> bool:
    return FIXTURE in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that use the shared stack, together at the place of the first of them."""
    users = [i for i in items if uses_shared_stack(i)]
    if not users:
        return
    first = items.index(users[0])
    others = [i for i in items if not uses_shared_stack(i)]
    items[:] = others[:first] + users + others[first:]


@pytest.fixture(scope="session")
def _shared_shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedShop]:
    users = {item.nodeid for item in request.session.items if uses_shared_stack(item)}
    shared = SharedShop(tmp_path_factory.mktemp("shop-stack"), users)
    request.config.stash[SHARED_KEY] = shared
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture
def shop_stack(_shared_shop: SharedShop) -> LocalStack:
    """The session's bundled-shop stack, steady (see the module's docstring)."""
    return _shared_shop.get()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    try:
        return (yield)
    finally:
        shared = item.config.stash.get(SHARED_KEY, None)
        if shared is not None and item.nodeid in shared.users:
            shared.done_with(item.nodeid)
