"""tests/shared_stack.py's bookkeeping, on stand-ins (the stack itself runs in the integration
tests that use it): the users run together, the stack stops after the last of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.shared_stack import SharedShop, pytest_collection_modifyitems


@dataclass
class Item:
    name: str
    fixturenames: tuple[str, ...] = ()


def names(items: list) -> list[str]:
    return [i.name for i in items]


def test_the_users_run_together_where_the_first_was():
    items = [
        Item("a"),
        Item("stack-1", ("shop_stack",)),
        Item("up"),
        Item("stack-2", ("tmp_path", "shop_stack")),
        Item("launcher"),
        Item("stack-3", ("shop_stack",)),
        Item("scenario"),
    ]
    pytest_collection_modifyitems(items)
    assert names(items) == ["a", "stack-1", "stack-2", "stack-3", "up", "launcher", "scenario"]


def test_no_user_leaves_the_order_alone():
    items = [Item("b"), Item("a")]
    pytest_collection_modifyitems(items)
    assert names(items) == ["b", "a"]


@dataclass
class FakeStack:
    stopped: list[bool] = field(default_factory=list)

    def stop(self) -> None:
        self.stopped.append(True)


def test_the_stack_stops_after_the_last_user_once():
    shared = SharedShop(Path("/nonexistent"), {"t1", "t2"})
    stack = FakeStack()
    shared.stack = stack  # type: ignore[assignment]
    shared.done_with("t1")
    assert stack.stopped == [] and shared.stack is stack
    shared.done_with("t2")
    assert stack.stopped == [True] and shared.stack is None
    shared.stop()  # the session's end: nothing left to stop
    assert stack.stopped == [True]
