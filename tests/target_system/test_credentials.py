"""The shop's credential files: payments' Verifier and orders' Credential on a plain file and
on a Kubernetes-style folder, the bugs stale_credential and logs_secret, SHOP_SECRETS_DIR."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from harness.infra.secrets import SecretVolume
from target_system.shoplib.config import ConfigError, ShopConfig
from target_system.shoplib.credentials import NAME, Credential, Verifier, folder_version


def volume(tmp_path: Path) -> SecretVolume:
    v = SecretVolume(tmp_path / "s", {NAME: 32})
    v.create()
    return v


def bearer(value: str) -> str:
    return f"Bearer {value}"


def test_verifier_follows_rotations_and_graces(tmp_path: Path) -> None:
    v = volume(tmp_path)
    old = v.current()[NAME]
    verifier = Verifier(v.dir)
    assert verifier.check(None) == "missing" and verifier.check("Basic x") == "missing"
    assert verifier.check(bearer("nope")) == "wrong" and verifier.check(bearer(old)) is None
    v.rotate([NAME], grace=True)
    new = v.current()[NAME]
    assert verifier.check(bearer(old)) is None and verifier.check(bearer(new)) is None
    v.end_grace([NAME])
    assert verifier.check(bearer(old)) == "wrong" and verifier.check(bearer(new)) is None


def test_a_plain_file_works_too(tmp_path: Path) -> None:
    (tmp_path / NAME).write_text("abc\n")
    verifier, cred = Verifier(tmp_path), Credential(tmp_path)
    assert verifier.check(bearer("abc")) is None
    assert cred.header() == {"Authorization": "Bearer abc"}
    os.utime(tmp_path / NAME, ns=(1, 1))
    (tmp_path / NAME).write_text("def")
    assert folder_version(tmp_path) != "" and verifier.check(bearer("def")) is None


def test_credential_reloads_only_when_asked_and_never_with_the_bug(tmp_path: Path) -> None:
    v = volume(tmp_path)
    cred, stale = Credential(v.dir), Credential(v.dir, stale=True)
    first = cred.value
    assert not cred.changed() and not cred.reload()
    v.rotate([NAME], grace=False)
    assert cred.changed() and cred.value == first  # cached until reloaded
    assert cred.reload() and cred.value == v.current()[NAME] and not cred.changed()
    assert not stale.reload() and stale.value == first


def test_only_the_bug_logs_a_value(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    v = volume(tmp_path)
    quiet, leaky = Credential(v.dir), Credential(v.dir, leaky=True)
    v.rotate([NAME], grace=False)
    with caplog.at_level(logging.INFO):
        quiet.reload()
        assert v.current()[NAME] not in caplog.text
        leaky.reload()
    assert v.current()[NAME] in caplog.text


def test_secrets_dir_from_the_environment(tmp_path: Path) -> None:
    base = {"SHOP_SERVICE": "orders", "SHOP_PORT": "1", "SHOP_DATA_DIR": "/tmp"}
    assert ShopConfig.from_env(base).secrets_dir is None
    assert ShopConfig.from_env({**base, "SHOP_SECRETS_DIR": ""}).secrets_dir is None
    v = volume(tmp_path)
    cfg = ShopConfig.from_env(
        {**base, "SHOP_SECRETS_DIR": str(v.dir), "SHOP_BUGS": "stale_credential,logs_secret"}
    )
    assert cfg.secrets_dir == v.dir and cfg.has_bug("logs_secret")
    with pytest.raises(ConfigError, match="SHOP_SECRETS_DIR=/nowhere: no payments_token file"):
        ShopConfig.from_env({**base, "SHOP_SECRETS_DIR": "/nowhere"})
    # a service that reads no credential does not care
    ShopConfig.from_env({**base, "SHOP_SERVICE": "shipping", "SHOP_SECRETS_DIR": "/nowhere"})
    with pytest.raises(ConfigError, match="SHOP_SECRET_POLL"):
        ShopConfig.from_env({**base, "SHOP_SECRET_POLL": "soon"})
