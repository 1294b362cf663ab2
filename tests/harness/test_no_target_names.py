"""Nothing under harness/ names the bundled shop's services, metrics, endpoints or etcd keys.

The shop is one user of the topology format: what the checks read about it lives in its
profile (target_system/topology.yaml). The names below are taken from the shop itself, so a
renamed service or a new route is covered without editing this test.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.topology import bundled_topology_path, load_topology

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "harness"
# The saga check's audit format is a documented contract (docs/own-system.md): its top keys
# are field names, and one of them is spelled like the shop's order service.
ALLOWED = {("harness/checks/saga.py", "orders")}


def _shop_names() -> dict[str, re.Pattern[str]]:
    topology = load_topology(bundled_topology_path())
    profile = topology.profile
    assert profile.registry is not None and profile.metrics
    routes = set()
    for path in (ROOT / "target_system").rglob("*.py"):
        for route in re.findall(r"@app\.\w+\(\"(/[a-z_]+)", path.read_text(encoding="utf-8")):
            routes.add(route)
    routes -= {"/health", "/metrics"}  # generic conventions, the harness's own defaults
    assert routes, "no route found in target_system: the pattern above is stale"
    prefixes = {m.split("_", 1)[0] + "_" for m in profile.metrics}
    assert prefixes == {"shop_"}, prefixes
    patterns = {name: re.compile(rf"\b{re.escape(name)}\b", re.I) for name in topology.services}
    patterns["shop_"] = re.compile(r"shop_", re.I)  # metrics and the SHOP_* settings
    for route in sorted(routes):
        patterns[route] = re.compile(rf"(?<!\w){re.escape(route)}\b")  # not docs/audit.schema
    patterns[profile.registry.prefix] = re.compile(re.escape(profile.registry.prefix))
    return patterns


def _hits(root: Path, patterns: dict[str, re.Pattern[str]]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        rel = path.relative_to(ROOT).as_posix()
        for lineno, line in enumerate(text.splitlines(), 1):
            for name, pattern in patterns.items():
                if pattern.search(line) and (rel, name) not in ALLOWED:
                    found.append(f"{rel}:{lineno}: names {name!r}: {line.strip()[:90]}")
    return found


def test_the_harness_names_nothing_of_the_shop() -> None:
    hits = _hits(HARNESS, _shop_names())
    assert not hits, "shop names under harness/ (move them to the profile):\n" + "\n".join(hits)


def test_the_grep_finds_the_shop_where_it_is() -> None:
    # the same patterns do find the shop in its own folder: the test above can fail
    patterns = _shop_names()
    hits = _hits(ROOT / "target_system", patterns)
    named = {h.split(": names ", 1)[1].split(":", 1)[0].strip("'") for h in hits}
    assert {"gateway", "payments", "shop_", "/stormproof/services/", "/audit"} <= named
