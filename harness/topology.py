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
from typing import Any

import yaml

from harness.durations import parse_duration
from harness.errors import TopologyInvalid
from harness.settings import REPO_ROOT

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
}
# ``{proxy:SERVICE}``: this caller's Toxiproxy listeners for SERVICE's instances, comma-separated.
PROXY_VAR = "proxy"
TOP_LEVEL_FIELDS = ("name", "lease_ttl", "registry", "proxy_mode", "entry", "services", "links")
SERVICE_FIELDS = ("instances", "command", "env", "health", "metrics", "audit")
_LINK = re.compile(r"^\s*([a-z0-9_-]+)\s*->\s*([a-z0-9_-]+)\s*$")
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


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
        v = {"service": inst.service, "instance": inst.name, "index": inst.index, **values}
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


def _line(node: yaml.Node | None, path: list[str | int]) -> int:
    """1-based line of the node at ``path`` (or of the closest parent found)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == part), None)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            nxt = node.value[part]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def load_topology(path: str | Path) -> Topology:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopologyInvalid(f"cannot read topology {path}: {exc.strerror}") from exc
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise TopologyInvalid(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc

    def bad(field_path: list[str | int], message: str) -> TopologyInvalid:
        dotted = ".".join(str(p) for p in field_path)
        return TopologyInvalid(f"{path}:{_line(root, field_path)}: {dotted}: {message}")

    if not isinstance(data, dict):
        raise bad([], "expected a mapping with name, services and links")
    services_raw = data.get("services")
    if not isinstance(services_raw, dict) or not services_raw:
        raise bad(["services"], "expected a mapping of service name to its settings")
    services: dict[str, Service] = {}
    for name, raw in services_raw.items():
        where = ["services", name]
        if not isinstance(raw, dict):
            raise bad(where, "expected a mapping")
        unknown = set(raw) - {"instances", "command", "env", "health", "metrics", "audit"}
        if unknown:
            raise bad(
                [*where, sorted(unknown)[0]],
                "unknown field; expected instances, command, env, health, metrics, audit",
            )
        n = raw.get("instances", 1)
        if not isinstance(n, int) or n < 1:
            raise bad([*where, "instances"], f"expected a positive integer, got {n!r}")
        cmd = raw.get("command")
        if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
            raise bad([*where, "command"], "expected a list of strings (the command line)")
        env = raw.get("env") or {}
        if not isinstance(env, dict):
            raise bad([*where, "env"], "expected a mapping of variable to template")
        for key, tmpl in [("command", c) for c in cmd] + [
            (f"env.{k}", str(v)) for k, v in env.items()
        ]:
            for _, var, spec, _ in string.Formatter().parse(tmpl):
                if var == "proxy" and spec in services_raw:
                    continue  # {proxy:SERVICE}: this caller's proxies of SERVICE
                if var is not None and var not in TEMPLATE_VARS:
                    raise bad(
                        [*where, key.split(".")[0]],
                        f"unknown template variable {{{var}}}; "
                        f"known: {', '.join(sorted(TEMPLATE_VARS))}, {{proxy:SERVICE}}",
                    )
        services[name] = Service(
            name=name,
            instances=n,
            command=cmd,
            env={k: str(v) for k, v in env.items()},
            health=raw.get("health", "/health"),
            metrics=raw.get("metrics", "/metrics"),
            audit=raw.get("audit"),
        )
    links: list[Link] = []
    for i, raw in enumerate(data.get("links") or []):
        m = _LINK.match(str(raw))
        if not m:
            raise bad(["links", i], f"expected 'caller -> callee', got {raw!r}")
        for svc in m.groups():
            if svc not in services:
                raise bad(["links", i], f"unknown service {svc!r}; known: {', '.join(services)}")
        links.append(Link(*m.groups()))
    entry = data.get("entry") or next(iter(services))
    if entry not in services:
        raise bad(["entry"], f"unknown service {entry!r}; known: {', '.join(services)}")
    try:
        ttl = parse_duration(data.get("lease_ttl", "5s"))
    except ValueError as exc:
        raise bad(["lease_ttl"], str(exc)) from None
    registry = data.get("registry", "etcd")
    if registry not in ("etcd", "none"):
        raise bad(["registry"], f"expected etcd or none, got {registry!r}")
    mode = data.get("proxy_mode", "per_link")
    if mode not in ("per_link", "shared"):
        raise bad(["proxy_mode"], f"expected per_link or shared, got {mode!r}")
    return Topology(
        name=str(data.get("name", path.stem)),
        services=services,
        links=links,
        entry=entry,
        lease_ttl=ttl,
        registry=registry,
        proxy_mode=mode,
        path=path.resolve(),
    )
