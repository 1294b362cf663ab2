"""Outbound calls between services: discovery, a breaker per callee instance, retries, budget.

Retry wraps the breaker: each attempt picks an instance whose breaker admits a call (round
robin), an instance with an open breaker is skipped, and when every breaker is open the call
fails fast without retrying. Only idempotent calls are retried (here every call is, by saga id
and step), with exponential backoff and full jitter, within a retry budget (at most
``retry_budget_ratio`` retries per call sent over 10 s, plus 3) so a sick callee is not stormed.
A 4xx is a business answer: returned, never retried, and a success for the breaker. The one
exception is a 401 from a callee the caller presents a credential to: the credential is read
again and, if it changed (a rotation), the call is sent once more at once.
After a timeout or a read error the connection is closed, never returned to the pool: a
Toxiproxy timeout toxic keeps the socket open and a reused one would stay out of sync.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiohttp

from target_system.shoplib import metrics as m
from target_system.shoplib import tracing
from target_system.shoplib.breaker import CircuitBreaker
from target_system.shoplib.config import ShopConfig
from target_system.shoplib.credentials import Credential
from target_system.shoplib.discovery import Discovery, Endpoint
from target_system.shoplib.live import LiveConfig

BUDGET_WINDOW = 10.0
log = logging.getLogger("shop.client")


@dataclass
class Reply:
    status: int
    body: Any
    instance: str


class CallFailed(Exception):
    def __init__(self, service: str, reason: str, last_error: str) -> None:
        super().__init__(f"call to {service} failed ({reason}): {last_error}")
        self.service = service
        self.reason = reason
        self.last_error = last_error


class RetryBudget:
    def __init__(self, ratio: float, floor: float = 3.0) -> None:
        self.ratio = ratio
        self.floor = floor
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _trim(self, now: float) -> None:
        for q in (self._requests, self._retries):
            while q and q[0] < now - BUDGET_WINDOW:
                q.popleft()

    def request(self) -> None:
        self._requests.append(time.monotonic())

    def try_retry(self) -> bool:
        now = time.monotonic()
        self._trim(now)
        if len(self._retries) >= self.ratio * len(self._requests) + self.floor:
            return False
        self._retries.append(now)
        return True


def backoff(attempt: int, base: float, cap: float) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * (2**attempt)))


class ServiceClient:
    def __init__(
        self,
        cfg: ShopConfig | LiveConfig,
        discovery: Discovery,
        session: aiohttp.ClientSession,
        credentials: dict[str, Credential] | None = None,
        traced_session: aiohttp.ClientSession | None = None,
    ) -> None:
        # callee -> the credential presented to it (a Bearer header); reloaded on a 401
        self.credentials = dict(credentials or {})
        self.live = cfg if isinstance(cfg, LiveConfig) else LiveConfig(cfg)
        self.live.on_change(self._reconfigure)
        self.discovery = discovery
        self.session = session
        self.traced_session = traced_session  # for calls made while a span is recorded
        self.storm = self.cfg.has_bug("retry_storm")
        self.budgets: dict[str, RetryBudget] = {}
        self.breakers: dict[str, CircuitBreaker] = {}
        self._rr: dict[str, int] = {}

    @property
    def cfg(self) -> ShopConfig:
        """The settings in force now (the live ones: they change without a restart)."""
        return self.live.current

    def _reconfigure(self, cfg: ShopConfig) -> None:
        """A live change: existing breakers and budgets take the new thresholds at once."""
        for br in self.breakers.values():
            br.window = cfg.breaker_window
            br.min_calls = cfg.breaker_min_calls
            br.failure_rate = cfg.breaker_failure_rate
            br.open_for = cfg.breaker_open_for
        for budget in self.budgets.values():
            budget.ratio = cfg.retry_budget_ratio

    def breaker(self, service: str, instance: str) -> CircuitBreaker:
        br = self.breakers.get(instance)
        if br is None:
            labels = (self.cfg.service, service, instance)

            def moved(old: str, new: str) -> None:
                m.BREAKER_STATE.labels(*labels).set(m.STATE_CODE[new])
                m.BREAKER_TRANSITIONS.labels(*labels, old, new).inc()
                m.BREAKER_LAST_TRANSITION.labels(*labels, new).set(time.time())

            br = CircuitBreaker(
                f"{self.cfg.service}->{instance}",
                window=self.cfg.breaker_window,
                min_calls=self.cfg.breaker_min_calls,
                failure_rate=self.cfg.breaker_failure_rate,
                open_for=self.cfg.breaker_open_for,
                on_transition=moved,
                stuck_open=self.cfg.has_bug("breaker_stuck_open"),
            )
            m.BREAKER_STATE.labels(*labels).set(0)
            self.breakers[instance] = br
        return br

    def tick(self) -> None:
        for br in self.breakers.values():
            br.tick()

    def _pick(self, service: str) -> tuple[Endpoint, CircuitBreaker | None] | None:
        eps = self.discovery.endpoints(service)
        if not eps:
            return None
        start = self._rr.get(service, 0)
        self._rr[service] = start + 1
        for k in range(len(eps)):
            ep = eps[(start + k) % len(eps)]
            if self.cfg.has_bug("breaker_disabled"):
                return ep, None
            # the bug breaker_per_service: one sick instance stops calls to the healthy ones
            key = service if self.cfg.has_bug("breaker_per_service") else ep.instance
            br = self.breaker(service, key)
            if br.allow():
                return ep, br
        return None

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        json: dict | None = None,
        *,
        timeout: float | None = None,
        idempotent: bool = True,
        attempts: int | None = None,
    ) -> Reply:
        budget = self.budgets.setdefault(service, RetryBudget(self.cfg.retry_budget_ratio))
        attempts = attempts or (6 if self.storm else self.cfg.retry_attempts)
        if not idempotent:
            attempts = 1
        timeout = timeout or self.cfg.call_timeout
        last_error, reason = "no attempt made", "error"
        for attempt in range(attempts):
            if attempt > 0:
                if not self.storm and not budget.try_retry():
                    m.RETRY_BUDGET_EXHAUSTED.labels(self.cfg.service, service).inc()
                    raise CallFailed(service, "budget_exhausted", last_error)
                m.RETRIES.labels(self.cfg.service, service).inc()
                if not self.storm:
                    await asyncio.sleep(
                        backoff(attempt - 1, self.cfg.retry_base, self.cfg.retry_max)
                    )
            picked = self._pick(service)
            if picked is None:
                if not self.discovery.endpoints(service):
                    tracing.trouble(f"{service} no_instances")
                    raise CallFailed(service, "no_instances", f"no instance of {service} known")
                m.OUTBOUND_REQUESTS.labels(self.cfg.service, service, "*", "breaker_open").inc()
                tracing.trouble(f"{service} breaker_open")
                raise CallFailed(service, "breaker_open", f"every breaker to {service} is open")
            ep, br = picked
            if attempt == 0:
                # Only calls that go out fund retries: calls an open breaker refused must not
                # grow the budget while the callee is sick.
                budget.request()
            try:
                with tracing.attempt(attempt, ep.instance):
                    outcome, reply, last_error = await self._attempt(
                        service, ep, method, path, json, timeout
                    )
            except asyncio.CancelledError:
                if br is not None:
                    br.release_probe()  # else a cancelled probe holds the half-open slot forever
                raise
            cred = self.credentials.get(service)
            if reply is not None and reply.status == 401 and cred is not None and cred.reload():
                # the credential was rotated under us: reload (done) and retry once, at once
                m.CREDENTIAL_RELOADS.labels(service, "unauthorized").inc()
                log.info("credential for %s reloaded after a 401; retrying once", service)
                m.OUTBOUND_REQUESTS.labels(self.cfg.service, service, ep.instance, outcome).inc()
                with tracing.attempt(attempt, ep.instance):
                    outcome, reply, last_error = await self._attempt(
                        service, ep, method, path, json, timeout
                    )
            m.OUTBOUND_REQUESTS.labels(self.cfg.service, service, ep.instance, outcome).inc()
            if reply is not None:
                if br is not None:
                    br.record_success()
                return reply
            reason = outcome
            if br is not None:
                br.record_failure()
            # a saga not sampled is traced from here on: its retry (or what it does next)
            tracing.trouble(f"{service} {outcome}: {last_error}")
        raise CallFailed(service, reason, last_error)

    async def _attempt(
        self, service: str, ep: Endpoint, method: str, path: str, body: dict | None, timeout: float
    ) -> tuple[str, Reply | None, str]:
        url = f"http://{ep.address}{path}"
        t0 = time.perf_counter()
        try:
            if self.cfg.has_bug("no_call_timeout"):
                timeout = None  # type: ignore[assignment]  # the bug: wait forever
            cred = self.credentials.get(service)
            headers = cred.header() if cred is not None else {}
            session = self.session
            if self.traced_session is not None and tracing.recording():
                session = self.traced_session  # its instrumentation injects the traceparent
            else:
                passed = tracing.passed_on()
                if passed is not None:
                    headers["traceparent"] = passed
            async with session.request(
                method,
                url,
                json=body,
                headers=headers or None,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                data = await resp.json(content_type=None)
                status = resp.status
                if status >= 500:
                    resp.close()  # do not reuse a connection to a failing peer
                    return "error", None, f"{ep.instance}: HTTP {status}"
                outcome = "ok" if status < 400 else "rejected"
                return outcome, Reply(status, data, ep.instance), ""
        except TimeoutError:
            return "timeout", None, f"{ep.instance}: no answer within {timeout:g}s"
        except (aiohttp.ClientError, ValueError) as exc:
            return "error", None, f"{ep.instance}: {exc.__class__.__name__}: {exc}"
        finally:
            m.OUTBOUND_DURATION.labels(self.cfg.service, service).observe(time.perf_counter() - t0)
