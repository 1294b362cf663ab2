"""The process an ``invariant`` check runs the user's function in (see ``invariant.py``).

Started as ``python -P -c <this file's source> MODE ROOT MODULE FILE FUNCTION OUT [ARGUMENT]``:
it puts ROOT first on ``sys.path``, imports MODULE, makes sure it came from FILE, looks up
FUNCTION and, in ``run`` mode, calls it with the JSON document in ARGUMENT. It writes one JSON
answer to OUT: ``{"ok": true}`` (probe), ``{"ok": true, "violations": [...]}`` (run), or
``{"ok": false, "error": "<the traceback's last line> (at file:line)", "traceback": "..."}``.

Only the standard library, and nothing of the harness: it must start fast and let the user's
module be the only code that runs besides it. The user's prints go to stderr, so nothing they
write can be taken for the answer.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import traceback
from typing import Any


def _where(exc: BaseException, root: str) -> str:
    """` (at invariants.py:12)`: the innermost frame in the user's folder, if any."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" (at {os.path.relpath(exc.filename, root)}:{exc.lineno})"
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if os.path.realpath(f.filename).startswith(os.path.realpath(root) + os.sep)
    ]  # fmt: skip
    if not frames:
        return ""
    f = frames[-1]
    return f" (at {os.path.relpath(f.filename, root)}:{f.lineno})"


def _failed(what: str, exc: BaseException, root: str) -> dict[str, Any]:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return {
        "ok": False,
        "error": f"{what}: {last}{_where(exc, root)}",
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


def _load(root: str, module: str, file: str, function: str) -> tuple[Any, dict[str, Any] | None]:
    sys.path.insert(0, root)  # started with -P: nothing of the working directory comes first
    if module in sys.modules:
        return None, {"ok": False, "error": f"module name {module!r} is taken by the standard "
                      "library module the runner already loaded; rename the file"}  # fmt: skip
    try:
        mod = importlib.import_module(module)
    except BaseException as exc:  # SystemExit too: the user's code is foreign
        return None, _failed(f"importing {module} failed", exc, root)
    got = os.path.realpath(getattr(mod, "__file__", None) or "?")
    if got != os.path.realpath(file):
        return None, {"ok": False, "error": f"{module} was imported from {got}, not {file}"}
    fn = getattr(mod, function, None)
    if fn is None:
        names = sorted(n for n, v in vars(mod).items() if callable(v) and not n.startswith("_"))
        return None, {"ok": False, "error": f"{module} has no {function!r}; its callables: "
                      + (", ".join(names) or "none")}  # fmt: skip
    if not callable(fn):
        return None, {"ok": False, "error": f"{module}.{function} is not callable: it is "
                      f"of type {type(fn).__name__}"}  # fmt: skip
    try:
        inspect.signature(fn).bind({})
    except TypeError as exc:
        return None, {"ok": False, "error": f"{module}.{function} cannot be called with one "
                      f"argument (the run): {exc}"}  # fmt: skip
    except ValueError:
        pass  # no signature to read (a builtin): the call will tell
    return fn, None


def _call(fn: Any, argument: str, root: str) -> dict[str, Any]:
    with open(argument, encoding="utf-8") as f:
        run = json.load(f)
    try:
        value = fn(run)
    except BaseException as exc:  # SystemExit too
        return _failed("the invariant raised", exc, root)
    if not isinstance(value, list | tuple):
        hint = " (did the function forget to return?)" if value is None else ""
        kind = "None" if value is None else f"a {type(value).__name__}"
        return {"ok": False, "error": f"returned {kind}, expected a list of "
                f"violations ([] when the invariant holds){hint}"}  # fmt: skip
    for i, v in enumerate(value):
        if not isinstance(v, str | dict):
            return {"ok": False, "error": f"violation [{i}] is of type {type(v).__name__}, "
                    "expected a string or a dict"}  # fmt: skip
    return {"ok": True, "violations": list(value)}


def main(argv: list[str]) -> int:
    mode, root, module, file, function, out = argv[:6]
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # the user's prints must not look like an answer
    fn, answer = _load(root, module, file, function)
    if answer is None:
        answer = _call(fn, argv[6], root) if mode == "run" else {"ok": True}
    try:
        text = json.dumps(answer, default=str)
    except (TypeError, ValueError) as exc:
        text = json.dumps({"ok": False, "error": f"violations are not JSON: {exc}"})
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout = real_stdout
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
