"""etcd through its v3 JSON-over-HTTP API: health, the registry's members, and the live
settings the config_change fault reads and writes (one transaction per change, so it lands at
one revision).

Where instances register, and how a key reads, is the target profile's ``registry`` layout.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

import httpx

from harness.errors import InfraUnavailable
from harness.profile import Registry


def etcd_command(
    binary: str, name: str, data_dir: str, client_port: int, peer_port: int
) -> list[str]:
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        binary,
        "--name",
        name,
        "--data-dir",
        data_dir,
        "--listen-client-urls",
        client,
        "--advertise-client-urls",
        client,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        f"{name}={peer}",
        "--initial-cluster-state",
        "new",
        "--log-level",
        "warn",
    ]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Etcd:
    def __init__(self, url: str, timeout: float = 2.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        # reused for every call when given (its owner closes it): a new client per call costs
        # ~25 ms of CPU, and the registry poller calls members() four times a second
        self.client = client

    def _send(self, path: str, body: dict, timeout: float) -> httpx.Response:
        return (self.client or httpx).post(self.url + path, json=body, timeout=timeout)

    def healthy(self) -> bool:
        r = (self.client or httpx).get(self.url + "/health", timeout=self.timeout)
        return r.status_code == 200 and r.json().get("health") == "true"

    def members(self, layout: Registry) -> list[dict]:
        """{"service", "instance", "incarnation"} per key under the layout's prefix; a key
        whose value does not read as the layout says is skipped."""
        prefix = layout.prefix
        end = bytearray(prefix.encode())
        end[-1] += 1
        body = {
            "key": base64.b64encode(prefix.encode()).decode(),
            "range_end": base64.b64encode(bytes(end)).decode(),
        }
        try:
            r = self._send("/v3/kv/range", body, self.timeout)
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise InfraUnavailable(f"etcd at {self.url} unreachable: {exc}") from exc
        out = []
        for kv in r.json().get("kvs", []):
            try:
                member = _member(layout, kv)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            if member is not None:
                out.append(member)
        return out

    def _post(self, path: str, body: dict, timeout: float | None = None) -> dict:
        try:
            r = self._send(path, body, timeout or self.timeout)
            r.raise_for_status()
            return r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise InfraUnavailable(f"etcd at {self.url}: {path} failed: {exc}") from exc

    def read(self, keys: list[str]) -> tuple[int, dict[str, str | None]]:
        """(the store's revision, key -> text value or None when absent), in one transaction."""
        data = self._post(
            "/v3/kv/txn", {"success": [{"request_range": {"key": _b64(k)}} for k in keys]}
        )
        out: dict[str, str | None] = dict.fromkeys(keys)
        for resp in data.get("responses", []):
            for kv in resp.get("response_range", {}).get("kvs", []):
                key = base64.b64decode(kv["key"]).decode()
                out[key] = base64.b64decode(kv.get("value", "")).decode()
        return int(data["header"]["revision"]), out

    def write(
        self, put: dict[str, str], delete: Sequence[str] = (), timeout: float | None = None
    ) -> int:
        """Put and delete keys in one transaction; the revision it created. `timeout`: how long
        to wait for the answer (config_store_outage sends one request that waits out a pause)."""
        ops: list[dict] = [
            {"request_put": {"key": _b64(k), "value": _b64(v)}} for k, v in put.items()
        ]
        ops += [{"request_delete_range": {"key": _b64(k)}} for k in delete]
        data = self._post("/v3/kv/txn", {"success": ops}, timeout)
        if not data.get("succeeded", False):
            raise InfraUnavailable(f"etcd at {self.url}: the transaction did not apply: {data}")
        return int(data["header"]["revision"])


def _member(layout: Registry, kv: dict) -> dict[str, str] | None:
    lease = str(kv.get("lease", kv.get("create_revision", "")))
    if layout.format == "path":
        rest = base64.b64decode(kv["key"]).decode()[len(layout.prefix) :]
        service, _, instance = rest.partition("/")
        if not service or not instance or "/" in instance:
            return None
        return {"service": service, "instance": instance, "incarnation": lease}
    value = json.loads(base64.b64decode(kv["value"]))
    if not isinstance(value, dict):
        return None
    incarnation = value[layout.incarnation] if layout.incarnation else lease
    return {
        "service": str(value[layout.service]),
        "instance": str(value[layout.instance]),
        "incarnation": str(incarnation),
    }
