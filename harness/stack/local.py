"""The local-process backend: etcd, Toxiproxy, Jaeger, every instance and Prometheus as native
processes.

Every process is recorded (PID and start time) in a state file under ``.stormproof/stacks/``
with the PID of the harness that owns it; a later start or ``stormproof down`` stops what a
killed owner left behind, by those records only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from harness.errors import StackError
from harness.infra import jaeger
from harness.infra import prometheus as prom
from harness.infra.etcd import Etcd, etcd_command
from harness.infra.logs import rotate_all
from harness.infra.secrets import SecretVolume
from harness.infra.toxiproxy import Toxiproxy
from harness.infra.waiting import wait_for
from harness.ports import PortAllocator
from harness.procs import ProcessRecord, StateFile, record_dict, spawn, start_time
from harness.procs import stop as stop_process
from harness.settings import Settings
from harness.stack.addresses import AddressBook
from harness.stack.base import deferred_interrupts, healthy, settle
from harness.stack.bootstrap import run_bootstrap
from harness.stack.local_infra import prometheus_targets, toxiproxy_command
from harness.stack.stale import cleanup_stale, stacks_dir
from harness.topology import Topology

# Jaeger's ports, in jaeger.write_config's order: OTLP/HTTP in, query HTTP API, query gRPC
JAEGER_PORTS = ("jaeger-otlp", "jaeger-query", "jaeger-query-grpc")


class LocalStack:
    """The ``StackBackend`` over native processes."""

    prefixes_commands = True  # an instance's argv is ours to wrap (slow_start)

    def __init__(
        self,
        topology: Topology,
        settings: Settings,
        stack_dir: Path,
        target_env: dict[str, str] | None = None,
        progress: Callable[[str], None] | None = None,
        detached: bool = False,
    ) -> None:
        self.topology = topology
        self.traced = topology.exports_traces()  # a Jaeger only for a target that exports
        self.settings = settings
        self.dir = stack_dir
        self.target_env = dict(target_env or {})
        self.say = progress or (lambda _m: None)
        self.detached = detached
        self.ports = PortAllocator(settings.base_port, settings.host)
        self.host = settings.host
        self.records: dict[str, ProcessRecord] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self.paused: set[str] = set()
        self.toxiproxy: Toxiproxy | None = None
        self.etcd: Etcd | None = None
        # the secrets folder ({secrets_dir}); None when the topology declares no secrets
        self.secrets: SecretVolume | None = (
            SecretVolume(stack_dir / "secrets", {n: f.nbytes for n, f in topology.secrets.items()})
            if topology.secrets
            else None
        )
        self.id = uuid.uuid4().hex[:8]
        self.state = StateFile(stacks_dir(settings) / f"{self.id}.json")
        self.timings: dict[str, float] = {}
        self.book = AddressBook(topology, self.ports, self.host)

    # -- addresses -----------------------------------------------------------------------------

    def _addr(self, name: str) -> str:
        return self.book.addr(name)

    def address(self, instance: str, port: str | None = None) -> str:
        """``host:port`` of an instance's named port (None: its first)."""
        return self.book.address(instance, port)

    def instance_url(self, instance: str, port: str | None = None) -> str:
        return f"http://{self.address(instance, port)}"

    def entry_url(self) -> str:
        return self.instance_url(self.topology.instances_of(self.topology.entry)[0].name)

    def prometheus_url(self) -> str:
        return f"http://{self._addr('prometheus')}"

    def jaeger_url(self) -> str:
        """Jaeger's query API (``/api/traces``; no UI when built from source); "" when the
        topology hands no service ``{otlp_endpoint}``, so the stack runs no Jaeger."""
        return f"http://{self._addr('jaeger-query')}" if self.traced else ""

    def otlp_endpoint(self) -> str:
        """Where instances export traces: Jaeger's OTLP/HTTP receiver (``/v1/traces`` below)."""
        return f"http://{self._addr('jaeger-otlp')}" if self.traced else ""

    def registry_url(self) -> str:
        return f"http://{self._addr('etcd-client')}" if self.topology.registry == "etcd" else ""

    def urls(self) -> dict[str, str]:
        out = {
            "entry": self.entry_url(),
            "prometheus": self.prometheus_url(),
            "toxiproxy": f"http://{self._addr('toxiproxy')}",
        }
        if self.traced:
            out["jaeger-api"] = self.jaeger_url() + "/api/services"
            out["otlp-http"] = self.otlp_endpoint()
        if self.etcd is not None:
            out["registry"] = self.registry_url()
        for inst in self.topology.instances():
            out[inst.name] = self.instance_url(inst.name)
            svc = self.topology.services[inst.service]
            for port in svc.ports[1:]:
                out[f"{inst.name}:{port}"] = f"tcp://{self.address(inst.name, port)}"
        return out

    def links_for(self, caller: str) -> dict[str, str]:
        return self.book.links_for(caller)

    def template_values(self, inst_name: str) -> dict[str, str]:
        return self.book.template_values(inst_name)

    def bootstrap_values(self) -> dict[str, str]:
        return self.book.bootstrap_values(self.settings.python)

    # -- process bookkeeping -------------------------------------------------------------------

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        if name in self._procs:
            _reap(self._procs[name])
        full_env = dict(os.environ)
        full_env.update(env or {})
        # recorded in the state file before it runs (the gate in harness.procs)
        proc, _rec = spawn(
            name, cmd, full_env, self.dir / "logs" / f"{name}.log", recorded=self.adopt
        )
        self._procs[name] = proc

    def adopt(self, rec: ProcessRecord) -> None:
        """Record a process in the state file: the stack's own, and those a run starts beside
        it (Locust), so that ``stormproof down`` after a killed run stops them too."""
        self.records[rec.name] = rec
        self._save()

    def forget(self, name: str) -> None:
        """Drop the record of a process that has exited (Locust at the end of a scenario)."""
        if self.records.pop(name, None) is not None:
            self._save()

    def log_files(self) -> dict[str, Path]:
        """process name -> its log file (stdout and stderr), for every process started."""
        return {name: Path(rec.log) for name, rec in self.records.items() if rec.log}

    def _save(self) -> None:
        owner = None if self.detached else {"pid": os.getpid(), "start": start_time(os.getpid())}
        self.state.write(
            {
                "id": self.id,
                "owner": owner,
                "dir": str(self.dir),
                "topology": str(self.topology.path),
                "urls": self.urls() if self.ports.given else {},
                "ports": self.ports.given,
                "target_env": self.target_env,
                "processes": [record_dict(r) for r in self.records.values()],
                "paused": sorted(self.paused),
            }
        )

    def _died(self, name: str) -> str | None:
        proc = self._procs.get(name)
        if proc is not None and proc.poll() is not None:
            log = Path(self.records[name].log)
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            return f"exit status {proc.returncode}; log {log}:\n{tail}"
        return None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        t0 = time.monotonic()
        cleanup_stale(self.settings)
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.secrets is not None:
            self.secrets.create()  # fresh values per stack, before any instance reads them
        tox_bin = self.settings.toxiproxy_bin()
        prom_bin = self.settings.prometheus_bin()
        jaeger_bin = self.settings.jaeger_bin() if self.traced else None
        etcd_bin = self.settings.etcd_bin() if self.topology.registry == "etcd" else None
        for name in ("toxiproxy", "prometheus", "etcd-client", "etcd-peer"):
            self.ports.get(name)
        for name in JAEGER_PORTS if self.traced else ():
            self.ports.get(name)
        for inst in self.topology.instances():
            for port in self.topology.services[inst.service].ports:
                self.ports.get(self.book.port_key(inst.name, port))
        for spec in self.topology.proxies():
            self.ports.get("proxy:" + spec.name)
        timeout = self.settings.timeouts.infra_start
        # Every infrastructure process at once, Prometheus too (its targets' ports are known):
        # it loads its first targets only after a 5 s throttle, paid while the rest starts.
        # Jaeger is ready before any instance exports its first span.
        t_jaeger = time.monotonic()
        if jaeger_bin:
            self._start_jaeger(jaeger_bin)
        targets = self._start_prometheus(prom_bin)
        if etcd_bin:
            data = self.dir / "etcd"
            self._spawn(
                "etcd",
                etcd_command(
                    etcd_bin,
                    "stormproof",
                    str(data),
                    self.ports.get("etcd-client"),
                    self.ports.get("etcd-peer"),
                ),
            )
            self.etcd = Etcd(self.registry_url(), client=httpx.Client())  # closed in stop()
        self._spawn("toxiproxy", toxiproxy_command(tox_bin, self.host, self.ports.get("toxiproxy")))
        self.toxiproxy = Toxiproxy(f"http://{self._addr('toxiproxy')}", self.settings.timeouts.http)
        with httpx.Client(timeout=1.0) as probe:  # one client for every poll (~25 ms of CPU each)
            if self.etcd is not None:
                wait_for("etcd", self.etcd.healthy, timeout, alive=lambda: self._died("etcd"))
            tox = self.toxiproxy
            wait_for(
                "Toxiproxy",
                lambda: bool(tox.version()),
                timeout,
                alive=lambda: self._died("toxiproxy"),
            )
            for spec in self.topology.proxies():
                tox.create_proxy(
                    spec.name,
                    self._addr("proxy:" + spec.name),
                    self.address(spec.callee_instance, spec.port),
                )
            if jaeger_bin:
                self._wait_jaeger(probe)
                self.timings["jaeger_ready"] = time.monotonic() - t_jaeger
        self.timings["infra"] = time.monotonic() - t0
        self.say(
            f"infrastructure up in {time.monotonic() - t0:.1f}s; "
            f"starting {len(self.topology.instances())} instances"
        )
        for inst in self.topology.instances():
            self.start_instance(inst.name, wait=False)
        self.wait_healthy()
        self.timings["healthy"] = time.monotonic() - t0
        if self.topology.bootstrap:
            self._bootstrap()
            self.timings["bootstrapped"] = time.monotonic() - t0
        prom.wait_targets_up(
            self.prometheus_url(),
            targets,
            self.settings.timeouts.prometheus_targets,
            alive=lambda: self._died("prometheus"),
        )
        self.timings["scraped"] = time.monotonic() - t0
        self._save()

    def _bootstrap(self) -> None:
        run_bootstrap(self)

    def _start_jaeger(self, binary: str | None = None) -> None:
        """Jaeger with its config (``<stack>/jaeger.yaml``) on the stack's ports."""
        config = self.dir / "jaeger.yaml"
        jaeger.write_config(config, self.host, *(self.ports.get(p) for p in JAEGER_PORTS))
        self._spawn("jaeger", jaeger.command(binary or self.settings.jaeger_bin(), config))

    def _wait_jaeger(self, client: httpx.Client | None = None) -> None:
        wait_for(
            "Jaeger",
            lambda: jaeger.ready(self.jaeger_url(), client=client),
            self.settings.timeouts.infra_start,
            alive=lambda: self._died("jaeger"),
        )

    def _start_prometheus(self, binary: str) -> int:
        """Prometheus with every target of the stack (``<stack>/prometheus.yml``); not waited
        for. Returns how many targets it scrapes."""
        targets = prometheus_targets(
            self.topology,
            self.address,
            self._addr("toxiproxy"),
            self._addr("etcd-client") if self.topology.registry == "etcd" else None,
        )
        config = self.dir / "prometheus.yml"
        prom.write_config(config, targets)
        self._spawn(
            "prometheus",
            prom.command(
                binary, config, self.dir / "prometheus-data", self.ports.get("prometheus")
            ),
        )
        return len(targets)

    def start_instance(self, instance: str, wait: bool = True, prefix: Sequence[str] = ()) -> None:
        inst = self.topology.instance(instance)
        data_dir = self.dir / "data" / inst.service
        data_dir.mkdir(parents=True, exist_ok=True)
        cmd, env = self.topology.render(
            inst,
            {
                "python": self.settings.python,
                "host": self.host,
                "port": self.ports.get(inst.name),
                "registry_url": self.registry_url(),
                "data_dir": str(data_dir),
                "links_json": self.links_for(inst.name),
                "secrets_dir": str(self.dir / "secrets"),
                "otlp_endpoint": self.otlp_endpoint(),
                **self.template_values(inst.name),
            },
        )
        env.update(self.target_env)
        self.paused.discard(instance)
        self._spawn(instance, [*prefix, *cmd], env)
        if wait:
            self.wait_healthy(instance)

    def wait_healthy(self, instance: str | None = None, timeout: float | None = None) -> float:
        names = [instance] if instance else [i.name for i in self.topology.instances()]
        pending = set(names)
        timeout = timeout or self.settings.timeouts.process_start
        t0 = time.monotonic()

        def probe() -> bool:
            for name in sorted(pending):
                svc = self.topology.services[self.topology.instance(name).service]
                if healthy(self.address(name, svc.health.port), svc.health, client=client):
                    pending.discard(name)
            return not pending

        def dead() -> str | None:
            for name in pending:
                why = self._died(name)
                if why:
                    return f"{name}: {why}"
            return None

        with httpx.Client() as client:
            wait_for(
                f"instances {', '.join(sorted(pending))} healthy",
                probe,
                timeout,
                every=0.05,
                alive=dead,
            )
        return time.monotonic() - t0

    def is_running(self, instance: str) -> bool:
        rec = self.records.get(instance)
        return rec is not None and rec.alive() and self._died(instance) is None

    def _rec(self, instance: str) -> ProcessRecord:
        self.topology.instance(instance)
        rec = self.records.get(instance)
        if rec is None:
            raise StackError(f"{instance} was never started")
        return rec

    def kill(self, instance: str) -> None:
        self._rec(instance).signal(signal.SIGKILL)
        self._wait_gone(instance)

    def terminate(self, instance: str) -> None:
        rec = self._rec(instance)
        rec.signal(signal.SIGCONT)
        rec.signal(signal.SIGTERM)
        self._wait_gone(instance, then_kill=True)

    def _wait_gone(self, instance: str, then_kill: bool = False) -> None:
        rec = self.records[instance]
        deadline = time.monotonic() + self.settings.timeouts.process_stop
        while time.monotonic() < deadline:
            proc = self._procs.get(instance)
            if proc is not None:
                proc.poll()
            if not rec.alive():
                if proc is not None:
                    _reap(proc)
                self.paused.discard(instance)
                self._save()
                return
            time.sleep(0.02)
        if then_kill:
            rec.signal(signal.SIGKILL)
            self._wait_gone(instance)
            return
        raise StackError(f"{instance} (pid {rec.pid}) did not exit")

    def pause(self, instance: str) -> None:
        if not self._rec(instance).signal(signal.SIGSTOP):
            raise StackError(f"cannot pause {instance}: not running")
        self.paused.add(instance)
        self._save()

    def resume(self, instance: str) -> None:
        self._rec(instance).signal(signal.SIGCONT)
        self.paused.discard(instance)
        self._save()

    def restart(self, instance: str) -> None:
        if self.is_running(instance):
            self.terminate(instance)
        self.start_instance(instance)

    def pause_registry(self) -> None:
        if "etcd" not in self.records or not self.records["etcd"].signal(signal.SIGSTOP):
            raise StackError("no registry process to pause")
        self.paused.add("etcd")
        self._save()

    def resume_registry(self) -> None:
        if "etcd" in self.records:
            self.records["etcd"].signal(signal.SIGCONT)
        self.paused.discard("etcd")
        self._save()

    def registry_members(self) -> list[dict]:
        if self.etcd is None:
            return []
        layout = self.topology.profile.registry
        return self.etcd.members(layout) if layout is not None else []

    def settle(self) -> None:
        """Back to a clean state: no toxic, every proxy enabled, every process running; and,
        between two scenarios, every process's log rotated past its size bound."""
        rotate_all(Path(rec.log) for rec in self.records.values())
        rec = self.records.get("jaeger")
        if rec is not None and not rec.alive():
            self.say("restarting Jaeger (its earlier traces are gone)")
            self._start_jaeger()
            self._wait_jaeger()
        settle(self, self.say)

    def stop(self) -> None:
        """Stop everything, even when parts fail: SIGCONT, SIGTERM, then SIGKILL. A Ctrl-C or
        SIGTERM that arrives meanwhile is held until every process is stopped, then raised."""
        with deferred_interrupts():
            self._stop_all()

    def _stop_all(self) -> None:
        infra = ("prometheus", "toxiproxy", "etcd", "jaeger")
        order = [n for n in self.records if n.startswith("load:")]  # the load first
        order += [n for n in self.records if n not in infra and n not in order]
        order += [n for n in infra if n in self.records]
        problems = []
        for name in order:
            try:
                stop_process(
                    self.records[name], self.settings.timeouts.process_stop, self._procs.get(name)
                )
            except OSError as exc:
                problems.append(f"{name}: {exc}")
        for client in (self.toxiproxy, self.etcd.client if self.etcd is not None else None):
            if client is not None:
                client.close()
        if self.secrets is not None:
            self.secrets.remove()  # no secret outlives the stack (its folder is in the run's)
        self.state.remove()
        if problems:
            raise StackError("could not stop: " + "; ".join(problems))

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _reap(proc: subprocess.Popen) -> None:
    """Collect a finished child so no zombie (or ResourceWarning) is left behind."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2)
