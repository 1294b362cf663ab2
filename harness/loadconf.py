"""Where a scenario's load goes: the locustfile it runs and the host template it aims at.

A scenario's ``load:`` may name a ``locustfile:`` (relative to the scenario file) and a
``host:`` (a URL template); the target topology's top-level ``load:`` gives defaults for both
(its locustfile relative to the topology file), and the scenario overrides them. Without a
host anywhere, the host is ``http://{entry}``.

Host template variables:

- ``{entry}``: host:port of the topology's entry service (its first instance);
- ``{addr:SERVICE}``: host:port of SERVICE's first instance.

Literal braces are written doubled (``{{``). Rendering goes through one function,
:func:`render_host`, that asks a resolver ``(service, port name or None) -> "host:port"``; a
port name (``{addr:SERVICE:PORT}``) is accepted only where the caller declares the service's
ports.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

DEFAULT_HOST = "http://{entry}"
HOST_VARS = "{entry}, {addr:SERVICE}"
MAX_HOST = 2048
# a locustfile path: printable, no NUL or control characters, a .py file
LOCUSTFILE_RE = r"^[^\x00-\x1f\x7f]{1,250}\.py$"

Resolver = Callable[[str, str | None], str]
"""(service, port name or None) -> "host:port" of that service's first instance."""


def _parts(template: str) -> list[tuple[str, str | None, str, str | None]]:
    """(literal, variable, format spec, conversion) as ``string.Formatter`` parses them."""
    return list(string.Formatter().parse(template))


def _host_template(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # the str type refuses it with pydantic's own message
    if not value or len(value) > MAX_HOST:
        raise ValueError(f"expected a URL template of 1 to {MAX_HOST} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("expected a URL template without spaces or control characters")
    try:
        _parts(value)
    except ValueError as exc:
        msg = f"bad template {value[:60]!r}: {exc} (write a literal brace as {{{{)"
        raise ValueError(msg) from None
    return value


HostTemplate = Annotated[
    str,
    BeforeValidator(_host_template),
    Field(description=f"a URL template; variables {HOST_VARS}"),
]


def host_problems(
    template: str,
    services: Collection[str],
    ports: Mapping[str, Collection[str]] | None = None,
) -> list[str]:
    """What is wrong with the host template's variables against the target; empty when fine.

    `ports` maps a service to its declared port names; None: the target declares none, so a
    ``{addr:SERVICE:PORT}`` is refused."""
    out: list[str] = []
    for _, var, spec, conv in _parts(template):
        if var is None:
            continue
        shown = "{" + var + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
        if conv or (var == "entry" and spec) or var not in ("entry", "addr"):
            out.append(f"unknown template variable {shown}; known: {HOST_VARS}")
            continue
        if var == "entry":
            continue
        service, _, port = spec.partition(":")
        if not service:
            out.append(f"{shown}: name a service, e.g. {{addr:SERVICE}}")
        elif service not in services:
            out.append(f"{shown}: unknown service {service!r}; known: {', '.join(services)}")
        elif port:
            declared = (ports or {}).get(service)
            if not declared:
                out.append(f"{shown}: service {service!r} declares no named ports")
            elif port not in declared:
                out.append(
                    f"{shown}: unknown port {port!r} of {service}; known: {', '.join(declared)}"
                )
    return out


def render_host(template: str, entry: str, resolve: Resolver) -> str:
    """The host URL with every variable filled in through `resolve`.

    The template must have passed :func:`host_problems`; an unknown variable raises
    ValueError."""
    out = []
    for literal, var, spec, conv in _parts(template):
        out.append(literal)
        if var is None:
            continue
        if conv or var not in ("entry", "addr") or (var == "entry" and spec):
            raise ValueError(f"unknown host template variable {{{var}}}")
        if var == "entry":
            out.append(resolve(entry, None))
        else:
            service, _, port = spec.partition(":")
            out.append(resolve(service, port or None))
    return "".join(out)


def resolve_locustfile(given: str | None, source: Path | None, default: Path | None) -> Path | None:
    """The locustfile a scenario runs: its own (relative to its file), else the target's."""
    if given is None:
        return default
    path = Path(given)
    if not path.is_absolute() and source is not None:
        path = source.parent / path
    return path.resolve()


def locustfile_file_problem(path: Path) -> str | None:
    """A locustfile that is not there, or not a readable file; None when it is."""
    if not path.exists():
        return f"locustfile {path} not found"
    if not path.is_file():
        return f"locustfile {path} is not a file"
    try:
        path.read_bytes()
    except OSError as exc:
        return f"locustfile {path} cannot be read: {exc.strerror or exc}"
    return None
