"""The project's own Docker-API engine: podman's API service on a socket under ``.stormproof/``.

``stormproof engine up`` starts ``podman system service --time=0 unix://SOCKET`` with a
project-local ``containers.conf`` and ``storage.conf`` (written here, under
``.stormproof/engine/``; nothing under ``/etc`` changes): runc and cgroupfs (crun refuses this
host's cgroup layout), no default ulimits (raising RLIMIT_NOFILE is not permitted here), image
storage and CNI network configs inside the engine directory, so ``rm -rf .stormproof`` removes
every image and network the project made. The service is recorded in a state file before it
runs, like every process the harness starts, and ``engine down`` stops it by that record.

Who answers the Docker API (:func:`docker_host`): ``DOCKER_HOST`` when the user set one (their
own Docker or podman; the project engine is then never started), else the project engine when
its record is alive, else ``/var/run/docker.sock`` when it exists, else nobody.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.errors import InfraUnavailable
from harness.procs import ProcessRecord, StateFile, record_dict, records_from, spawn, stop
from harness.settings import Settings

SYSTEM_SOCKET = Path("/var/run/docker.sock")


def engine_dir(settings: Settings) -> Path:
    return settings.state_dir / "engine"


def socket_path(settings: Settings) -> Path:
    return engine_dir(settings) / "podman.sock"


def containers_conf(settings: Settings) -> str:
    d = engine_dir(settings).resolve()
    return (
        "# Written by stormproof (harness/stack/engine.py); the project's podman only.\n"
        "[containers]\n"
        "default_ulimits = []\n"
        "\n[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        "\n[network]\n"
        'network_backend = "cni"\n'
        f'network_config_dir = "{d / "cni"}"\n'
    )


def storage_conf(settings: Settings) -> str:
    d = engine_dir(settings).resolve()
    return (
        "# Written by stormproof (harness/stack/engine.py); the project's podman only.\n"
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{d / "storage"}"\n'
        f'runroot = "{d / "run"}"\n'
    )


def podman_env(settings: Settings) -> dict[str, str]:
    """The environment every podman command of the project runs with (configs written first)."""
    d = engine_dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    files = {"containers.conf": containers_conf(settings), "storage.conf": storage_conf(settings)}
    for name, text in files.items():
        path = d / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str((d / "containers.conf").resolve())
    env["CONTAINERS_STORAGE_CONF"] = str((d / "storage.conf").resolve())
    return env


def _state(settings: Settings) -> StateFile:
    return StateFile(engine_dir(settings) / "state.json")


def project_engine(settings: Settings) -> ProcessRecord | None:
    """The record of the project's podman service while it runs."""
    data = _state(settings).read()
    if not data:
        return None
    recs = [r for r in records_from(data) if r.alive()]
    return recs[0] if recs else None


