"""The stack's secrets folder: one file per secret, rotated the way Kubernetes updates a
projected (secret) volume.

Layout of ``<stack dir>/secrets/`` (what a process sees through ``{secrets_dir}``)::

    ..2026_12_01_19_30_00.123456789/   the current generation: one file per key
        payments_token                 the credential callers present
        payments_token.previous        during a grace period only: the value it replaced
    ..data -> ..2026_12_01_19_30_00.123456789
    payments_token -> ..data/payments_token
    payments_token.previous -> ..data/payments_token.previous   (present during a grace)

A change writes every key into a new timestamped directory, then points ``..data`` at it with
one ``rename`` of a temporary symlink (atomic: a reader sees the old generation or the new one,
never half of each), then removes the old directory. Readers open ``<secrets_dir>/<name>``, and
may watch ``..data``'s target to notice a change. Values are ``secrets.token_hex`` generated
here, per stack; they are kept in memory (``history``) so that the ``secret_leak`` check can
look for every value the run used, and never written anywhere but this folder.

Modes: the folder and its directories 0700, the files 0600 (only the harness's user reads
them). ``group_readable`` (the compose backend) makes them 0750 / 0640, the way Kubernetes'
``fsGroup`` does: a container whose image runs as another user reads them through the
harness's group, which the compose file adds to the readers' containers (``group_add``).
"""

from __future__ import annotations

import os
import secrets as _random
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from harness.errors import FaultError

DATA = "..data"
PREVIOUS = ".previous"


def _stamp() -> str:
    ns = time.time_ns()
    return time.strftime("..%Y_%m_%d_%H_%M_%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}"


class SecretVolume:
    """The secrets folder of one stack: create, rotate (with or without a grace), read."""

    def __init__(
        self, directory: Path, sizes: Mapping[str, int], group_readable: bool = False
    ) -> None:
        """`sizes`: secret name -> random bytes per value (its hex text is twice as long)."""
        self.dir = directory
        self.dir_mode, self.file_mode = (0o750, 0o640) if group_readable else (0o700, 0o600)
        self.sizes = dict(sizes)
        self.names = list(sizes)
        # name -> every value this process wrote or found, oldest first (for secret_leak)
        self.history: dict[str, list[str]] = {n: [] for n in self.names}
        self.generation = 0

    # -- reading -------------------------------------------------------------------------------

    def current(self) -> dict[str, str]:
        """Every file the folder shows now (key -> value), through ``..data``."""
        data = self.dir / DATA
        if not data.exists():
            return {}
        return {p.name: p.read_text() for p in sorted(data.iterdir()) if p.is_file()}

    def adopt(self) -> None:
        """Learn the values an existing folder holds (a stack attached by another process)."""
        for key, value in self.current().items():
            name = key.removesuffix(PREVIOUS)
            if name in self.history and value not in self.history[name]:
                self.history[name].append(value)

    def values(self) -> dict[str, list[str]]:
        """name -> every value used while this process knew the folder (oldest first)."""
        return {n: list(v) for n, v in self.history.items()}

    def in_grace(self, name: str) -> bool:
        return (self.dir / DATA / (name + PREVIOUS)).exists()

    # -- writing -------------------------------------------------------------------------------

    def _new(self, name: str) -> str:
        value = _random.token_hex(self.sizes[name])
        self.history[name].append(value)
        return value

    def create(self) -> None:
        """A fresh folder with a new value for every secret (any earlier folder is removed)."""
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        os.chmod(self.dir, self.dir_mode)
        self._publish({n: self._new(n) for n in self.names})

    def rotate(self, names: Iterable[str], grace: bool) -> dict[str, int]:
        """A new value for each of `names`; with `grace`, the replaced value stays readable as
        ``<name>.previous`` until ``end_grace``. Returns name -> its generation (1 = the value
        made at start)."""
        files = self._files()
        out = {}
        for name in names:
            if name not in self.history:
                raise FaultError(f"unknown secret {name!r}; known: {', '.join(self.names)}")
            old = files.get(name)
            files[name] = self._new(name)
            files.pop(name + PREVIOUS, None)
            if grace and old is not None:
                files[name + PREVIOUS] = old
            out[name] = len(self.history[name])
        self._publish(files)
        return out

    def end_grace(self, names: Iterable[str]) -> None:
        """The replaced values stop being readable (one swap)."""
        files = self._files()
        if any(files.pop(n + PREVIOUS, None) is not None for n in names):
            self._publish(files)

    def remove(self) -> None:
        """Delete the folder (the stack stops): no value outlives it on disk."""
        remove_secrets(self.dir)

    def _files(self) -> dict[str, str]:
        files = self.current()
        if not files:
            raise FaultError(f"the secrets folder {self.dir} is missing or empty")
        return files

    def _publish(self, files: dict[str, str]) -> None:
        """Write `files` into a new timestamped directory and swap ``..data`` to it."""
        new = self.dir / _stamp()
        new.mkdir()
        os.chmod(new, self.dir_mode)  # mkdir's mode is filtered by the umask
        for key, value in files.items():
            path = new / key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.file_mode)
            os.fchmod(fd, self.file_mode)
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
        data = self.dir / DATA
        old = os.readlink(data) if data.is_symlink() else None
        tmp = self.dir / "..data_tmp"
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(new.name, tmp)
        os.rename(tmp, data)  # the atomic swap
        for key in files:
            link = self.dir / key
            if not link.is_symlink():
                os.symlink(f"{DATA}/{key}", link)
        for link in self.dir.iterdir():
            # a key no longer in ..data (a grace ended): its link goes too
            if link.is_symlink() and not link.name.startswith("..") and link.name not in files:
                link.unlink()
        self.generation += 1
        if old is not None and old != new.name:
            shutil.rmtree(self.dir / old, ignore_errors=True)


def remove_secrets(directory: Path) -> None:
    """Delete a secrets folder made by ``SecretVolume`` (absent: nothing to do)."""
    if (directory / DATA).is_symlink():
        shutil.rmtree(directory, ignore_errors=True)


__all__ = ["DATA", "PREVIOUS", "SecretVolume", "remove_secrets"]
