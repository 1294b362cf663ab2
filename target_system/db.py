"""SQLite for a service: one database file shared by its instances (WAL, multi-process safe),
driven from one worker thread per process so the event loop never blocks on it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def _wal(conn: sqlite3.Connection, within: float = 10.0) -> None:
    """Switch a database to WAL (persistent: once one process did, the others only read it).
    Two instances that create a service's new database at the same moment both try the switch;
    SQLite answers the loser "database is locked" at once, without its busy handler (the switch
    needs the file to itself), so the loser waits and tries again."""
    deadline = time.monotonic() + within
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Database:
    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self._pool.submit(self._open, schema).result()

    def _open(self, schema: str) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=10000")
        _wal(conn)
        # NORMAL in WAL mode survives a process crash; only an OS crash may lose the last commit.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in schema.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._conn = conn

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one IMMEDIATE transaction on the worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._tx, fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._conn is not None
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, self._conn)

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()

        self._pool.submit(_close).result()
        self._pool.shutdown()
