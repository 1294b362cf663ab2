"""The stack's secrets folder: Kubernetes' layout (..data -> a timestamped directory, one
symlink per key), a swap by rename, a grace copy, per-stack random values kept in memory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness.errors import FaultError
from harness.infra.secrets import DATA, SecretVolume, remove_secrets


def make(tmp_path: Path) -> SecretVolume:
    volume = SecretVolume(tmp_path / "secrets", {"token": 32, "other": 16})
    volume.create()
    return volume


def stamped(volume: SecretVolume) -> list[str]:
    return sorted(p.name for p in volume.dir.iterdir() if p.name.startswith("..2"))


def test_create_lays_out_a_projected_volume(tmp_path: Path) -> None:
    volume = make(tmp_path)
    data = volume.dir / DATA
    assert data.is_symlink() and os.readlink(data) == stamped(volume)[0]
    for key, size in (("token", 32), ("other", 16)):
        link = volume.dir / key
        assert link.is_symlink() and os.readlink(link) == f"{DATA}/{key}"
        value = link.read_text()
        assert len(value) == 2 * size and int(value, 16) >= 0
        assert stat.S_IMODE((data / key).stat().st_mode) == 0o600
    assert stat.S_IMODE(volume.dir.stat().st_mode) == 0o700
    assert volume.values() == {"token": [volume.current()["token"]],
                               "other": [volume.current()["other"]]}  # fmt: skip


def test_values_differ_per_stack(tmp_path: Path) -> None:
    a = SecretVolume(tmp_path / "a", {"token": 32})
    b = SecretVolume(tmp_path / "b", {"token": 32})
    a.create()
    b.create()
    assert a.current()["token"] != b.current()["token"]


def test_rotation_with_grace_keeps_the_old_value_until_the_grace_ends(tmp_path: Path) -> None:
    volume = make(tmp_path)
    old = volume.current()
    first = stamped(volume)
    assert volume.rotate(["token"], grace=True) == {"token": 2}
    now = volume.current()
    assert now["token"] != old["token"] and now["token.previous"] == old["token"]
    assert now["other"] == old["other"]  # untouched keys are carried over
    assert (volume.dir / "token.previous").read_text() == old["token"]
    assert volume.in_grace("token")
    assert stamped(volume) != first and len(stamped(volume)) == 1  # the old one removed
    volume.end_grace(["token"])
    assert "token.previous" not in volume.current()
    assert not (volume.dir / "token.previous").is_symlink()  # its link went too
    assert not volume.in_grace("token")
    assert volume.values()["token"] == [old["token"], now["token"]]


def test_rotation_without_grace_replaces_at_once(tmp_path: Path) -> None:
    volume = make(tmp_path)
    old = volume.current()["token"]
    volume.rotate(["token"], grace=False)
    assert volume.current()["token"] != old and "token.previous" not in volume.current()
    volume.rotate(["token"], grace=True)
    volume.rotate(["token"], grace=True)  # a second grace replaces the first's copy
    values = volume.values()["token"]
    assert len(values) == 4 and volume.current()["token.previous"] == values[2]


def test_a_reader_holding_the_old_directory_sees_a_whole_generation(tmp_path: Path) -> None:
    volume = make(tmp_path)
    held = os.readlink(volume.dir / DATA)
    volume.rotate(["token", "other"], grace=False)
    after = os.readlink(volume.dir / DATA)
    assert after != held and not (volume.dir / held).exists()
    assert set(volume.current()) == {"token", "other"}


def test_adopt_learns_the_values_of_a_folder_made_by_another_process(tmp_path: Path) -> None:
    made = make(tmp_path)
    made.rotate(["token"], grace=True)
    other = SecretVolume(made.dir, {"token": 32, "other": 16})
    other.adopt()
    assert sorted(other.values()["token"]) == sorted(made.values()["token"])


def test_unknown_secret_and_missing_folder_are_refused(tmp_path: Path) -> None:
    volume = make(tmp_path)
    with pytest.raises(FaultError, match="unknown secret 'nope'; known: token, other"):
        volume.rotate(["nope"], grace=False)
    empty = SecretVolume(tmp_path / "never", {"token": 32})
    with pytest.raises(FaultError, match="missing or empty"):
        empty.rotate(["token"], grace=False)


def test_remove_deletes_the_folder_and_only_a_secrets_folder(tmp_path: Path) -> None:
    volume = make(tmp_path)
    volume.remove()
    assert not volume.dir.exists()
    other = tmp_path / "not-secrets"
    other.mkdir()
    remove_secrets(other)  # no ..data: not ours, left alone
    assert other.is_dir()


def test_group_readable_folder_is_0750_and_0640_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        volume = SecretVolume(tmp_path / "secrets", {"token": 32}, group_readable=True)
        volume.create()
        volume.rotate(["token"], grace=True)
    finally:
        os.umask(old)
    data = volume.dir / DATA
    assert stat.S_IMODE(volume.dir.stat().st_mode) == 0o750
    assert stat.S_IMODE(data.stat().st_mode) == 0o750  # the generation directory
    for key in ("token", "token.previous"):
        assert stat.S_IMODE((data / key).stat().st_mode) == 0o640
