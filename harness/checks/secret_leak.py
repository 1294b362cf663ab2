"""secret_leak: no secret value the run used appears in anything the run produced.

Looks for every value of every secret the target declares (topology `secrets:`; the values
the stack generated or rotated to, held in memory by the process that ran the scenario and
never saved) in: every file under the scenario's run folder (journal.json, requests.jsonl,
Locust's output, prom/*.csv, registry.csv, audits, steady-before/), the journal as it stands
when the checks run, and the whole log file of every process of the stack (a value logged
before this scenario is still in a file the run leaves behind). Each hit names the secret,
which of its values (1: the one made at start), the file and the line; the values themselves
are never printed. A file that cannot be read makes the check unknown (never a pass), unless
a leak was found anyway. The HTML report is not scanned: it is rendered after the checks from
the files scanned here and the check results, which carry no value (see docs/checks.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from harness.checks.base import FAIL, PASS, UNKNOWN, CheckResult, RunData, make_unknown
from harness.checks.kind import CheckKind, ExpectModel

MAX_HITS = 20  # evidence lines naming a hit; the count covers all of them


class SecretLeakExpect(ExpectModel):
    type: Literal["secret_leak"] = "secret_leak"

    def label(self) -> str:
        return self.name or "secret_leak"


def with_default(expect: Iterable[Any], setting: str, has_secrets: bool) -> list[Any]:
    """`expect` plus a secret_leak check when the target has secrets (a secrets folder, on
    the engine's side), the scenario did not opt out (`secret_leak: none`) and lists none."""
    out = list(expect)
    if (
        has_secrets
        and setting == "auto"
        and not any(getattr(e, "type", None) == "secret_leak" for e in out)
    ):
        out.append(SecretLeakExpect())
    return out


def _targets(data: RunData) -> list[tuple[str, Path | None, bytes | None]]:
    """(name shown, path to read or None, text when in memory) of everything to scan."""
    out: list[tuple[str, Path | None, bytes | None]] = []
    if data.directory is not None and data.directory.is_dir():
        for p in sorted(data.directory.rglob("*")):
            if p.is_file() or (p.is_symlink() and not p.exists()):
                out.append((str(p.relative_to(data.directory)), p, None))
    journal = data.journal.model_dump_json(by_alias=True).encode()
    out.append(("journal (in memory, as the checks see it)", None, journal))
    for name, path in sorted((data.log_files or {}).items()):
        out.append((f"{path} ({name}'s log)", path, None))
    return out


def scan(
    targets: Iterable[tuple[str, Path | None, bytes | None]], values: dict[str, list[str]]
) -> tuple[list[tuple[str, int, str, int]], list[str]]:
    """(hits as (file, line, secret, value number), files that could not be read)."""
    which: dict[bytes, tuple[str, int]] = {}
    for secret, vals in values.items():
        for n, v in enumerate(vals, 1):
            if v:
                which[v.encode()] = (secret, n)
    if not which:
        return [], []
    pattern = re.compile(b"|".join(re.escape(v) for v in sorted(which, key=len, reverse=True)))
    hits: list[tuple[str, int, str, int]] = []
    unreadable: list[str] = []
    for shown, path, text in targets:
        try:
            lines: Iterable[bytes]
            if text is not None:
                lines = text.splitlines()
                found = _find(lines, pattern, which, shown)
            else:
                assert path is not None
                with open(path, "rb") as fh:
                    found = _find(fh, pattern, which, shown)
        except OSError as exc:
            unreadable.append(f"{shown} ({exc.strerror or exc})")
            continue
        hits.extend(found)
    return hits, unreadable


def _find(
    lines: Iterable[bytes], pattern: re.Pattern[bytes], which: dict[bytes, tuple[str, int]],
    shown: str,
) -> list[tuple[str, int, str, int]]:  # fmt: skip
    out = []
    for lineno, line in enumerate(lines, 1):
        for m in pattern.finditer(line):
            secret, n = which[m.group(0)]
            out.append((shown, lineno, secret, n))
    return out


def check(expect: SecretLeakExpect, data: RunData) -> CheckResult:
    result = CheckResult(
        expect.label(),
        "secret_leak",
        PASS,
        "no secret value in any file the run produced",
        allow_unknown=expect.allow_unknown,
    )
    declared = list(data.facts.secrets) if data.facts is not None else []
    if data.facts is None:
        return make_unknown(result, "no topology facts: which secrets the target has is unknown")
    if not declared:
        return make_unknown(result, "the target declares no `secrets:` in its topology")
    if data.secret_values is None:
        return make_unknown(
            result,
            "the secret values are known only to the process that ran the scenario "
            "(never saved); this data was read back from files",
        )
    missing = [n for n in declared if not data.secret_values.get(n)]
    if missing:
        return make_unknown(result, f"no value known for {', '.join(missing)}")
    if data.log_files is None:
        result.evidence.append("the stack backend exposes no process log files")
    targets = _targets(data)
    hits, unreadable = scan(targets, data.secret_values)
    used = sum(len(v) for v in data.secret_values.values())
    files = len(targets)
    for shown, lineno, secret, n in hits[:MAX_HITS]:
        result.evidence.append(f"{secret} (value {n}) in {shown}:{lineno}")
    if len(hits) > MAX_HITS:
        result.evidence.append(f"... and {len(hits) - MAX_HITS} more")
    for what in unreadable:
        result.evidence.append(f"could not read {what}")
    result.details = {"files": files, "values": used, "hits": len(hits)}
    if hits:
        result.verdict = FAIL
        where = sorted({f"{s}:{ln}" for s, ln, _, _ in hits})
        result.measured = f"{len(hits)} occurrence(s): {', '.join(where[:3])}" + (
            ", ..." if len(where) > 3 else ""
        )
    elif unreadable or data.log_files is None:
        result.verdict = UNKNOWN
        result.measured = "unknown: " + (
            f"{len(unreadable)} file(s) could not be read"
            if unreadable
            else "the processes' logs were not scanned"
        )
    else:
        result.measured = f"none of {used} value(s) in {files} file(s)"
        result.evidence.append(result.measured)
    return result


KIND = CheckKind(
    name="secret_leak",
    model=SecretLeakExpect,
    check=check,
    data="every file of the scenario's run folder, the journal, the stack's process logs; the "
    "secret values in memory (never saved)",
)
