"""Reading a YAML input file (scenario, topology) safely, and locating errors in it.

Guarantees, for any file whatever its bytes: `read_yaml` returns plain data and its node
tree, or raises `Located` with file:line problems; never another exception, never a hang.
A file over `MAX_BYTES`, not UTF-8, nested deeper than `MAX_DEPTH`, whose aliases expand to
more than `MAX_NODES` nodes or refer to themselves, or holding a number that is not finite
or beyond `MAX_NUMBER`, is refused before anything is built from it.

Pydantic errors are mapped to the YAML: `walk` follows a pydantic location through the node
tree to a line, `friendly` words the message, both for any root model.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 50_000
MAX_NUMBER = 1e15

_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
M = TypeVar("M", bound=BaseModel)


class _Loader(_Parser):  # type: ignore[misc,valid-type]
    """Safe loading without implicit timestamps: a date-like value stays a string."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class Located(Exception):
    """One or more problems, each with its file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def read_yaml(path: Path, expected: str) -> tuple[dict[str, Any], yaml.Node]:
    """(top-level mapping, its node tree) of the file at `path`.

    `expected` names the top-level fields for the message when the file holds no mapping.
    """
    shown = display(path)

    def fail(line: int, message: str) -> Located:
        return Located([Problem(shown, line, "", message)])

    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise fail(0, f"cannot read: {why}") from None
    if len(raw) > MAX_BYTES:
        raise fail(0, f"file is larger than {MAX_BYTES // 1024} KiB; is it the right file?")
    text = _decode(raw, fail)
    try:
        _check_events(text)
        root = yaml.compose(text, Loader=_Loader)
        _check_scalars(root)
        # before construction: it merges `<<` keys into the mapping nodes in place
        dups = [Problem(shown, line, where, msg) for line, where, msg in duplicate_keys(root)]
        data = _Loader(text).construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise fail(*_yaml_error(exc)) from None
    except (RecursionError, MemoryError):
        raise fail(1, "YAML too complex to read") from None
    if not isinstance(data, dict):
        line = root.start_mark.line + 1 if root is not None else 1
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise fail(line, f"expected a mapping with {expected}; got {got}")
    if dups:
        raise Located(dups)
    return data, root


def _decode(raw: bytes, fail: Any) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise fail(1, "file is UTF-16; save it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise fail(
            line, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        ) from None
    if "\0" in text:
        raise fail(text.count("\n", 0, text.index("\0")) + 1, "file contains a NUL character")
    return text


class _Refused(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


def _check_events(text: str) -> None:
    """Depth, alias expansion and self-reference, measured on the event stream (linear)."""
    sizes: dict[str, int] = {}  # anchor -> nodes it expands to
    open_: list[list[Any]] = [[None, 0]]  # [anchor, nodes so far] per open collection
    total = 0  # nodes so far, each alias counted as what it repeats
    for ev in yaml.parse(text, Loader=_Loader):
        if isinstance(ev, yaml.CollectionStartEvent):
            if len(open_) > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", ev.start_mark)
            open_.append([ev.anchor, 1])
            total += 1
        elif isinstance(ev, yaml.CollectionEndEvent):
            anchor, n = open_.pop()
            if anchor is not None:
                sizes[anchor] = n
            open_[-1][1] += n
        elif isinstance(ev, yaml.ScalarEvent):
            if ev.anchor is not None:
                sizes[ev.anchor] = 1
            open_[-1][1] += 1
            total += 1
        elif isinstance(ev, yaml.AliasEvent):
            if any(ev.anchor == a for a, _ in open_):
                raise _Refused(
                    f"alias *{ev.anchor} refers to a node that contains it", ev.start_mark
                )
            open_[-1][1] += sizes.get(ev.anchor, 1)
            total += sizes.get(ev.anchor, 1)
        if total > MAX_NODES:
            raise _Refused(
                f"more than {MAX_NODES} values, counting each alias as what it repeats",
                ev.start_mark,
            )


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


def _check_scalars(root: yaml.Node | None) -> None:
    """Every number finite and at most MAX_NUMBER in size (each node once: aliases share)."""
    seen: set[int] = set()
    stack = [root] if root is not None else []
    constructor = yaml.constructor.SafeConstructor()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack += [x for kv in node.value for x in kv]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
        elif node.tag in (_INT, _FLOAT):
            digits = sum(c.isdigit() for c in node.value)
            try:
                value = None if digits > 40 else float(constructor.construct_object(node))
            except (ValueError, OverflowError):
                value = None
            if value is None or not math.isfinite(value):
                what = "not a finite number" if digits <= 40 else "too many digits"
                raise _Refused(f"{node.value[:40]!r}: {what}", node.start_mark)
            if abs(value) > MAX_NUMBER:
                raise _Refused(f"{node.value[:40]}: larger than {MAX_NUMBER:.0e}", node.start_mark)


def _yaml_error(exc: yaml.YAMLError) -> tuple[int, str]:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else 1
    if isinstance(exc, _Refused):
        return line, f"refused: {exc.problem}"
    what = getattr(exc, "problem", None) or str(exc)
    ctx = getattr(exc, "context_mark", None)
    if ctx is not None and mark is not None and ctx.line != mark.line:
        what += f" ({getattr(exc, 'context', '')} that starts on line {ctx.line + 1})"
    return line, f"YAML syntax error: {what}"


def duplicate_keys(node: yaml.Node | None, path: str = "") -> list[tuple[int, str, str]]:
    """(line, field, message) per repeated key: PyYAML keeps the last one silently."""
    found: list[tuple[int, str, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.tag)
            here = f"{path}.{key}" if path else str(key)
            if (
                isinstance(k, yaml.ScalarNode)
                and key in seen
                and k.tag != "tag:yaml.org,2002:merge"
            ):
                found.append((k.start_mark.line + 1, here, f"duplicate key {key!r}"))
            seen.add(key)
            found += duplicate_keys(v, here)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found += duplicate_keys(v, f"{path}[{i}]")
    return found


# ---------------------------------------------------------------------------- locations


def walk(root: yaml.Node | None, loc: Sequence[Any]) -> tuple[int, str]:
    """Follow `loc` through the YAML node tree: (1-based line, dotted field path).

    Location parts absent from the YAML are skipped (pydantic inserts discriminator tags such
    as ``faults.0.latency.link``), except the last one: a missing field is reported at its
    parent's line under its own name.
    """
    node, line, path = root, 1, ""
    if node is not None:
        line = node.start_mark.line + 1
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            path += f"[{part}]"
            continue
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if _key_matches(kv[0], part)), None)
            if match is not None:
                line = match[0].start_mark.line + 1
                node = match[1]
                path += f".{part}" if path else str(part)
                continue
        if last or node is None:
            path += f".{part}" if path else str(part)
            node = None
    return line, path


def _key_matches(key: yaml.Node, part: Any) -> bool:
    if not isinstance(key, yaml.ScalarNode):
        return False
    if key.value == part:
        return True
    # pydantic shows a null key as None or 'None'
    null = key.tag == "tag:yaml.org,2002:null"
    return null and part in (None, "None")


def tag_member(tp: Any, part: Any, tag_field: str) -> Any:
    """The member of union `tp` whose `tag_field` literal is `part`, if `tp` is such a union."""
    tp = unwrap(tp)
    if get_origin(tp) not in (Union, UnionType):
        return None
    for m in get_args(tp):
        m = unwrap(m)
        f = getattr(m, "model_fields", {}).get(tag_field)
        if f is not None and part in get_args(f.annotation):
            return m
    return None


def unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def step(tp: Any, part: Any) -> Any:
    """The type one location part below `tp` (None when it cannot be told)."""
    tp = unwrap(tp)
    origin = get_origin(tp)
    if origin in (Union, UnionType):
        members = [unwrap(a) for a in get_args(tp) if a is not type(None)]
        for m in members:
            if isinstance(m, type) and issubclass(m, BaseModel):
                for tag_field in ("kind", "type"):
                    f = m.model_fields.get(tag_field)
                    if f is not None and part in get_args(f.annotation):
                        return m
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if len(members) == 1 or len(models) == 1:
            return step((models or members)[0], part)
        return None
    if origin in (list, tuple) and isinstance(part, int):
        return get_args(tp)[0]
    if origin is dict:
        return get_args(tp)[1]
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
        for name, f in tp.model_fields.items():
            if part in (name, f.alias):
                return f.annotation
    return None


def model_at(root_model: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model class holding the field at `loc` (for 'allowed fields' hints)."""
    tp: Any = root_model
    for part in loc[:-1]:
        tp = step(tp, part)
        if tp is None:
            return None
    tp = unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def friendly(root_model: type[BaseModel], err: Any) -> str:
    """A pydantic error in the words of the file's author."""
    kind, msg, value = err["type"], err["msg"], err.get("input")
    loc = err["loc"]
    if kind == "missing":
        return "missing required field"
    if kind == "extra_forbidden":
        model = model_at(root_model, loc)
        if model is not None:
            allowed = [f.alias or n for n, f in model.model_fields.items() if n != "type"]
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"unknown field {loc[-1]!r}{hint}; allowed: {', '.join(allowed)}"
        return f"unknown field {loc[-1]!r}"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tag = ctx.get("discriminator", "").strip("'")
        return f"unknown {tag} {ctx.get('tag')!r}; known: {ctx.get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        tag = err.get("ctx", {}).get("discriminator", "kind").strip("'")
        return f"missing field {tag!r}"
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    shown = repr(value) if isinstance(value, str | int | float | bool) else None
    text = msg[0].lower() + msg[1:] if msg else kind
    return f"{text}, got {shown}" if shown is not None and len(shown) < 60 else text


def validate(
    model: type[M],
    data: dict[str, Any],
    root: yaml.Node,
    path: Path,
    yaml_loc: Any = None,
) -> M:
    """`model` built from `data`, or Located with one problem per pydantic error.

    `yaml_loc(loc)` maps a pydantic location to the YAML's (drops inserted union tags).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        shown = display(path)
        problems = []
        for e in exc.errors():
            loc = yaml_loc(e["loc"]) if yaml_loc is not None else e["loc"]
            message = friendly(model, e)
            if loc and loc[-1] == "[key]":  # a mapping key itself is wrong
                loc, message = loc[:-1], f"key {loc[-2]!r}: {message}" if len(loc) > 1 else message
            problems.append(Problem(shown, *walk(root, loc), message))
        raise Located(problems) from None
