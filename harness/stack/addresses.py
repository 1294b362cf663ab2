"""Where everything of a local stack listens, and the address templates an instance (or a
bootstrap command) is started with: ``{port:NAME}``, ``{proxy:SERVICE[:PORT[:INDEX]]}``,
``{advertise:PORT}``, ``{advertise_port:PORT}`` (docs/architecture.md, "Named ports")."""

from __future__ import annotations

from harness.ports import PortAllocator
from harness.topology import Topology


class AddressBook:
    """Addresses from the stack's port allocator: an instance's ports are keyed by its name
    (its first port) or ``instance:port``, a proxy's by ``proxy:NAME``."""

    def __init__(self, topology: Topology, ports: PortAllocator, host: str) -> None:
        self.topology = topology
        self.ports = ports
        self.host = host

    def addr(self, name: str) -> str:
        return f"{self.host}:{self.ports.get(name)}"

    def port_key(self, instance: str, port: str | None) -> str:
        """The allocator's key of an instance's named port: the instance name for its first."""
        svc = self.topology.services[self.topology.instance(instance).service]
        return instance if port in (None, svc.main_port) else f"{instance}:{port}"

    def address(self, instance: str, port: str | None = None) -> str:
        """``host:port`` of an instance's named port (None: its first)."""
        return self.addr(self.port_key(instance, port))

    def proxy_addr(self, caller: str, instance: str, port: str | None = None) -> str:
        return self.addr("proxy:" + self.topology.proxy_for(caller, instance, port))

    def links_for(self, caller: str) -> dict[str, str]:
        """This caller's (an instance's, or with per-service proxies a service's) map of callee
        instance -> its Toxiproxy listener (``instance:port`` for a link to a port other than
        the callee's first)."""
        topology = self.topology
        service = caller if caller in topology.services else topology.instance(caller).service
        out = {}
        for link in topology.links:
            if link.caller != service:
                continue
            for inst in topology.instances_of(link.callee):
                key = inst.name + (f":{link.port}" if link.port else "")
                out[key] = self.proxy_addr(caller, inst.name, link.port)
        return out

    def _proxy_values(self, caller: str | None) -> dict[str, str]:
        """``proxy:SERVICE[:PORT[:INDEX]]`` for `caller`'s links (an instance); None: every
        link, for a bootstrap command (shared proxies, the same for every caller)."""
        topology = self.topology
        out: dict[str, str] = {}
        service = None if caller is None else topology.instance(caller).service
        for link in topology.links:
            if topology.proxy_mode != "shared" and link.caller != service:
                continue
            port = topology.link_port(link)
            addrs = []
            for target in topology.instances_of(link.callee):
                addr = self.proxy_addr(caller or link.caller, target.name, port)
                out[f"proxy:{link.callee}:{port}:{target.index}"] = addr
                addrs.append(addr)
            out[f"proxy:{link.callee}:{port}"] = ",".join(addrs)
            if port == topology.services[link.callee].main_port:
                out[f"proxy:{link.callee}"] = ",".join(addrs)
        return out

    def template_values(self, inst_name: str) -> dict[str, str]:
        """The address templates of one instance: ``{port:NAME}``, ``{proxy:SERVICE[:PORT[:I]]}``
        (this caller's proxies), ``{advertise:PORT}`` (the proxy in front of it) and
        ``{advertise_port:PORT}`` (that proxy's port number)."""
        topology = self.topology
        inst = topology.instance(inst_name)
        svc = topology.services[inst.service]
        out = {f"port:{p}": str(self.ports.get(self.port_key(inst_name, p))) for p in svc.ports}
        out.update(self._proxy_values(inst_name))
        proxied = {p.name for p in topology.proxies()}
        for port in svc.ports if topology.proxy_mode != "per_instance" else ():
            name = topology.proxy_for(inst.service, inst_name, port)
            if name in proxied:
                out[f"advertise:{port}"] = self.addr("proxy:" + name)
                out[f"advertise_port:{port}"] = str(self.ports.get("proxy:" + name))
                if port == svc.main_port:
                    out["advertise"] = out[f"advertise:{port}"]
                    out["advertise_port"] = out[f"advertise_port:{port}"]
        return out

    def bootstrap_values(self, python: str) -> dict[str, str]:
        """The templates a bootstrap command can use: ``{python}``, ``{host}`` and, with shared
        proxies (the same for every caller), ``{proxy:SERVICE[:PORT[:INDEX]]}``."""
        out = {"python": python, "host": self.host}
        if self.topology.proxy_mode == "shared":
            out.update(self._proxy_values(None))
        return out
