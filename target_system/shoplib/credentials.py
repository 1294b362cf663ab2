"""The shop's one secret, `payments_token`, read as a file from SHOP_SECRETS_DIR.

The folder is laid out like a Kubernetes secret volume: ``<dir>/payments_token`` is a symlink
into ``<dir>/..data/``, and ``..data`` is swapped atomically (one rename) to a new timestamped
directory when the secret is rotated; ``payments_token.previous``, when present, is the value
it replaced, still valid during a grace period. A plain file works too (no ``..data``: its
modification time is the version).

Payments verifies (``Verifier``): it re-reads the folder whenever ``..data`` points somewhere
new (one readlink per request) and accepts the current value and, during a grace, the previous
one. Orders presents it (``Credential``): it caches the value, re-reads it when the folder's
version changes (polled every SHOP_SECRET_POLL seconds), and on a 401 reloads and retries once.
Values are never logged (the bug `logs_secret` logs each value orders reloads).
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path

log = logging.getLogger("shop.credentials")

NAME = "payments_token"
PREVIOUS = NAME + ".previous"
DATA = "..data"


def folder_version(directory: Path) -> str:
    """Where ``..data`` points (a Kubernetes-style folder), else the file's mtime; '' when
    neither can be read."""
    try:
        return os.readlink(directory / DATA)
    except OSError:
        pass
    try:
        return str((directory / NAME).stat().st_mtime_ns)
    except OSError:
        return ""


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


class Verifier:
    """Payments' side: the values accepted now, re-read when the folder changes."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.version = ""
        self.accepted: tuple[str, ...] = ()
        self.refresh()

    def refresh(self) -> None:
        version = folder_version(self.dir)
        if version == self.version and self.accepted:
            return
        # read until the version is stable around the read (a swap between two reads)
        for _ in range(3):
            values = tuple(v for v in (_read(self.dir / NAME), _read(self.dir / PREVIOUS)) if v)
            after = folder_version(self.dir)
            if after == version:
                break
            version = after
        self.version, self.accepted = version, values

    def check(self, header: str | None) -> str | None:
        """None when the Authorization header carries an accepted value, else why not
        ('missing' or 'wrong')."""
        self.refresh()
        if not header or not header.startswith("Bearer "):
            return "missing"
        presented = header[len("Bearer ") :].encode()
        ok = False
        for value in self.accepted:  # every comparison, in constant time each
            ok |= hmac.compare_digest(presented, value.encode())
        return None if ok else "wrong"


class Credential:
    """Orders' side: the cached value it presents, reloaded when the folder changes or on 401."""

    def __init__(self, directory: Path, stale: bool = False, leaky: bool = False) -> None:
        self.dir = directory
        self.stale = stale  # the bug stale_credential: never reloaded after start
        self.leaky = leaky  # the bug logs_secret: a reloaded value is logged
        self.version = folder_version(directory)
        self.value = _read(directory / NAME)

    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.value}"} if self.value else {}

    def changed(self) -> bool:
        return folder_version(self.dir) != self.version

    def reload(self) -> bool:
        """Read the file again; whether the value changed (never, with stale_credential)."""
        if self.stale:
            return False
        version, value = folder_version(self.dir), _read(self.dir / NAME)
        changed = value != self.value
        self.version, self.value = version, value
        if changed and self.leaky:
            log.info("credential reloaded: %s", value)  # the bug: the value in the log
        return changed
