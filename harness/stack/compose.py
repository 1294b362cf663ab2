"""The Docker Compose backend: the same stack protocol over containers, through the Docker SDK.

``docker compose up`` / ``down`` bring the project up and down (the SDK has no compose); every
process fault is one SDK call on the instance's container: crash = kill, stop = stop, pause /
resume = pause / unpause, restart = restart. Network faults stay with Toxiproxy, whose API the
compose file publishes on 127.0.0.1. Without a reachable engine: InfraUnavailable (exit 3).

A target with secrets gets its secrets folder (``SecretVolume``) at ``<stack dir>/secrets``,
created before ``up`` and bind-mounted into the readers' containers (``composefile``), rotated
in place by ``secret_rotate`` and removed after ``down``; the containers' logs are saved under
``<stack dir>/logs/`` for ``secret_leak`` (:meth:`ComposeStack.log_files`).

Every instance's container starts through the start gate (``harness/stack/startgate.py``),
with the start folder ``<stack dir>/start`` mounted: ``start_instance(prefix=...)`` writes the
prefix there, then starts the stopped container, whose gate runs the command under it once
(``slow_start``: the shell that sleeps, then execs the command, as natively).

Every SDK call goes through :func:`docker_errors`: the SDK's own errors, and the ``requests``
errors it lets through when the engine goes away mid-run, become a :class:`StackError` naming
the call (``raise ... from exc``), so a fault or a revert that fails on Docker is one of the
harness's errors like any other, and the run's cleanup treats it as such.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from harness.backend import ProcessEntry
from harness.errors import InfraUnavailable, StackError
from harness.infra import jaeger
from harness.infra.etcd import Etcd
from harness.infra.secrets import SecretVolume, remove_secrets
from harness.infra.toxiproxy import Toxiproxy
from harness.infra.waiting import wait_for
from harness.settings import REPO_ROOT, Settings
from harness.stack.base import settle
from harness.stack.composefile import (
    ETCD_URL,
    JAEGER_URL,
    PORTS,
    PROMETHEUS_URL,
    SECRETS_ENV,
    SECRETS_GID_ENV,
    TOXIPROXY_URL,
    local_out_dir,
    render_topology,
    require_one_port,
    write,
)
from harness.stack.engine import docker_host, uses_project_engine
from harness.stack.images import local_images, stale, target_recipe
from harness.stack.startgate import START_ENV, clear, prepare, write_prefix
from harness.topology import Topology
from harness.yamlsource import display


def docker_client(settings: Settings | None = None) -> Any:
    """The SDK client on :func:`harness.stack.engine.docker_host`, or one clear error (exit 3)
    naming what was tried when no engine answers."""
    import docker
    from docker.errors import DockerException

    host = docker_host(settings or Settings())
    if host is None:
        raise InfraUnavailable(
            "the compose backend needs a running Docker engine, and none answers (tried: "
            "$DOCKER_HOST, the project engine of 'stormproof engine up', /var/run/docker.sock); "
            "start one with 'stormproof engine up' (after 'make setup-containers'); "
            "the local backend (the default) needs none"
        )
    client = None
    try:
        client = docker.DockerClient(base_url=host, timeout=10)
        client.ping()
    except DockerException as exc:
        if client is not None:
            client.close()
        raise InfraUnavailable(
            f"the compose backend needs a running Docker engine, and none answers at {host} "
            f"({exc.__class__.__name__}); the local backend (the default) needs none"
        ) from exc
    return client


def compose_command() -> list[str]:
    """``docker compose`` (v2) when the plugin answers, else Debian's ``docker-compose`` (v1)."""
    if shutil.which("docker"):
        done = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20)
        if done.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise InfraUnavailable(
        "neither 'docker compose' nor 'docker-compose' is installed: apt-get install "
        "docker-compose, or run 'make setup-containers'"
    )


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


