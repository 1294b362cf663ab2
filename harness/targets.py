"""What a scenario runs against: its topology, the facts validation needs, and a live stack.

:class:`TargetStack` wraps a stack backend with what the engine needs around it: audit
snapshots, "no saga in flight" waits, the registry poller and the fault driver.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx

from harness.backend import ProcessEntry, StackBackend
from harness.checks import CHECK_KINDS
from harness.cleanup import Cleanup
from harness.coverage import CoverageMap, coverage
from harness.errors import FaultError, HarnessError, InfraUnavailable, InputInvalid, TopologyInvalid
from harness.facts import ConfigFacts
from harness.faults.kinds import FAULT_KINDS
from harness.load import locustfile_problem
from harness.loadconf import Resolver, render_host
from harness.membership import RegistryPoller
from harness.profile import SeriesQuery
from harness.redact import redact_env
from harness.scenario import Scenario, TopologyFacts, fault_params, load_files
from harness.selection import expand_paths
from harness.settings import Settings
from harness.topology import Topology, bundled_topology_path, is_topology_file, load_topology


def topology_path_for(target: str, scenario_file: Path | None) -> Path:
    if target == "bundled":
        return bundled_topology_path()
    path = Path(target)
    if not path.is_absolute() and scenario_file is not None:
        path = scenario_file.parent / path
    return path.resolve()


@lru_cache(maxsize=16)
def _topology(path: Path) -> Topology:
    return load_topology(path)


def facts_of(topology: Topology) -> TopologyFacts:
    services: dict[str, list[str]] = {}
    for inst in topology.instances():
        services.setdefault(inst.service, []).append(inst.name)
    link_ports: dict[tuple[str, str], list[str]] = {}
    for link in topology.links:
        link_ports.setdefault((link.caller, link.callee), []).append(topology.link_port(link))
    return TopologyFacts(
        services=services,
        links=list(dict.fromkeys((link.caller, link.callee) for link in topology.links)),
        metrics=topology.profile.known_metrics(),
        lease_ttl=topology.lease_ttl,
        entry=topology.entry,
        timeouts={
            (link.caller, link.callee): link.timeout
            for link in topology.links
            if link.timeout is not None
        },
        registry=topology.registry,
        steady=topology.steady,
        link_ports=link_ports,
        proxy_mode=topology.proxy_mode,
        service_ports={name: list(svc.ports) for name, svc in topology.services.items()},
        unscraped=frozenset(n for n, svc in topology.services.items() if svc.metrics is None),
        load_locustfile=topology.load_locustfile,
        load_host=topology.load_host,
        config=None
        if topology.config is None
        else ConfigFacts(
            topology.config.prefix, dict(topology.config.keys), topology.config.version_metric
        ),
        secrets={n: f.readers for n, f in topology.secrets.items()},
    )


def facts_for_scenario(scenario: Any, source: Path | None) -> TopologyFacts:
    """Validation hook: the facts of the topology the scenario targets."""
    path = topology_path_for(scenario.target, source)
    if not path.is_file():
        raise TopologyInvalid(f"target topology {path} not found (target: {scenario.target!r})")
    return facts_of(_topology(path))


def load_scenarios(paths: list[str]) -> list[Scenario]:
    """Every scenario under `paths`, validated against its target's topology.

    Every file is validated first: one bad file stops everything before anything starts.
    """
    named = {Path(p) for p in paths if Path(p).is_file()}
    # a topology file found in a folder (examples/x/ holds topology.yaml and scenarios/) is the
    # target, not a scenario; one named on its own is still read as a scenario, and refused
    files = [f for f in expand_paths(paths) if f in named or not is_topology_file(f)]
    if not files:
        raise InputInvalid(f"no scenario files under {' '.join(paths)}")
    problems, scenarios = load_files(
        files, facts_for_target=facts_for_scenario, check_locustfile=locustfile_problem
    )
    if problems:
        raise InputInvalid("\n".join(str(p) for p in problems))
    return scenarios


def coverage_maps(scenarios: list[Scenario]) -> list[CoverageMap]:
    """One coverage map per target topology the scenarios use, in first-use order."""
    groups: dict[Path, list[Scenario]] = {}
    for s in scenarios:
        groups.setdefault(topology_path_for(s.target, s.source), []).append(s)
    out = []
    for path, group in groups.items():
        name = "bundled" if group[0].target == "bundled" else str(path)
        out.append(coverage(name, facts_for_scenario(group[0], group[0].source), group))
    return out


@dataclass(frozen=True)
class StackKey:
    """Scenarios with the same key share one running stack."""

    topology: Path
    env: tuple[tuple[str, str], ...]
    bundled: bool

    @classmethod
    def of(cls, scenario: Any) -> StackKey:
        path = topology_path_for(scenario.target, scenario.source)
        env = tuple(sorted((k, str(v)) for k, v in scenario.target_env.items()))
        return cls(path, env, scenario.target == "bundled")

    def describe(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in redact_env(dict(self.env)).items())
        return f"{self.topology.name}" + (f" with {env}" if env else "")


class FaultDriver:
    """Turns scenario fault specs into fault objects; keeps the active ones for revert."""

    def __init__(self, backend: StackBackend) -> None:
        self.backend = backend
        self.active: dict[str, Any] = {}

    @staticmethod
    def revert_offset(spec: Any, total: float) -> float | None:
        """Scenario-clock offset of the revert; None: at the end of the scenario."""
        delay = spec.revert_after()
        return None if delay is None else min(total, spec.at + delay)

    @staticmethod
    def needs_revert(spec: Any) -> bool:
        return not (FAULT_KINDS[spec.kind].instantaneous or spec.instant())

    @staticmethod
    def params(spec: Any) -> dict[str, Any]:
        params = fault_params(spec)
        params.pop("restart_after", None)  # the engine schedules the restart itself
        for name in ("link", "instance", "groups"):
            value = getattr(spec, name, None)
            if value is not None:
                params[name] = value
        return params

    def inject(self, fault_id: str, spec: Any) -> dict[str, Any]:
        """Inject; what the driver reports about it (`recorded()`), for the journal."""
        kind = FAULT_KINDS.get(spec.kind)
        if kind is None:
            raise FaultError(
                f"no driver for fault kind {spec.kind!r}; known: {sorted(FAULT_KINDS)}"
            )
        fault = kind.driver(self.backend, **self.params(spec))
        fault.inject()
        if fault.needs_revert:
            self.active[fault_id] = fault
        return _recorded(fault)

    def revert(self, fault_id: str) -> dict[str, Any]:
        """Revert; what the driver reports then (config_change: the revert's revision)."""
        fault = self.active.pop(fault_id, None)
        if fault is None:
            return {}
        fault.revert()
        return _recorded(fault)

    def revert_all(self) -> None:
        """Revert every active fault, newest first, each even if an earlier one raised."""
        cleanup = Cleanup()
        for fault_id in reversed(list(self.active)):
            cleanup.step(fault_id, self.revert, fault_id)
        if cleanup.foreign:
            cleanup.raise_first()
        if cleanup.errors:
            raise FaultError("; ".join(f"{fid}: {exc}" for fid, exc in cleanup.errors))


def addr_resolver(backend: StackBackend) -> Resolver:
    """Host template addresses through the backend: a service's first instance, on its first
    or a named port, as host:port."""

    def resolve(service: str, port: str | None) -> str:
        first = backend.topology.instances_of(service)[0].name
        return backend.address(first, port)

    return resolve


def _recorded(fault: Any) -> dict[str, Any]:
    """A driver's `recorded()` (facts learned while acting, e.g. store revisions), or {}."""
    recorded = getattr(fault, "recorded", None)
    return dict(recorded()) if callable(recorded) else {}


class TargetStack:
    """A running stack plus the engine's view of it."""

    def __init__(self, key: StackKey, backend: StackBackend, settings: Settings) -> None:
        self.key = key
        self.backend = backend
        self.settings = settings
        self.topology: Topology = backend.topology
        self.topology_path = key.topology
        self.facts = facts_of(self.topology)
        self.faults = FaultDriver(backend)

    # delegation
    def entry_url(self) -> str:
        return self.backend.entry_url()

    def load_host(self, template: str) -> str:
        """A host template (``{entry}``, ``{addr:SERVICE}``) rendered against this stack."""
        return render_host(template, self.topology.entry, addr_resolver(self.backend))

    def prometheus_url(self) -> str:
        return self.backend.prometheus_url()

    def jaeger_url(self) -> str:
        """Jaeger's query API; "" when the backend runs none."""
        return self.backend.jaeger_url()

    def instance_logs(self) -> dict[str, Path]:
        """Each instance's log file by instance name; {} when the backend keeps none."""
        names = {i.name for i in self.topology.instances()}
        return {n: p for n, p in (self.backend.log_files() or {}).items() if n in names}

    def settle(self) -> None:
        self.backend.settle()

    def stop(self) -> None:
        self.backend.stop()

    def adopt(self, rec: ProcessEntry) -> None:
        """Record a process started beside the stack (Locust) where ``down`` will find it."""
        self.backend.adopt(rec)

    def forget(self, name: str) -> None:
        self.backend.forget(name)

    def secret_values(self) -> dict[str, list[str]] | None:
        """secret -> every value the stack used (in memory), for secret_leak; None: no secrets
        folder on this backend."""
        volume = getattr(self.backend, "secrets", None)
        return None if volume is None else volume.values()

    def log_files(self) -> dict[str, Path] | None:
        """process -> its log file (local: the processes' own; compose: the containers' logs,
        saved); None on a backend that has neither."""
        return self.backend.log_files()

    def registry_poller(self) -> RegistryPoller | None:
        """The registry's poller; None without a registry or without its layout."""
        if self.topology.registry != "etcd" or self.topology.profile.registry is None:
            return None
        return RegistryPoller(self.backend.registry_members)

    # the target profile
    def series_queries(self) -> dict[str, SeriesQuery]:
        """The series every run collects: what the target profile maps, and ``up``."""
        return self.topology.profile.queries()

    def unmapped(self, kinds: Iterable[str] | None = None) -> dict[str, str]:
        """Recorded file -> why it is not collected, for what the checks of `kinds` (default:
        every kind) and the overload check read but the target profile does not map (those
        checks then say "unknown" with that reason)."""
        profile = self.topology.profile
        wanted = CHECK_KINDS if kinds is None else {k: CHECK_KINDS[k] for k in kinds}
        needed = {k for kind in wanted.values() for k in kind.series} | {"event_loop_lag"}
        out = {}
        for key in sorted(needed):
            why = profile.why_unmapped(key)
            if why is not None:
                out[f"prom/{key}.csv"] = why
        if self.topology.registry == "etcd" and profile.registry is None:
            out["registry.csv"] = "not polled: the target profile sets no registry layout"
        return out

    # audits
    def audit(self, services: Iterable[str] | None = None) -> dict[str, Any]:
        """One snapshot per service with an audit endpoint (its first reachable instance);
        ``services``: only those (default: every one)."""
        out: dict[str, Any] = {}
        timeout = self.settings.timeouts.http * 3
        wanted = None if services is None else set(services)
        # one client for every call: a new one per call costs ~25 ms of CPU (its TLS context)
        with httpx.Client(timeout=timeout) as client:
            for name, service in self.topology.services.items():
                if not service.audit or (wanted is not None and name not in wanted):
                    continue
                errors = []
                for inst in self.topology.instances():
                    if inst.service != name or not self.backend.is_running(inst.name):
                        continue
                    url = self.backend.instance_url(inst.name, service.audit.port) + (
                        service.audit.path or "/"
                    )
                    try:
                        r = client.get(url)
                        r.raise_for_status()
                        out[name] = r.json()
                        break
                    except (httpx.HTTPError, ValueError) as exc:
                        errors.append(f"{inst.name}: {exc}")
                else:
                    raise InfraUnavailable(f"audit of {name} unavailable: {'; '.join(errors)}")
        return out

    def in_flight(self) -> int | None:
        """Items of work not yet terminal, from the audit the profile's ``in_flight`` names:
        0 when the profile names none; None when that audit or its list cannot be read."""
        spec = self.topology.profile.in_flight
        if spec is None:
            return 0
        try:
            snapshot = self.audit([spec.audit])
        except InfraUnavailable:
            return None
        payload = snapshot.get(spec.audit)
        items = payload.get(spec.list) if isinstance(payload, dict) else None
        if not isinstance(items, list):
            return None
        terminal = set(spec.terminal)
        return sum(1 for x in items if not isinstance(x, dict) or x.get(spec.state) not in terminal)

    def wait_sagas_settled(self, timeout: float, raise_on_timeout: bool = True) -> float:
        """Poll until no saga is in flight; return the seconds waited."""
        t0 = time.monotonic()
        last: int | None = None
        while time.monotonic() - t0 < timeout:
            last = self.in_flight()
            if last == 0:
                return time.monotonic() - t0
            time.sleep(0.25)
        if raise_on_timeout:
            what = "unknown" if last is None else str(last)
            raise HarnessError(f"sagas still in flight after {timeout:.0f}s: {what}")
        return time.monotonic() - t0


def check_backend(settings: Settings, scenarios: Iterable[Scenario] = ()) -> None:
    """Refuse a backend that cannot run here, once, before any scenario starts: no engine
    (exit 3), or a scenario that needs the local backend (``target_env``: exit 2, located),
    or a topology the containers cannot run (exit 2, naming what it lacks)."""
    scenarios = list(scenarios)
    if settings.backend == "compose":
        from harness.stack.compose import docker_client
        from harness.yamlsource import Problem, display, read_yaml, walk

        problems = []
        for s in scenarios:
            where = []
            if s.target_env:
                where.append((("target_env",), "target_env needs the local backend"))
            root = read_yaml(s.source, "a scenario")[1] if where and s.source else None
            for loc, msg in where:
                line, field = walk(root, loc) if root is not None else (0, ".".join(map(str, loc)))
                shown = display(s.source) if s.source else f"scenario {s.name}"
                problems.append(Problem(shown, line, field, msg))
        if problems:
            raise InputInvalid(
                "\n".join(map(str, problems))
                + "\nrun these with --backend local, or leave them out"
            )
        from harness.stack.composefile import require_one_port

        for path in dict.fromkeys(topology_path_for(s.target, s.source) for s in scenarios):
            require_one_port(_topology(path))  # exit 2 naming what the containers lack
        docker_client(settings).close()


def open_stack(key: StackKey, settings: Settings, stack_dir: Path) -> TargetStack:
    """Start the stack for `key` on ``settings.backend``."""
    backend: StackBackend
    if settings.backend == "compose":
        from harness.stack.compose import ComposeStack

        if key.env:
            raise InputInvalid("target_env needs the local backend (compose files fix the env)")
        backend = ComposeStack(
            _topology(key.topology), settings, settings.compose_project, stack_dir=stack_dir
        )
    else:
        from harness.stack.local import LocalStack

        backend = LocalStack(_topology(key.topology), settings, stack_dir, dict(key.env))
    try:
        backend.start()
    except BaseException:
        backend.stop()
        raise
    return TargetStack(key, backend, settings)
