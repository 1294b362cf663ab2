"""The topology file as written: its pydantic models (the JSON Schema), its template grammar,
and the cross-checks the schema cannot express (links, ports, templates, secrets, bootstrap).

``harness.topology`` turns a validated file into the runtime :class:`~harness.topology.Topology`.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, model_validator

from harness.durations import PositiveDuration
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
from harness.yamlsource import Located, read_yaml

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
    "secrets_dir",
    "otlp_endpoint",
}
# ``{proxy:SERVICE[:PORT[:INDEX]]}``: this caller's Toxiproxy listeners for SERVICE's instances
# (on PORT; only instance INDEX), comma-separated. ``{port:NAME}``: this instance's named port.
# ``{advertise:PORT}``: the proxy address other members reach this instance's PORT through;
# ``{advertise_port:PORT}``: that proxy's port number alone (for systems that take an announced
# host and port apart, e.g. Redis's --cluster-announce-port).
PROXY_VAR = "proxy"
PORT_VAR = "port"
ADVERTISE_VAR = "advertise"
ADVERTISE_PORT_VAR = "advertise_port"
DEFAULT_PORT = "main"  # the name of the one port of a service that lists none
_PORT_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
_LINK = re.compile(r"^\s*([a-z0-9_-]+)\s*->\s*([a-z0-9_-]+)\s*(?::\s*([a-z][a-z0-9_-]{0,31}))?\s*$")


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


class BootstrapSpec(_Strict):
    """One command the stack runs once its instances are first healthy (a cluster's forming)."""

    command: list[Template] = Field(
        min_length=1,
        max_length=256,
        description="argv; templates {python}, {dir}, {host}, {proxy:SERVICE[:PORT[:INDEX]]}",
    )
    timeout: PositiveDuration = Field(
        default=60.0, description="killed and the stack start failed past this"
    )


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


class SecretSpec(_Strict):
    """One entry of `secrets:`: a file the harness writes into the stack's secrets folder."""

    readers: list[Annotated[str, Field(pattern=_SERVICE)]] = Field(
        min_length=1, description="the services that read it from {secrets_dir}"
    )
    bytes: int = Field(default=32, ge=16, le=256, description="random bytes (hex: twice as long)")


SECRET_NAME = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}$"


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
    secrets: dict[Annotated[str, Field(pattern=SECRET_NAME)], SecretSpec] = Field(
        default_factory=dict,
        max_length=32,
        description="secret files the harness generates per stack in {secrets_dir} "
        "(secret_rotate, secret_leak)",
    )
    bootstrap: list[BootstrapSpec] = Field(
        default_factory=list,
        max_length=16,
        description="commands run once, in order, after every instance is first healthy",
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


def cross_check(spec: TopologyFile, path: Path) -> list[tuple[tuple[Any, ...], str]]:
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
    found += _secrets_problems(spec)
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
    for i, step in enumerate(spec.bootstrap):
        for j, tmpl in enumerate(step.command):
            for _, var, fmt, _ in string.Formatter().parse(tmpl):
                if var is not None and (msg := _bootstrap_problem(spec, var, fmt or "", links)):
                    found.append((("bootstrap", i, "command", j), msg))
    found += profile_cross_check(spec.profile, spec.services, spec.registry, spec.steady_state)
    return found


def _uses_secrets_dir(svc: ServiceSpec) -> bool:
    return any("{secrets_dir}" in t for t in [*svc.command, *svc.env.values()])


def _secrets_problems(spec: TopologyFile) -> list[tuple[tuple[Any, ...], str]]:
    """Each secret's readers are services that are handed {secrets_dir}; {secrets_dir} is
    used only by a target that declares secrets."""
    found: list[tuple[tuple[Any, ...], str]] = []
    for name, secret in spec.secrets.items():
        if name.endswith(".previous"):
            found.append((("secrets", name), "a name ending in .previous is the grace copy's"))
        for j, reader in enumerate(secret.readers):
            if reader not in spec.services:
                known = ", ".join(spec.services)
                found.append((("secrets", name, "readers", j),
                              f"unknown service {reader!r}; known: {known}"))  # fmt: skip
            elif not _uses_secrets_dir(spec.services[reader]):
                found.append((("secrets", name, "readers", j),
                              f"{reader} reads {name} but its command and env never use "
                              "{secrets_dir} (the folder the secret is in)"))  # fmt: skip
    if not spec.secrets:
        for name, svc in spec.services.items():
            if _uses_secrets_dir(svc):
                found.append((("services", name), "{secrets_dir} is used but the topology "
                              "declares no `secrets:`; the folder would be empty"))  # fmt: skip
    return found


BOOTSTRAP_VARS = {"python", "dir", "host"}


def _bootstrap_problem(
    spec: TopologyFile, var: str, fmt: str, links: set[tuple[str, str, str]]
) -> str | None:
    """Why ``{var:fmt}`` in a bootstrap command cannot be filled; None when it can. A bootstrap
    command is no instance: it has no port, and reaches proxies only when they are shared."""
    shown = f"{{{var}:{fmt}}}" if fmt else f"{{{var}}}"
    if var in BOOTSTRAP_VARS and not fmt:
        return None
    if var != PROXY_VAR:
        return (
            f"unknown template variable {shown} in a bootstrap command; known: "
            f"{', '.join(sorted(BOOTSTRAP_VARS))}, {{proxy:SERVICE[:PORT[:INDEX]]}}"
        )
    if spec.proxy_mode != "shared":
        return (
            f"{shown}: a bootstrap command is no caller of any link, so it reaches proxies "
            "only with proxy_mode: shared"
        )
    return _proxy_problem(spec, shown, fmt, links, caller=None)


def _proxy_problem(
    spec: TopologyFile,
    shown: str,
    fmt: str,
    links: set[tuple[str, str, str]],
    caller: str | None,
) -> str | None:
    """Why ``{proxy:SERVICE[:PORT[:INDEX]]}`` (`fmt` after ``proxy:``) cannot be filled for
    `caller` (a service; None: a bootstrap command, which only shared proxies serve)."""
    target, _, rest = fmt.partition(":")
    port, _, index = rest.partition(":")
    if target not in spec.services:
        return f"{shown}: unknown service {target!r}; known: {', '.join(spec.services)}"
    ports = spec.services[target].ports
    port = port or ports[0]
    if port not in ports:
        return f"{shown}: {target} has no port {port!r}; its ports: {', '.join(ports)}"
    count = spec.services[target].instances
    if index == "{index}" and caller is not None:  # a sidecar's own counterpart
        if spec.services[caller].instances > count:
            return (
                f"{shown}: {caller} has {spec.services[caller].instances} instances but "
                f"{target} only {count}"
            )
    elif index and not (index.isdigit() and 1 <= int(index) <= count):
        return f"{shown}: {target} has instances 1..{count}, not {index!r}"
    shared = spec.proxy_mode == "shared"
    if not any(
        callee == target and p == port and (shared or who == caller) for who, callee, p in links
    ):
        if caller is None:
            return f"{shown}: no link reaches {target}:{port}, so no proxy to it"
        return f"{shown}: no link {caller} -> {target}:{port}, so no proxy to it"
    return None


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
    if var in (ADVERTISE_VAR, ADVERTISE_PORT_VAR):
        shown = f"{{{var}:{fmt}}}" if fmt else f"{{{var}}}"
        if spec.proxy_mode == "per_instance":
            return (
                f"{shown}: with proxy_mode per_instance every caller instance has its "
                "own proxy, so there is no one address to advertise; list the peers with "
                "{proxy:SERVICE:PORT:INDEX} instead"
            )
        port = fmt or own_ports[0]
        if port not in own_ports:
            return f"{shown}: {service} has no port {port!r}"
        if not any(
            callee == service and p == port and (shared or caller == service)
            for caller, callee, p in links
        ):
            need = "a link to" if shared else "a link from itself to"
            return f"{shown}: no proxy in front of {service}:{port} (needs {need} {service}:{port})"
        return None
    if var == PROXY_VAR:
        return _proxy_problem(spec, f"{{proxy:{fmt}}}", fmt, links, caller=service)
    if var in TEMPLATE_VARS and not fmt:
        return None
    return (
        f"unknown template variable {{{var}{':' + fmt if fmt else ''}}}; known: "
        f"{', '.join(sorted(TEMPLATE_VARS))}, {{port:NAME}}, {{proxy:SERVICE[:PORT[:INDEX]]}}, "
        "{advertise:PORT}, {advertise_port:PORT}"
    )
