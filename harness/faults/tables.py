"""The kind tables of README.md and docs/architecture.md, generated from the registries.

``python -m harness.faults.tables`` rewrites every table in place; ``--check`` exits 1 when
one is stale (tests/harness/test_fault_kinds.py fails then too). A fault table sits between
``<!-- fault-kinds:NAME -->`` and ``<!-- /fault-kinds -->``, a check table between
``<!-- check-kinds:NAME -->`` and ``<!-- /check-kinds -->``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from harness.checks import CHECK_KINDS
from harness.faults.base import SCOPE_TARGETS, FaultKind
from harness.faults.kinds import FAULT_KINDS

ROOT = Path(__file__).resolve().parents[2]
COMMON = {"at", "for_", "kind", "link", "instance", "pick", "groups"}


def _marker(kind: FaultKind) -> str:
    out = f"`{kind.marker}`"
    if kind.extra_markers:
        out += " (+ " + ", ".join(f"`{m}`" for m in kind.extra_markers) + ")"
    if kind.old_markers:
        out += " (`" + "`, `".join(kind.old_markers) + "` until the next release, deprecated)"
    return out


def _params(kind: FaultKind) -> str:
    names = [f.alias or name for name, f in kind.model.model_fields.items() if name not in COMMON]
    return ", ".join(names) or "—"


def readme_table() -> str:
    rows = ["| kind | marker | fields |", "|---|---|---|"]
    rows += [f"| `{k.name}` | {_marker(k)} | {k.fields} |" for k in FAULT_KINDS.values()]
    return "\n".join(rows)


def architecture_table() -> str:
    rows = ["| kind | target | params | what it does |", "|---|---|---|---|"]
    rows += [
        f"| {k.name} | {SCOPE_TARGETS[k.scope]} | {_params(k)} | {k.summary} |"
        for k in FAULT_KINDS.values()
    ]
    return "\n".join(rows)


def check_table() -> str:
    """Every check kind: its fields, the Prometheus series it reads, the other data it reads."""
    rows = ["| check | fields | series read | other data |", "|---|---|---|---|"]
    for k in CHECK_KINDS.values():
        fields = [
            f"`{f.alias or name}`"
            for name, f in k.model.model_fields.items()
            if name not in ("type", "name", "allow_unknown")
        ]
        series = ", ".join(f"`{s}`" for s in k.series) or "—"
        rows.append(f"| `{k.name}` | {', '.join(fields) or '—'} | {series} | {k.data or '—'} |")
    return "\n".join(rows)


# (file, table name) -> render; the name picks the marker pair, fault-kinds or check-kinds
TABLES = {
    (ROOT / "README.md", "readme"): readme_table,
    (ROOT / "docs" / "architecture.md", "architecture"): architecture_table,
    (ROOT / "README.md", "checks"): check_table,
}


def _pattern(name: str) -> re.Pattern[str]:
    tag = "check-kinds" if name == "checks" else "fault-kinds"
    return re.compile(rf"(<!-- {tag}:{name} [^\n]*-->\n)(.*?)(\n<!-- /{tag} -->)", re.S)


def current(path: Path, name: str) -> str | None:
    """The table as the file has it, None when its markers are missing."""
    m = _pattern(name).search(path.read_text(encoding="utf-8"))
    return m.group(2) if m else None


def rewrite(path: Path, name: str, table: str) -> bool:
    """Put `table` between the markers; True when the file changed."""
    text = path.read_text(encoding="utf-8")
    new, n = _pattern(name).subn(lambda m: m.group(1) + table + m.group(3), text)
    if n != 1:
        raise SystemExit(f"{path}: expected one <!-- ...-kinds:{name} ...--> block, found {n}")
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str]) -> int:
    stale = []
    for (path, name), render in TABLES.items():
        if "--check" in argv:
            if current(path, name) != render():
                stale.append(f"{path} ({name})")
        elif rewrite(path, name, render()):
            print(f"rewrote the {name} table in {path}")
    if stale:
        print("stale kind tables: " + ", ".join(stale), file=sys.stderr)
        print("run: python -m harness.faults.tables", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
