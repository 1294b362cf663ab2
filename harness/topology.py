"""Topology files: services, instances, links, and how to start and reach each instance.

A topology describes any system, the bundled shop being one user of the format
(docs/architecture.md). Command and env values are templates rendered per instance.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, model_validator

from harness.durations import PositiveDuration
from harness.errors import TopologyInvalid
from harness.facts import SteadyParams
from harness.loadconf import (
    LOCUSTFILE_RE,
    HostTemplate,
    host_problems,
    locustfile_file_problem,
    resolve_locustfile,
)
from harness.profile import Profile
from harness.profile import cross_check as profile_cross_check
from harness.settings import REPO_ROOT
from harness.yamlsource import Located, Problem, display, read_yaml, validate, walk

TEMPLATE_VARS = {
    "python",
    "service",
    "instance",
    "index",
    "host",
    "port",
    "registry_url",
    "data_dir",
    "links_json",
    "dir",
    "otlp_endpoint",
}
# ``{proxy:SERVICE[:PORT[:INDEX]]}``: this caller's Toxiproxy listeners for SERVICE's instances
# (on PORT; only instance INDEX), comma-separated. ``{port:NAME}``: this instance's named port.
# ``{advertise:PORT}``: the proxy address other members reach this instance's PORT through.
PROXY_VAR = "proxy"
PORT_VAR = "port"
ADVERTISE_VAR = "advertise"
DEFAULT_PORT = "main"  # the name of the one port of a service that lists none
_PORT_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
_LINK = re.compile(r"^\s*([a-z0-9_-]+)\s*->\s*([a-z0-9_-]+)\s*(?::\s*([a-z][a-z0-9_-]{0,31}))?\s*$")


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
    load_host: str | None = None
    # live settings in the registry, for config_change faults and the config_applied check
    config: ConfigStore | None = None
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


# ---------------------------------------------------------------------------- the file's schema

_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
_SERVICE = r"^[a-z][a-z0-9_-]{0,39}$"
_ENV_KEY = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_URL_PATH = r"^/[!-~]{0,255}$"
MAX_INSTANCES = 32  # per service; the stack starts them all on one machine


def _template(value: Any) -> Any:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if "\0" in value or len(value) > 4096:
            raise ValueError("expected a template of at most 4096 characters without NUL")
        try:
            list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"bad template {value[:60]!r}: {exc}") from None
    return value


Template = Annotated[str, BeforeValidator(_template)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointSpec(_Strict):
    """Where a thing is served: a named port and an HTTP path, or a plain TCP connect."""

    port: str | None = Field(
        default=None, pattern=_PORT_NAME, description="a name from `ports` (default: the first)"
    )
    path: str | None = Field(default=None, pattern=_URL_PATH, description="HTTP GET path")
    tcp: bool = Field(default=False, description="health only: a TCP connect, no HTTP")

    @model_validator(mode="after")
    def _one_way(self) -> EndpointSpec:
        if self.tcp == (self.path is not None):
            raise ValueError("expected exactly one of `path` (HTTP) or `tcp: true`")
        return self


def _endpoint(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


Endpointish = Annotated[EndpointSpec | None, BeforeValidator(_endpoint)]
HealthEndpoint = Annotated[EndpointSpec, BeforeValidator(_endpoint)]


class ServiceSpec(_Strict):
    instances: StrictInt = Field(default=1, ge=1, le=MAX_INSTANCES)
    command: list[Template] = Field(min_length=1, max_length=256)
    env: dict[Annotated[str, Field(pattern=_ENV_KEY)], Template] = Field(default_factory=dict)
    ports: list[Annotated[str, Field(pattern=_PORT_NAME)]] = Field(
        default_factory=lambda: [DEFAULT_PORT],
        min_length=1,
        max_length=16,
        description="named ports, each allocated per instance; the first is `{port}`",
    )
    health: HealthEndpoint = Field(
        default=EndpointSpec(path="/health"),
        description="an HTTP path on the first port, or {port, path} / {port, tcp: true}",
    )
    metrics: Endpointish = Field(
        default=EndpointSpec(path="/metrics"),
        description="a path on the first port, or {port, path}",
    )
    audit: Endpointish = Field(
        default=None, description="a path on the first port, or {port, path}"
    )


class LinkSpec(_Strict):
    """The mapping form of a link, for what a plain ``caller -> callee`` cannot say."""

    link: str = Field(pattern=_LINK.pattern)
    timeout: PositiveDuration | None = Field(
        default=None, description="the caller's timeout for these calls (coverage map)"
    )


class LoadDefaults(_Strict):
    """The load every scenario on this target gets unless it names its own."""

    locustfile: str | None = Field(
        default=None, pattern=LOCUSTFILE_RE, description="relative to the topology file"
    )
    host: HostTemplate | None = None


ConfigType = Literal["number", "integer", "boolean", "string"]


class ConfigSpec(_Strict):
    """`config:`: the live settings a target reads from its registry (etcd)."""

    prefix: str = Field(
        pattern=r"^/[\x21-\x7e]*/$", description="key prefix, e.g. /shop/config/ (ends in /)"
    )
    keys: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")], ConfigType] = Field(
        min_length=1, max_length=256, description="key (under prefix) -> its value's type"
    )
    version_metric: str = Field(
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="gauge per instance: the store revision of the settings it applied",
    )


class TopologyFile(_Strict):
    """A topology file as written. Top-level `defaults:` and `x-*` keys hold YAML anchors."""

    name: str | None = Field(default=None, pattern=_NAME)
    lease_ttl: PositiveDuration = 5.0
    registry: Literal["etcd", "none"] = "etcd"
    proxy_mode: Literal["per_link", "shared", "per_instance"] = "per_link"
    entry: str | None = Field(default=None, pattern=_SERVICE)
    services: dict[Annotated[str, Field(pattern=_SERVICE)], ServiceSpec] = Field(
        min_length=1, max_length=64
    )
    links: list[Annotated[str, Field(pattern=_LINK.pattern)] | LinkSpec] = Field(
        default_factory=list, max_length=1024
    )
    steady_state: SteadyParams | Literal["none"] = Field(
        default="none",
        description="the steady-state hypothesis every scenario on this target gets",
    )
    profile: Profile = Field(
        default_factory=Profile,
        description="what the generic checks read, in the target's own names",
    )
    load: LoadDefaults | None = Field(
        default=None, description="the locustfile and host scenarios on this target default to"
    )
    config: ConfigSpec | None = Field(
        default=None, description="live settings in the registry (config_change, config_applied)"
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_anchor_holders(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: v
                for k, v in data.items()
                if not (k == "defaults" or (isinstance(k, str) and k.startswith("x-")))
            }
        return data


def is_topology_file(path: Path) -> bool:
    """Whether `path` reads as a topology (has `services`, no `phases`); False when unreadable."""
    try:
        data, _ = read_yaml(path, "services")
    except Located:
        return False
    return "services" in data and "phases" not in data


def json_schema() -> dict[str, Any]:
    schema = TopologyFile.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Stormproof topology"
    return schema


def _cross_check(spec: TopologyFile, path: Path) -> list[tuple[tuple[Any, ...], str]]:
    """(location, message) for references the schema cannot see: links, ports, entry,
    templates, the default locustfile."""
    found: list[tuple[tuple[Any, ...], str]] = []
    if spec.load is not None:
        if spec.load.host is not None:
            ports = {name: svc.ports for name, svc in spec.services.items()}
            for msg in host_problems(spec.load.host, spec.services, ports):
                found.append((("load", "host"), msg))
        if spec.load.locustfile is not None:
            locustfile = resolve_locustfile(spec.load.locustfile, path, None)
            assert locustfile is not None
            if msg := locustfile_file_problem(locustfile):
                found.append((("load", "locustfile"), msg))
    known = ", ".join(spec.services)
    # (caller, callee, port) of every link, the port resolved to the callee's first one
    links: set[tuple[str, str, str]] = set()
    for i, item in enumerate(spec.links):
        m = _LINK.match(item if isinstance(item, str) else item.link)
        assert m is not None  # the schema's pattern
        caller, callee, port = m.groups()
        bad = [svc for svc in (caller, callee) if svc not in spec.services]
        for svc in bad:
            found.append((("links", i), f"unknown service {svc!r}; known: {known}"))
        if bad:
            continue
        ports = spec.services[callee].ports
        if port is not None and port not in ports:
            found.append(
                (("links", i), f"{callee} has no port {port!r}; its ports: {', '.join(ports)}")
            )
            continue
        key = (caller, callee, port or ports[0])
        if key in links:
            found.append((("links", i), f"duplicate link {caller} -> {callee}:{key[2]}"))
        links.add(key)
    if spec.config is not None and spec.registry != "etcd":
        found.append((("config",), "live settings live in the registry; needs registry: etcd"))
    if spec.entry is not None and spec.entry not in spec.services:
        found.append((("entry",), f"unknown service {spec.entry!r}; known: {known}"))
    for name, svc in spec.services.items():
        if len(set(svc.ports)) != len(svc.ports):
            found.append((("services", name, "ports"), "a port name appears twice"))
        for what in ("health", "metrics", "audit"):
            ep: EndpointSpec | None = getattr(svc, what)
            if ep is None:
                continue
            if ep.port is not None and ep.port not in svc.ports:
                found.append(
                    (
                        ("services", name, what, "port"),
                        f"unknown port {ep.port!r}; {name}'s ports: {', '.join(svc.ports)}",
                    )
                )
            if ep.tcp and what != "health":
                found.append((("services", name, what, "tcp"), "only health can be a TCP connect"))
        fields = [("command", i, c) for i, c in enumerate(svc.command)]
        fields += [("env", k, v) for k, v in svc.env.items()]
        for where, key, tmpl in fields:
            for _, var, fmt, _ in string.Formatter().parse(tmpl):
                if var is None:
                    continue
                msg = _template_problem(spec, name, var, fmt or "", links)
                if msg:
                    found.append((("services", name, where, key), msg))
    found += profile_cross_check(spec.profile, spec.services, spec.registry, spec.steady_state)
    return found


def _template_problem(
    spec: TopologyFile, service: str, var: str, fmt: str, links: set[tuple[str, str, str]]
) -> str | None:
    """Why ``{var:fmt}`` in `service`'s command or env cannot be filled; None when it can."""
    own_ports = spec.services[service].ports
    shared = spec.proxy_mode == "shared"
    if var == PORT_VAR and fmt:
        if fmt not in own_ports:
            ports = ", ".join(own_ports)
            return f"{{port:{fmt}}}: {service} has no port {fmt!r}; its ports: {ports}"
        return None
    if var == ADVERTISE_VAR:
        if spec.proxy_mode == "per_instance":
            return (
                f"{{advertise:{fmt}}}: with proxy_mode per_instance every caller instance has its "
                "own proxy, so there is no one address to advertise; list the peers with "
                "{proxy:SERVICE:PORT:INDEX} instead"
            )
        port = fmt or own_ports[0]
        if port not in own_ports:
            return f"{{advertise:{fmt}}}: {service} has no port {port!r}"
        if not any(
            callee == service and p == port and (shared or caller == service)
            for caller, callee, p in links
        ):
            need = "a link to" if shared else "a link from itself to"
            return (
                f"{{advertise:{fmt}}}: no proxy in front of {service}:{port} "
                f"(needs {need} {service}:{port})"
            )
        return None
    if var == PROXY_VAR:
        target, _, rest = fmt.partition(":")
        port, _, index = rest.partition(":")
        if target not in spec.services:
            return f"{{proxy:{fmt}}}: unknown service {target!r}; known: {', '.join(spec.services)}"
        ports = spec.services[target].ports
        port = port or ports[0]
        if port not in ports:
            return f"{{proxy:{fmt}}}: {target} has no port {port!r}; its ports: {', '.join(ports)}"
        if index == "{index}":  # a sidecar's own counterpart: instance i of SERVICE for i
            if spec.services[service].instances > spec.services[target].instances:
                return (
                    f"{{proxy:{fmt}}}: {service} has {spec.services[service].instances} "
                    f"instances but {target} only {spec.services[target].instances}"
                )
        elif index and not (index.isdigit() and 1 <= int(index) <= spec.services[target].instances):
            return (
                f"{{proxy:{fmt}}}: {target} has instances 1..{spec.services[target].instances}, "
                f"not {index!r}"
            )
        if not any(
            callee == target and p == port and (shared or caller == service)
            for caller, callee, p in links
        ):
            return f"{{proxy:{fmt}}}: no link {service} -> {target}:{port}, so no proxy to it"
        return None
    if var in TEMPLATE_VARS and not fmt:
        return None
    return (
        f"unknown template variable {{{var}{':' + fmt if fmt else ''}}}; known: "
        f"{', '.join(sorted(TEMPLATE_VARS))}, {{port:NAME}}, {{proxy:SERVICE[:PORT[:INDEX]]}}, "
        "{advertise:PORT}"
    )


def load_topology(path: str | Path) -> Topology:
    """Parse and validate a topology file; raise TopologyInvalid naming file:line: field."""
    path = Path(path)
    try:
        data, root = read_yaml(path, "name, services, links")
        spec = validate(TopologyFile, data, root, path)
        problems = [
            Problem(display(path), *walk(root, loc), msg) for loc, msg in _cross_check(spec, path)
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
