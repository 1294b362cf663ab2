"""Network faults through Toxiproxy, on links (``caller->callee`` or ``caller->callee-2``).

Streams: ``upstream`` carries the request (caller → callee), ``downstream`` the response.
Toxiproxy decides toxicity per connection, not per request.
"""

from __future__ import annotations

import itertools
from typing import Any

from harness.errors import FaultError, TopologyInvalid
from harness.topology import Link, Topology

# Every toxic gets its own name, so two faults of one kind on one proxy at once compose
# (Toxiproxy chains them) instead of the second failing on a name already taken.
_TOXIC_IDS = itertools.count(1)

STREAMS = {
    "upstream": ["upstream"],
    "downstream": ["downstream"],
    "both": ["upstream", "downstream"],
}


def resolve_link(topology: Topology, link: str) -> list[str]:
    """Proxy names a link maps to."""
    try:
        caller, callee = (p.strip() for p in link.split("->"))
    except ValueError:
        raise FaultError(f"link {link!r}: expected 'caller->callee'") from None
    callee_service = callee if callee in topology.services else callee.rsplit("-", 1)[0]
    if Link(caller, callee_service) not in topology.links:
        known = ", ".join(str(lk) for lk in topology.links)
        raise FaultError(f"unknown link {link!r}; known links: {known}")
    if callee in topology.services:
        instances = [i.name for i in topology.instances_of(callee)]
    else:
        topology.instance(callee)
        instances = [callee]
    return sorted({topology.proxy_for(caller, name) for name in instances})


def blast_radius(topology: Topology, link: str) -> list[str]:
    """Every link a fault on ``link`` actually reaches (more than one with shared proxies)."""
    proxies = set(resolve_link(topology, link))
    hit = []
    for lk in topology.links:
        if proxies & set(resolve_link(topology, str(lk))):
            hit.append(str(lk))
    return hit


class ToxicFault:
    """One Toxiproxy toxic on every proxy of a link."""

    needs_revert = True

    def __init__(
        self,
        stack: Any,
        toxic: str,
        link: str,
        attributes: dict[str, Any],
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> None:
        if stream not in STREAMS:
            raise FaultError(f"stream {stream!r}: expected upstream, downstream or both")
        self.stack = stack
        self.toxic = toxic
        self.link = link
        self.attributes = attributes
        self.streams = STREAMS[stream]
        self.toxicity = toxicity
        self.proxies = resolve_link(stack.topology, link)
        self._added: list[tuple[str, str]] = []
        self._id = next(_TOXIC_IDS)

    def inject(self) -> None:
        for proxy in self.proxies:
            for stream in self.streams:
                name = self.stack.toxiproxy.add_toxic(
                    proxy,
                    self.toxic,
                    stream,
                    self.attributes,
                    self.toxicity,
                    name=f"sp_{self.toxic}_{stream}_{self._id}",
                )
                self._added.append((proxy, name))

    def revert(self) -> None:
        while self._added:
            proxy, name = self._added.pop()
            self.stack.toxiproxy.remove_toxic(proxy, name)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.toxic,
            "link": self.link,
            "proxies": self.proxies,
            "attributes": self.attributes,
            "toxicity": self.toxicity,
        }


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def latency(stack: Any, link: str, latency: float, jitter: float = 0.0, **kw: Any) -> ToxicFault:
    return ToxicFault(
        stack, "latency", link, {"latency": _ms(latency), "jitter": _ms(jitter)}, **kw
    )


def bandwidth(stack: Any, link: str, rate_kbps: int, **kw: Any) -> ToxicFault:
    return ToxicFault(stack, "bandwidth", link, {"rate": rate_kbps}, **kw)


def blackhole(stack: Any, link: str, timeout: float = 0.0, **kw: Any) -> ToxicFault:
    return ToxicFault(stack, "timeout", link, {"timeout": _ms(timeout)}, **kw)


def reset_peer(stack: Any, link: str, timeout: float = 0.0, **kw: Any) -> ToxicFault:
    return ToxicFault(stack, "reset_peer", link, {"timeout": _ms(timeout)}, **kw)


def slow_close(stack: Any, link: str, delay: float, **kw: Any) -> ToxicFault:
    return ToxicFault(stack, "slow_close", link, {"delay": _ms(delay)}, **kw)


def slicer(
    stack: Any, link: str, average_size: int, size_variation: int = 0, delay_us: int = 0, **kw: Any
) -> ToxicFault:
    attrs = {"average_size": average_size, "size_variation": size_variation, "delay": delay_us}
    return ToxicFault(stack, "slicer", link, attrs, **kw)


def limit_data(stack: Any, link: str, bytes: int, **kw: Any) -> ToxicFault:
    return ToxicFault(stack, "limit_data", link, {"bytes": bytes}, **kw)


class Down:
    """The link's proxies disabled: callers get connection refused."""

    needs_revert = True

    def __init__(self, stack: Any, link: str) -> None:
        self.stack = stack
        self.link = link
        self.proxies = resolve_link(stack.topology, link)

    def inject(self) -> None:
        for p in self.proxies:
            self.stack.toxiproxy.set_enabled(p, False)

    def revert(self) -> None:
        for p in self.proxies:
            self.stack.toxiproxy.set_enabled(p, True)

    def describe(self) -> dict[str, Any]:
        return {"kind": "down", "link": self.link, "proxies": self.proxies}


class Partition:
    """Cut every link between the groups: a black hole (timeout toxic, never closes).

    direction: both; request (upstream only: the callee never sees the request); response
    (downstream only: the callee did the work, the caller never hears).
    """

    needs_revert = True

    def __init__(
        self,
        stack: Any,
        groups: list[list[str]],
        direction: str = "both",
        toxicity: float = 1.0,
        **_: Any,
    ) -> None:
        stream = {"both": "both", "request": "upstream", "response": "downstream"}.get(direction)
        if stream is None:
            raise FaultError(f"direction {direction!r}: expected both, request or response")
        topology = stack.topology
        group_of: dict[str, int] = {}
        for i, g in enumerate(groups):
            for member in g:
                if member not in topology.services:
                    try:
                        inst = topology.instance(member)
                    except TopologyInvalid as exc:
                        raise FaultError(f"partition: {exc}") from None
                    if any(lk.caller == inst.service for lk in topology.links):
                        raise FaultError(
                            f"partition: {member} is an instance of a calling service; proxies "
                            f"are per caller service, so cut off all of {inst.service}"
                        )
                group_of[member] = i
        cut = []
        for lk in topology.links:
            side = group_of.get(lk.caller)
            if side is None:
                continue
            for inst in topology.instances_of(lk.callee):
                other = group_of.get(inst.name, group_of.get(lk.callee))
                if other is not None and other != side:
                    cut.append(f"{lk.caller}->{inst.name}")
        if not cut:
            raise FaultError(f"partition {groups} cuts no link")
        self.links = cut
        self.parts = [
            ToxicFault(stack, "timeout", lk, {"timeout": 0}, stream, toxicity) for lk in cut
        ]

    def inject(self) -> None:
        for p in self.parts:
            p.inject()

    def revert(self) -> None:
        for p in reversed(self.parts):
            p.revert()

    def describe(self) -> dict[str, Any]:
        return {"kind": "partition", "links": self.links}
