"""secret_rotate: a new value for one of the target's secrets, written into the stack's secrets
folder the way Kubernetes updates a secret volume (a new timestamped directory, then ``..data``
swapped with one rename; ``harness/infra/secrets.py``).

With `grace: D` (D > 0) the replaced value stays in the folder as ``<name>.previous`` for D, so
a verifier that reads it accepts old and new while callers pick up the new one; the grace ends
with a second swap that removes it. With `grace: 0` (the default) the old value is gone at
once: a caller that caches the credential gets a 401 and must reload and retry. The rotation
itself is never undone (a rotated credential is not put back in production either); what the
revert does, at the end of the grace or on any exit path before it, is end the grace.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from harness.backend import StackBackend
from harness.durations import Duration, format_duration, parse_duration
from harness.errors import FaultError
from harness.faults.base import FaultKind, FaultModel, Flag

SECRET_RE = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}$"


class SecretRotateFault(FaultModel):
    kind: Literal["secret_rotate"]
    secret: str | None = Field(
        default=None,
        pattern=SECRET_RE,
        description="the secret to rotate (topology `secrets:`); default: every one",
    )
    grace: Duration = Field(
        default=0.0, ge=0, description="how long the replaced value is still accepted"
    )

    def target_name(self) -> str:
        return f"secret:{self.secret or '*'}"

    def revert_after(self) -> float | None:
        return self.grace or None

    def instant(self) -> bool:
        return self.grace == 0

    def headline(self) -> str:
        if not self.grace:
            return "secret_rotate, no grace"
        return f"secret_rotate, grace {format_duration(self.grace)}"


class SecretRotate:
    """One rotation; `revert` ends its grace (the new value stays)."""

    def __init__(
        self, stack: StackBackend, secret: str | None = None, grace: float = 0.0, **_: Any
    ) -> None:
        volume = getattr(stack, "secrets", None)
        declared = list(stack.topology.secrets)
        if not declared:
            raise FaultError(
                f"secret_rotate: topology {stack.topology.name} declares no `secrets:`"
            )
        if secret is not None and secret not in declared:
            raise FaultError(
                f"secret_rotate: unknown secret {secret!r}; known: {', '.join(declared)}"
            )
        if volume is None:
            raise FaultError("secret_rotate: this stack backend has no secrets folder")
        self.volume = volume
        self.names = [secret] if secret is not None else declared
        self.grace = float(grace)
        self.needs_revert = self.grace > 0
        self.revert_delay = self.grace or None  # `stormproof fault`: when to end the grace
        self.generations: dict[str, int] = {}
        self.in_grace = False

    def inject(self) -> None:
        self.generations = self.volume.rotate(self.names, grace=self.grace > 0)
        self.in_grace = self.grace > 0

    def revert(self) -> None:
        if self.in_grace:
            self.volume.end_grace(self.names)
            self.in_grace = False

    def recorded(self) -> dict[str, Any]:
        """For the journal: each secret's new generation (1: the value made at start), never
        a value."""
        return {"generations": dict(self.generations), "grace_s": self.grace}

    def describe(self) -> dict[str, Any]:
        return {"kind": "secret_rotate", "secrets": self.names, "grace": self.grace}


KIND = FaultKind(
    name="secret_rotate",
    model=SecretRotateFault,
    driver=SecretRotate,
    scope="secret",
    summary="a secret rotated in the stack's secrets folder (atomic ..data swap), old value "
    "accepted for `grace`",
    fields="`secret` (default: every one), `grace` (default 0s)",
    flags=(
        Flag("--secret", "secret", str, "the secret to rotate (default: every one)"),
        Flag("--grace", "grace", parse_duration, "keep the old value this long (e.g. 10s)", 0.0),
    ),
    random_length=None,
    randomizable=False,
)
