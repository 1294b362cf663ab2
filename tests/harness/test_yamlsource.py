"""Reading YAML input safely: every bad file is one located problem, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.yamlsource import MAX_BYTES, Located, read_yaml


def problem_of(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "f.yaml"
    path.write_bytes(data)
    with pytest.raises(Located) as info:
        read_yaml(path, "name, services")
    assert len(info.value.problems) >= 1
    return str(info.value).replace(str(tmp_path) + "/", "")


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n"
    for i in range(8)
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("name: x\n".encode("utf-16"), "f.yaml:1: file is UTF-16; save it as UTF-8"),
        (b"name: x\ndescription: \xff\n", "f.yaml:2: not valid UTF-8 (byte 0xff)"),
        (b"name: x\n\ndescription: a\0b\n", "f.yaml:3: file contains a NUL character"),
        (b"x: " + b"[" * 500 + b"]" * 500, "f.yaml:1: refused: nested deeper than 64 levels"),
        (b"tags: &a [*a]\n", "f.yaml:1: refused: alias *a refers to a node that contains it"),
        (b"a: &a {k: *a}\n", "f.yaml:1: refused: alias *a refers to a node that contains it"),
        (LAUGHS.encode(), "refused: more than 50000 values, counting each alias"),
        (b"n: " + b"9" * 5000 + b"\n", "f.yaml:1: refused: '9999"),
        (b"n: 0x" + b"f" * 20 + b"\n", "larger than 1e+15"),
        (b"n: -.inf\n", "f.yaml:1: refused: '-.inf': not a finite number"),
        (b"a: 1\nb: 2\na: 3\n", "f.yaml:3: a: duplicate key 'a'"),
        (b"- a\n- b\n", "f.yaml:1: expected a mapping with name, services; got a list"),
        (b"# only a comment\n", "f.yaml:1: expected a mapping with name, services; got an empty"),
        (b"a: !!python/object:os.system x\n", "f.yaml:1: YAML syntax error"),
        (b"a: [1, 2\n", "YAML syntax error"),
        (b"#" * (MAX_BYTES + 1), "f.yaml:0: file is larger than 1024 KiB"),
    ],
)
def test_bad_files_are_one_located_problem(tmp_path: Path, data: bytes, expected: str) -> None:
    assert expected in problem_of(tmp_path, data)


def test_merge_keys_anchors_and_dates_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nwhen: 2024-01-02\n")
    data, root = read_yaml(path, "anything")
    assert data["use"] == {"x": 1, "y": 3}
    assert data["when"] == "2024-01-02"  # no implicit timestamps: a string stays a string
    assert root.start_mark.line == 0


def test_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    with pytest.raises(Located, match="cannot read: No such file"):
        read_yaml(tmp_path / "absent.yaml", "x")
