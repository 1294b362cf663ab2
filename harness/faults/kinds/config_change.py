"""config_change: live settings of the target changed in its store (etcd) at `at`, put back
after `for`.

The keys and their types come from the target's topology (`config: {prefix, keys,
version_metric}`): a key the target does not declare, or a value not of its type, is refused
before anything starts, naming the known keys. The change is one etcd transaction (every key
at one revision, so an instance never reads half of it); the revert is another, putting back
each key's previous value or deleting a key that was absent. The revisions of both are
recorded in the journal (`recorded`), where the `config_applied` check reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from harness.backend import StackBackend
from harness.errors import FaultError
from harness.faults.base import FaultKind, FaultModel

Value = StrictBool | StrictInt | StrictFloat | StrictStr
KEY_RE = r"^[A-Za-z0-9_.-]{1,128}$"


class ConfigChangeFault(FaultModel):
    kind: Literal["config_change"]
    set: dict[str, Value] = Field(
        min_length=1, max_length=256, description="key (under the target's prefix) -> value"
    )

    def target_name(self) -> str:
        return "config"

    def headline(self) -> str:
        return "config_change " + ", ".join(f"{k}={as_text(v)}" for k, v in self.set.items())


def as_text(value: Any) -> str:
    """The value as the store holds it: plain text, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _type_problem(kind: str, value: Any) -> str | None:
    text = as_text(value)
    if kind == "string":
        return None
    if kind == "boolean":
        if isinstance(value, bool) or text.lower() in ("true", "false"):
            return None
        return "expected true or false"
    if isinstance(value, bool):
        return f"expected a{'n' if kind == 'integer' else ''} {kind}, not a boolean"
    try:
        if kind == "integer":
            if isinstance(value, float):
                raise ValueError
            int(text)
        else:
            float(text)
    except ValueError:
        return f"expected a{'n' if kind == 'integer' else ''} {kind}, got {text!r}"
    return None


def value_problems(keys: Mapping[str, str], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, problem) for each key the target does not declare or value not of its type."""
    out = []
    for key, value in values.items():
        if key not in keys:
            out.append((key, f"unknown config key {key!r}; known keys: {', '.join(keys)}"))
        elif (msg := _type_problem(keys[key], value)) is not None:
            out.append((key, f"{key}: {msg}"))
    return out


def checked_config(stack: StackBackend, kind: str, values: Mapping[str, Any]) -> Any:
    """The target's `config:` section, once `values` are known keys of the right types; a
    FaultError naming the fault kind otherwise."""
    config = stack.topology.config
    if config is None:
        raise FaultError(
            f"{kind}: topology {stack.topology.name} declares no `config:` section "
            "(prefix, keys, version_metric)"
        )
    problems = value_problems(config.keys, values)
    if problems:
        raise FaultError(f"{kind}: " + "; ".join(msg for _, msg in problems))
    return config


class ConfigChange:
    """One change of live settings: set in one transaction, reverted in another."""

    needs_revert = True

    def __init__(self, stack: StackBackend, set: dict[str, Any], **_: Any) -> None:
        config = checked_config(stack, "config_change", set)
        self.stack = stack
        self.values = {config.prefix + k: as_text(v) for k, v in set.items()}
        self.before: dict[str, str | None] | None = None
        self.revisions: dict[str, int] = {}

    def _store(self) -> Any:
        if self.stack.etcd is None:
            raise FaultError("config_change: the stack has no registry (etcd) to write to")
        return self.stack.etcd

    def inject(self) -> None:
        store = self._store()
        _, before = store.read(list(self.values))
        self.revisions["revision"] = store.write(self.values)
        self.before = before

    def revert(self) -> None:
        if self.before is None:
            return
        store = self._store()
        put = {k: v for k, v in self.before.items() if v is not None}
        delete = [k for k, v in self.before.items() if v is None]
        self.revisions["reverted_revision"] = store.write(put, delete)
        self.before = None

    def recorded(self) -> dict[str, Any]:
        """For the journal: the store revision the change made, and the revert's."""
        return dict(self.revisions)

    def undo(self) -> dict[str, str | None] | None:
        """What the revert writes (key -> previous value, None: delete), while in force."""
        return None if self.before is None else dict(self.before)

    def describe(self) -> dict[str, Any]:
        return {"kind": "config_change", "set": self.values, **self.revisions}


KIND = FaultKind(
    name="config_change",
    model=ConfigChangeFault,
    driver=ConfigChange,
    scope="config",
    summary="live settings changed in the target's config store (etcd), reverted after `for`",
    fields="`set: {key: value}` (keys and types from the topology's `config:`)",
    randomizable=False,
)


def undo_config_changes(store: Any, recorded: list[dict]) -> int:
    """Write back what each recorded config change replaced (its `undo`: key -> previous value,
    None: delete), newest first so the oldest change's previous values win; how many."""
    undone = 0
    for f in reversed(recorded):
        undo = f.get("undo")
        if undo and store is not None:
            store.write(
                {k: v for k, v in undo.items() if v is not None},
                [k for k, v in undo.items() if v is None],
            )
            undone += 1
    return undone
