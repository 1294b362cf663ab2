"""Seeded mutations of the bundled scenario and topology files, and how the CLI takes each.

Shared by the fuzz test (a few hundred cases) and ``bench/fuzz_inputs.py`` (10,000). A case
is one mutated file; its outcome is what ``stormproof validate`` made of it:

- ``ok``: valid; ``refused``: exit 2 with file:line messages;
- ``traceback``: any other exception, or exit 2 without a located message (a defect);
- ``hang``: still running after the alarm (a defect).
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WEIRD_VALUES = [
    ".nan", ".inf", "-.inf", "~", "''", "true", "false", "[]", "{}", "9" * 5000, "1e400",
    "-1", "0", "-0.0", '"a\\0b"', "'" + "x" * 300 + "'", "../../x", '"{"', "'{prot}'",
    "[gateway]", "5", "100000000", "&a [*a]", "*undefined", "!!python/object:os.system x",
    "!!binary AAAA", "2024-13-45", "0x7fffffffffffffffffffff", "1:2:3", '"\\ud800"', "?", "|",
    ">", '"', "'", "{", "[", "]", "}", ",", "#", "@", "`", "%", "!", "&", "*", "1_000",
    "0o777", "12:30", "!!set {a, b}", "!!omap [a: 1]", "{<<: {}}", "[[[[]]]]", "=", "a=b",
    "orders->", "->", "gateway -> gateway", "payments-9", "payments-1", "'../../etc'",
    "''", "'stack-1'", "'CON'", "'a b'", "Ünïcødé", "🙂",
]  # fmt: skip
WEIRD_KEYS = [
    "~", "''", "../../x", "x" * 300, "1", "true", "[a]", "{a: 1}", "name", "services", "for",
    "at", "kind", "link", "A=B", "null", "? x", "-", "<<", "defaults", "x-extra",
]  # fmt: skip
_KEY_LINE = re.compile(r"^(\s*(?:-\s+)?)([^\s:#][^:#]*?)(:\s*)(\S.*)?$")


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _edit_key_line(rng: random.Random, text: str, edit: Callable[[re.Match[str]], str]) -> str:
    """`edit` rewrites one `key: value` line chosen at random."""
    lines = _lines(text)
    idx = [i for i, ln in enumerate(lines) if _KEY_LINE.match(ln)]
    if not idx:
        return text
    i = rng.choice(idx)
    m = _KEY_LINE.match(lines[i])
    assert m is not None
    lines[i] = edit(m)
    return "\n".join(lines)


def _value_swap(rng: random.Random, text: str, _others: list[str]) -> str:
    return _edit_key_line(
        rng, text, lambda m: m.group(1) + m.group(2) + m.group(3) + rng.choice(WEIRD_VALUES)
    )


def _key_rename(rng: random.Random, text: str, _others: list[str]) -> str:
    return _edit_key_line(
        rng, text, lambda m: m.group(1) + rng.choice(WEIRD_KEYS) + m.group(3) + (m.group(4) or "")
    )


def _dup_line(rng: random.Random, text: str, _others: list[str]) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines)


def _swap_lines(rng: random.Random, text: str, _others: list[str]) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _delete_lines(rng: random.Random, text: str, _others: list[str]) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    del lines[i : i + rng.randint(1, 4)]
    return "\n".join(lines)


def _reindent(rng: random.Random, text: str, _others: list[str]) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines[i] = " " * rng.choice([0, 1, 3, 8]) + lines[i].lstrip()
    return "\n".join(lines)


def _splice(rng: random.Random, text: str, others: list[str]) -> str:
    lines = _lines(text)
    donor = _lines(rng.choice(others))
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(donor))
    return "\n".join(lines)


def _nest_bomb(rng: random.Random, text: str, _others: list[str]) -> str:
    n = rng.choice([70, 300, 1000, 5000, 100_000])
    return text + f"\nx-deep: {'[' * n}{']' * n}\n"


def _self_alias(rng: random.Random, text: str, _others: list[str]) -> str:
    return text.replace("tags:", "tags: &a [*a]\nx-old-tags:", 1) + "\nx-loop: &l {k: *l}\n"


def _laughs(rng: random.Random, text: str, _others: list[str]) -> str:
    levels = rng.choice([4, 9, 12])
    out = ['x-l0: &l0 "lol"']
    for k in range(1, levels + 1):
        out.append(f"x-l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 10) + "]")
    field = rng.choice(["description", "tags", "phases", "links", "services"])
    return "\n".join(out) + "\n" + text + f"\n{field}: *l{levels}\n"


def _many_items(rng: random.Random, text: str, _others: list[str]) -> str:
    n = rng.choice([300, 20_000])
    key = rng.choice(["phases", "faults", "links", "tags"])
    item = {"phases": "{name: p, duration: 1s}", "faults": "{kind: down, link: a->b}"}
    body = "\n".join(f"  - {item.get(key, 'x')}" for _ in range(n))
    return text + f"\n{key}:\n{body}\n"


def _huge(rng: random.Random, text: str, _others: list[str]) -> str:
    return text + "\n# " + "x" * (1 << 20) + "\n"


TEXT_OPS: dict[str, Callable[[random.Random, str, list[str]], str]] = {
    "value_swap": _value_swap,
    "key_rename": _key_rename,
    "dup_line": _dup_line,
    "swap_lines": _swap_lines,
    "delete_lines": _delete_lines,
    "reindent": _reindent,
    "splice": _splice,
    "nest_bomb": _nest_bomb,
    "self_alias": _self_alias,
    "laughs": _laughs,
    "many_items": _many_items,
    "huge": _huge,
}
# how often each is drawn: the cheap local edits most
WEIGHTS = {"nest_bomb": 1, "self_alias": 1, "laughs": 1, "many_items": 1, "huge": 0.3}


def _byte_op(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    op = rng.choice(["flip", "insert", "truncate", "utf16", "latin1", "nul"])
    if op == "utf16":
        return op, data.decode("utf-8").encode(rng.choice(["utf-16", "utf-16-le", "utf-32"]))
    if op == "latin1":
        return op, data.decode("utf-8").replace("a", "\u00e4", 1).encode("latin-1", "replace")
    i = rng.randrange(len(data) + 1)
    if op == "flip":
        return op, data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :]
    if op == "insert":
        return op, data[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[i:]
    if op == "nul":
        return op, data[:i] + b"\0" + data[i:]
    return op, data[:i]


def mutants(seed: int, bases: list[str], count: int) -> Iterator[tuple[str, bytes]]:
    """`count` (operators applied, file bytes), fixed by `seed`."""
    rng = random.Random(seed)
    names = list(TEXT_OPS)
    weights = [WEIGHTS.get(n, 4) for n in names]
    for _ in range(count):
        text = rng.choice(bases)
        applied = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            name = rng.choices(names, weights)[0]
            text = TEXT_OPS[name](rng, text, bases)
            applied.append(name)
        data = text.encode("utf-8", "surrogatepass")
        if rng.random() < 0.15:
            op, data = _byte_op(rng, data)
            applied.append(op)
        yield "+".join(applied), data


def scenario_bases() -> list[str]:
    return [p.read_text() for p in sorted((REPO / "scenarios").glob("*.yaml"))]


def topology_bases() -> list[str]:
    return [
        (REPO / "target_system" / "topology.yaml").read_text(),
        (REPO / "tests" / "harness" / "fixtures" / "echo_topology.yaml").read_text(),
    ]


@dataclass
class Outcome:
    kind: str  # ok, refused, traceback, hang
    seconds: float
    detail: str = ""


class _Alarm(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _Alarm


def validate_cli(path: Path, located_in: str | None = None, limit: float = 10.0) -> Outcome:
    """`stormproof validate PATH` in this process, cut off after `limit` seconds.

    A refusal must name `located_in` (default: PATH's name) with a line number.
    """
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["validate", str(path)])
    except _Alarm:
        return Outcome("hang", time.perf_counter() - t0)
    except BaseException as exc:  # a traceback is what this looks for
        return Outcome("traceback", time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"[:300])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    seconds = time.perf_counter() - t0
    if status == 0:
        return Outcome("ok", seconds)
    text = err.getvalue()
    located = re.search(re.escape(located_in or path.name) + r":\d+: ", text)
    if status == 2 and located and "Traceback" not in text:
        return Outcome("refused", seconds, text.strip().splitlines()[0][:300])
    return Outcome("traceback", seconds, f"exit {status}: {text.strip()[:300]}")


LOCUSTFILE = """\
from locust import HttpUser, task


class Visitor(HttpUser):
    @task
    def home(self):
        self.client.get("/")
"""


def run_case(kind: str, data: bytes, workdir: Path) -> Outcome:
    """Write the mutant and validate it; a topology is reached through a scenario's target."""
    from harness.targets import _topology

    _topology.cache_clear()
    if kind == "scenario":
        path = workdir / "mutant.yaml"
        path.write_bytes(data)
        return validate_cli(path)
    topo = workdir / "mutant-topology.yaml"
    topo.write_bytes(data)
    # the shop topology's `load: {locustfile: locustfile.py}` resolves beside the mutant
    locustfile = workdir / "locustfile.py"
    if not locustfile.exists():
        locustfile.write_text(LOCUSTFILE)
    scen = workdir / "uses-topology.yaml"
    scen.write_text(
        "name: uses-topology\ntarget: mutant-topology.yaml\n"
        "load: {users: 1, locustfile: locustfile.py}\n"
        "phases: [{name: only, duration: 1s}]\n"
    )
    return validate_cli(scen, located_in=topo.name)
