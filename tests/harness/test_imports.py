"""The harness's import graph: no cycles, and every import goes down the layers.

The graph comes from ``ast``, not from importing anything: every ``import`` and ``from ...
import`` in a module counts, at module level, inside functions and under ``TYPE_CHECKING``
alike (a type-only import still ties the two modules together). ``from harness.pkg import
name`` is an edge to ``harness.pkg.name`` when that is a module, else to ``harness.pkg``.

``LAYERS`` is the rule, here and nowhere else; docs/architecture.md shows it as
``layer_table()`` prints it (``python tests/harness/test_imports.py`` prints the table), and
a test fails when the two differ.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "harness"
DOC = ROOT / "docs" / "architecture.md"

# Highest layer first: name, what it holds, its modules under harness/ (a package counts with
# its submodules; "__init__" is harness/__init__.py), the layers it may import besides its own.
LAYERS: list[tuple[str, str, str, str]] = [
    ("entry", "commands and plugins a person or CI calls",
     "cli cli_stack compose pytest_plugin selftest ui",
     "engine drivers readers report scenario kinds models foundation"),
    ("engine", "runs scenarios: stacks, the timeline, collection, verdicts",
     "dryrun evidence runner scenario_run targets",
     "drivers readers report scenario kinds models foundation"),
    ("drivers", "start, stop and measure real processes and servers",
     "hostpressure infra load locust_main locust_recorder membership metrics ports procs stack",
     "models foundation"),
    ("readers", "summaries over recorded data and scenario files",
     "ci_summary compare coverage recovery repeats summary",
     "scenario kinds models foundation"),
    ("report", "the HTML report and JUnit, from saved files only",
     "report",
     "foundation"),
    ("scenario", "scenario files: models, loading, cross-checks, seeded schedules",
     "scenario",
     "kinds models foundation"),
    ("kinds", "one module per fault or check kind (model, driver or checker); registries",
     "checks faults",
     "models foundation"),
    ("models", "validated topology and journal models, the stack backend protocol",
     "backend facts journal loadconf profile selection topology topology_file",
     "foundation"),
    ("foundation", "errors, settings, durations, the verdict rule, record readers",
     "__init__ cleanup durations errors progress records redact settings verdict yamlsource",
     ""),
]  # fmt: skip


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the harness package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the harness modules it imports anywhere in its file."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(known(a.name) for a in node.names if a.name.startswith("harness"))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    package = name if is_package else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}".rstrip(".")
                if not base.startswith("harness"):
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else known(base))
        targets.discard(None)
        targets.discard(name)
        graph[name] = {t for t in targets if t is not None}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan); in each, the shortest cycle through each module.

    Cycles come back as ``[a, b, a]``, each once, starting at its first module by name.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    found: list[list[str]] = []
    for component in components:
        for start in sorted(component):
            ring = _shortest_cycle(graph, component, start)[:-1]
            first = ring.index(min(ring))
            ring = ring[first:] + ring[:first]
            if [*ring, ring[0]] not in found:
                found.append([*ring, ring[0]])
    return found


def _shortest_cycle(graph: dict[str, set[str]], component: set[str], start: str) -> list[str]:
    """The shortest cycle from `start` back to it inside its component (breadth first)."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def layer_of(module: str) -> str | None:
    rel = module.removeprefix("harness").removeprefix(".") or "__init__"
    for name, _, members, _ in LAYERS:
        if any(rel == m or rel.startswith(m + ".") for m in members.split()):
            return name
    return None


def layer_table() -> str:
    """The rule as docs/architecture.md shows it."""
    rows = [("layer", "holds", "modules under harness/", "may import, besides its own layer")]
    for name, holds, members, allowed in LAYERS:
        modules = ", ".join(f"`{m}`" for m in members.split())
        rows.append((name, holds, modules, ", ".join(allowed.split()) or "nothing"))
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|---|---|---|---|")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the tests


def test_the_walk_finds_imports_of_every_kind() -> None:
    graph = import_graph(module_files())
    assert "harness.errors" in graph["harness.runner"]  # module level
    assert "harness.scenario_run" in graph["harness.runner"]  # inside a function
    assert "harness.cli_stack" in graph["harness.cli"]  # from harness import <module>
    assert "harness" in graph["harness.runner"]  # from harness import __version__


def test_cycle_finder_names_the_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    # two cycles through one module are both named
    graph = {"runner": {"targets", "run"}, "targets": {"runner"}, "run": {"runner"}}
    assert cycles(graph) == [["run", "runner", "run"], ["runner", "targets", "runner"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_harness_has_no_import_cycle() -> None:
    found = cycles(import_graph(module_files()))
    assert not found, "import cycles in harness/:\n" + "\n".join(" -> ".join(c) for c in found)


def test_every_module_has_a_layer() -> None:
    missing = [m for m in module_files() if layer_of(m) is None]
    assert not missing, f"modules in no layer of {__file__}: LAYERS: {missing}"


def test_imports_go_down_the_layers() -> None:
    allowed = {name: {name, *below.split()} for name, _, _, below in LAYERS}
    wrong = []
    for module, targets in sorted(import_graph(module_files()).items()):
        mine = layer_of(module)
        for target in sorted(targets):
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs not in allowed[mine]:
                wrong.append(f"{module} ({mine}) imports {target} ({theirs})")
    assert not wrong, "imports against the layer rule:\n" + "\n".join(wrong)


def test_the_architecture_doc_shows_the_rule() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert layer_table() in text, (
        f"{DOC} shows a stale layer table; paste the output of "
        "`python tests/harness/test_imports.py` in its place"
    )


if __name__ == "__main__":
    print(layer_table())
