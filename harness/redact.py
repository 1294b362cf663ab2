"""Values that must not be shown: settings whose names look secret are printed as ``***``.

Applied wherever the harness prints or saves a target's settings (progress lines, journals,
reports); the values of a target's secrets (topology `secrets:`) are blanked out of the
journal's event messages too (`redact_values`). The state file keeps the real environment
values: a later `stormproof down` or attach needs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
HIDDEN = "***"


def looks_secret(name: str) -> bool:
    return SECRET_NAME.search(name) is not None


def redact_env(env: Mapping[str, object]) -> dict[str, str]:
    """`env` with the value of every secret-looking name replaced by ``***``."""
    return {k: HIDDEN if looks_secret(k) else str(v) for k, v in env.items()}


def redact_values(text: str, values: Iterable[str]) -> str:
    """`text` with every occurrence of each of `values` (a target's secrets) replaced by
    ``***``: for messages the harness writes while it holds the values."""
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, HIDDEN)
    return text
