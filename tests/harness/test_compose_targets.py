"""Topologies other than the bundled shop on the compose backend: their compose file, their own
image, what the containers cannot run, and the pinned dependencies the images install.

No engine here: what these tests check is the generated file and the recipes; the examples ran
on a real engine by hand (README, "Containers").
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from harness.errors import InputInvalid
from harness.settings import REPO_ROOT, Settings
from harness.stack.composefile import (
    TARGET_DIR,
    compose_file,
    proxy_ports,
    require_one_port,
    target_role,
    toxiproxy_config,
)
from harness.stack.images import TARGET_LOCK, expected, stale, target_recipe
from harness.topology import bundled_topology_path, load_topology

TWO = load_topology(REPO_ROOT / "examples" / "two-service" / "topology.yaml")
REDIS = load_topology(REPO_ROOT / "examples" / "redis-cluster" / "topology.yaml")


def test_two_service_runs_its_own_commands_from_its_folder_in_the_image():
    services = compose_file(TWO)["services"]
    assert services["web-1"]["command"] == ["python", f"{TARGET_DIR}/web.py"]
    assert services["quotes-1"]["command"] == ["python", f"{TARGET_DIR}/quotes.py"]
    for name in ("web-1", "quotes-1"):
        env = services[name]["environment"]
        assert env["HOST"] == "0.0.0.0" and env["PORT"] == "8000"  # reachable by the proxy
        assert services[name]["build"]["dockerfile"] == "examples/two-service/Containerfile"


def test_the_build_context_is_the_repository_root_wherever_the_file_goes(tmp_path):
    out = tmp_path / "elsewhere"
    for where in (REPO_ROOT, out):
        build = compose_file(TWO, where)["services"]["web-1"]["build"]
        assert (where / build["context"]).resolve() == REPO_ROOT
        assert (where / build["context"] / build["dockerfile"]).resolve().is_file()


def test_two_service_reaches_quotes_through_its_shared_proxy_in_the_toxiproxy_container():
    env = compose_file(TWO)["services"]["web-1"]["environment"]
    proxy = {p["name"]: p for p in toxiproxy_config(TWO)}
    name = TWO.proxy_for("web", "quotes-1")
    assert env["QUOTES_URL"] == f"http://toxiproxy:{proxy_ports(TWO)[name]}"
    assert proxy[name]["upstream"] == "quotes-1:8000"


def test_the_shops_command_is_the_one_its_image_runs_anyway():
    shop = load_topology(bundled_topology_path())
    services = compose_file(shop)["services"]
    assert services["payments-2"]["command"] == ["python", "-m", "target_system.service"]


def test_a_topologys_local_image_replaces_its_build():
    images = {
        r: f"localhost/stormproof-{r}:1"
        for r in ("etcd", "toxiproxy", "prometheus", "locust", "target")
    }
    images["target-two-service"] = "localhost/stormproof-target-two-service:1"
    services = compose_file(TWO, REPO_ROOT, images)["services"]
    for name in ("web-1", "quotes-1"):
        assert services[name]["image"] == images["target-two-service"]
        assert "build" not in services[name]


def test_a_topologys_recipe_builds_from_its_folder_under_its_path_from_the_root():
    recipe = target_recipe(TWO)
    assert recipe.role == target_role(TWO) == "target-two-service"
    assert recipe.parent == "python" and recipe.pip
    assert recipe.containerfile == REPO_ROOT / "examples" / "two-service" / "Containerfile"
    assert recipe.context(Settings()) == {"examples/two-service": TWO.path.parent}
    # the Containerfile's COPY lines name the same path (the upstream build's context is the root)
    assert "COPY examples/two-service/ /target/" in recipe.containerfile.read_text()
    shop = load_topology(bundled_topology_path())
    assert target_recipe(shop).role == target_role(shop) == "target"


def test_a_topology_with_no_dockerfile_is_refused_on_the_project_engine(tmp_path):
    text = (REPO_ROOT / "tests/harness/fixtures/echo_topology.yaml").read_text()
    path = tmp_path / "echo.yaml"
    path.write_text(text)
    with pytest.raises(InputInvalid, match=r"names no compose\.dockerfile"):
        target_recipe(load_topology(path))


def test_a_topologys_image_counts_among_the_stale_ones(tmp_path):
    settings = Settings(state_dir=tmp_path)
    now = expected(settings, TWO)
    assert "target-two-service" in now and "target-two-service" not in expected(settings)
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "images.json").write_text(json.dumps({"images": expected(settings)}))
    assert stale(settings) == []
    assert stale(settings, TWO) == ["target-two-service"]
    (tmp_path / "engine" / "images.json").write_text(json.dumps({"images": now}))
    assert stale(settings, TWO) == []


def test_the_redis_cluster_is_refused_naming_everything_the_containers_lack():
    with pytest.raises(InputInvalid) as info:
        require_one_port(REDIS)
    msg = str(info.value)
    assert msg.startswith("examples/redis-cluster/topology.yaml: the compose backend cannot")
    for lack in ("bootstrap commands", "2 named ports", "TCP health check", "--backend local"):
        assert lack in msg


def test_a_run_of_the_redis_cluster_on_containers_is_exit_2_before_an_engine_is_asked(
    tmp_path, monkeypatch, capsys
):
    from harness import cli

    monkeypatch.setenv("STORMPROOF_STATE_DIR", str(tmp_path))
    status = cli.main(["run", "--backend", "compose", "examples/redis-cluster/scenarios/"])
    assert status == cli.EXIT_INPUT
    assert "service redis has 2 named ports" in capsys.readouterr().err
    assert not (tmp_path / "engine").exists()


def _locked(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            out[re.sub(r"[-_.]+", "-", name).lower()] = version
    return out


def test_the_shop_images_lock_pins_every_dependency_within_pyproject():
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    locked = _locked(TARGET_LOCK)
    for dep in map(Requirement, [*deps, "setuptools>=68"]):
        name = re.sub(r"[-_.]+", "-", dep.name).lower()
        assert name in locked, f"{dep.name} is not pinned: run scripts/lock-images.sh"
        assert dep.specifier.contains(locked[name]), f"{dep} but locked {locked[name]}"


def test_the_two_service_image_pins_what_its_files_import():
    locked = _locked(REPO_ROOT / "examples" / "two-service" / "requirements.txt")
    assert {"aiohttp", "prometheus-client"} <= set(locked)
    containerfile = (REPO_ROOT / "examples" / "two-service" / "Containerfile").read_text()
    assert "--no-deps -r /target/requirements.txt" in containerfile


def test_engine_down_unmounts_only_what_lies_in_the_projects_storage():
    from harness.stack.engine import mounts_under

    root = Path("/w/clone/.stormproof/engine")
    info = "\n".join(
        [
            "22 1 0:21 / / rw - overlay overlay rw",
            "90 22 8:1 /w/clone/.stormproof/engine/storage/overlay "
            "/w/clone/.stormproof/engine/storage/overlay rw shared:1 - ext4 /dev/sda1 rw",
            "91 90 0:50 / /w/clone/.stormproof/engine/storage/overlay/abc/merged rw - overlay x rw",
            "92 22 8:1 / /w/clone/.stormproof/engine-other/storage rw - ext4 /dev/sda1 rw",
            "93 22 8:1 / /w/other/.stormproof/engine/storage/overlay rw - ext4 /dev/sda1 rw",
            r"94 22 0:51 / /w/clone/.stormproof/engine/run/a\040b rw - tmpfs tmpfs rw",
        ]
    )
    assert mounts_under(root, info) == [
        root / "storage/overlay/abc/merged",  # deepest first: the layer before its parent
        root / "run/a b",
        root / "storage/overlay",
    ]


def test_a_run_on_a_missing_topology_image_names_the_command_that_builds_it(tmp_path, monkeypatch):
    from harness.errors import InfraUnavailable
    from harness.stack import compose

    settings = Settings(state_dir=tmp_path)
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr(compose, "docker_client", lambda _settings: object())
    monkeypatch.setattr(compose, "uses_project_engine", lambda _settings: True)
    # the stack's images current, the example's never built
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "images.json").write_text(json.dumps({"images": expected(settings)}))
    stack = compose.ComposeStack(TWO, settings)
    assert stack.compose_file == tmp_path / "compose" / "two-service" / "docker-compose.yml"
    with pytest.raises(InfraUnavailable) as info:
        stack.start()
    assert "missing or older than the sources (target-two-service)" in str(info.value)
    assert "run 'stormproof engine build --topology examples/two-service/topology.yaml'" in str(
        info.value
    )
    assert not stack.compose_file.exists()  # refused before anything was written or started
