"""Ports: from the OS (bind 127.0.0.1:0), or counting up from a base port, skipping busy ones."""

from __future__ import annotations

import socket


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class PortAllocator:
    """Hands out distinct ports for one stack; each is allocated once and reused on restart."""

    def __init__(self, base: int = 0, host: str = "127.0.0.1") -> None:
        self.base = base
        self.host = host
        self.given: dict[str, int] = {}
        self._next = base

    def get(self, name: str) -> int:
        if name in self.given:
            return self.given[name]
        port = self._from_base() if self.base else self._from_os()
        self.given[name] = port
        return port

    def _from_os(self) -> int:
        while True:
            with socket.socket() as s:
                s.bind((self.host, 0))
                port = s.getsockname()[1]
            if port not in self.given.values():
                return port

    def _from_base(self) -> int:
        while self._next < 65535:
            port = self._next
            self._next += 1
            if port not in self.given.values() and is_free(port, self.host):
                return port
        raise OSError(f"no free port at or above {self.base}")
