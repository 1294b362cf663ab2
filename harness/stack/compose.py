"""The Docker Compose backend: the same stack protocol over containers, through the Docker SDK.

``docker compose up`` / ``down`` bring the project up and down (the SDK has no compose); every
process fault is one SDK call on the instance's container: crash = kill, stop = stop, pause /
resume = pause / unpause, restart = restart. Network faults stay with Toxiproxy, whose API the
compose file publishes on 127.0.0.1. Without a reachable engine: InfraUnavailable (exit 3).

Every SDK call goes through :func:`docker_errors`: the SDK's own errors, and the ``requests``
errors it lets through when the engine goes away mid-run, become a :class:`StackError` naming
the call (``raise ... from exc``), so a fault or a revert that fails on Docker is one of the
harness's errors like any other, and the run's cleanup treats it as such.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.backend import ProcessEntry
from harness.errors import InfraUnavailable, InputInvalid, StackError
from harness.infra.etcd import Etcd
from harness.infra.toxiproxy import Toxiproxy
from harness.infra.waiting import wait_for
from harness.settings import REPO_ROOT, Settings
from harness.stack.base import settle
from harness.topology import Topology


@dataclass(frozen=True)
class ComposePorts:
    """Every port of a compose project, in one place: the generator (``harness.compose``)
    writes them into docker-compose.yml and this backend finds the services on them."""

    service: int = 8000  # every instance, inside its container
    instances_from: int = 18000  # instance n of the topology, published on 127.0.0.1
    proxies_from: int = 20000  # Toxiproxy listener n, inside the compose network
    toxiproxy_api: int = 8474  # inside and published
    prometheus: int = 9090  # inside and published
    etcd: int = 2379  # inside
    etcd_published: int = 12379
    locust: int = 8089  # inside and published

    @staticmethod
    def published(port: int) -> str:
        return f"http://127.0.0.1:{port}"


PORTS = ComposePorts()
TOXIPROXY_URL = PORTS.published(PORTS.toxiproxy_api)
PROMETHEUS_URL = PORTS.published(PORTS.prometheus)
ETCD_URL = PORTS.published(PORTS.etcd_published)


def docker_client() -> Any:
    """The SDK client, or one clear error when no engine answers."""
    import docker
    from docker.errors import DockerException

    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        raise InfraUnavailable(
            "the compose backend needs a running Docker engine, and none answers "
            "(no /var/run/docker.sock, no DOCKER_HOST); the local backend (the default) needs none"
        )
    client = None
    try:
        client = docker.from_env(timeout=5)
        client.ping()
    except DockerException as exc:
        if client is not None:
            client.close()
        raise InfraUnavailable(
            "the compose backend needs a running Docker engine, and none answers "
            f"({exc.__class__.__name__}); the local backend (the default) needs none"
        ) from exc
    return client


@contextlib.contextmanager
def docker_errors(what: str) -> Iterator[None]:
    """Map the Docker SDK's errors at the boundary into the harness's tree."""
    import requests
    from docker.errors import DockerException, NotFound

    try:
        yield
    except NotFound as exc:
        raise StackError(f"docker: {what}: not found ({exc.explanation or exc})") from exc
    except DockerException as exc:
        raise StackError(f"docker: {what} failed: {exc}") from exc
    except requests.RequestException as exc:
        raise StackError(f"docker: {what} failed, the engine did not answer: {exc}") from exc


def require_one_port(topology: Topology) -> None:
    """The compose backend maps one container port per instance and probes health over HTTP;
    a topology with named ports or TCP health needs the local backend (for now)."""
    if topology.proxy_mode == "per_instance":
        raise InputInvalid(
            f"{topology.path}: proxy_mode per_instance needs the local backend: use --backend local"
        )
    for svc in topology.services.values():
        if len(svc.ports) > 1 or svc.health.path is None:
            raise InputInvalid(
                f"{topology.path}: service {svc.name} has {len(svc.ports)} named ports or a TCP "
                "health check; the compose backend supports one HTTP port per instance: use "
                "--backend local"
            )


class ComposeStack:
    """The ``StackBackend`` over the containers of one compose project."""

    prefixes_commands = False  # an image's command is fixed: no slow_start here

    def __init__(
        self,
        topology: Topology,
        settings: Settings,
        project: str | None = None,
        compose_file: Path | None = None,
        client: Any = None,
    ) -> None:
        require_one_port(topology)
        self.topology = topology
        self.settings = settings
        self.project = project or f"stormproof-{topology.name}"
        self.compose_file = compose_file or REPO_ROOT / "docker-compose.yml"
        self.client = client if client is not None else docker_client()
        self.toxiproxy = Toxiproxy(TOXIPROXY_URL, settings.timeouts.http)
        self.etcd: Etcd | None = Etcd(ETCD_URL) if topology.registry == "etcd" else None
        self.paused: set[str] = set()

    # -- containers ----------------------------------------------------------------------------

    def container(self, instance: str) -> Any:
        self.topology.instance(instance)  # an unknown instance is refused before any call
        return self._service_container(instance)

    def _compose(self, *args: str) -> None:
        cmd = ["docker", "compose", "-f", str(self.compose_file), "-p", self.project, *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StackError(f"{' '.join(cmd)} failed: {exc}") from exc
        if done.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-800:]}")

    def start(self) -> None:
        self._compose("up", "-d", "--wait")
        self.wait_healthy()

    def stop(self) -> None:
        self._compose("down")

    def kill(self, instance: str) -> None:
        c = self.container(instance)
        with docker_errors(f"kill {instance}"):
            c.kill()

    def terminate(self, instance: str) -> None:
        c = self.container(instance)
        with docker_errors(f"stop {instance}"):
            c.stop(timeout=int(self.settings.timeouts.process_stop))

    def pause(self, instance: str) -> None:
        c = self.container(instance)
        with docker_errors(f"pause {instance}"):
            c.pause()
        self.paused.add(instance)

    def resume(self, instance: str) -> None:
        c = self.container(instance)
        with docker_errors(f"unpause {instance}"):
            c.unpause()
        self.paused.discard(instance)

    def restart(self, instance: str) -> None:
        c = self.container(instance)
        with docker_errors(f"restart {instance}"):
            c.restart(timeout=int(self.settings.timeouts.process_stop))
        self.wait_healthy(instance)

    def start_instance(self, instance: str, wait: bool = True, prefix: Sequence[str] = ()) -> None:
        if prefix:
            raise StackError(
                f"cannot start {instance} under {' '.join(prefix)}: the compose backend runs "
                "each image's own command; use the local backend"
            )
        c = self.container(instance)
        with docker_errors(f"start {instance}"):
            c.start()
        if wait:
            self.wait_healthy(instance)

    def is_running(self, instance: str) -> bool:
        c = self.container(instance)
        with docker_errors(f"inspect {instance}"):
            c.reload()
        return c.status == "running"

    def pause_registry(self) -> None:
        c = self._service_container("etcd")
        with docker_errors("pause etcd"):
            c.pause()
        self.paused.add("etcd")

    def resume_registry(self) -> None:
        c = self._service_container("etcd")
        with docker_errors("unpause etcd"):
            c.unpause()
        self.paused.discard("etcd")

    def _service_container(self, service: str) -> Any:
        with docker_errors(f"list the {service} containers of {self.project}"):
            found = self.client.containers.list(
                all=True,
                filters={
                    "label": [
                        f"com.docker.compose.project={self.project}",
                        f"com.docker.compose.service={service}",
                    ]
                },
            )
        if not found:
            raise StackError(f"no {service} container in compose project {self.project}")
        return found[0]

    # -- addresses -----------------------------------------------------------------------------

    def address(self, instance: str, port: str | None = None) -> str:
        return self.instance_url(instance, port).removeprefix("http://")

    def instance_url(self, instance: str, port: str | None = None) -> str:
        c = self.container(instance)
        with docker_errors(f"inspect {instance}"):
            c.reload()
        bindings = (c.ports or {}).get(f"{PORTS.service}/tcp") or []
        if not bindings:
            raise StackError(f"{instance} publishes no port")
        return f"http://127.0.0.1:{bindings[0]['HostPort']}"

    def entry_url(self) -> str:
        return self.instance_url(self.topology.instances_of(self.topology.entry)[0].name)

    def prometheus_url(self) -> str:
        return PROMETHEUS_URL

    def jaeger_url(self) -> str:
        """No Jaeger in the compose stack yet: traces are not collected ("" says so)."""
        return ""

    def log_files(self) -> dict[str, Path]:
        """Container logs are Docker's: not cut per scenario on this backend yet."""
        return {}

    def urls(self) -> dict[str, str]:
        return {
            "entry": self.entry_url(),
            "prometheus": PROMETHEUS_URL,
            "toxiproxy": TOXIPROXY_URL,
            "registry": ETCD_URL,
        }

    def registry_members(self) -> list[dict]:
        layout = self.topology.profile.registry
        if self.etcd is None or layout is None:
            return []
        return self.etcd.members(layout)

    # Locust beside a compose project is stopped by the run alone; ``docker compose down``
    # needs no record of it.
    def adopt(self, rec: ProcessEntry) -> None:
        pass

    def forget(self, name: str) -> None:
        pass

    def wait_healthy(self, instance: str | None = None, timeout: float | None = None) -> float:
        names = [instance] if instance else [i.name for i in self.topology.instances()]
        t0 = time.monotonic()
        for name in names:
            svc = self.topology.services[self.topology.instance(name).service]

            def probe(n: str = name, path: str = svc.health.path or "/") -> bool:
                return httpx.get(self.instance_url(n) + path, timeout=1.0).status_code == 200

            wait_for(f"{name} healthy", probe, timeout or self.settings.timeouts.process_start)
        return time.monotonic() - t0

    def settle(self) -> None:
        settle(self)
