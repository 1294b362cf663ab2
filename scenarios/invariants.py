"""Invariants of the bundled shop, written the way a user writes one for their own system.

Each function takes the run (a plain JSON document: ``run["before"]`` and ``run["after"]`` are
the audit snapshots, ``{service: what its /audit answered}``; docs/checks.md lists the rest)
and returns a list of violations, each a string or a dict of evidence: ``[]`` when the
invariant holds. A scenario names one as ``invariant: {function: "invariants.py:NAME"}``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def _orders_of_this_run(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The orders the audit after the run has and the audit before did not (a reused stack
    keeps the orders of earlier scenarios)."""
    before = (run["before"] or {}).get("orders", {}).get("orders", [])
    seen = {o["id"] for o in before}
    return [o for o in run["after"]["orders"]["orders"] if o["id"] not in seen]


def cancelled_orders_refunded(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Every order cancelled during the run kept none of the customer's money: its charges
    were all refunded (a charge whose answer was lost may still have gone through)."""
    ledger = defaultdict(list)
    for entry in run["after"]["payments"]["ledger"]:
        ledger[entry["saga_id"]].append(entry)
    violations = []
    for order in _orders_of_this_run(run):
        if order["state"] != "CANCELLED":
            continue
        entries = ledger[order["saga_id"]]
        charged = sum(e["amount"] for e in entries if e["kind"] == "charge")
        refunded = sum(e["amount"] for e in entries if e["kind"] == "refund")
        if charged != refunded:
            violations.append({
                "order": order["id"],
                "saga_id": order["saga_id"],  # links the report to its traces and log lines
                "customer": order["customer"],
                "kept": charged - refunded,
                "why cancelled": order["reason"],
                "ledger": [f"{e['kind']} {e['amount']}" for e in entries],
            })  # fmt: skip
    return violations


def stock_never_negative(run: dict[str, Any]) -> list[str]:
    """No sku has less than nothing in stock, before or after the run."""
    violations = []
    for when in ("before", "after"):
        stock = (run[when] or {}).get("inventory", {}).get("stock", {})
        violations += [f"{when} the run: {sku} at {qty}" for sku, qty in stock.items() if qty < 0]
    return violations
