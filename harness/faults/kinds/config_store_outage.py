"""config_store_outage: the target's config store (etcd) unreachable while a change is pending.

At `at` the harness reads the keys' current values, pauses the store (SIGSTOP, as
`registry_outage` does) and then sends the change in `set` as one transaction: the request is
accepted by the kernel and waits, unanswered, while the store is paused. Instances keep the
settings they applied last (their reads of the store time out). After `outage` the store is
resumed and the pending transaction lands: its revision and the time it landed are recorded
(`revision`, `landed_at`), and `config_applied` measures from the landing, not from `at`. After
`for` (or at the end of the scenario) the change is reverted like `config_change`'s, in one
transaction (`reverted_revision`). Every exit path resumes the store first, then lands or
reverts what is pending.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.backend import StackBackend
from harness.durations import Duration, format_duration, parse_duration
from harness.errors import FaultError, HarnessError
from harness.faults.base import FaultKind, FaultModel, Flag
from harness.faults.kinds.config_change import Value, as_text, checked_config

LAND_WAIT = 30.0  # seconds the pending write may wait beyond the outage before it counts lost


class ConfigStoreOutageFault(FaultModel):
    kind: Literal["config_store_outage"]
    set: dict[str, Value] = Field(
        min_length=1, max_length=256, description="the change pending during the outage"
    )
    outage: Duration = Field(gt=0, description="how long the store is unreachable from `at`")

    @model_validator(mode="after")
    def _outage_within_for(self) -> ConfigStoreOutageFault:
        if self.for_ is not None and self.outage >= self.for_:
            raise ValueError(
                f"outage ({format_duration(self.outage)}) must end before `for` "
                f"({format_duration(self.for_)}), when the change is reverted"
            )
        return self

    def target_name(self) -> str:
        return "config"

    def headline(self) -> str:
        change = ", ".join(f"{k}={as_text(v)}" for k, v in self.set.items())
        return f"config_store_outage {format_duration(self.outage)} pending {change}"


class ConfigStoreOutage:
    needs_revert = True

    def __init__(self, stack: StackBackend, set: dict[str, Any], outage: float, **_: Any) -> None:
        config = checked_config(stack, "config_store_outage", set)
        if stack.etcd is None:
            raise FaultError("config_store_outage: the stack has no config store (etcd)")
        self.stack = stack
        self.store = stack.etcd
        self.outage = float(outage)
        self.values = {config.prefix + k: as_text(v) for k, v in set.items()}
        self.before: dict[str, str | None] | None = None
        self.facts: dict[str, Any] = {}
        self.error: str | None = None
        self._writer: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._paused = False

    def inject(self) -> None:
        _, self.before = self.store.read(list(self.values))
        self.stack.pause_registry()
        self._paused = True
        self._writer = threading.Thread(target=self._write, name="pending-config", daemon=True)
        self._writer.start()
        self._timer = threading.Timer(self.outage, self._resume)
        self._timer.daemon = True
        self._timer.start()

    def _write(self) -> None:
        try:
            revision = self.store.write(self.values, timeout=self.outage + LAND_WAIT)
        except HarnessError as exc:
            self.error = str(exc)
            return
        self.facts["revision"] = revision
        self.facts["landed_at"] = time.time()

    def _resume(self) -> None:
        with self._lock:
            if self._paused:
                self.stack.resume_registry()
                self._paused = False
                self.facts["resumed_at"] = time.time()

    def revert(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._resume()
        if self._writer is not None:
            self._writer.join(LAND_WAIT)
            if self._writer.is_alive():
                self.error = "the pending change did not land within 30s of the store's resume"
        if self.before is None:
            return
        put = {k: v for k, v in self.before.items() if v is not None}
        delete = [k for k, v in self.before.items() if v is None]
        self.facts["reverted_revision"] = self.store.write(put, delete)
        self.before = None
        if self.error is not None:
            raise FaultError(f"config_store_outage: {self.error}")

    def recorded(self) -> dict[str, Any]:
        """For the journal: when the store resumed, the landed change's revision and time,
        and the revert's revision."""
        return dict(self.facts)

    def undo(self) -> dict[str, str | None] | None:
        """What the revert writes back (as config_change's), while in force."""
        return None if self.before is None else dict(self.before)

    def describe(self) -> dict[str, Any]:
        return {"kind": "config_store_outage", "set": self.values, "outage": self.outage}


KIND = FaultKind(
    name="config_store_outage",
    model=ConfigStoreOutageFault,
    driver=ConfigStoreOutage,
    scope="config",
    summary="the config store (etcd) paused while a change is pending; the change lands when "
    "it resumes",
    fields="`set: {key: value}`, `outage` (store paused for it; the change lands then)",
    flags=(
        Flag("--outage", "outage", parse_duration, "how long the store is paused", required=True),
    ),
    randomizable=False,
)