class ComposeStack:
    """The ``StackBackend`` over the containers of one compose project."""

    prefixes_commands = True  # through the start gate every container starts with (slow_start)

    def __init__(
        self,
        topology: Topology,
        settings: Settings,
        project: str | None = None,
        compose_file: Path | None = None,
        client: Any = None,
        stack_dir: Path | None = None,
    ) -> None:
        """`stack_dir`: where the secrets folder and the saved container logs go (a run's
        stack folder); default ``.stormproof/compose/TOPOLOGY/``, where ``up`` and ``down``
        find it."""
        require_one_port(topology)
        self.topology = topology
        self.settings = settings
        self.project = project or f"stormproof-{topology.name}"
        self.client = client if client is not None else docker_client(settings)
        # on the project's podman (no registry): a file of its own on the local images,
        # written by start(); elsewhere the given file, else the committed one
        self.images = None
        if compose_file is None and client is None and uses_project_engine(settings):
            self.images = local_images(settings)
        if self.images is not None:
            target_recipe(topology)  # exit 2 now when the topology names no image to build
            compose_file = local_out_dir(settings, topology) / "docker-compose.yml"
        self.compose_file = compose_file or REPO_ROOT / "docker-compose.yml"
        self.toxiproxy = Toxiproxy(TOXIPROXY_URL, settings.timeouts.http)
        self.etcd: Etcd | None = Etcd(ETCD_URL) if topology.registry == "etcd" else None
        self.paused: set[str] = set()
        self.traced = topology.exports_traces()  # a Jaeger container only then, as natively
        self.dir = stack_dir or local_out_dir(settings, topology)
        # the secrets folder the readers' containers mount; None without `secrets:`
        self.secrets: SecretVolume | None = (
            SecretVolume(
                self.dir / "secrets",
                {n: f.nbytes for n, f in topology.secrets.items()},
                group_readable=True,
            )
            if topology.secrets
            else None
        )
        self.start_dir = self.dir / "start"  # the start gate's folder, mounted in every instance

    # -- containers ----------------------------------------------------------------------------

    def container(self, instance: str) -> Any:
        self.topology.instance(instance)  # an unknown instance is refused before any call
        return self._service_container(instance)

    def _compose(self, *args: str) -> None:
        cmd = [*compose_command(), "-f", str(self.compose_file), "-p", self.project, *args]
        env = dict(os.environ)
        host = docker_host(self.settings)
        if host is not None:
            env["DOCKER_HOST"] = host
        env[START_ENV] = str(self.start_dir.resolve())
        if self.secrets is not None:
            env[SECRETS_ENV] = str(self.secrets.dir.resolve())
            env[SECRETS_GID_ENV] = str(os.getgid())
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StackError(f"{' '.join(cmd)} failed: {exc}") from exc
        if done.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-800:]}")

    def start(self) -> None:
        if self.images is not None:
            old = stale(self.settings, self.topology)
            if old:
                build = "stormproof engine build"
                own = target_recipe(self.topology).role
                if own != "target" and own in old and self.topology.path is not None:
                    build += f" --topology {display(self.topology.path)}"
                raise InfraUnavailable(
                    f"the local images are missing or older than the sources ({', '.join(old)}):"
                    f" run '{build}' (an unchanged image is not rebuilt)"
                )
            out = self.compose_file.parent
            write(render_topology(self.topology, out, self.images), out)
        if self.secrets is not None:
            self._remove_stale_secrets()
            self.secrets.create()  # fresh values per stack, before any container mounts them
            self._secrets_record().write_text(str(self.secrets.dir.resolve()))
        prepare(self.start_dir)  # empty: no container starts under an old run's prefix
        # docker-compose v1 has no --wait; wait_healthy probes every instance either way
        self._compose("up", "-d")
        self.wait_jaeger()
        self.wait_healthy()

    def wait_jaeger(self) -> None:
        """Until the Jaeger container's query API answers (nothing without one)."""
        if self.traced:
            wait_for(
                "jaeger's query API",
                lambda: jaeger.ready(JAEGER_URL),
                self.settings.timeouts.process_start,
                alive=lambda: self._exited_service("jaeger"),
            )

    def stop(self) -> None:
        # the project's containers, networks and volumes (compose labels): nothing else
        try:
            if self.compose_file.exists():
                self._compose("down", "-v")
        finally:
            if self.secrets is not None:
                self.secrets.remove()  # no secret outlives the stack
                self._secrets_record().unlink(missing_ok=True)
            clear(self.start_dir)

    def _secrets_record(self) -> Path:
        """Where the project's live secrets folder is written down, so that the next start
        removes the folder of a run that was killed before its stop."""
        folder = local_out_dir(self.settings, self.topology)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{self.project}.secrets"

    def _remove_stale_secrets(self) -> None:
        record = self._secrets_record()
        if record.exists():
            remove_secrets(Path(record.read_text().strip()))  # only a folder with ..data
            record.unlink()

    def log_files(self) -> dict[str, Path]:
        """instance -> its container's log so far, saved under ``<stack dir>/logs/`` (for
        ``secret_leak``, which scans the processes' logs as on the local backend)."""
        folder = self.dir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        out = {}
        for inst in self.topology.instances():
            c = self.container(inst.name)
            with docker_errors(f"logs of {inst.name}"):
                text = c.logs()
            path = folder / f"{inst.name}.log"
            path.write_bytes(text)
            out[inst.name] = path
        return out

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
        clear(self.start_dir, instance)  # a plain restart: no prefix left from a failed start
        with docker_errors(f"restart {instance}"):
            c.restart(timeout=int(self.settings.timeouts.process_stop))
        self.wait_healthy(instance)

    def start_instance(self, instance: str, wait: bool = True, prefix: Sequence[str] = ()) -> None:
        """Start the stopped container; with `prefix`, its start gate runs its command under
        it, this once."""
        c = self.container(instance)
        if prefix:
            write_prefix(self.start_dir, instance, prefix)
        else:
            clear(self.start_dir, instance)
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
        """The Jaeger container's query API; "" when the topology hands no service
        ``{otlp_endpoint}``, so the stack runs no Jaeger."""
        return JAEGER_URL if self.traced else ""

    def urls(self) -> dict[str, str]:
        out = {
            "entry": self.entry_url(),
            "prometheus": PROMETHEUS_URL,
            "toxiproxy": TOXIPROXY_URL,
            "registry": ETCD_URL,
        }
        if self.traced:
            out["jaeger-api"] = JAEGER_URL + "/api/services"
        return out

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

            wait_for(
                f"{name} healthy",
                probe,
                timeout or self.settings.timeouts.process_start,
                alive=lambda n=name: self.exited(n),
            )
        return time.monotonic() - t0

    def exited(self, instance: str, lines: int = 10) -> str | None:
        """Why the instance's container is gone (its state, exit code and last log lines),
        or None while it runs or starts."""
        self.topology.instance(instance)  # an unknown instance is refused before any call
        return self._exited_service(instance, lines)

    def _exited_service(self, service: str, lines: int = 10) -> str | None:
        c = self._service_container(service)
        with docker_errors(f"inspect {service}"):
            c.reload()
            if c.status not in ("exited", "dead"):
                return None
            code = (c.attrs.get("State") or {}).get("ExitCode")
            tail = c.logs(tail=lines).decode(errors="replace").strip()
        return f"container {c.status} (exit {code}); its last log lines:\n{tail}"

    def settle(self) -> None:
        settle(self)
