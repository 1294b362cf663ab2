"""Saga consistency: an exact end-state audit of the services' own records, Jepsen-style.

Reads the audit snapshots taken before and after the scenario (``{service: payload}``) and
checks only what changed in between, so a reused stack's history does not count. The audit
format is a contract (``docs/audit.schema.json``): four payloads, each found as the one holding
its top key, whatever its service is called; extra fields are ignored; timestamps are unix
seconds or ISO-8601 strings::

    order:    {"orders": [{"id", "saga_id", "sku", "quantity", "customer", "amount", "state",
                           "reason", "created_at", "updated_at",
                           "steps": [{"step", "status", "ts", "detail"}]}]}
    stock:    {"stock": {sku: qty}, "initial_stock": {sku: qty},
               "reservations": [{"saga_id", "sku", "quantity",
                                 "state": "reserved" | "released" | "tombstone", "ts"}]}
    money:    {"balances": {customer: cents}, "initial_balances": {customer: cents},
               "ledger": [{"saga_id", "customer", "kind": "charge" | "refund", "amount", "ts"}]}
    shipment: {"shipments": [{"saga_id", "state": "created" | "cancelled" | "tombstone", "ts"}]}

A violation's timeline names each event by the service whose payload recorded it.

Properties: every order created during the run is terminal (COMPLETED or CANCELLED); a
COMPLETED one has a net charge of exactly its amount, one active reservation of its sku and
quantity, and one active shipment; a CANCELLED one has a net charge of zero, no active
reservation and no active shipment; stock and money are conserved (the fall in stock equals
the growth of active reservations, the fall in balances the net charges).

Settling: every saga begun before the last fault's revert (the scenario start when nothing was
injected) is terminal within ``settle_within`` of it, measured from the audit: the latest
``updated_at`` of those orders. Only when those orders carry no usable timestamps does the
check fall back to Prometheus' ``sagas_in_flight`` gauge coming back to zero. The gauge is not
the primary measure because it is sampled once per scrape: under a load whose requests come in
bursts (Locust's users, paced by ``constant_throughput``, fire in step), a scrape that keeps
landing inside the bursts reads 1-2 sagas of healthy traffic in flight for tens of seconds
after the fault's sagas have all ended (docs/decisions.md, "Settling from the audit").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Literal

from harness.checks.base import (
    FAIL,
    PASS,
    UNKNOWN,
    CheckResult,
    RunData,
    combine,
    parse_ts,
    scrape_interval,
    secs,
)
from harness.checks.kind import CheckKind, ExpectModel
from harness.durations import Duration

TERMINAL = ("COMPLETED", "CANCELLED")
MAX_SHOWN = 10
# role -> the top key that identifies its payload in an audit
_KEYS = {"order": "orders", "stock": "reservations", "money": "ledger",
         "shipment": "shipments"}  # fmt: skip


class SagaConsistencyExpect(ExpectModel):
    type: Literal["saga_consistency"] = "saga_consistency"
    settle_within: Duration = 20.0

    def label(self) -> str:
        return self.name or "saga consistency"


def _payload(audit: dict[str, Any] | None, role: str) -> dict[str, Any] | None:
    """The payload of `role`: the one holding its top key."""
    return _payloads(audit, role)[1]


def _payloads(audit: dict[str, Any] | None, role: str) -> tuple[str, dict[str, Any] | None]:
    """(service, payload) of `role` in `audit`; ("", None) when no payload holds its key."""
    for service, p in (audit or {}).items():
        if isinstance(p, dict) and _KEYS[role] in p:
            return str(service), p
    return "", None


def _rows(payload: dict[str, Any] | None, key: str) -> list[dict[str, Any]]:
    return list(payload.get(key) or []) if payload else []


def _row_key(row: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in row.items()))


def _new_rows(before: list[dict], after: list[dict]) -> list[dict]:
    """Rows of `after` not in `before` (as a multiset: two equal charges are two charges)."""
    left = Counter(_row_key(r) for r in before)
    out = []
    for r in after:
        k = _row_key(r)
        if left[k] > 0:
            left[k] -= 1
        else:
            out.append(r)
    return out


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return 0.0


def _net(ledger: list[dict]) -> dict[Any, float]:
    """Net charge per customer: charges minus refunds."""
    out: dict[Any, float] = defaultdict(float)
    for e in ledger:
        sign = 1 if e.get("kind") == "charge" else -1 if e.get("kind") == "refund" else 0
        out[e.get("customer")] += sign * _num(e.get("amount"))
    return out


def _active_reserved(reservations: list[dict]) -> dict[Any, float]:
    out: dict[Any, float] = defaultdict(float)
    for r in reservations:
        if r.get("state") == "reserved":
            out[r.get("sku")] += _num(r.get("quantity"))
    return out


def check(expect: SagaConsistencyExpect, data: RunData) -> CheckResult:
    name = expect.label()
    expected = (
        "every saga terminal (COMPLETED or CANCELLED) with balanced charges, reservations and "
        f"shipments; stock and money conserved; every saga begun before the last fault's "
        f"revert terminal within {secs(expect.settle_within)} of it"
    )
    result = CheckResult(
        name, "saga_consistency", PASS, expected, allow_unknown=expect.allow_unknown
    )
    orders = _new_orders(data)
    verdicts = [_audit(data, result, orders or [])]
    verdicts.append(_settle_audit(expect, data, result, orders) or _settle(expect, data, result))
    result.verdict = combine(verdicts)
    return result


def _new_orders(data: RunData) -> list[dict] | None:
    """This run's orders: those of the audit after that the audit before does not hold (None
    when the audit after has no order payload)."""
    after = _payload(data.audit_after, "order")
    if after is None:
        return None
    known = {o.get("id") for o in _rows(_payload(data.audit_before or {}, "order"), "orders")}
    return [o for o in _rows(after, "orders") if o.get("id") not in known]


def _audit(data: RunData, result: CheckResult, orders: list[dict]) -> str:
    after, before = data.audit_after, data.audit_before or {}
    a = {s: _payload(after, s) for s in _KEYS}
    b = {s: _payload(before, s) for s in _KEYS}
    absent = [repr(_KEYS[s]) for s, p in a.items() if p is None]
    if after is None or absent:
        reason = (
            "audit_after.json " + data.missing.get("audit_after.json", "missing")
            if after is None
            else f"no audit payload holds {', '.join(absent)} in audit_after.json"
        )
        result.evidence.append(reason)
        result.measured = f"unknown: {reason}"
        return UNKNOWN

    names = {s: _payloads(after, s)[0] for s in _KEYS}  # role -> service, for timelines
    known_sagas = {o.get("saga_id") for o in _rows(b["order"], "orders")}
    known_sagas |= {o.get("saga_id") for o in _rows(a["order"], "orders")}
    ledger = _new_rows(_rows(b["money"], "ledger"), _rows(a["money"], "ledger"))
    reservations = _rows(a["stock"], "reservations")
    shipments = _rows(a["shipment"], "shipments")

    by_saga: dict[Any, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for e in ledger:
        by_saga[e.get("saga_id")]["ledger"].append(e)
    for r in reservations:
        by_saga[r.get("saga_id")]["reservations"].append(r)
    for s in shipments:
        by_saga[s.get("saga_id")]["shipments"].append(s)

    violations = []
    for order in orders:
        problems = _order_problems(order, by_saga.get(order.get("saga_id"), {}))
        if problems:
            violations.append(_violation(order, problems, by_saga, data, names))
    new_reservations = _new_rows(_rows(b["stock"], "reservations"), reservations)
    new_shipments = _new_rows(_rows(b["shipment"], "shipments"), shipments)
    for what, rows in (("ledger entry", ledger), ("reservation", new_reservations),
                       ("shipment", new_shipments)):  # fmt: skip
        for r in rows:
            if r.get("saga_id") not in known_sagas:
                violations.append(
                    {"saga_id": r.get("saga_id"), "order_id": None,
                     "problems": [f"{what} for a saga no order knows: {r}"], "timeline": []}
                )  # fmt: skip

    conservation = _conservation(a, b, data.audit_before is not None)
    states = Counter(o.get("state") for o in orders)
    result.details.update(
        orders=len(orders), states=dict(states), violations=violations[:200],
        conservation=conservation,
    )  # fmt: skip
    result.measured = (
        f"{len(orders)} sagas: {states.get('COMPLETED', 0)} completed, "
        f"{states.get('CANCELLED', 0)} cancelled, {len(violations)} inconsistent"
    )
    for v in violations[:MAX_SHOWN]:
        head = f"saga {v['saga_id']}"
        if v.get("order_id") is not None:
            head += f" (order {v['order_id']}, {v.get('state')})"
        text = f"{head}: {'; '.join(v['problems'])}"
        if v["timeline"]:
            text += "\n    " + "\n    ".join(v["timeline"])
        result.evidence.append(text)
    if len(violations) > MAX_SHOWN:
        result.evidence.append(f"... and {len(violations) - MAX_SHOWN} more inconsistent sagas")
    result.evidence += conservation
    return FAIL if violations or conservation else PASS


def _order_problems(order: dict[str, Any], rows: dict[str, list]) -> list[str]:
    state = order.get("state")
    ledger = rows.get("ledger", [])
    charges = [e for e in ledger if e.get("kind") == "charge"]
    refunds = [e for e in ledger if e.get("kind") == "refund"]
    net = sum(_num(e.get("amount")) for e in charges) - sum(_num(e.get("amount")) for e in refunds)
    active = [r for r in rows.get("reservations", []) if r.get("state") == "reserved"]
    shipped = [s for s in rows.get("shipments", []) if s.get("state") == "created"]
    money = f"{len(charges)} charge(s), {len(refunds)} refund(s)"
    problems = []
    if state not in TERMINAL:
        problems.append(f"not terminal: state {state}")
    elif state == "COMPLETED":
        amount = _num(order.get("amount"))
        if net != amount:
            problems.append(f"net charge {net:g}, expected {amount:g} ({money})")
        if len(active) != 1:
            problems.append(f"{len(active)} active reservations, expected 1")
        elif (active[0].get("sku"), _num(active[0].get("quantity"))) != (
            order.get("sku"), _num(order.get("quantity"))
        ):  # fmt: skip
            r = active[0]
            problems.append(
                f"reserved {r.get('quantity')} x {r.get('sku')}, ordered "
                f"{order.get('quantity')} x {order.get('sku')}"
            )
        if len(shipped) != 1:
            problems.append(f"{len(shipped)} active shipments, expected 1")
    else:
        if net != 0:
            problems.append(f"cancelled but net charge {net:g} ({money})")
        if active:
            problems.append(f"cancelled but {len(active)} reservation(s) still active")
        if shipped:
            problems.append(f"cancelled but {len(shipped)} shipment(s) still active")
    return problems


def _violation(
    order: dict, problems: list[str], by_saga: dict, data: RunData, names: dict[str, str]
) -> dict[str, Any]:
    saga = order.get("saga_id")
    rows = by_saga.get(saga, {})
    o, st, mo, sh = (names[r] for r in ("order", "stock", "money", "shipment"))
    events: list[tuple[float | None, str]] = [
        (parse_ts(order.get("created_at")), f"{o}: created, {order.get('quantity')} x "
         f"{order.get('sku')} for {order.get('customer')}, amount {order.get('amount')}"),
    ]  # fmt: skip
    for s in order.get("steps") or []:
        detail = f" ({s['detail']})" if s.get("detail") else ""
        events.append((parse_ts(s.get("ts")), f"{o}: {s.get('step')} {s.get('status')}{detail}"))
    for e in rows.get("ledger", []):
        events.append((parse_ts(e.get("ts")), f"{mo}: {e.get('kind')} {e.get('amount')}"))
    for r in rows.get("reservations", []):
        events.append(
            (parse_ts(r.get("ts")),
             f"{st}: reservation {r.get('quantity')} x {r.get('sku')} {r.get('state')}")
        )  # fmt: skip
    for s in rows.get("shipments", []):
        events.append((parse_ts(s.get("ts")), f"{sh}: shipment {s.get('state')}"))
    reason = f" ({order['reason']})" if order.get("reason") else ""
    events.append((parse_ts(order.get("updated_at")), f"{o}: state {order.get('state')}{reason}"))
    events.sort(key=lambda e: (e[0] is None, e[0] or 0.0))
    timeline = [f"{data.rel(t) if t is not None else '?':>9}  {text}" for t, text in events]
    return {"saga_id": saga, "order_id": order.get("id"), "state": order.get("state"),
            "problems": problems, "timeline": timeline}  # fmt: skip


def _conservation(a: dict, b: dict, have_before: bool) -> list[str]:
    out = []
    inv_a, inv_b = a["stock"], b["stock"] or {}
    pay_a, pay_b = a["money"], b["money"] or {}
    if have_before and "stock" in inv_b:
        base, base_res = inv_b.get("stock") or {}, _active_reserved(_rows(inv_b, "reservations"))
    else:  # no snapshot before: the whole history, from the initial stock
        base, base_res = inv_a.get("initial_stock") or {}, {}
    stock, res = inv_a.get("stock") or {}, _active_reserved(_rows(inv_a, "reservations"))
    for sku in sorted(set(base) | set(stock), key=str):
        fell = _num(base.get(sku)) - _num(stock.get(sku))
        grew = res.get(sku, 0.0) - base_res.get(sku, 0.0)
        if sku in base and sku in stock and fell != grew:
            out.append(f"stock of {sku} fell by {fell:g} but active reservations grew by {grew:g}")
    if have_before and "balances" in pay_b:
        bal0, net0 = pay_b.get("balances") or {}, _net(_rows(pay_b, "ledger"))
    else:
        bal0, net0 = pay_a.get("initial_balances") or {}, {}
    bal, net = pay_a.get("balances") or {}, _net(_rows(pay_a, "ledger"))
    for cust in sorted(set(bal0) | set(bal), key=str):
        fell = _num(bal0.get(cust)) - _num(bal.get(cust))
        charged = net.get(cust, 0.0) - net0.get(cust, 0.0)
        if cust in bal0 and cust in bal and fell != charged:
            out.append(f"balance of {cust} fell by {fell:g} but net charges were {charged:g}")
    return out


def _since(data: RunData) -> tuple[float, str]:
    since = data.last_revert()
    if since is None:
        return data.scenario_window()[0], "the scenario start"
    return since, "the last fault's revert"


def _settle_audit(
    expect: SagaConsistencyExpect, data: RunData, result: CheckResult, orders: list[dict] | None
) -> str:
    """The verdict on settling from the audit's own timestamps (``orders``: this run's); ""
    when it cannot say (no audit, or an order begun before the anchor without a usable
    ``updated_at``)."""
    if orders is None:
        return ""
    since, anchor = _since(data)
    caught = []  # (ended or None, order) for this run's orders begun before `since`
    for o in orders:
        created = parse_ts(o.get("created_at"))
        ended = parse_ts(o.get("updated_at")) if o.get("state") in TERMINAL else None
        if created is None or (ended is None and o.get("state") in TERMINAL):
            return ""  # when it began or ended is not known: the gauge has to say
        if created <= since:
            caught.append((ended, o))
    limit = expect.settle_within
    open_ = [o for e, o in caught if e is None]
    if open_:
        result.violation_at = since + limit
        result.evidence.append(
            f"{len(open_)} of the {len(caught)} sagas begun before {anchor} "
            f"({data.rel(since)}) never ended (e.g. {open_[0].get('saga_id')}, "
            f"{open_[0].get('state')})"
        )
        return FAIL
    last = max((e for e, _o in caught if e is not None), default=since)
    took = max(0.0, last - since)
    result.details["settled_after_s"] = took
    result.measured += (
        f"; the {len(caught)} sagas begun before {anchor} all ended {secs(took)} after it"
    )
    if took > limit:
        result.violation_at = since + limit
        late = [(e, o) for e, o in caught if e is not None and e - since > limit]
        _e, last_saga = max(late, key=lambda x: x[0])
        result.evidence.append(
            f"{len(late)} of the {len(caught)} sagas begun before {anchor} ended more than "
            f"{secs(limit)} after it, the last {secs(took)} after (saga "
            f"{last_saga.get('saga_id')}, {last_saga.get('state')})"
        )
        return FAIL
    return PASS


def _settle(expect: SagaConsistencyExpect, data: RunData, result: CheckResult) -> str:
    """The fallback: Prometheus' ``sagas_in_flight`` back to 0 (module docstring)."""
    frame = data.series("sagas_in_flight")
    if frame is None:
        reason = f"sagas in flight not measured ({data.why_missing('sagas_in_flight')})"
        result.evidence.append(reason)
        return UNKNOWN
    since, anchor = _since(data)
    total = frame.groupby("t", sort=True)["value"].sum()
    after = total[total.index >= since]
    lag = scrape_interval(frame)
    if after.empty:
        result.evidence.append(f"no sagas_in_flight samples after {anchor} ({data.rel(since)})")
        return UNKNOWN
    zero = after[after <= 0]
    limit = expect.settle_within
    if zero.empty:
        last_t = float(after.index[-1])
        result.violation_at = since + limit
        result.evidence.append(
            f"sagas_in_flight never reached 0 after {anchor} ({data.rel(since)}): still "
            f"{after.iloc[-1]:g} at {data.rel(last_t)} (limit {secs(limit)})"
        )
        return FAIL
    took = float(zero.index[0]) - since
    result.details["settled_after_s"] = took
    result.measured += f"; in flight back to 0 {secs(took)} after {anchor}"
    if took > limit + lag:
        result.violation_at = since + limit
        result.evidence.append(
            f"sagas_in_flight reached 0 only {secs(took)} after {anchor} (limit {secs(limit)})"
        )
        return FAIL
    return PASS


KIND = CheckKind(
    name="saga_consistency",
    model=SagaConsistencyExpect,
    check=check,
    series=("sagas_in_flight",),
    data="the audits before and after (`audit_before.json`, `audit_after.json`) in the format "
    "of `docs/audit.schema.json`",
)
