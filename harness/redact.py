"""Values that must not be shown: settings whose names look secret are printed as ``***``.

Applied wherever the harness prints or saves a target's settings (progress lines, journals,
reports). The state file keeps the real values: a later `stormproof down` or attach needs them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
HIDDEN = "***"


def looks_secret(name: str) -> bool:
    return SECRET_NAME.search(name) is not None


def redact_env(env: Mapping[str, object]) -> dict[str, str]:
    """`env` with the value of every secret-looking name replaced by ``***``."""
    return {k: HIDDEN if looks_secret(k) else str(v) for k, v in env.items()}
