"""etcd through its v3 JSON gateway: health and the registry's members, for the harness."""

from __future__ import annotations

import base64
import json

import httpx

from harness.errors import InfraUnavailable

PREFIX = "/stormproof/services/"


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


class Etcd:
    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def healthy(self) -> bool:
        r = httpx.get(self.url + "/health", timeout=self.timeout)
        return r.status_code == 200 and r.json().get("health") == "true"

    def members(self, prefix: str = PREFIX) -> list[dict]:
        end = bytearray(prefix.encode())
        end[-1] += 1
        body = {
            "key": base64.b64encode(prefix.encode()).decode(),
            "range_end": base64.b64encode(bytes(end)).decode(),
        }
        try:
            r = httpx.post(self.url + "/v3/kv/range", json=body, timeout=self.timeout)
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise InfraUnavailable(f"etcd at {self.url} unreachable: {exc}") from exc
        out = []
        for kv in r.json().get("kvs", []):
            try:
                out.append(json.loads(base64.b64decode(kv["value"])))
            except (ValueError, KeyError):
                continue
        return out
