"""A small typed client of Toxiproxy's HTTP API (every call with a timeout; a non-2xx is an
error, never silent). See docs/decisions.md for why not toxiproxy-python."""

from __future__ import annotations

from typing import Any

import httpx

from harness.errors import FaultError, InfraUnavailable


class Toxiproxy:
    def __init__(self, url: str, timeout: float = 3.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            r = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise InfraUnavailable(f"Toxiproxy {method} {path} failed: {exc}") from exc
        if r.status_code >= 300:
            raise FaultError(f"Toxiproxy {method} {path}: HTTP {r.status_code}: {r.text.strip()}")
        if not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            return r.text

    def version(self) -> str:
        try:
            r = self._http.get("/version")
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise InfraUnavailable(f"Toxiproxy at {self.url} unreachable: {exc}") from exc
        return r.text.strip()

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset")

    def proxies(self) -> dict[str, dict]:
        return self._call("GET", "/proxies")

    def create_proxy(self, name: str, listen: str, upstream: str) -> None:
        self._call(
            "POST",
            "/proxies",
            {"name": name, "listen": listen, "upstream": upstream, "enabled": True},
        )

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def set_enabled(self, name: str, enabled: bool) -> None:
        self._call("POST", f"/proxies/{name}", {"enabled": enabled})

    def add_toxic(
        self,
        proxy: str,
        kind: str,
        stream: str,
        attributes: dict[str, Any],
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> str:
        name = name or f"{kind}_{stream}"
        self._call(
            "POST",
            f"/proxies/{proxy}/toxics",
            {
                "name": name,
                "type": kind,
                "stream": stream,
                "toxicity": toxicity,
                "attributes": attributes,
            },
        )
        return name

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def toxics(self, proxy: str) -> list[dict]:
        return self._call("GET", f"/proxies/{proxy}/toxics")

    def close(self) -> None:
        self._http.close()
