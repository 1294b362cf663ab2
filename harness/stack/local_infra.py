"""What the local stack runs beside the target, derived from its topology and ports alone (so
it can start before the target does): Toxiproxy's command, the targets Prometheus scrapes."""

from __future__ import annotations

from collections.abc import Callable

from harness.topology import Topology


def prometheus_targets(
    topology: Topology,
    address: Callable[[str, str | None], str],
    toxiproxy: str,
    etcd: str | None,
) -> list[dict]:
    """Every instance with metrics (``address(instance, port)``), Toxiproxy, and etcd when the
    stack runs one; ``instance`` relabelled to the instance's name."""
    targets = []
    for inst in topology.instances():
        svc = topology.services[inst.service]
        if svc.metrics:
            targets.append(
                {
                    "job": inst.service,
                    "address": address(inst.name, svc.metrics.port),
                    "path": svc.metrics.path,
                    "labels": {"instance": inst.name, "service": inst.service},
                }
            )
    targets.append(
        {
            "job": "toxiproxy",
            "address": toxiproxy,
            "labels": {"instance": "toxiproxy", "service": "toxiproxy"},
        }
    )
    if etcd is not None:
        targets.append(
            {"job": "etcd", "address": etcd, "labels": {"instance": "etcd", "service": "etcd"}}
        )
    return targets


def toxiproxy_command(binary: str, host: str, port: int) -> list[str]:
    """Toxiproxy's API on ``host:port``, with its per-proxy and runtime metrics for Prometheus."""
    return [binary, "-host", host, "-port", str(port), "-proxy-metrics", "-runtime-metrics"]
