"""Problems inside a scenario (fault windows, phases, names) and against its target."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.checks.config_applied import ConfigAppliedExpect
from harness.checks.invariant import problems as invariant_problems
from harness.checks.retry_amplification import RetryAmplificationExpect
from harness.checks.secret_leak import SecretLeakExpect
from harness.checks.steady import STEADY_KINDS, SteadyExpect
from harness.durations import format_duration
from harness.facts import (
    TopologyFacts,
    known_metric,
    link_port,
    norm_link,
    promql_metric_names,
    service_of,
    split_link,
)
from harness.faults.base import LinkFaultModel, ProcessFaultModel
from harness.faults.kinds import FAULT_KINDS
from harness.faults.kinds.config_change import ConfigChangeFault, value_problems
from harness.faults.kinds.config_store_outage import ConfigStoreOutageFault
from harness.faults.kinds.down import DownFault
from harness.faults.kinds.partition import PartitionFault
from harness.faults.kinds.secret_rotate import SecretRotateFault
from harness.loadconf import (
    DEFAULT_HOST,
    host_problems,
    locustfile_file_problem,
    resolve_locustfile,
)
from harness.scenario.expectations import (
    BreakerExpect,
    DiscoveryExpect,
    InvariantExpect,
    PromqlExpect,
    SloExpect,
)
from harness.scenario.faultspec import RandomFault
from harness.scenario.models import Scenario
from harness.yamlsource import display

# ---------------------------------------------------------------------------- cross-checks

Found = list[tuple[tuple[str | int, ...], str]]


def _end(f: Any, total: float) -> float:
    if f.kind in FAULT_KINDS and FAULT_KINDS[f.kind].instantaneous:
        return f.at
    after = f.revert_after()
    return f.at + after if after is not None else total


def _touches_link(f: Any, caller: str, callee: str) -> bool:
    """Whether fault `f` can disturb calls from `caller` to `callee` (service or instance)."""
    callee_service = service_of(callee)
    if isinstance(f, LinkFaultModel):
        fc, fe = split_link(f.link)
        return (
            fc == caller
            and callee_service == service_of(fe)
            and (fe in (callee, callee_service) or callee == callee_service)
        )
    if isinstance(f, ProcessFaultModel):
        if f.pick is not None:
            return f.pick.service == callee_service
        return f.instance == callee or (
            callee == callee_service and service_of(f.instance or "") == callee_service
        )
    if isinstance(f, PartitionFault):
        side = {m: i for i, g in enumerate(f.groups) for m in g}
        a = side.get(caller)
        b = side.get(callee, side.get(callee_service))
        return a is not None and b is not None and a != b
    return isinstance(f, RandomFault)


def cross_check(scenario: Scenario, allowed_tags: set[str] | None) -> Found:
    """Problems inside the scenario itself, as (YAML location, message)."""
    found: Found = []
    total = scenario.duration
    if allowed_tags is not None:
        for i, tag in enumerate(scenario.tags):
            if tag not in allowed_tags:
                found.append(
                    (("tags", i), f"unknown tag {tag!r}; registered markers: "
                     + ", ".join(sorted(allowed_tags)))
                )  # fmt: skip
    seen: dict[str, int] = {}
    for i, p in enumerate(scenario.phases):
        if p.name in seen:
            found.append((("phases", i, "name"), f"duplicate phase name {p.name!r}"))
        seen.setdefault(p.name, i)
    busy: dict[str, list[tuple[float, float, int]]] = {}
    for i, f in enumerate(scenario.faults):
        found += _check_fault(i, f, total)
        if isinstance(f, ProcessFaultModel) and f.instance:
            end = _end(f, total)
            for s, e, j in busy.get(f.instance, []):
                if f.at < e and s < max(end, f.at + 1e-9):
                    found.append(
                        (("faults", i, "at"),
                         f"overlaps faults[{j}] on {f.instance} ({format_duration(s)}"
                         f"-{format_duration(e)})")
                    )  # fmt: skip
            busy.setdefault(f.instance, []).append((f.at, end, i))
        if isinstance(f, DownFault):
            # one flag per proxy: the first revert would re-enable a link the other still holds
            caller, callee = split_link(f.link)
            end = _end(f, total)
            for j, g in enumerate(scenario.faults[:i]):
                if (
                    isinstance(g, DownFault)
                    and _touches_link(g, caller, callee)
                    and f.at < _end(g, total)
                    and g.at < end
                ):
                    found.append(
                        (("faults", i, "at"),
                         f"overlaps faults[{j}], also down on {norm_link(g.link)}; "
                         "merge them into one fault")
                    )  # fmt: skip
    names: dict[str, str] = {}
    for section in ("steady_state", "expect"):
        entries = getattr(scenario, section)
        for i, e in enumerate(entries if isinstance(entries, list) else []):
            loc: tuple[str | int, ...] = (section, i, e.type)
            if e.name is not None:
                if e.name in names:
                    found.append(((*loc, "name"), f"duplicate check name (also {names[e.name]})"))
                names.setdefault(e.name, f"{section}[{i}]")
            found += _check_expect(loc, e, scenario)
    return found


def _check_fault(i: int, f: Any, total: float) -> Found:
    loc: tuple[str | int, ...] = ("faults", i)
    out: Found = []
    end = format_duration(total)
    if f.at >= total:
        out.append(((*loc, "at"), f"starts at {format_duration(f.at)}, "
                    f"not before the scenario ends at {end}"))  # fmt: skip
        return out
    if f.for_ is not None and f.at + f.for_ > total + 1e-9:
        out.append(((*loc, "for"), f"ends at {format_duration(f.at + f.for_)}, "
                    f"after the scenario ends at {end}"))  # fmt: skip
    if isinstance(f, ProcessFaultModel):
        if (f.instance is None) == (f.pick is None):
            out.append(((*loc, "instance"), "give either instance or pick: {service: ...}"))
        if FAULT_KINDS[f.kind].instantaneous and f.for_ is not None:
            out.append(((*loc, "for"), f"a {f.kind} is instantaneous; remove for"))
        if getattr(f, "restart_after", None) is not None:
            if f.for_ is not None:
                out.append(((*loc, "for"), "give either for or restart_after, not both"))
            elif f.at + f.restart_after > total + 1e-9:
                out.append(((*loc, "restart_after"), "restarts at "
                            f"{format_duration(f.at + f.restart_after)}, after the scenario "
                            f"ends at {end}"))  # fmt: skip
    if isinstance(f, PartitionFault):
        members = [m for g in f.groups for m in g]
        if any(not g for g in f.groups):
            out.append(((*loc, "groups"), "every group needs at least one member"))
        dup = sorted({m for m in members if members.count(m) > 1})
        if dup:
            out.append(((*loc, "groups"), f"{', '.join(dup)} in more than one group"))
    if isinstance(f, RandomFault) and f.window is not None:
        lo, hi = f.window
        if not lo < hi <= total + 1e-9:
            out.append(((*loc, "window"), f"expected [start, end] with start < end <= {end}"))
    return out


def _check_expect(loc: tuple[str | int, ...], e: Any, scenario: Scenario) -> Found:
    out: Found = []
    phases = [p.name for p in scenario.phases]
    phase = getattr(e, "phase", None)
    if loc[0] == "steady_state":
        if e.type not in STEADY_KINDS:
            out.append((loc, f"a steady-state entry is one of {', '.join(STEADY_KINDS)}; "
                        f"{e.type} belongs in expect"))  # fmt: skip
        if phase is not None:
            out.append(((*loc, "phase"), "steady state is judged before the first fault and "
                        "over the last phase; remove phase"))  # fmt: skip
        return out
    if isinstance(e, SteadyExpect):
        out.append((loc, "steady belongs in steady_state"))
    if isinstance(e, SloExpect) and phase is None:
        out.append(((*loc, "phase"), "missing required field"))
    if isinstance(e, InvariantExpect):
        # imports the user's module in a process of its own, bounded (harness/checks/invariant.py)
        out += [((*loc, "function"), msg) for msg in invariant_problems(e, scenario.source)]
    if phase is not None and phase not in phases:
        out.append(((*loc, "phase"), f"unknown phase {phase!r}; phases: {', '.join(phases)}"))
    if isinstance(e, RetryAmplificationExpect):
        base = e.baseline or (phases[0] if phases else None)
        if e.baseline is not None and e.baseline not in phases:
            out.append(((*loc, "baseline"), f"unknown phase {e.baseline!r}; phases: "
                        f"{', '.join(phases)}"))  # fmt: skip
        elif base == phase:
            out.append(((*loc, "baseline" if e.baseline else "phase"), f"{phase!r} is the "
                        "baseline itself; judge a later phase against it"))  # fmt: skip
    if isinstance(e, BreakerExpect):
        caller, callee = split_link(e.link)
        if not any(_touches_link(f, caller, callee) for f in scenario.faults):
            out.append(((*loc, "link"), f"no fault touches {norm_link(e.link)}; the breaker "
                        "check measures from such a fault"))  # fmt: skip
    if isinstance(e, ConfigAppliedExpect) and not any(
        isinstance(f, ConfigChangeFault | ConfigStoreOutageFault) for f in scenario.faults
    ):
        out.append(
            (loc, "no config_change or config_store_outage fault; the check measures from one")
        )
    if isinstance(e, DiscoveryExpect):
        svc = service_of(e.instance)
        faults = [
            f for f in scenario.faults
            if isinstance(f, ProcessFaultModel)
            and (f.instance == e.instance or (f.pick is not None and f.pick.service == svc))
        ]  # fmt: skip
        if not faults:
            kinds = ", ".join(sorted(k for k, v in FAULT_KINDS.items() if v.scope == "instance"))
            out.append(((*loc, "instance"), f"no process fault ({kinds}) on {e.instance}"))
        elif e.returns_within is not None and not any(f.brings_back() for f in faults):
            out.append(((*loc, "returns_within"), f"no fault restarts {e.instance}; "
                        "give the crash a restart_after"))  # fmt: skip
    return out


def _known_list(what: str, known: Iterable[str], value: str) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(value, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {value!r}{hint}; known {what}s: {', '.join(known)}"


def reference_check(scenario: Scenario, facts: TopologyFacts) -> Found:
    """Names of services, instances, links and metrics checked against the target."""
    out: Found = []
    instances = facts.instances

    def link_problem(link: str) -> str | None:
        caller, callee = split_link(link)
        if facts.proxy_mode == "per_instance" and caller in instances:
            caller = instances[caller]  # a proxy per caller instance: one instance's links
        if caller not in facts.services:
            return _known_list("service", facts.services, caller) + " (the caller of " + link + ")"
        callee_service = instances.get(callee, callee)
        if callee_service not in facts.services or (caller, callee_service) not in facts.links:
            return _known_list("link", facts.link_names(), norm_link(link))
        port = link_port(link)
        ports = facts.link_ports.get((caller, callee_service))
        if port is not None and ports is not None and port not in ports:
            return f"{caller} reaches {callee_service} on port(s) {', '.join(ports)}, not {port!r}"
        return None

    for i, f in enumerate(scenario.faults):
        loc: tuple[str | int, ...] = ("faults", i)
        if isinstance(f, LinkFaultModel) and (msg := link_problem(f.link)):
            out.append(((*loc, "link"), msg))
        if isinstance(f, ProcessFaultModel):
            if f.instance is not None and f.instance not in instances:
                out.append(((*loc, "instance"), _known_list("instance", instances, f.instance)))
            if f.pick is not None and f.pick.service not in facts.services:
                out.append(((*loc, "pick", "service"),
                            _known_list("service", facts.services, f.pick.service)))  # fmt: skip
        if isinstance(f, SecretRotateFault):
            if not facts.secrets:
                out.append(((*loc, "kind"), "the target declares no secrets (a `secrets:` "
                            "section in its topology: the files, who reads them)"))  # fmt: skip
            elif f.secret is not None and f.secret not in facts.secrets:
                out.append(((*loc, "secret"), f"unknown secret {f.secret!r}; known: "
                            f"{', '.join(facts.secrets)}"))  # fmt: skip
        if isinstance(f, ConfigChangeFault | ConfigStoreOutageFault):
            if facts.config is None:
                out.append(((*loc, "kind"), "the target declares no live settings (a `config:` "
                            "section in its topology: prefix, keys, version_metric)"))  # fmt: skip
            else:
                for key, msg in value_problems(facts.config.keys, f.set):
                    out.append(((*loc, "set", key), msg))
        if isinstance(f, PartitionFault):
            names = set(facts.services) | set(instances)
            bad = [m for g in f.groups for m in g if m not in names]
            for m in bad:
                out.append(((*loc, "groups"), _known_list("service or instance", names, m)))
            callers = {a for a, _ in facts.links}
            for m in (m for g in f.groups for m in g if m in instances):
                if instances[m] in callers and facts.proxy_mode != "per_instance":
                    out.append(((*loc, "groups"), f"{m} is an instance of a calling service; "
                                "proxies are per caller service, so only all of "
                                f"{instances[m]} can be cut off"))  # fmt: skip
            per_instance = facts.proxy_mode == "per_instance"
            if not bad and not any(
                _touches_link(f, ca, b) or _touches_link(f, ca, inst)
                for a, b in facts.links
                for ca in [a, *(facts.services.get(a, []) if per_instance else [])]
                for inst in facts.services.get(b, [])
            ):
                out.append(((*loc, "groups"), "the groups cut no link; links: "
                            + ", ".join(facts.link_names())))  # fmt: skip
    for section in ("steady_state", "expect"):
        entries = getattr(scenario, section)
        for i, e in enumerate(entries if isinstance(entries, list) else []):
            loc = (section, i, e.type)
            if isinstance(e, BreakerExpect) and (msg := link_problem(e.link)):
                out.append(((*loc, "link"), msg))
            if isinstance(e, SecretLeakExpect) and not facts.secrets:
                out.append((loc, "the target declares no secrets (topology `secrets:`)"))
            if isinstance(e, ConfigAppliedExpect):
                if facts.config is None:
                    out.append((loc, "the target declares no `config:` (its version metric)"))
                for j, svc in enumerate(e.services or []):
                    if svc not in facts.services:
                        out.append(((*loc, "services", j),
                                    _known_list("service", facts.services, svc)))  # fmt: skip
            if isinstance(e, DiscoveryExpect) and e.instance not in instances:
                out.append(((*loc, "instance"), _known_list("instance", instances, e.instance)))
            if isinstance(e, PromqlExpect) and facts.metrics is not None:
                for name in promql_metric_names(e.query):
                    if not known_metric(name, facts.metrics):
                        out.append(((*loc, "query"), _known_list("metric", facts.metrics, name)))
    return out


# ---------------------------------------------------------------------------- the load

LocustfileCheck = Callable[[Path], str | None]
"""Loads a locustfile the way Locust does; a one-line problem, or None when it loads."""


def effective_load(scenario: Scenario, facts: TopologyFacts | None) -> tuple[Path | None, str]:
    """(locustfile, host template) the scenario runs: its own, else its target's defaults."""
    default_file = facts.load_locustfile if facts is not None else None
    locustfile = resolve_locustfile(scenario.load.locustfile, scenario.source, default_file)
    host = scenario.load.host or (facts.load_host if facts is not None else None) or DEFAULT_HOST
    return locustfile, host


def load_check(
    scenario: Scenario, facts: TopologyFacts, check_locustfile: LocustfileCheck | None = None
) -> Found:
    """The load's locustfile (there, and loading the way Locust loads it) and host template."""
    out: Found = []
    locustfile, host = effective_load(scenario, facts)
    own_file = scenario.load.locustfile is not None
    file_loc: tuple[str | int, ...] = ("load", "locustfile") if own_file else ("load",)
    whose = "" if own_file else " (the target topology's load.locustfile)"
    if locustfile is None:
        out.append((("load",), "no locustfile: give load.locustfile (relative to this file) "
                    "or a load: {locustfile: ...} section in the target topology"))  # fmt: skip
    elif msg := locustfile_file_problem(locustfile):
        out.append((file_loc, msg + whose))
    elif check_locustfile is not None and (msg := check_locustfile(locustfile)):
        out.append((file_loc, f"{display(locustfile)}{whose}: {msg}"))
    host_loc: tuple[str | int, ...] = ("load", "host") if scenario.load.host else ("load",)
    for msg in host_problems(host, list(facts.services), facts.service_ports):
        where = "" if scenario.load.host else f" (in the target's host {host!r})"
        out.append((host_loc, msg + where))
    return out
