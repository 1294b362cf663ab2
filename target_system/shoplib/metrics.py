"""The shop's Prometheus metrics (names and labels listed in target_system/README.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LINK = ["caller", "callee", "callee_instance"]
_LAT = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

SAGAS_TOTAL = Counter("shop_sagas", "Sagas that ended, by outcome", ["outcome"])
SAGAS_IN_FLIGHT = Gauge("shop_sagas_in_flight", "Sagas not yet terminal in this orchestrator")
SAGA_COMPENSATIONS = Counter("shop_saga_compensations", "Compensations executed", ["step"])
BREAKER_STATE = Gauge("shop_breaker_state", "0 closed, 1 open, 2 half-open", _LINK)
BREAKER_TRANSITIONS = Counter(
    "shop_breaker_transitions", "Breaker state changes", [*_LINK, "from_state", "to_state"]
)
BREAKER_LAST_TRANSITION = Gauge(
    "shop_breaker_last_transition_timestamp_seconds",
    "Unix time of the last transition into to_state",
    [*_LINK, "to_state"],
)
OUTBOUND_REQUESTS = Counter(
    "shop_outbound_requests", "Outbound call attempts by outcome", [*_LINK, "outcome"]
)
OUTBOUND_DURATION = Histogram(
    "shop_outbound_request_duration_seconds",
    "Outbound attempt latency",
    ["caller", "callee"],
    buckets=_LAT,
)
RETRIES = Counter("shop_retries", "Retries of outbound calls", ["caller", "callee"])
RETRY_BUDGET_EXHAUSTED = Counter(
    "shop_retry_budget_exhausted", "Retries refused by the retry budget", ["caller", "callee"]
)
DISCOVERY_INSTANCES = Gauge(
    "shop_discovery_instances", "Instances this caller currently sees", ["caller", "callee"]
)
DISCOVERY_SEEN = Gauge(
    "shop_discovery_instance_seen", "1 while this caller sees the instance", _LINK
)
DISCOVERY_RESOLVE_FAILURES = Counter(
    "shop_discovery_resolve_failures", "Registry reads that failed", ["caller", "callee"]
)
HTTP_REQUESTS = Counter("shop_http_requests", "Requests served", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "shop_http_request_duration_seconds", "Request latency", ["method", "route"], buckets=_LAT
)
EVENT_LOOP_LAG = Gauge("shop_event_loop_lag_seconds", "Max event-loop lag over the last second")
INCARNATION_INFO = Gauge("shop_incarnation_info", "This process's incarnation", ["incarnation"])

STATE_CODE = {"closed": 0, "open": 1, "half_open": 2}
CONFIG_VERSION = Gauge(
    "shop_config_version", "etcd revision of the live settings this instance applied (0: none)"
)
CONFIG_REJECTIONS = Counter(
    "shop_config_rejections", "Config changes rejected whole (a value that does not parse)"
)
AUTH_REJECTIONS = Counter(
    "shop_auth_rejections",
    "Requests refused 401 for a missing or wrong credential",
    ["route", "reason"],
)
CREDENTIAL_RELOADS = Counter(
    "shop_credential_reloads",
    "Times a caller re-read its credential, by trigger (rotated: the folder changed; "
    "unauthorized: a 401)",
    ["callee", "trigger"],
)
