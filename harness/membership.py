"""Registry membership over a run: polled in the background, saved as ``registry.csv``.

The discovery check and the report's registry figure read that file: one row per key present
in the registry per poll (t, service, instance, incarnation).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError

COLUMNS = ("t", "service", "instance", "incarnation")

# -> [{"service": ..., "instance": ..., "incarnation": ...}]; raises HarnessError when the
# registry cannot be reached
ListMembers = Callable[[], list[dict[str, str]]]


@dataclass
class RegistryPoller:
    """Polls the registry every ``interval`` s and keeps one row per present key per poll."""

    list_members: ListMembers
    interval: float = 0.25
    rows: list[dict] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="registry-poller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.time()
            try:
                members = self.list_members()
            except HarnessError:
                members = None  # registry unreachable: record nothing for this poll
            if members is not None:
                for m in members:
                    self.rows.append(
                        {
                            "t": t,
                            "service": m["service"],
                            "instance": m["instance"],
                            "incarnation": m.get("incarnation", ""),
                        }
                    )
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def save(self, path: Path) -> None:
        import pandas as pd

        pd.DataFrame(self.rows, columns=list(COLUMNS)).to_csv(path, index=False)
