"""The start gate: a container's entrypoint that can put a command prefix before its command.

Natively the harness starts an instance's argv itself, so a fault that needs the process
started under a prefix (``slow_start``: a shell that sleeps, then execs the command) spawns
``[*prefix, *command]``. A container's command is fixed when compose creates it, so the
generated compose file starts every instance through this gate instead of the image's own
entrypoint: ``/bin/sh -c SCRIPT stormproof-start-gate COMMAND...``.

The gate looks for the file ``<folder>/<instance>`` in the start folder, which the compose
backend bind-mounts at :data:`START_MOUNT`. Absent or empty: it execs the command unchanged
(the container's process is the command, as without the gate). Non-empty: the file holds the
prefix, shell-quoted by :func:`write_prefix`; the gate reads it, empties the file (so the prefix
applies to that one start, like the native ``start_instance(prefix=...)``), then execs
``prefix + command``. A file it cannot read or empty stops the container at once with exit 70
and a line saying so, rather than starting without the prefix or with it for good.

The harness writes the file (atomically, mode 0666 so that the image's user, ``nobody`` in the
bundled image, can empty it) before it starts the stopped container, and removes every file
of the folder when the stack starts and before any start without a prefix. The only need of
the image: ``/bin/sh`` (and ``sleep`` for ``slow_start``).
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path

START_MOUNT = "/stormproof/start"  # the start folder inside every instance's container
START_ENV = "STORMPROOF_START_DIR"  # the host folder; the compose backend sets it
# compose refuses to start the file without it, saying so, as for the secrets folder
START_SOURCE = "${" + START_ENV + ":?the stack's start folder, set by stormproof}"
GATE_NAME = "stormproof-start-gate"  # the gate shell's $0, in ps and in its error line
EXIT_GATE = 70  # EX_SOFTWARE: the gate could not consume its file

_SCRIPT = (
    "f={file}; "
    'if [ -s "$f" ]; then '
    'p=$(cat "$f") && : > "$f" || '
    '{{ echo "$0: cannot read and empty $f: not starting" >&2; exit {code}; }}; '
    'eval "set -- $p \\"\\$@\\""; '
    "fi; "
    'exec "$@"'
)


def gate_entrypoint(instance: str, folder: str = START_MOUNT) -> list[str]:
    """The entrypoint of `instance`'s container; its command follows as the arguments."""
    script = _SCRIPT.format(file=shlex.quote(f"{folder}/{instance}"), code=EXIT_GATE)
    return ["/bin/sh", "-c", script, GATE_NAME]


def write_prefix(folder: Path, instance: str, prefix: Sequence[str]) -> Path:
    """Write `prefix` for the next start of `instance` (atomically: the gate never reads half
    a file)."""
    if not prefix:
        raise ValueError("an empty prefix: clear the gate instead")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{instance}-", dir=folder)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(shlex.join(prefix))
        os.chmod(tmp, 0o666)  # the image's user empties it (it runs as nobody in the shop's)
        os.replace(tmp, folder / instance)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / instance


def pending_prefix(folder: Path, instance: str) -> list[str]:
    """The prefix the next start of `instance` would run under ([]: none)."""
    try:
        return shlex.split((folder / instance).read_text())
    except FileNotFoundError:
        return []


def clear(folder: Path, instance: str | None = None) -> None:
    """Remove the prefix of `instance` (None: of every instance), so that no later start takes
    a prefix meant for an earlier one."""
    if not folder.is_dir():
        return
    for path in [folder / instance] if instance else list(folder.iterdir()):
        path.unlink(missing_ok=True)


def prepare(folder: Path) -> None:
    """The start folder, empty, before the stack's containers mount it; readable and
    traversable by the images' users."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    clear(folder)
