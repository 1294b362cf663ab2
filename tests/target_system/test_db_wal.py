"""Two instances creating a service's database at once: the loser of the WAL switch retries."""

from __future__ import annotations

import sqlite3

import pytest

from target_system.db import _wal


class _Conn:
    def __init__(self, locked: int, message: str = "database is locked") -> None:
        self.locked, self.message, self.calls = locked, message, 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.locked:
            raise sqlite3.OperationalError(self.message)


def test_the_wal_switch_waits_out_a_lock() -> None:
    conn = _Conn(locked=2)
    _wal(conn)  # type: ignore[arg-type]
    assert conn.calls == 3


def test_other_errors_and_a_lock_that_lasts_are_raised() -> None:
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _wal(_Conn(locked=1, message="disk I/O error"))  # type: ignore[arg-type]
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _wal(_Conn(locked=10**6), within=0.2)  # type: ignore[arg-type]
