"""``stormproof up / status / down / fault / faults``: the stack and faults by hand.

``up --detach`` leaves the stack running with its state file (``.stormproof/stacks/``); later
commands find it there. A fault without ``--for`` stays until ``faults clear`` (it is recorded
in the state file); with ``--for`` the command blocks and reverts (Ctrl-C reverts early), or
with ``--detach`` a small reverter process, recorded in the state file, reverts it later.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.backend import StackBackend
from harness.durations import parse_duration
from harness.errors import (
    FaultError,
    InputInvalid,
    StackError,
    TopologyInvalid,
)
from harness.faults.kinds import FAULT_KINDS
from harness.faults.kinds.config_change import undo_config_changes
from harness.procs import ProcessRecord, StateFile, start_time
from harness.settings import Settings

if TYPE_CHECKING:
    from harness.stack.local import LocalStack


def register(sub: Any) -> None:
    up = sub.add_parser("up", help="start the infrastructure and the target; print the URLs")
    up.add_argument("--topology", type=Path, help="topology file (default: the bundled shop)")
    up.add_argument("--detach", action="store_true", help="return once everything is up")
    up.add_argument("--base-port", type=int, help="allocate ports upward from this one")
    up.add_argument(
        "--backend",
        choices=("local", "compose"),
        default=None,
        help="compose: the containers, on $DOCKER_HOST or the project engine (started if "
        "needed); default: $STORMPROOF_BACKEND, else local",
    )
    up.set_defaults(func=cmd_up)

    sub.add_parser("status", help="what is running").set_defaults(func=cmd_status)
    sub.add_parser("down", help="stop everything the harness started").set_defaults(func=cmd_down)

    f = sub.add_parser("fault", help="inject one fault into the running stack")
    f.add_argument("kind", choices=list(FAULT_KINDS), type=lambda k: k.replace("-", "_"))
    f.add_argument(
        "target",
        nargs="*",
        help="link (a->b), instance, partition groups, or config_change's and "
        "config_store_outage's KEY=VALUE pairs",
    )
    add_kind_flags(f)
    f.add_argument("--restart-after", help="crash/stop: start again after DURATION")
    f.add_argument("--for", dest="for_", help="revert after DURATION (blocks unless --detach)")
    f.add_argument("--detach", action="store_true", help="with --for: revert in the background")
    f.set_defaults(func=cmd_fault)

    fs = sub.add_parser("faults", help="list or clear the faults in force")
    fs.add_argument("action", choices=("list", "clear"))
    fs.set_defaults(func=cmd_faults)


# -- attaching to a running stack ----------------------------------------------------------------


def _running_state(settings: Settings) -> tuple[StateFile, dict]:
    from harness.stack.local import stacks_dir

    found = []
    for path in sorted(stacks_dir(settings).glob("*.json")):
        state = StateFile(path)
        data = state.read()
        if data and any(ProcessRecord(**r).alive() for r in data.get("processes", [])):
            found.append((state, data))
    if not found:
        raise StackError("no running stack: start one with 'stormproof up --detach'")
    return found[-1]


def local_only(settings: Settings, command: str) -> None:
    """These commands drive a stack of native processes through its state file; a compose
    project has none (use ``docker compose`` on it)."""
    if settings.backend != "local":
        raise InputInvalid(
            f"stormproof {command} works with the local backend only, and the backend is "
            f"{settings.backend!r} (STORMPROOF_BACKEND); unset it, or drive the compose "
            "project with docker compose"
        )


def attach(settings: Settings, command: str) -> tuple[LocalStack, dict]:
    """The running local stack, bound to its recorded processes (for faults and status)."""
    from harness.infra.etcd import Etcd
    from harness.infra.toxiproxy import Toxiproxy
    from harness.stack.local import LocalStack
    from harness.topology import load_topology

    local_only(settings, command)
    state, data = _running_state(settings)
    stack = LocalStack(
        load_topology(data["topology"]),
        settings,
        Path(data["dir"]),
        data.get("target_env"),
        detached=data.get("owner") is None,
    )
    stack.id = data["id"]
    stack.state = state
    stack.ports.given.update(data["ports"])
    stack.records = {r["name"]: ProcessRecord(**r) for r in data["processes"]}
    stack.paused = set(data.get("paused", []))
    stack.toxiproxy = Toxiproxy(data["urls"]["toxiproxy"])
    if "registry" in data["urls"]:
        stack.etcd = Etcd(data["urls"]["registry"])
    if stack.secrets is not None:
        stack.secrets.adopt()  # the values the folder holds now
    return stack, data


# -- commands ----------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    from harness.stack.local import LocalStack
    from harness.topology import bundled_topology_path, load_topology

    settings = Settings() if args.base_port is None else Settings(base_port=args.base_port)
    settings = settings.with_backend(args.backend)
    if settings.backend == "compose":
        return compose_up(settings, args)
    topology = load_topology(args.topology or bundled_topology_path())
    run_dir = settings.state_dir / "up" / time.strftime("%Y%m%d-%H%M%S")
    stack = LocalStack(topology, settings, run_dir, progress=print, detached=args.detach)
    try:
        stack.start()
    except BaseException:
        stack.stop()
        raise
    print(
        f"stack {topology.name} up in {stack.timings['healthy']:.1f}s "
        f"(Prometheus scraping every target after {stack.timings['scraped']:.1f}s)"
    )
    if "bootstrapped" in stack.timings:
        print(f"bootstrap done after {stack.timings['bootstrapped']:.1f}s")
    for name, url in stack.urls().items():
        print(f"  {name:<14} {url}")
    if stack.jaeger_url():
        print(
            f"  Jaeger (built from source) serves its query API, no UI: traces of a service at "
            f"{stack.jaeger_url()}/api/traces?service={topology.entry}&limit=20"
        )
    if args.detach:
        print("stop it with: stormproof down")
        return 0
    print("Ctrl-C stops everything")
    return _hold(stack.stop)


def compose_up(settings: Settings, args: argparse.Namespace) -> int:
    """``up --backend compose``: the engine (unless the user has one), then the project."""
    from harness.stack import engine
    from harness.stack.compose import ComposeStack
    from harness.topology import bundled_topology_path, load_topology

    topology = load_topology(args.topology or bundled_topology_path())
    if engine.docker_host(settings) is None:
        got = engine.up(settings)
        print(f"engine started in {got.seconds:.2f}s ({got.version}) at {got.host}")
    t0 = time.monotonic()
    stack = ComposeStack(topology, settings, settings.compose_project)
    compose_state(settings).write(
        {"project": stack.project, "topology": str(topology.path), "file": str(stack.compose_file)}
    )
    try:
        stack.start()
    except BaseException:
        stack.stop()
        compose_state(settings).remove()
        raise
    print(f"compose project {stack.project} up and healthy in {time.monotonic() - t0:.1f}s")
    for name, url in stack.urls().items():
        print(f"  {name:<14} {url}")
    if args.detach:
        print("stop it with: stormproof down (the engine stays: stormproof engine down)")
        return 0
    print("Ctrl-C stops the containers")

    def stop() -> None:
        stack.stop()
        compose_state(settings).remove()

    return _hold(stop)


def _hold(stop: Callable[[], None]) -> int:
    """Wait in the foreground until Ctrl-C or SIGTERM, then `stop` (also on any other exit)."""
    try:
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping")
    finally:
        stop()
    return 0


def compose_state(settings: Settings) -> StateFile:
    """The compose project ``up --detach`` left running, for ``down``."""
    return StateFile(settings.state_dir / "compose" / "up.json")


def cmd_status(args: argparse.Namespace) -> int:
    stack, data = attach(Settings(), "status")
    print(f"stack {data['id']} ({data['topology']})")
    for rec in stack.records.values():
        state = "running" if rec.alive() else "gone"
        if rec.name in stack.paused:
            state = "paused"
        print(f"  {rec.name:<14} pid {rec.pid:<8} {state}")
    for f in data.get("faults", []):
        print(f"  fault {f['kind']} {' '.join(f['target'])} since {time.ctime(f['at'])}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from harness.stack.local import cleanup_stale

    settings = Settings()
    stopped = cleanup_stale(settings, everything=True)
    print(f"stopped {len(stopped)} processes" + (": " + ", ".join(stopped) if stopped else ""))
    data = compose_state(settings).read()
    if data:
        from harness.stack.compose import ComposeStack
        from harness.topology import load_topology

        # `down -v` with the project's name: its containers, networks and volumes only
        stack = ComposeStack(
            load_topology(Path(data["topology"])), settings, data["project"], Path(data["file"])
        )
        stack.stop()
        compose_state(settings).remove()
        print(f"removed compose project {data['project']}")
    return 0


def add_kind_flags(parser: argparse.ArgumentParser) -> None:
    """One option per flag the kinds declare; an option several kinds share is added once."""
    seen: dict[str, tuple[Any, list[str]]] = {}
    for kind in FAULT_KINDS.values():
        for flag in kind.flags:
            seen.setdefault(flag.option, (flag, []))[1].append(kind.name)
    for option, (flag, kinds) in seen.items():
        default = "" if flag.default is None else f"; default {flag.default}"
        parser.add_argument(
            option,
            type=flag.type,
            choices=flag.choices,
            default=None,
            help=f"{'/'.join(kinds)}: {flag.help}{default}",
        )


def build_fault(stack: StackBackend, args: argparse.Namespace) -> Any:
    """The driver of ``args.kind`` with its target and its flags (in the model's units)."""
    kind = FAULT_KINDS[args.kind]
    target = args.target
    params: dict[str, Any] = {}
    for flag in kind.flags:
        value = getattr(args, flag.dest, None)
        if value is None:
            if flag.required:
                raise InputInvalid(f"fault {kind.name} needs {flag.option}")
            value = flag.default
        params[flag.param] = value * flag.scale if flag.scale is not None else value
    if kind.scope == "link":
        if len(target) != 1 or "->" not in target[0]:
            raise InputInvalid(f"fault {kind.name} needs one link like api->ledger, got {target}")
        params["link"] = target[0]
    elif kind.scope == "groups":
        if len(target) < 2:
            raise InputInvalid(f"fault {kind.name} needs two groups, e.g. 'api ledger,db'")
        params["groups"] = [g.split(",") for g in target]
    elif kind.scope == "instance":
        if len(target) != 1:
            raise InputInvalid(f"fault {kind.name} needs one instance, e.g. ledger-1")
        params["instance"] = target[0]
    elif kind.scope == "config":
        bad = [t for t in target if "=" not in t or not t.partition("=")[0]]
        if not target or bad:
            raise InputInvalid(
                f"fault {kind.name} needs KEY=VALUE pairs, e.g. call_timeout=3"
                + (f"; not {', '.join(map(repr, bad))}" if bad else "")
            )
        params["set"] = dict(t.split("=", 1) for t in target)
    elif kind.scope == "secret" and target:
        raise InputInvalid(
            f"fault {kind.name} takes no target; name the secret with --secret, got {target}"
        )
    return kind.driver(stack, **params)


def cmd_fault(args: argparse.Namespace) -> int:
    try:
        duration = parse_duration(args.for_) if args.for_ else None
        restart_after = parse_duration(args.restart_after) if args.restart_after else None
    except ValueError as exc:
        raise InputInvalid(f"--for / --restart-after: {exc}") from None
    stack, _data = attach(Settings(), "fault")
    try:
        fault = build_fault(stack, args)
    except (FaultError, TopologyInvalid) as exc:
        raise InputInvalid(str(exc)) from exc
    delay = duration if duration is not None else restart_after
    if delay is None:
        delay = getattr(fault, "revert_delay", None)  # secret_rotate: its grace
    if args.detach and delay is None:
        raise InputInvalid("--detach needs --for" + (" (or --grace)" if args.kind ==
                                                     "secret_rotate" else ""))  # fmt: skip
    fault.inject()
    print(f"injected {args.kind} {' '.join(args.target)}".rstrip())
    if not getattr(fault, "needs_revert", True):
        return 0
    undo = fault.undo() if callable(getattr(fault, "undo", None)) else None
    if delay is None:
        _record_fault(stack.state, args, undo=undo)
        print("in force until 'stormproof faults clear'")
        return 0
    if args.detach:
        reverter = _spawn_reverter(args, delay)
        _record_fault(stack.state, args, reverter, undo=undo)
        print(f"a reverter (pid {reverter['pid']}) reverts it in {delay:g}s")
        return 0
    try:
        time.sleep(delay)
    except KeyboardInterrupt:
        print("interrupted: reverting now")
    finally:
        fault.revert()
        print(f"reverted {args.kind} {' '.join(args.target)}")
    return 0


def _record_fault(
    state: StateFile,
    args: argparse.Namespace,
    reverter: dict | None = None,
    undo: dict[str, str | None] | None = None,
) -> None:
    """Record a fault in force; `undo` (config_change: key -> previous value, None: absent)
    is what ``faults clear`` writes back."""
    data = state.read() or {}
    entry = {"kind": args.kind, "target": args.target, "at": time.time(), "reverter": reverter}
    if undo is not None:
        entry["undo"] = undo
    data.setdefault("faults", []).append(entry)
    state.write(data)


def _spawn_reverter(args: argparse.Namespace, delay: float) -> dict:
    # The reverter sleeps, then clears every fault in force (as 'stormproof faults clear').
    code = (
        "import time, sys; time.sleep(float(sys.argv[1]));"
        "from harness.cli import main; sys.exit(main(['faults', 'clear']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(delay)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return {"pid": proc.pid, "start": start_time(proc.pid)}


def cmd_faults(args: argparse.Namespace) -> int:
    stack, data = attach(Settings(), "faults")
    if args.action == "list":
        toxics = []
        for name, proxy in stack.toxiproxy.proxies().items():
            for t in proxy.get("toxics", []):
                toxics.append(f"{name}: {t['type']} {t['stream']} {json.dumps(t['attributes'])}")
            if not proxy.get("enabled", True):
                toxics.append(f"{name}: disabled (link down)")
        for line in toxics:
            print("  " + line)
        for name in sorted(stack.paused):
            print(f"  {name}: paused")
        for rec in stack.records.values():
            if not rec.alive():
                print(f"  {rec.name}: not running")
        for f in data.get("faults", []):
            if f.get("undo"):
                print(f"  {f['kind']} {' '.join(f['target'])}: in force (store keys)")
        graces = [n for n in stack.secrets.names if stack.secrets.in_grace(n)] if (
            stack.secrets is not None) else []  # fmt: skip
        for name in graces:
            print(f"  secret {name}: rotated, old value still accepted (grace)")
        if not toxics and not stack.paused and not graces:
            print("no network fault in force")
        return 0
    stack.toxiproxy.reset()
    if "etcd" in stack.paused:
        stack.resume_registry()
    recorded = (StateFile(stack.state.path).read() or data).get("faults", [])
    undone = undo_config_changes(stack.etcd, recorded)
    if stack.secrets is not None:
        stack.secrets.end_grace(stack.secrets.names)  # a rotation's old value stops counting
    for name in sorted(stack.paused):
        stack.resume(name)
    restarted = []
    for inst in stack.topology.instances():
        if not stack.records[inst.name].alive():
            stack.start_instance(inst.name)
            restarted.append(inst.name)
    state = StateFile(stack.state.path)
    fresh = state.read() or data
    for f in fresh.get("faults", []):
        rev = f.get("reverter")
        if rev and rev["pid"] != os.getpid() and start_time(rev["pid"]) == rev["start"]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(rev["pid"], signal.SIGTERM)
    fresh["faults"] = []
    state.write(fresh)
    print(
        "cleared: toxics removed, proxies enabled, processes resumed"
        + (f", {undone} config change(s) reverted" if undone else "")
        + (f", restarted {', '.join(restarted)}" if restarted else "")
    )
    return 0
