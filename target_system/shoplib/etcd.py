"""A few calls of etcd's v3 JSON gateway over aiohttp: lease, put, prefix range, revoke."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp

PREFIX = "/stormproof/services/"


class EtcdError(Exception):
    pass


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _prefix_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode()


class Etcd:
    def __init__(self, url: str, session: aiohttp.ClientSession, timeout: float = 1.0) -> None:
        self.url = url.rstrip("/")
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            async with self.session.post(self.url + path, json=body, timeout=self.timeout) as resp:
                data = await resp.json(content_type=None)
                if resp.status >= 400:
                    raise EtcdError(f"{path}: HTTP {resp.status}: {data}")
                return data or {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise EtcdError(f"{path}: {exc!r}") from exc

    async def grant(self, ttl: float) -> str:
        data = await self._post("/v3/lease/grant", {"TTL": max(2, round(ttl))})
        return str(data["ID"])

    async def keepalive(self, lease: str) -> bool:
        """True while the lease lives; False once etcd says it expired."""
        data = await self._post("/v3/lease/keepalive", {"ID": lease})
        result = data.get("result", {})
        return int(result.get("TTL", 0)) > 0

    async def put(self, key: str, value: str, lease: str | None = None) -> None:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = lease
        await self._post("/v3/kv/put", body)

    async def revoke(self, lease: str) -> None:
        await self._post("/v3/lease/revoke", {"ID": lease})

    async def list(self, prefix: str) -> list[dict[str, Any]]:
        data = await self._post(
            "/v3/kv/range", {"key": _b64(prefix), "range_end": _prefix_end(prefix)}
        )
        out = []
        for kv in data.get("kvs", []):
            try:
                out.append(json.loads(base64.b64decode(kv["value"])))
            except (ValueError, KeyError):
                continue
        return out

    async def read_prefix(self, prefix: str) -> tuple[int, dict[str, tuple[str, int]]]:
        """(the store's revision, key -> (text value, mod revision)) of every key under
        `prefix`, in one read: the revision says how recent the whole answer is."""
        data = await self._post(
            "/v3/kv/range", {"key": _b64(prefix), "range_end": _prefix_end(prefix)}
        )
        try:
            revision = int(data["header"]["revision"])
            kvs = {
                base64.b64decode(kv["key"]).decode(): (
                    base64.b64decode(kv.get("value", "")).decode(),
                    int(kv["mod_revision"]),
                )
                for kv in data.get("kvs", [])
            }
        except (KeyError, ValueError, TypeError) as exc:
            raise EtcdError(f"/v3/kv/range: unexpected answer {data!r}: {exc!r}") from exc
        return revision, kvs