def docker_host(settings: Settings) -> str | None:
    """The Docker API to use, in the order of the module's docstring; None when nobody answers."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    if project_engine(settings) is not None:
        return f"unix://{socket_path(settings).resolve()}"
    if SYSTEM_SOCKET.exists():
        return f"unix://{SYSTEM_SOCKET}"
    return None


def uses_project_engine(settings: Settings) -> bool:
    return not os.environ.get("DOCKER_HOST") and project_engine(settings) is not None


def ping(sock: Path, timeout: float = 1.0) -> bool:
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=timeout) as c:
            return c.get("http://d/_ping").status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class EngineUp:
    host: str
    how: str  # "yours" (DOCKER_HOST), "running" (already up) or "started"
    seconds: float = 0.0
    version: str = ""


def up(settings: Settings, timeout: float = 30.0) -> EngineUp:
    """Start the project engine unless DOCKER_HOST names one or it already runs."""
    if os.environ.get("DOCKER_HOST"):
        return EngineUp(os.environ["DOCKER_HOST"], "yours")
    sock = socket_path(settings)
    if project_engine(settings) is not None and ping(sock):
        return EngineUp(f"unix://{sock.resolve()}", "running", version=version(settings))
    podman = shutil.which("podman")
    if podman is None:
        raise InfraUnavailable(
            "no container engine: DOCKER_HOST is unset and podman is not installed "
            "(tried: $DOCKER_HOST, the project engine, podman on PATH); run "
            "'make setup-containers', or set DOCKER_HOST to your Docker or podman"
        )
    env = podman_env(settings)
    sock.unlink(missing_ok=True)
    state = _state(settings)
    t0 = time.monotonic()
    cmd = ["nice", "-n", "19", podman, "system", "service", "--time=0", f"unix://{sock.resolve()}"]
    proc, rec = spawn(
        "podman-service",
        cmd,
        env,
        engine_dir(settings) / "podman-service.log",
        recorded=lambda r: state.write({"processes": [record_dict(r)]}),
    )
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if ping(sock):
            return EngineUp(
                f"unix://{sock.resolve()}", "started", time.monotonic() - t0, version(settings)
            )
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop(rec, proc=proc)
    state.remove()
    tail = _tail(Path(rec.log))
    raise InfraUnavailable(f"podman system service did not answer on {sock}: {tail}")


def down(settings: Settings) -> bool:
    """Stop the project engine by its record; False when it was not running."""
    rec = project_engine(settings)
    if rec is not None:
        stop(rec, timeout=10.0)
    _state(settings).remove()
    socket_path(settings).unlink(missing_ok=True)
    return rec is not None


def mounts_under(root: Path, mountinfo: str) -> list[Path]:
    """The mount points at or below `root` in a /proc/self/mountinfo text, deepest first."""
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            # octal escapes (\040 for a space) as the kernel writes them
            point = Path(fields[4].encode().decode("unicode_escape"))
            if point == root or root in point.parents:
                found.append(point)
    return sorted(set(found), key=lambda p: (-len(p.parts), str(p)))


def unmount_storage(settings: Settings) -> str:
    """Unmount podman's mounts inside the project's storage (containers/storage bind-mounts
    its overlay directory onto itself, private, and leaves it after every command), so
    ``rm -rf .stormproof`` works; the next podman command mounts it again. Only mount points
    under ``.stormproof/engine/``, never another's, and none while a container of the project's
    storage still runs (its root file system is one of them). Returns what was done, for
    the command's output."""
    root = engine_dir(settings).resolve()
    try:
        points = mounts_under(root, Path("/proc/self/mountinfo").read_text())
    except OSError:
        return ""
    if not points:
        return ""
    running = podman(settings, "ps", "-q", timeout=60)
    if running.returncode != 0 or running.stdout.strip():
        return f"storage left mounted: containers still run (podman ps) under {root}"
    for point in points:
        subprocess.run(["umount", str(point)], capture_output=True, timeout=30)
    # podman's own cleanup may unmount the same points meanwhile: what counts is what is left
    failed = [str(p) for p in mounts_under(root, Path("/proc/self/mountinfo").read_text())]
    if failed:
        return f"could not unmount {', '.join(failed)} (umount failed)"
    return f"unmounted podman's storage ({len(points)} mount points under {root})"


def version(settings: Settings) -> str:
    """``podman X.Y.Z`` of the project engine, by its API."""
    try:
        uds = str(socket_path(settings))
        with httpx.Client(transport=httpx.HTTPTransport(uds=uds), timeout=2.0) as c:
            data = c.get("http://d/version").json()
    except (httpx.HTTPError, ValueError):
        return "unknown"
    return f"{data.get('Components', [{}])[0].get('Name', 'engine')} {data.get('Version', '?')}"


def podman(settings: Settings, *args: str, timeout: float = 900.0) -> subprocess.CompletedProcess:
    """One podman command with the project's configs, under nice."""
    return subprocess.run(
        ["nice", "-n", "19", "podman", *args],
        env=podman_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check(settings: Settings, image: str) -> float:
    """Whether the engine can run the stack at all: `image` run once (``true``) on a network
    of its own, both removed after. Returns the seconds taken; InfraUnavailable (exit 3) naming
    the step that failed. An engine that answers its API may still be unable to run a container
    (a runtime or network plugin refusing this host); the container smoke tells that apart
    from a scenario that fails."""
    import docker
    import requests
    from docker.errors import DockerException

    host = docker_host(settings)
    if host is None:
        raise InfraUnavailable("engine check: no Docker API answers (stormproof engine up)")
    t0 = time.monotonic()
    name = f"stormproof-check-{os.getpid()}"
    step = f"create the network {name} at {host}"
    # a fixed API version: no call before the try below
    client = docker.DockerClient(base_url=host, version="1.41", timeout=60)
    try:
        net = client.networks.create(name, labels={"stormproof": "check"})
        try:
            step = f"run {image} on {name}"
            client.containers.run(image, ["true"], network=name, name=name, remove=True)
            step = f"remove the network {name}"
        finally:
            net.remove()
    except (DockerException, requests.RequestException) as exc:  # the SDK lets the latter through
        raise InfraUnavailable(f"engine check: {step} failed: {exc}") from exc
    finally:
        client.close()
    return time.monotonic() - t0


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
