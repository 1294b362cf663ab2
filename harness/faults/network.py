"""Toxiproxy drivers shared by the network fault kinds, on links (``caller->callee`` or
``caller->callee-2``).

Streams: ``upstream`` carries the request (caller → callee), ``downstream`` the response.
Toxiproxy decides toxicity per connection, not per request.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from harness.backend import StackBackend
from harness.errors import FaultError
from harness.facts import link_port, service_of, split_link
from harness.topology import Topology

# Every toxic gets its own name, so two faults of one kind on one proxy at once compose
# (Toxiproxy chains them) instead of the second failing on a name already taken.
_TOXIC_IDS = itertools.count(1)

STREAMS = {
    "upstream": ["upstream"],
    "downstream": ["downstream"],
    "both": ["upstream", "downstream"],
}


def resolve_link(topology: Topology, link: str) -> list[str]:
    """Proxy names a link maps to: every port the caller reaches the callee on, or only
    the one named (``caller->callee:port``)."""
    if "->" not in link:
        raise FaultError(f"link {link!r}: expected 'caller->callee'")
    caller, callee = split_link(link)
    port = link_port(link)
    callee_service = callee if callee in topology.services else service_of(callee)
    caller_service = caller
    if caller not in topology.services and topology.proxy_mode == "per_instance":
        caller_service = service_of(caller)  # one instance's proxies only
        if caller not in {i.name for i in topology.instances_of(caller_service)}:
            caller_service = caller
    ports = [
        topology.link_port(lk)
        for lk in topology.links
        if lk.caller == caller_service and lk.callee == callee_service
    ]
    if not ports or (port is not None and port not in ports):
        known = ", ".join(str(lk) for lk in topology.links)
        raise FaultError(f"unknown link {link!r}; known links: {known}")
    if callee in topology.services:
        instances = [i.name for i in topology.instances_of(callee)]
    else:
        topology.instance(callee)
        instances = [callee]
    return sorted(
        {
            proxy
            for name in instances
            for p in ports
            if port is None or p == port
            for proxy in topology.caller_proxies(caller, name, p)
        }
    )


def blast_radius(topology: Topology, link: str) -> list[str]:
    """Every link a fault on ``link`` actually reaches (more than one with shared proxies)."""
    proxies = set(resolve_link(topology, link))
    hit = []
    for lk in topology.links:
        if proxies & set(
            resolve_link(topology, f"{lk.caller}->{lk.callee}:{topology.link_port(lk)}")
        ):
            hit.append(str(lk))
    return hit


class ToxicFault:
    """One Toxiproxy toxic on every proxy of a link."""

    needs_revert = True

    def __init__(
        self,
        stack: StackBackend,
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


def ms(seconds: float) -> int:
    """Toxiproxy's attributes are in milliseconds; the models' durations in seconds."""
    return round(seconds * 1000)


def toxic(name: str, attributes: Callable[..., dict[str, Any]]) -> Callable[..., ToxicFault]:
    """A driver for one Toxiproxy toxic: ``attributes(**params)`` maps the model's fields."""

    def driver(
        stack: StackBackend,
        link: str,
        stream: str = "downstream",
        toxicity: float = 1.0,
        **params: Any,
    ) -> ToxicFault:
        return ToxicFault(stack, name, link, attributes(**params), stream, toxicity)

    return driver
