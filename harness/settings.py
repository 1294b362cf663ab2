"""Settings as values: binary locations, ports, paths and timeouts in one place.

Environment variables are read here and nowhere else in the harness.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import BinaryMissing, InputInvalid

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_BIN = REPO_ROOT / ".stormproof" / "bin"
SETUP_HINT = "run scripts/setup.sh (or make setup) to install it"
# How the target runs (harness.backend.StackBackend): native processes, or Docker Compose.
BACKENDS = ("local", "compose")


@dataclass(frozen=True)
class Timeouts:
    """Deadlines used across the harness, in seconds."""

    http: float = 3.0  # one call to Toxiproxy, etcd, Prometheus or an audit endpoint
    process_start: float = 20.0  # an instance answers /health
    infra_start: float = 20.0  # Toxiproxy / etcd / Prometheus / Jaeger answer
    prometheus_targets: float = 30.0  # every target has up == 1
    process_stop: float = 5.0  # SIGTERM before SIGKILL
    settle: float = 30.0  # stack settles between scenarios
    scrape_wait: float = 10.0  # every target scraped twice after a scenario's work settled


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(
        default_factory=lambda: Path(_env("STATE_DIR", str(REPO_ROOT / ".stormproof")))
    )
    reports_dir: Path = field(
        default_factory=lambda: Path(_env("REPORTS_DIR", str(REPO_ROOT / "reports")))
    )
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    base_port: int = field(default_factory=lambda: int(_env("BASE_PORT", "0")))  # 0: ask the OS
    python: str = sys.executable
    timeouts: Timeouts = field(default_factory=Timeouts)
    # The one choice of backend for `run`, pytest and `selftest`: their --backend /
    # --stormproof-backend option (``with_backend``), else $STORMPROOF_BACKEND, else local.
    backend: str = field(default_factory=lambda: _env("BACKEND", "local"))
    compose_project: str | None = field(default_factory=lambda: _env("COMPOSE_PROJECT", "") or None)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise InputInvalid(
                f"unknown backend {self.backend!r} (--backend or STORMPROOF_BACKEND); "
                f"known: {', '.join(BACKENDS)}"
            )

    def with_backend(self, backend: str | None, project: str | None = None) -> Settings:
        """These settings with a command line's choice of backend; None keeps the current one."""
        return replace(
            self,
            backend=backend or self.backend,
            compose_project=project or self.compose_project,
        )

    def toxiproxy_bin(self) -> str:
        return find_binary(
            "toxiproxy-server",
            env="TOXIPROXY_BIN",
            how="install it with: GOBIN=.stormproof/bin go install "
            "github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0 (renamed toxiproxy-server), "
            "or " + SETUP_HINT,
        )

    def prometheus_bin(self) -> str:
        return find_binary(
            "prometheus", env="PROMETHEUS_BIN", how="apt-get install prometheus, or " + SETUP_HINT
        )

    def jaeger_bin(self) -> str:
        return find_binary(
            "jaeger",
            env="JAEGER_BIN",
            how="build it (cmd/jaeger v1.76.0, from a module of its own with go get -tool) with "
            + SETUP_HINT,
        )

    def etcd_bin(self) -> str:
        return find_binary(
            "etcd", env="ETCD_BIN", how="apt-get install etcd-server, or " + SETUP_HINT
        )


def add_backend_options(add: Callable[..., Any], prefix: str = "--") -> None:
    """The backend options of every command that runs scenarios: ``stormproof run`` and
    ``selftest`` (``parser.add_argument``), pytest (``group.addoption``, prefix
    ``--stormproof-``). Their values go through ``Settings.with_backend``."""
    add(
        f"{prefix}backend",
        choices=BACKENDS,
        default=None,
        help="how the target runs: local processes or Docker Compose "
        "(default: $STORMPROOF_BACKEND, else local)",
    )
    add(
        f"{prefix}compose-project",
        default=None,
        help="compose project name (your own system; default: $STORMPROOF_COMPOSE_PROJECT)",
    )


def _env(name: str, default: str) -> str:
    return os.environ.get("STORMPROOF_" + name, default)


def find_binary(name: str, *, env: str, how: str) -> str:
    """Locate ``name``: ``$STORMPROOF_<env>``, then .stormproof/bin, then PATH."""
    explicit = os.environ.get("STORMPROOF_" + env)
    if explicit:
        if os.access(explicit, os.X_OK):
            return explicit
        raise BinaryMissing(name, f"STORMPROOF_{env}={explicit} is not executable; {how}")
    local = LOCAL_BIN / name
    if os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    raise BinaryMissing(name, how)
