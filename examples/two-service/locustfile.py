"""Load for the two-service example, written as its users would: people reading quotes.

Nothing here knows about Stormproof; by hand: locust -f locustfile.py --host http://HOST:PORT
"""

from locust import FastHttpUser, constant_throughput, task


class Reader(FastHttpUser):
    wait_time = constant_throughput(5)
    # web answers within about 0.55 s whatever quotes does; 2 s means web itself is stuck
    network_timeout = 2.0
    connection_timeout = 2.0

    @task
    def read_a_quote(self) -> None:
        with self.client.get("/quote", name="GET /quote", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            elif "quote" not in (r.json() or {}):
                r.failure("no quote in the answer")
