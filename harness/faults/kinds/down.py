"""down: a link's proxies disabled, so callers get connection refused."""

from __future__ import annotations

from typing import Any, Literal

from harness.backend import StackBackend
from harness.faults.base import FaultKind, LinkFaultModel
from harness.faults.network import resolve_link


class DownFault(LinkFaultModel):
    kind: Literal["down"]


class Down:
    needs_revert = True

    def __init__(self, stack: StackBackend, link: str) -> None:
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


KIND = FaultKind(
    name="down",
    model=DownFault,
    driver=Down,
    scope="link",
    summary="link down: proxy disabled, connection refused",
    fields="— (proxy disabled: connection refused)",
)
