"""partition: every link between groups of services or instances cut (a black hole).

direction: both; request (upstream only: the callee never sees the request); response
(downstream only: the callee did the work, the caller never hears). A black hole is the timeout
toxic with no timeout: the connection stays open and nothing arrives.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from harness.backend import StackBackend
from harness.errors import FaultError, TopologyInvalid
from harness.facts import MAX_ITEMS
from harness.faults.base import FaultKind, FaultModel, Flag
from harness.faults.network import ToxicFault


class PartitionFault(FaultModel):
    kind: Literal["partition"]
    groups: list[list[str]] = Field(min_length=2, max_length=MAX_ITEMS)
    direction: Literal["both", "request", "response"] = "both"

    def target_name(self) -> str:
        return "|".join(",".join(g) for g in self.groups)


class Partition:
    needs_revert = True

    def __init__(
        self,
        stack: StackBackend,
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
                    if topology.proxy_mode != "per_instance" and any(
                        lk.caller == inst.service for lk in topology.links
                    ):
                        raise FaultError(
                            f"partition: {member} is an instance of a calling service; proxies "
                            f"are per caller service, so cut off all of {inst.service}"
                        )
                group_of[member] = i
        cut: list[str] = []
        for lk in topology.links:
            port = topology.link_port(lk)
            callers = (
                [i.name for i in topology.instances_of(lk.caller)]
                if topology.proxy_mode == "per_instance"
                else [lk.caller]
            )
            for caller in callers:
                side = group_of.get(caller, group_of.get(lk.caller))
                if side is None:
                    continue
                for inst in topology.instances_of(lk.callee):
                    other = group_of.get(inst.name, group_of.get(lk.callee))
                    if other is not None and other != side:
                        named = port != topology.services[lk.callee].main_port
                        cut.append(f"{caller}->{inst.name}" + (f":{port}" if named else ""))
        cut = list(dict.fromkeys(cut))
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


KIND = FaultKind(
    name="partition",
    model=PartitionFault,
    driver=Partition,
    scope="groups",
    summary="network partition between service groups (both ways or one way)",
    fields="`groups: [[api], [ledger]]`, `direction: both / request / response`",
    flags=(
        Flag("--direction", "direction", str, "which stream is cut", "both",
             choices=("both", "request", "response")),
        Flag("--toxicity", "toxicity", float, "share of connections affected (0..1)", 1.0),
    ),
)  # fmt: skip
