"""``StackBackend``: what every way of running a target offers the engine, the faults and the CLI.

Two backends implement it: ``harness.stack.local.LocalStack`` (native processes, the default)
and ``harness.stack.compose.ComposeStack`` (Docker Compose). Which one runs is
``Settings.backend``, chosen in ``harness.settings`` and nowhere else. Everything above the
backends (``harness.targets``, the fault drivers, ``stormproof fault``) types against this
protocol, never against a backend class; a test checks that both backends satisfy it.

It lives in the models layer, below the fault kinds and the backends alike, so it names only
the topology; the Toxiproxy client and process records it hands out are described here by
the calls made on them (``ToxiproxyApi``, ``ProcessEntry``).

Guarantees every backend keeps:

- an instance name unknown to the topology is refused before anything is touched;
- ``kill`` / ``terminate`` return once the instance is gone; ``restart`` once it is healthy;
- ``start_instance(prefix=...)`` with a non-empty prefix needs ``prefixes_commands``; a
  backend without it raises ``StackError`` before touching anything;
- ``settle`` leaves no toxic, every proxy enabled, nothing paused, every instance healthy;
- ``stop`` stops everything even when parts fail, then raises ``StackError`` naming them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from harness.topology import Topology


class ToxiproxyApi(Protocol):
    """The Toxiproxy calls made through a backend (``harness.infra.toxiproxy.Toxiproxy``)."""

    def reset(self) -> None: ...
    def proxies(self) -> dict[str, dict]: ...
    def set_enabled(self, name: str, enabled: bool) -> None: ...
    def add_toxic(
        self,
        proxy: str,
        kind: str,
        stream: str,
        attributes: dict[str, Any],
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str: ...
    def remove_toxic(self, proxy: str, name: str) -> None: ...


class RegistryApi(Protocol):
    """The registry (etcd) calls made through a backend (``harness.infra.etcd.Etcd``)."""

    def members(self) -> list[dict]: ...
    def read(self, keys: list[str]) -> tuple[int, dict[str, str | None]]: ...
    def write(
        self, put: dict[str, str], delete: Sequence[str] = (), timeout: float | None = None
    ) -> int: ...


class SecretsApi(Protocol):
    """The stack's secrets folder (``harness.infra.secrets.SecretVolume``); a backend without
    one has ``secrets = None`` (or no such attribute)."""

    names: list[str]

    def rotate(self, names: Iterable[str], grace: bool) -> dict[str, int]: ...
    def end_grace(self, names: Iterable[str]) -> None: ...
    def in_grace(self, name: str) -> bool: ...
    def values(self) -> dict[str, list[str]]: ...


class ProcessEntry(Protocol):
    """A process started beside the stack (``harness.procs.ProcessRecord``)."""

    name: str
    pid: int


@runtime_checkable
class StackBackend(Protocol):
    topology: Topology
    toxiproxy: ToxiproxyApi | None  # None before start
    etcd: RegistryApi | None  # None before start, and without a registry
    paused: set[str]  # instance names, and "etcd" while the registry is paused
    prefixes_commands: bool  # start_instance accepts a non-empty prefix

    # -- lifecycle: the whole stack
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def settle(self) -> None: ...
    def wait_healthy(self, instance: str | None = None, timeout: float | None = None) -> float: ...

    # -- one instance
    def kill(self, instance: str) -> None: ...
    def terminate(self, instance: str) -> None: ...
    def pause(self, instance: str) -> None: ...
    def resume(self, instance: str) -> None: ...
    def restart(self, instance: str) -> None: ...
    def start_instance(
        self, instance: str, wait: bool = True, prefix: Sequence[str] = ()
    ) -> None: ...
    def is_running(self, instance: str) -> bool: ...

    # -- the registry (no-ops answer [] when the topology has none)
    def pause_registry(self) -> None: ...
    def resume_registry(self) -> None: ...
    def registry_members(self) -> list[dict]: ...

    # -- processes started beside the stack (Locust), recorded where ``down`` finds them
    def adopt(self, rec: ProcessEntry) -> None: ...
    def forget(self, name: str) -> None: ...

    # -- addresses
    def instance_url(self, instance: str, port: str | None = None) -> str:
        """``http://host:port`` of an instance's named port (None: its first)."""
        ...

    def address(self, instance: str, port: str | None = None) -> str:
        """``host:port`` of an instance's named port (None: its first)."""
        ...

    def entry_url(self) -> str: ...
    def prometheus_url(self) -> str: ...
    def jaeger_url(self) -> str:
        """Jaeger's query API; "" when this backend runs no Jaeger (traces not collected)."""
        ...

    def log_files(self) -> dict[str, Path] | None:
        """Every process's log file (instances and infrastructure) by process name; None when
        the backend keeps none."""
        ...

    def urls(self) -> dict[str, str]: ...
