"""Scenario selection for ``stormproof run``: paths, ``-k`` and ``-m`` the way pytest reads them.

``-m`` is a boolean expression over marker names (``partition and not slow``); ``-k`` is the
same over words matched as substrings of the scenario name. Both are parsed with ``ast`` and
evaluated over names only: nothing in them is executed.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from pathlib import Path

from harness.errors import InputInvalid


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; directories expand to their ``*.yaml`` / ``*.yml`` files, sorted."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.y*ml") if q.suffix in (".yaml", ".yml")))
        elif p.is_file():
            out.append(p)
        else:
            raise InputInvalid(f"no such scenario file or directory: {raw}")
    return out


def compile_expression(expr: str, option: str) -> Callable[[Callable[[str], bool]], bool]:
    """Compile ``expr``; the result takes a predicate telling whether a name matches."""
    text = expr.replace("-", "_")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise InputInvalid(
            f"{option} {expr!r}: not an expression of names with and/or/not"
        ) from exc

    def ev(node: ast.AST, match: Callable[[str], bool]) -> bool:
        if isinstance(node, ast.Expression):
            return ev(node.body, match)
        if isinstance(node, ast.BoolOp):
            values = (ev(v, match) for v in node.values)
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not ev(node.operand, match)
        if isinstance(node, ast.Name):
            return match(node.id)
        raise InputInvalid(
            f"{option} {expr!r}: only names, and, or, not and parentheses are allowed"
        )

    # Validate the shape now, so a bad expression fails before anything starts.
    ev(tree, lambda _name: True)
    return lambda match: ev(tree, match)


def matches(name: str, markers: Iterable[str], k: str | None, m: str | None) -> bool:
    marks = {x.replace("-", "_") for x in markers}
    plain = name.replace("-", "_").lower()
    if m and not compile_expression(m, "-m")(lambda word: word in marks):
        return False
    return not (k and not compile_expression(k, "-k")(lambda word: word.lower() in plain))
