"""Load for the Redis Cluster example, written as its users would: a cache written and read
through redis-py's cluster client, each command reported to Locust as a request.

Locust speaks HTTP itself; for any other protocol its docs ("Testing other systems") wrap the
client and fire Locust's ``request`` event per call, as here. Nothing here knows about
Stormproof; by hand: locust -f locustfile.py --host redis://HOST:PORT (any node: the client
discovers the others from the cluster's own slot map).
"""

from __future__ import annotations

import random
import time
from typing import Any
from urllib.parse import urlsplit

from locust import User, constant_throughput, task
from locust.env import Environment
from redis.cluster import RedisCluster
from redis.exceptions import RedisError

KEYS = 10_000  # spread over every slot range, so every primary takes a share


class CacheUser(User):
    """Writes a value and reads it back, 5 times a second."""

    wait_time = constant_throughput(5)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        url = urlsplit(self.host or "redis://127.0.0.1:6379")
        # timeouts well under a second: a node that stops answering fails the call, and the
        # client refreshes its slot map and retries, as it does on MOVED after a failover
        self.client = RedisCluster(
            host=url.hostname,
            port=url.port or 6379,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            decode_responses=True,
        )

    def on_stop(self) -> None:
        self.client.close()

    def _call(self, name: str, fn: Any, *args: Any, expect: Any = None) -> bool:
        """Run one command and report it to Locust as a request of type REDIS; with `expect`,
        an answer other than it is a failure too."""
        start = time.perf_counter()
        exc: Exception | None = None
        try:
            result = fn(*args)
            if expect is not None and result != expect:
                exc = AssertionError(f"{name} {args[0]}: expected {expect!r}, got {result!r}")
        except RedisError as e:
            result, exc = None, e
        self.environment.events.request.fire(
            request_type="REDIS",
            name=name,
            response_time=(time.perf_counter() - start) * 1000,
            response_length=len(str(result or "")),
            exception=exc,
            context={},
        )
        return exc is None

    @task
    def write_then_read(self) -> None:
        key = f"item:{random.randrange(KEYS)}"
        value = str(random.random())
        if self._call("SET", self.client.set, key, value, expect=True):
            self._call("GET", self.client.get, key, expect=value)
