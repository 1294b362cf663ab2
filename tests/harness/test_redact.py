from __future__ import annotations

from pathlib import Path

from harness.redact import redact_env
from harness.targets import StackKey


def test_secret_looking_target_env_is_redacted_in_the_journal_and_progress() -> None:
    env = {"SHOP_BUGS": "retry_storm", "API_TOKEN": "s3cr3t", "db_password": "x", "SIGNING_KEY": 1}
    assert redact_env(env) == {
        "SHOP_BUGS": "retry_storm", "API_TOKEN": "***", "db_password": "***", "SIGNING_KEY": "***"
    }  # fmt: skip
    key = StackKey(Path("t.yaml"), tuple(sorted((k, str(v)) for k, v in env.items())), False)
    assert "s3cr3t" not in key.describe() and "SHOP_BUGS=retry_storm" in key.describe()


def test_secret_values_are_blanked_out_of_messages() -> None:
    from harness.redact import redact_values

    assert redact_values("a abc1 b abc12", ["abc1", "abc12", ""]) == "a *** b ***"
    assert redact_values("nothing", []) == "nothing"
