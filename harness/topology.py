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
}
# ``{proxy:SERVICE}``: this caller's Toxiproxy listeners for SERVICE's instances, comma-separated.
PROXY_VAR = "proxy"
_LINK = re.compile(r"^\s*([a-z0-9_-]+)\s*->\s*([a-z0-9_-]+)\s*$")


def bundled_topology_path() -> Path:
    return REPO_ROOT / "target_system" / "topology.yaml"


@dataclass(frozen=True)
class Service:
    name: str
    instances: int
    command: list[str]
    env: dict[str, str]
    health: str = "/health"
    metrics: str | None = "/metrics"
    audit: str | None = None


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

    def __str__(self) -> str:
        return f"{self.caller}->{self.callee}"


@dataclass(frozen=True)
class ProxySpec:
    name: str
    caller: str | None  # None: shared by every caller of the callee instance
    callee_instance: str


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
    # the default load of scenarios on this target (`load:`); None: each scenario names its own
    load_locustfile: Path | None = None
    load_host: str | None = None
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

    def proxies(self) -> list[ProxySpec]:
        out: list[ProxySpec] = []
        callees = sorted({link.callee for link in self.links})
        if self.proxy_mode == "shared":
            for callee in callees:
                for inst in self.instances_of(callee):
                    out.append(ProxySpec(f"any--{inst.name}", None, inst.name))
            return out
        for link in self.links:
            for inst in self.instances_of(link.callee):
                out.append(ProxySpec(f"{link.caller}--{inst.name}", link.caller, inst.name))
        return out

    def proxy_for(self, caller: str, callee_instance: str) -> str:
        if self.proxy_mode == "shared":
            return f"any--{callee_instance}"
        return f"{caller}--{callee_instance}"

    def render(self, inst: Instance, values: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        """The instance's command line and environment with every template filled in."""
        svc = self.services[inst.service]
        # {dir}: the topology file's folder, so commands need not depend on the working directory
        where = str(self.path.parent) if self.path is not None else "."
        v = {"service": inst.service, "instance": inst.name, "index": inst.index, "dir": where}
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


class ServiceSpec(_Strict):
    instances: StrictInt = Field(default=1, ge=1, le=MAX_INSTANCES)
    command: list[Template] = Field(min_length=1, max_length=256)
    env: dict[Annotated[str, Field(pattern=_ENV_KEY)], Template] = Field(default_factory=dict)
    health: str = Field(default="/health", pattern=_URL_PATH)
    metrics: str | None = Field(default="/metrics", pattern=_URL_PATH)
    audit: str | None = Field(default=None, pattern=_URL_PATH)


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


class TopologyFile(_Strict):
    """A topology file as written. Top-level `defaults:` and `x-*` keys hold YAML anchors."""

    name: str | None = Field(default=None, pattern=_NAME)
    lease_ttl: PositiveDuration = 5.0
    registry: Literal["etcd", "none"] = "etcd"
    proxy_mode: Literal["per_link", "shared"] = "per_link"
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
    load: LoadDefaults | None = Field(
        default=None, description="the locustfile and host scenarios on this target default to"
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
    """(location, message) for references the schema cannot see: links, entry, templates,
    the default locustfile."""
    found: list[tuple[tuple[Any, ...], str]] = []
    if spec.load is not None:
        if spec.load.host is not None:
            for msg in host_problems(spec.load.host, spec.services):
                found.append((("load", "host"), msg))
        if spec.load.locustfile is not None:
            locustfile = resolve_locustfile(spec.load.locustfile, path, None)
            assert locustfile is not None
            if msg := locustfile_file_problem(locustfile):
                found.append((("load", "locustfile"), msg))
    known = ", ".join(spec.services)
    for i, item in enumerate(spec.links):
        m = _LINK.match(item if isinstance(item, str) else item.link)
        assert m is not None  # the schema's pattern
        for svc in m.groups():
            if svc not in spec.services:
                found.append((("links", i), f"unknown service {svc!r}; known: {known}"))
    if spec.entry is not None and spec.entry not in spec.services:
        found.append((("entry",), f"unknown service {spec.entry!r}; known: {known}"))
    for name, svc in spec.services.items():
        fields = [("command", i, c) for i, c in enumerate(svc.command)]
        fields += [("env", k, v) for k, v in svc.env.items()]
        for where, key, tmpl in fields:
            for _, var, fmt, _ in string.Formatter().parse(tmpl):
                if var == PROXY_VAR and fmt in spec.services:
                    continue  # {proxy:SERVICE}: this caller's proxies of SERVICE
                if var is not None and var not in TEMPLATE_VARS:
                    found.append(
                        (
                            ("services", name, where, key),
                            f"unknown template variable {{{var}}}; "
                            f"known: {', '.join(sorted(TEMPLATE_VARS))}, {{proxy:SERVICE}}",
                        )
                    )
    return found


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
            health=s.health,
            metrics=s.metrics,
            audit=s.audit,
        )
        for name, s in spec.services.items()
    }
    links = [_link(item) for item in spec.links]
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
        load_locustfile=None
        if spec.load is None
        else resolve_locustfile(spec.load.locustfile, path.resolve(), None),
        load_host=None if spec.load is None else spec.load.host,
    )


def _link(item: str | LinkSpec) -> Link:
    m = _LINK.match(item if isinstance(item, str) else item.link)
    assert m is not None  # the schema's pattern
    return Link(*m.groups(), timeout=None if isinstance(item, str) else item.timeout)


def _default_name(path: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-")[:63]
    return name or "topology"
