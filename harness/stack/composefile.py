"""docker-compose.yml generated from a topology: the same stack as the native default.

One container per instance (the image and Dockerfile the target profile's ``compose`` names,
with its extra env), Toxiproxy (its proxies from
a generated config file), Prometheus (config generated the same way as natively), etcd, a
Jaeger when some service is handed ``{otlp_endpoint}`` (the native config, ``compose/jaeger.yaml``;
the instances export to ``http://jaeger:4318``, the query API is published on 127.0.0.1:16686),
and a Locust master and worker running the topology's ``load:`` locustfile (when it names one).
Every service-to-service link goes through Toxiproxy exactly as in the native stack; every
published port binds to 127.0.0.1.

``stormproof compose generate`` (harness/compose.py) writes docker-compose.yml and compose/;
a test proves the committed files are what the generator makes from
target_system/topology.yaml. The generator lives with the drivers so that the compose backend
can write the file for its own topology and the project's local images
(:func:`local_compose_file`).

A target's secrets folder (``harness/infra/secrets.py``) is bind-mounted read-only at
:data:`SECRETS_MOUNT` into the containers of the services whose command or env uses
``{secrets_dir}`` (which renders as that path). The host side is the directory, not its files,
so the ``..data`` symlink swap of a rotation shows inside the containers as it does natively.
The file names the host folder through ``$STORMPROOF_SECRETS_DIR`` and its group through
``$STORMPROOF_SECRETS_GID`` (the compose backend sets both), so one committed file serves
every run; the readers' containers get that group (``group_add``) to read the 0640 files.

Every instance's container starts through the start gate (``harness/stack/startgate.py``): its
``entrypoint`` is the gate, its ``command`` the topology's command, and the stack's start folder
(``$STORMPROOF_START_DIR``) is mounted at :data:`START_MOUNT`, so a fault can start a stopped
container under a command prefix (``slow_start``) as the local backend starts a process.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputInvalid
from harness.infra import jaeger
from harness.loadconf import DEFAULT_HOST, render_host
from harness.ports import PortAllocator
from harness.settings import REPO_ROOT, Settings
from harness.stack.addresses import AddressBook
from harness.stack.startgate import START_MOUNT, START_SOURCE, gate_entrypoint
from harness.topology import Service, Topology, load_topology
from harness.yamlsource import display


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
    jaeger_otlp: int = 4318  # inside: OTLP/HTTP, where the instances export their spans
    jaeger_query: int = 16686  # inside and published: the query API the harness reads
    jaeger_query_grpc: int = 16685  # inside (the query service always opens it)

    @staticmethod
    def published(port: int) -> str:
        return f"http://127.0.0.1:{port}"


PORTS = ComposePorts()
TOXIPROXY_URL = PORTS.published(PORTS.toxiproxy_api)
PROMETHEUS_URL = PORTS.published(PORTS.prometheus)
ETCD_URL = PORTS.published(PORTS.etcd_published)
JAEGER_URL = PORTS.published(PORTS.jaeger_query)
OTLP_ENDPOINT = f"http://jaeger:{PORTS.jaeger_otlp}"  # {otlp_endpoint} in the compose network


def unsupported(topology: Topology) -> list[str]:
    """What of a topology the compose backend cannot run (empty: it can). It maps one HTTP
    port per instance, every link through the Toxiproxy container, and runs no commands of
    its own beside the containers."""
    out = []
    if topology.proxy_mode == "per_instance":
        out.append("proxy_mode per_instance (one proxy per caller instance)")
    if topology.bootstrap:
        out.append("bootstrap commands run on the local backend only")
    for svc in topology.services.values():
        if len(svc.ports) > 1:
            out.append(
                f"service {svc.name} has {len(svc.ports)} named ports (containers: one port "
                "per instance)"
            )
        if svc.health.path is None:
            out.append(f"service {svc.name} has a TCP health check (containers: HTTP only)")
    return out


def require_one_port(topology: Topology) -> None:
    """InputInvalid (exit 2) naming everything :func:`unsupported` found, before anything
    starts."""
    found = unsupported(topology)
    if found:
        raise InputInvalid(
            f"{display(topology.path) if topology.path else topology.name}: the compose backend "
            "cannot run this topology: "
            + "; ".join(found)
            + ": use --backend local (README, 'Containers')"
        )


SECRETS_MOUNT = "/stormproof/secrets"  # {secrets_dir} inside a container
SECRETS_ENV = "STORMPROOF_SECRETS_DIR"  # the host folder; the compose backend sets it
# compose refuses to start the file without it, saying so, rather than mount an empty folder
SECRETS_SOURCE = "${" + SECRETS_ENV + ":?the stack's secrets folder, set by stormproof}"
# the folder's group (the harness's), added to the readers' containers: an image that runs as
# another user (the bundled one runs as nobody) reads the 0640 files through it, as with fsGroup
SECRETS_GID_ENV = "STORMPROOF_SECRETS_GID"
SECRETS_GROUP = "${" + SECRETS_GID_ENV + ":?the secrets folder's group id, set by stormproof}"


def reads_secrets(svc: Service) -> bool:
    """Whether a service is handed the secrets folder (its command or env uses it)."""
    return any("{secrets_dir}" in t for t in [*svc.command, *svc.env.values()])


TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
PROMETHEUS_IMAGE = "prom/prometheus:v2.42.0"
ETCD_IMAGE = "quay.io/coreos/etcd:v3.4.23"
LOCUST_IMAGE = "locustio/locust:2.31.8"
# the upstream image of the release the setup builds (cmd/jaeger v1.76.0 is Jaeger v2.13.0)
JAEGER_IMAGE = "cr.jaegertracing.io/jaegertracing/jaeger:2.13.0"
SERVICE_PORT = PORTS.service
HEADER = "# Generated by `stormproof compose generate` from {src}; do not edit by hand.\n"


def proxy_ports(topology: Topology) -> dict[str, int]:
    return {p.name: PORTS.proxies_from + i for i, p in enumerate(topology.proxies())}


def toxiproxy_config(topology: Topology) -> list[dict[str, Any]]:
    ports = proxy_ports(topology)
    return [
        {
            "name": p.name,
            "listen": f"0.0.0.0:{ports[p.name]}",
            "upstream": f"{p.callee_instance}:{SERVICE_PORT}",
            "enabled": True,
        }
        for p in topology.proxies()
    ]


def jaeger_config() -> dict[str, Any]:
    """Jaeger's config in its container: the native stack's (``harness.infra.jaeger.config``),
    listening on every interface of the container, on the compose ports."""
    return jaeger.config("0.0.0.0", PORTS.jaeger_otlp, PORTS.jaeger_query, PORTS.jaeger_query_grpc)


def prometheus_config(topology: Topology) -> dict[str, Any]:
    jobs: dict[str, dict] = {}
    for inst in topology.instances():
        svc = topology.services[inst.service]
        if not svc.metrics:
            continue
        job = jobs.setdefault(
            inst.service,
            {"job_name": inst.service, "metrics_path": svc.metrics.path, "static_configs": []},
        )
        job["static_configs"].append(
            {
                "targets": [f"{inst.name}:{SERVICE_PORT}"],
                "labels": {"instance": inst.name, "service": inst.service},
            }
        )
    jobs["toxiproxy"] = {
        "job_name": "toxiproxy",
        "static_configs": [
            {"targets": [f"toxiproxy:{PORTS.toxiproxy_api}"], "labels": {"instance": "toxiproxy"}}
        ],
    }
    jobs["etcd"] = {
        "job_name": "etcd",
        "static_configs": [{"targets": [f"etcd:{PORTS.etcd}"], "labels": {"instance": "etcd"}}],
    }
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms"},
        "scrape_configs": list(jobs.values()),
    }


UPSTREAM = {
    "etcd": ETCD_IMAGE,
    "toxiproxy": TOXIPROXY_IMAGE,
    "prometheus": PROMETHEUS_IMAGE,
    "locust": LOCUST_IMAGE,
    "jaeger": JAEGER_IMAGE,
}
BUNDLED_DOCKERFILE = "target_system/Dockerfile"
# {dir} inside a target's container: an image built for a topology whose commands name files
# of its folder copies that folder here (examples/two-service/Containerfile)
TARGET_DIR = "/target"


def target_role(topology: Topology) -> str:
    """The role of a topology's own image among the local images (images.json): ``target``
    for the bundled shop's Dockerfile, ``target-NAME`` for any other topology's."""
    if topology.profile.compose.dockerfile == BUNDLED_DOCKERFILE:
        return "target"
    return f"target-{topology.name}"


class _FixedPorts(PortAllocator):
    """The compose file's ports, fixed, where :class:`AddressBook` asks its allocator: a
    proxy's listener in the Toxiproxy container, every instance's SERVICE_PORT."""

    def __init__(self, topology: Topology) -> None:
        super().__init__()
        self.proxies = proxy_ports(topology)

    def get(self, key: str) -> int:
        if key.startswith("proxy:"):
            return self.proxies[key.removeprefix("proxy:")]
        return SERVICE_PORT


class ComposeAddresses(AddressBook):
    """The address templates of an instance inside the compose network: a proxy is
    ``toxiproxy:PORT``, an instance ``NAME:SERVICE_PORT``."""

    def __init__(self, topology: Topology) -> None:
        super().__init__(topology, _FixedPorts(topology), "0.0.0.0")

    def addr(self, name: str) -> str:
        if name.startswith("proxy:"):
            return f"toxiproxy:{self.ports.get(name)}"
        return f"{name.split(':')[0]}:{SERVICE_PORT}"


def compose_file(
    topology: Topology, out_dir: Path = REPO_ROOT, images: dict[str, str] | None = None
) -> dict[str, Any]:
    """The compose document; bind-mounted paths are relative to `out_dir`, where it is written.

    ``images``: role -> image of the project's local build (``stormproof engine build``)
    instead of the upstream images; an instance built from the bundled target's Dockerfile then runs
    the local target image, and ``depends_on`` waits for a started container, not a healthy
    one (podman without systemd runs no health checks; the harness probes health itself).
    """
    require_one_port(topology)
    pports = proxy_ports(topology)
    image = {**UPSTREAM, **(images or {})}
    ready = "service_started" if images else "service_healthy"
    services: dict[str, Any] = {
        "etcd": {
            "image": image["etcd"],
            "command": [
                "etcd",
                "--name",
                "etcd",
                "--data-dir",
                "/etcd-data",
                "--listen-client-urls",
                f"http://0.0.0.0:{PORTS.etcd}",
                "--advertise-client-urls",
                f"http://etcd:{PORTS.etcd}",
                "--listen-peer-urls",
                "http://0.0.0.0:2380",
            ],
            "healthcheck": {
                "test": ["CMD", "etcdctl", "endpoint", "health"],
                "interval": "2s",
                "retries": 15,
            },
            "ports": [f"127.0.0.1:{PORTS.etcd_published}:{PORTS.etcd}"],
        },
        "toxiproxy": {
            "image": image["toxiproxy"],
            "command": [
                "-host",
                "0.0.0.0",
                "-config",
                "/toxiproxy/toxiproxy.json",
                "-proxy-metrics",
                "-runtime-metrics",
            ],
            "volumes": ["./compose/toxiproxy.json:/toxiproxy/toxiproxy.json:ro"],
            "ports": [f"127.0.0.1:{PORTS.toxiproxy_api}:{PORTS.toxiproxy_api}"],
        },
    }
    traced = topology.exports_traces()
    if traced:
        # one Jaeger, as natively: only for a target that exports traces ({otlp_endpoint})
        services["jaeger"] = {
            "image": image["jaeger"],
            "command": ["--config", "/jaeger/jaeger.yaml"],
            "volumes": ["./compose/jaeger.yaml:/jaeger/jaeger.yaml:ro"],
            "ports": [f"127.0.0.1:{PORTS.jaeger_query}:{PORTS.jaeger_query}"],
        }
    volumes: dict[str, Any] = {}
    book = ComposeAddresses(topology)
    root = os.path.relpath(REPO_ROOT, out_dir.resolve())
    for n, inst in enumerate(topology.instances()):
        svc = topology.services[inst.service]
        links = {}
        for link in topology.links:
            if link.caller == inst.service:
                for callee in topology.instances_of(link.callee):
                    name = topology.proxy_for(inst.service, callee.name)
                    links[callee.name] = f"toxiproxy:{pports[name]}"
        cmd, env = topology.render(
            inst,
            {
                "python": "python",
                "host": "0.0.0.0",
                "port": SERVICE_PORT,
                "registry_url": f"http://etcd:{PORTS.etcd}",
                "data_dir": f"/data/{inst.service}",
                "links_json": links,
                "otlp_endpoint": OTLP_ENDPOINT if traced else "",
                "secrets_dir": SECRETS_MOUNT,
                "dir": TARGET_DIR,
                **book.template_values(inst.name),
            },
        )
        extra = topology.profile.compose
        for key, value in extra.env.items():
            env[key] = value.replace("{instance}", inst.name).replace("{port}", str(SERVICE_PORT))
        volumes[f"{inst.service}-data"] = {}
        build = (
            # the context is the repository root (the dockerfile's path is from there), wherever
            # the file is written
            {"build": {"context": root, "dockerfile": extra.dockerfile}} if extra.dockerfile else {}
        )
        own = extra.image or f"stormproof-{topology.name}:local"
        if images and target_role(topology) in images:
            build, own = {}, images[target_role(topology)]
        secret = {"group_add": [SECRETS_GROUP]} if reads_secrets(svc) and topology.secrets else {}
        services[inst.name] = {
            **build,
            "image": own,
            # the gate execs the command, with a prefix when the harness left one (slow_start)
            # ($$: compose interpolates $ in the file; the container gets the script's $)
            "entrypoint": [a.replace("$", "$$") for a in gate_entrypoint(inst.name)],
            "command": cmd,  # the topology's, as natively ({dir}: TARGET_DIR in the image)
            "environment": env,
            **secret,
            "volumes": [f"{inst.service}-data:/data/{inst.service}"]
            + ([f"{SECRETS_SOURCE}:{SECRETS_MOUNT}:ro"] if secret else [])
            + [f"{START_SOURCE}:{START_MOUNT}"],  # read-write: the gate empties its file
            "ports": [f"127.0.0.1:{PORTS.instances_from + n}:{SERVICE_PORT}"],
            "healthcheck": {
                "test": [
                    "CMD",
                    "python",
                    "-c",
                    f"import urllib.request; urllib.request.urlopen("
                    f"'http://127.0.0.1:{SERVICE_PORT}{svc.health.path}', timeout=1)",
                ],
                "interval": "2s",
                "retries": 15,
            },
            "depends_on": {
                "etcd": {"condition": ready},
                "toxiproxy": {"condition": "service_started"},
                **({"jaeger": {"condition": "service_started"}} if traced else {}),
            },
        }
    entry = topology.instances_of(topology.entry)[0].name
    services["prometheus"] = {
        "image": image["prometheus"],
        "command": [
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
        ],
        "volumes": ["./compose/prometheus.yml:/etc/prometheus/prometheus.yml:ro"],
        "ports": [f"127.0.0.1:{PORTS.prometheus}:{PORTS.prometheus}"],
        "depends_on": {i.name: {"condition": ready} for i in topology.instances()},
    }
    if topology.load_locustfile is not None:
        # the target's own locustfile, as written (the recorder is for scenario runs only)
        rel = os.path.relpath(topology.load_locustfile.parent, out_dir.resolve())
        mount = [f"./{rel}:/locust:ro" if not rel.startswith("..") else f"{rel}:/locust:ro"]
        file = f"/locust/{topology.load_locustfile.name}"
        host = render_host(
            topology.load_host or DEFAULT_HOST,
            topology.entry,
            lambda service, _port: f"{topology.instances_of(service)[0].name}:{SERVICE_PORT}",
        )
        services["locust-master"] = {
            "image": image["locust"],
            "command": ["-f", file, "--master", "--host", host],
            "volumes": list(mount),
            "ports": [f"127.0.0.1:{PORTS.locust}:{PORTS.locust}"],
            "depends_on": {entry: {"condition": ready}},
        }
        services["locust-worker"] = {
            "image": image["locust"],
            "command": ["-f", file, "--worker", "--master-host", "locust-master"],
            "volumes": list(mount),
            "depends_on": ["locust-master"],
        }
    return {"services": services, "volumes": volumes}


def render(
    topology_path: Path, out_dir: Path, images: dict[str, str] | None = None
) -> dict[Path, str]:
    """The files `generate` writes into `out_dir`, as text."""
    return render_topology(load_topology(topology_path), out_dir, images)


def render_topology(
    topology: Topology, out_dir: Path, images: dict[str, str] | None = None
) -> dict[Path, str]:
    src: Path | str = topology.path or topology.name
    if topology.path is not None:
        try:
            src = topology.path.resolve().relative_to(out_dir.resolve())
        except ValueError:
            src = topology.path
    files = {
        out_dir / "docker-compose.yml": HEADER.format(src=src)
        + yaml.safe_dump(compose_file(topology, out_dir, images), sort_keys=False, width=100),
        out_dir / "compose" / "toxiproxy.json": json.dumps(toxiproxy_config(topology), indent=2)
        + "\n",
        out_dir / "compose" / "prometheus.yml": HEADER.format(src=src)
        + yaml.safe_dump(prometheus_config(topology), sort_keys=False),
    }
    if topology.exports_traces():
        files[out_dir / "compose" / "jaeger.yaml"] = HEADER.format(src=src) + yaml.safe_dump(
            jaeger_config(), sort_keys=False
        )
    return files


def generate(
    topology_path: Path, out_dir: Path, images: dict[str, str] | None = None
) -> list[Path]:
    return write(render(topology_path, out_dir, images), out_dir)


def write(files: dict[Path, str], out_dir: Path) -> list[Path]:
    (out_dir / "compose").mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
    return list(files)


def local_out_dir(settings: Settings, topology: Topology) -> Path:
    return settings.state_dir / "compose" / topology.name
