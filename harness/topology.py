"""Topology files: services, instances, links, and how to start and reach each instance.

A topology describes any system, the bundled shop being one user of the format
(docs/architecture.md). Command and env values are templates rendered per instance.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import TopologyInvalid
from harness.loadconf import resolve_locustfile
from harness.profile import Profile
from harness.settings import REPO_ROOT
from harness.topology_file import (
    _LINK,
    DEFAULT_PORT,
    EndpointSpec,
    LinkSpec,
    TopologyFile,
    cross_check,
    is_topology_file,
    json_schema,
)
from harness.yamlsource import Located, Problem, display, read_yaml, validate, walk

__all__ = ["DEFAULT_PORT", "Topology", "is_topology_file", "json_schema", "load_topology"]


def bundled_topology_path() -> Path:
    return REPO_ROOT / "target_system" / "topology.yaml"


@dataclass(frozen=True)
class Endpoint:
    """Where on an instance something is served: a named port, and an HTTP path or a TCP
    connect (``path`` None)."""

    port: str
    path: str | None


@dataclass(frozen=True)
class Service:
    name: str
    instances: int
    command: list[str]
    env: dict[str, str]
    ports: tuple[str, ...] = (DEFAULT_PORT,)
    health: Endpoint = Endpoint(DEFAULT_PORT, "/health")
    metrics: Endpoint | None = Endpoint(DEFAULT_PORT, "/metrics")
    audit: Endpoint | None = None

    @property
    def main_port(self) -> str:
        return self.ports[0]


@dataclass(frozen=True)
class Instance:
    service: str
    name: str
    index: int


@dataclass(frozen=True)
class Link:
    caller: str
    callee: str
    # the caller's timeout for calls on this link, when the topology declares it
    timeout: float | None = field(default=None, compare=False)
    # the callee's port this link reaches; None: the callee's first (main) port
    port: str | None = None

    def __str__(self) -> str:
        return f"{self.caller}->{self.callee}" + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class ProxySpec:
    name: str
    caller: str | None  # None: shared by every caller of the callee instance
    callee_instance: str
    port: str = DEFAULT_PORT  # the callee's named port it forwards to


@dataclass(frozen=True)
class ConfigStore:
    """Where the target reads live settings: keys under `prefix` in its registry (etcd), each
    of a declared type, and the gauge each instance exports with the store revision it
    applied (`version_metric`)."""

    prefix: str
    keys: dict[str, str]  # key -> number | integer | boolean | string
    version_metric: str


@dataclass(frozen=True)
class SecretFile:
    """One secret of the target: a file of that name in the stack's secrets folder
    (``{secrets_dir}``), read by the `readers` services."""

    name: str
    readers: tuple[str, ...]
    nbytes: int = 32


@dataclass(frozen=True)
class BootstrapStep:
    """A command run once after every instance is first healthy (e.g. forming a cluster)."""

    command: list[str]
    timeout: float


@dataclass
class Topology:
    name: str
    services: dict[str, Service]
    links: list[Link]
    entry: str
    lease_ttl: float = 5.0
    registry: str = "etcd"
    proxy_mode: str = "per_link"
    path: Path | None = None
    # the default steady-state hypothesis's parameters; None: scenarios get none by default
    steady: dict[str, Any] | None = None
    # what the generic checks read, in the target's own names (harness/profile.py)
    profile: Profile = field(default_factory=Profile)
    # the default load of scenarios on this target (`load:`); None: each scenario names its own
    load_locustfile: Path | None = None

    def exports_traces(self) -> bool:
        """Whether some service is handed ``{otlp_endpoint}`` (then the stack runs Jaeger)."""
        return any(
            "{otlp_endpoint}" in t
            for s in self.services.values()
            for t in [*s.command, *s.env.values()]
        )

    load_host: str | None = None
    # live settings in the registry, for config_change faults and the config_applied check
    config: ConfigStore | None = None
    # secrets as files in the stack's secrets folder, for secret_rotate and secret_leak
    secrets: dict[str, SecretFile] = field(default_factory=dict)
    # run once by the stack after every instance is first healthy, before Prometheus and load
    bootstrap: list[BootstrapStep] = field(default_factory=list)
    _instances: list[Instance] = field(default_factory=list)

    def instances(self) -> list[Instance]:
        if not self._instances:
            self._instances = [
                Instance(s.name, f"{s.name}-{i}", i)
                for s in self.services.values()
                for i in range(1, s.instances + 1)
            ]
        return self._instances

    def instance(self, name: str) -> Instance:
        for inst in self.instances():
            if inst.name == name:
                return inst
        known = ", ".join(i.name for i in self.instances())
        raise TopologyInvalid(f"unknown instance {name!r}; known: {known}")

    def instances_of(self, service: str) -> list[Instance]:
        return [i for i in self.instances() if i.service == service]

    def link_port(self, link: Link) -> str:
        """The callee's named port a link reaches."""
        return link.port or self.services[link.callee].main_port

    def proxies(self) -> list[ProxySpec]:
        """One proxy per (caller service, callee instance, port); with ``proxy_mode: shared``
        one per (callee instance, port) for every caller; with ``per_instance`` one per
        (caller instance, callee instance, port)."""
        out: dict[str, ProxySpec] = {}
        for link in self.links:
            port = self.link_port(link)
            if self.proxy_mode == "per_instance":
                callers: list[str | None] = [i.name for i in self.instances_of(link.caller)]
            else:
                callers = [None if self.proxy_mode == "shared" else link.caller]
            for caller in callers:
                for inst in self.instances_of(link.callee):
                    name = self.proxy_for(caller or link.caller, inst.name, port)
                    out.setdefault(name, ProxySpec(name, caller, inst.name, port))
        if self.proxy_mode == "shared":
            return sorted(out.values(), key=lambda p: p.name)
        return list(out.values())

    def proxy_for(self, caller: str, callee_instance: str, port: str | None = None) -> str:
        """The proxy's name: ``caller--instance`` (``any--instance`` when shared; the caller's
        instance with ``per_instance``), with ``--port`` added for any port but the callee's
        first. `caller` is a service, or an instance (its service is used unless
        ``per_instance``)."""
        main = self.services[self.instance(callee_instance).service].main_port
        suffix = "" if port in (None, main) else f"--{port}"
        if self.proxy_mode == "shared":
            head = "any"
        elif self.proxy_mode == "per_instance":
            if caller in self.services:
                raise TopologyInvalid(
                    f"proxy_mode per_instance: a proxy belongs to one instance of {caller}"
                )
            head = caller
        else:
            head = caller if caller in self.services else self.instance(caller).service
        return f"{head}--{callee_instance}{suffix}"

    def caller_proxies(
        self, caller: str, callee_instance: str, port: str | None = None
    ) -> list[str]:
        """Every proxy `caller` (a service, or one of its instances) reaches `callee_instance`'s
        `port` through: one per caller instance with ``per_instance``, else one."""
        if self.proxy_mode == "per_instance" and caller in self.services:
            return [
                self.proxy_for(i.name, callee_instance, port) for i in self.instances_of(caller)
            ]
        return [self.proxy_for(caller, callee_instance, port)]

    def render_bootstrap(self, step: BootstrapStep, values: dict[str, Any]) -> list[str]:
        """A bootstrap command's argv with its templates ({python}, {dir}, {host}, proxies)
        filled in."""
        where = str(self.path.parent) if self.path is not None else "."
        return [_fill(c, {"dir": where, **values}) for c in step.command]

    def render(self, inst: Instance, values: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        """The instance's command line and environment with every template filled in."""
        svc = self.services[inst.service]
        # {index} first: it may sit inside another variable ({proxy:SERVICE:PORT:{index}});
        # {dir}: the topology file's folder, so commands need not depend on the working directory
        where = str(self.path.parent) if self.path is not None else "."
        v = {"index": inst.index, "service": inst.service, "instance": inst.name, "dir": where}
        v.update(values)
        return [_fill(c, v) for c in svc.command], {k: _fill(x, v) for k, x in svc.env.items()}


def _fill(template: str, values: dict[str, Any]) -> str:
    out = str(template)
    for name, value in values.items():
        text = (
            value
            if isinstance(value, str)
            else json.dumps(value)
            if isinstance(value, dict)
            else str(value)
        )
        out = out.replace("{" + name + "}", text)
    return out


def load_topology(path: str | Path) -> Topology:
    """Parse and validate a topology file; raise TopologyInvalid naming file:line: field."""
    path = Path(path)
    try:
        data, root = read_yaml(path, "name, services, links")
        spec = validate(TopologyFile, data, root, path)
        problems = [
            Problem(display(path), *walk(root, loc), msg) for loc, msg in cross_check(spec, path)
        ]
        if problems:
            raise Located(problems)
    except Located as exc:
        err = TopologyInvalid(str(exc))
        err.problems = exc.problems  # type: ignore[attr-defined]
        raise err from None
    services = {
        name: Service(
            name=name,
            instances=s.instances,
            command=list(s.command),
            env=dict(s.env),
            ports=tuple(s.ports),
            health=Endpoint(s.health.port or s.ports[0], s.health.path),
            metrics=_endpoint_of(s.metrics, s.ports),
            audit=_endpoint_of(s.audit, s.ports),
        )
        for name, s in spec.services.items()
    }
    links = [_link(item, services) for item in spec.links]
    return Topology(
        name=spec.name or _default_name(path),
        services=services,
        links=links,
        entry=spec.entry or next(iter(services)),
        lease_ttl=spec.lease_ttl,
        registry=spec.registry,
        proxy_mode=spec.proxy_mode,
        path=path.resolve(),
        steady=None
        if spec.steady_state == "none"
        else spec.steady_state.model_dump(exclude_defaults=True),
        profile=spec.profile,
        load_locustfile=None
        if spec.load is None
        else resolve_locustfile(spec.load.locustfile, path.resolve(), None),
        load_host=None if spec.load is None else spec.load.host,
        config=None
        if spec.config is None
        else ConfigStore(spec.config.prefix, dict(spec.config.keys), spec.config.version_metric),
        secrets={n: SecretFile(n, tuple(sp.readers), sp.bytes) for n, sp in spec.secrets.items()},
        bootstrap=[BootstrapStep(list(b.command), b.timeout) for b in spec.bootstrap],
    )


def _endpoint_of(spec: EndpointSpec | None, ports: list[str]) -> Endpoint | None:
    return None if spec is None else Endpoint(spec.port or ports[0], spec.path)


def _link(item: str | LinkSpec, services: dict[str, Service]) -> Link:
    m = _LINK.match(item if isinstance(item, str) else item.link)
    assert m is not None  # the schema's pattern
    caller, callee, port = m.groups()
    return Link(
        caller,
        callee,
        timeout=None if isinstance(item, str) else item.timeout,
        # the callee's first port is the link's port when none is named
        port=None if port == services[callee].main_port else port,
    )


def _default_name(path: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-")[:63]
    return name or "topology"
