"""docker-compose.yml and the compose backend, tested without an engine where that is honest.

What runs here: the committed compose files are exactly what the generator makes from the
topology; they agree with it on every instance, link and port; Debian's docker-compose accepts
them (`config -q`); each process fault maps to the right Docker SDK call; a missing engine is
one clear error. What needs an engine (bringing the stack up) runs where `docker info` works.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.compose import compose_file, generate, proxy_ports, render
from harness.errors import InfraUnavailable
from harness.faults import KINDS
from harness.settings import REPO_ROOT, Settings
from harness.stack.compose import ComposeStack, docker_client
from harness.stack.composefile import (
    SECRETS_GROUP,
    SECRETS_MOUNT,
    SECRETS_SOURCE,
    render_topology,
)
from harness.stack.images import expected, images_file, local_images, stale
from harness.stack.startgate import START_ENV, START_MOUNT, gate_entrypoint
from harness.topology import bundled_topology_path, load_topology

TOPOLOGY = load_topology(bundled_topology_path())


def test_committed_files_are_what_the_generator_makes():
    files = render(bundled_topology_path(), REPO_ROOT)
    rels = ("docker-compose.yml", "compose/toxiproxy.json", "compose/prometheus.yml")
    assert set(files) == {REPO_ROOT / r for r in (*rels, "compose/jaeger.yaml")}
    for rel in (*rels, "compose/jaeger.yaml"):
        fresh = files[REPO_ROOT / rel].split("\n", 1)[1]
        committed = (REPO_ROOT / rel).read_text().split("\n", 1)[1]
        assert fresh == committed, f"{rel} is stale: run 'stormproof compose generate'"


def test_locust_containers_run_the_topologys_locustfile_mounted_from_where_the_file_goes(
    tmp_path,
):
    generate(bundled_topology_path(), tmp_path / "out")
    doc = yaml.safe_load((tmp_path / "out" / "docker-compose.yml").read_text())
    for name in ("locust-master", "locust-worker"):
        svc = doc["services"][name]
        src, dst, _ro = svc["volumes"][0].rsplit(":", 2)
        assert (tmp_path / "out" / src).resolve() == REPO_ROOT / "target_system"
        assert dst == "/locust"
        assert svc["command"][:2] == ["-f", "/locust/locustfile.py"]
    assert doc["services"]["locust-master"]["command"][-1] == "http://gateway-1:8000"


def test_a_topology_without_a_load_section_gets_no_locust_containers():
    echo = load_topology(REPO_ROOT / "tests" / "harness" / "fixtures" / "echo_topology.yaml")
    assert not {"locust-master", "locust-worker"} & set(compose_file(echo)["services"])


def test_compose_agrees_with_the_topology_on_instances_links_and_ports():
    doc = compose_file(TOPOLOGY)
    services = doc["services"]
    assert {i.name for i in TOPOLOGY.instances()} <= set(services)
    proxies = json.loads((REPO_ROOT / "compose" / "toxiproxy.json").read_text())
    assert {p["name"] for p in proxies} == {p.name for p in TOPOLOGY.proxies()}
    ports = proxy_ports(TOPOLOGY)
    for inst in TOPOLOGY.instances():
        links = json.loads(services[inst.name]["environment"]["SHOP_LINKS"])
        callees = {
            c.name
            for lk in TOPOLOGY.links
            if lk.caller == inst.service
            for c in TOPOLOGY.instances_of(lk.callee)
        }
        assert set(links) == callees
        for callee, addr in links.items():
            assert addr == f"toxiproxy:{ports[f'{inst.service}--{callee}']}"
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_accepts_the_file(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORMPROOF_")}

    def config(*args: str, **extra: str) -> subprocess.CompletedProcess:
        cmd = ["docker-compose", "-f", str(REPO_ROOT / "docker-compose.yml"), "config", *args]
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=60, env={**env, **extra}, check=False
        )

    folders = {
        "STORMPROOF_SECRETS_DIR": str(tmp_path / "secrets"),
        "STORMPROOF_SECRETS_GID": "0",
        START_ENV: str(tmp_path / "start"),
    }
    done = config(**folders)
    assert done.returncode == 0, done.stderr
    # every instance's start gate survives interpolation: each $ of the script stays a literal
    # $ (config prints the resolved file escaped again, $$; an unescaped $f would print empty)
    services = yaml.safe_load(done.stdout)["services"]
    for inst in TOPOLOGY.instances():
        gate = [a.replace("$", "$$") for a in gate_entrypoint(inst.name)]
        assert services[inst.name]["entrypoint"] == gate
        assert f"{tmp_path / 'start'}:{START_MOUNT}:rw" in services[inst.name]["volumes"]
    # without the secrets or the start folder compose refuses the file, saying what is missing
    for missing in folders:
        done = config("-q", **{k: v for k, v in folders.items() if k != missing})
        assert done.returncode != 0 and "set by stormproof" in done.stderr


def test_a_target_that_exports_traces_gets_the_jaeger_container_and_its_endpoint(tmp_path):
    services = compose_file(TOPOLOGY)["services"]
    assert services["jaeger"]["ports"] == ["127.0.0.1:16686:16686"]
    assert services["jaeger"]["volumes"] == ["./compose/jaeger.yaml:/jaeger/jaeger.yaml:ro"]
    config = yaml.safe_load((REPO_ROOT / "compose" / "jaeger.yaml").read_text())
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    assert config["extensions"]["jaeger_query"]["http"]["endpoint"] == "0.0.0.0:16686"
    for inst in TOPOLOGY.instances():
        assert services[inst.name]["environment"]["SHOP_OTLP_ENDPOINT"] == "http://jaeger:4318"
        assert services[inst.name]["depends_on"]["jaeger"] == {"condition": "service_started"}
    stack = ComposeStack(TOPOLOGY, Settings(state_dir=tmp_path), client=FakeDocker())
    assert stack.jaeger_url() == "http://127.0.0.1:16686"
    # a topology that hands no service {otlp_endpoint}: no Jaeger, no config, no URL
    echo = load_topology(REPO_ROOT / "tests" / "harness" / "fixtures" / "echo_topology.yaml")
    assert not echo.exports_traces()
    assert "jaeger" not in compose_file(echo)["services"]
    assert not any(p.name == "jaeger.yaml" for p in render_topology(echo, tmp_path))
    stack = ComposeStack(echo, Settings(state_dir=tmp_path), client=FakeDocker())
    assert stack.jaeger_url() == "" and "jaeger-api" not in stack.urls()


def test_the_readers_of_a_secret_mount_the_secrets_folder_read_only():
    services = compose_file(TOPOLOGY)["services"]
    readers = {i.name for i in TOPOLOGY.instances() if i.service in ("orders", "payments")}
    assert readers == {"orders-1", "payments-1", "payments-2"}
    for inst in TOPOLOGY.instances():
        svc = services[inst.name]
        mounts = [v for v in svc["volumes"] if v.endswith(f":{SECRETS_MOUNT}:ro")]
        if inst.name in readers:
            assert mounts == [f"{SECRETS_SOURCE}:{SECRETS_MOUNT}:ro"]
            assert svc["environment"]["SHOP_SECRETS_DIR"] == SECRETS_MOUNT
            assert svc["group_add"] == [SECRETS_GROUP]
        else:
            assert not mounts and "group_add" not in svc
            assert "SHOP_SECRETS_DIR" not in svc["environment"]
    echo = load_topology(REPO_ROOT / "tests" / "harness" / "fixtures" / "echo_topology.yaml")
    for svc in compose_file(echo)["services"].values():
        assert not any(SECRETS_MOUNT in v for v in svc.get("volumes", []))


def test_the_compose_stack_makes_its_secrets_folder_before_up_and_removes_it_after_down(
    tmp_path, monkeypatch
):
    import harness.stack.compose as compose_mod

    seen: list[tuple[str, dict]] = []

    def run(cmd, env, **_kw):
        folder = Path(env["STORMPROOF_SECRETS_DIR"])
        files = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
        seen.append((cmd[-1] if cmd[-1] != "-v" else "down", {"gid": env["STORMPROOF_SECRETS_GID"],
                                                              "files": files}))  # fmt: skip
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(compose_mod, "compose_command", lambda: ["docker-compose"])
    monkeypatch.setattr(compose_mod.subprocess, "run", run)
    stack = ComposeStack(
        TOPOLOGY, Settings(state_dir=tmp_path), client=FakeDocker(), stack_dir=tmp_path / "stack"
    )
    monkeypatch.setattr(stack, "wait_healthy", lambda *a, **k: 0.0)
    monkeypatch.setattr(stack, "wait_jaeger", lambda: None)
    stack.start()
    folder = tmp_path / "stack" / "secrets"
    assert stack.secrets is not None and stack.secrets.dir == folder
    assert seen[0][0] == "-d"  # up -d, with the folder already made
    made = {"..data", "payments_token"} | {p.name for p in folder.glob("..2*")}
    assert seen[0][1] == {"gid": str(os.getgid()), "files": made}
    # secret_rotate works on it as on the local backend: one swap in the mounted folder
    first = stack.secrets.current()["payments_token"]
    fault = KINDS["secret_rotate"](stack, grace=5.0)
    fault.inject()
    assert (folder / "payments_token.previous").read_text() == first
    fault.revert()
    assert not (folder / "payments_token.previous").exists()
    assert len(stack.secrets.values()["payments_token"]) == 2
    stack.stop()
    assert seen[-1][0] == "down" and not folder.exists()


def test_a_killed_runs_secrets_folder_is_removed_by_the_next_start(tmp_path, monkeypatch):
    import harness.stack.compose as compose_mod

    monkeypatch.setattr(compose_mod, "compose_command", lambda: ["docker-compose"])
    monkeypatch.setattr(
        compose_mod.subprocess, "run", lambda cmd, **_: subprocess.CompletedProcess(cmd, 0)
    )

    def stack(run: str) -> ComposeStack:
        s = ComposeStack(
            TOPOLOGY, Settings(state_dir=tmp_path), client=FakeDocker(), stack_dir=tmp_path / run
        )
        monkeypatch.setattr(s, "wait_healthy", lambda *a, **k: 0.0)
        monkeypatch.setattr(s, "wait_jaeger", lambda: None)
        return s

    stack("killed").start()  # and never stopped
    assert (tmp_path / "killed" / "secrets" / "payments_token").exists()
    later = stack("later")
    later.start()
    assert not (tmp_path / "killed" / "secrets").exists()
    assert (tmp_path / "later" / "secrets" / "payments_token").exists()
    later.stop()
    assert not (tmp_path / "later" / "secrets").exists()


def test_the_containers_logs_are_saved_for_secret_leak(tmp_path):
    class Talkative(FakeContainer):
        def logs(self) -> bytes:
            return f"{self.name} started\n".encode()

    fake = FakeDocker()
    fake.list = lambda all, filters: [Talkative(fake.calls, filters["label"][1].split("=")[1])]
    stack = ComposeStack(TOPOLOGY, Settings(state_dir=tmp_path), client=fake, stack_dir=tmp_path)
    files = stack.log_files()
    assert set(files) == {i.name for i in TOPOLOGY.instances()}
    assert files["orders-1"] == tmp_path / "logs" / "orders-1.log"
    assert files["orders-1"].read_text() == "orders-1 started\n"


class FakeContainer:
    def __init__(self, calls: list[str], name: str) -> None:
        self.calls, self.name, self.status = calls, name, "running"
        self.ports = {"8000/tcp": [{"HostPort": "18000"}]}

    def __getattr__(self, verb: str):
        if verb in ("kill", "stop", "pause", "unpause", "restart", "start"):
            return lambda **_kw: self.calls.append(f"{verb} {self.name}")
        raise AttributeError(verb)

    def reload(self) -> None:
        pass


class FakeDocker:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.containers = self

    def list(self, all: bool, filters: dict) -> list[FakeContainer]:
        service = filters["label"][1].split("=", 1)[1]
        return [FakeContainer(self.calls, service)]


@pytest.mark.parametrize(
    ("kind", "inject", "revert"),
    [
        ("crash", "kill payments-1", "start payments-1"),
        ("pause", "pause payments-1", "unpause payments-1"),
        ("stop", "stop payments-1", "start payments-1"),
    ],
)
def test_process_faults_map_to_docker_calls(kind, inject, revert, monkeypatch, tmp_path):
    fake = FakeDocker()
    stack = ComposeStack(TOPOLOGY, Settings(state_dir=tmp_path), client=fake)
    monkeypatch.setattr(stack, "wait_healthy", lambda *a, **k: 0.0)
    running = {"value": True}
    monkeypatch.setattr(stack, "is_running", lambda _i: running["value"])
    fault = KINDS[kind](stack, instance="payments-1")
    fault.inject()
    running["value"] = False
    fault.revert()
    assert fake.calls == [inject, revert]


def test_registry_outage_pauses_the_etcd_container(tmp_path):
    fake = FakeDocker()
    stack = ComposeStack(TOPOLOGY, Settings(state_dir=tmp_path), client=fake)
    fault = KINDS["registry_outage"](stack)
    fault.inject()
    fault.revert()
    assert fake.calls == ["pause etcd", "unpause etcd"]


def _engine() -> str | None:
    """Why the engine test cannot run here, or None when an engine answers."""
    from harness.stack import engine

    host = engine.docker_host(Settings())
    if host is None:
        return (
            "no Docker engine: DOCKER_HOST unset, the project engine not running "
            "('stormproof engine up'), no /var/run/docker.sock"
        )
    try:
        docker_client(Settings()).close()
    except InfraUnavailable as exc:
        return str(exc)
    if engine.uses_project_engine(Settings()):
        if local_images(Settings()) is None:
            return "the project engine runs but has no images: stormproof engine build"
        old = stale(Settings())
        if old:
            return f"the local images are older than the sources ({old}): stormproof engine build"
    return None


def test_without_an_engine_the_backend_says_so(tmp_path, monkeypatch):
    from harness.stack import engine

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(engine, "SYSTEM_SOCKET", tmp_path / "no-docker.sock")
    with pytest.raises(InfraUnavailable, match="needs a running Docker engine") as info:
        docker_client(Settings(state_dir=tmp_path))
    assert "tried: $DOCKER_HOST, the project engine" in str(info.value)


def test_docker_host_prefers_the_users_engine(tmp_path, monkeypatch):
    from harness.stack import engine

    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    settings = Settings(state_dir=tmp_path)
    assert engine.docker_host(settings) == "tcp://127.0.0.1:2375"
    got = engine.up(settings)  # starts nothing: the user has an engine
    assert (got.how, got.host) == ("yours", "tcp://127.0.0.1:2375")
    assert not (tmp_path / "engine" / "state.json").exists()


def test_without_podman_engine_up_is_exit_3_naming_what_was_tried(tmp_path, monkeypatch):
    from harness.stack import engine

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InfraUnavailable, match="podman is not installed") as info:
        engine.up(Settings(state_dir=tmp_path))
    assert info.value.exit_status == 3
    assert "$DOCKER_HOST" in str(info.value)


def test_engine_check_names_the_step_that_failed(tmp_path, monkeypatch, capsys):
    from harness import cli
    from harness.stack import engine

    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")  # nothing listens
    with pytest.raises(InfraUnavailable, match="engine check: create the network") as info:
        engine.check(Settings(state_dir=tmp_path), "localhost/stormproof-base:x")
    assert info.value.exit_status == 3
    monkeypatch.setenv("STORMPROOF_STATE_DIR", str(tmp_path))  # no images built there
    assert cli.main(["engine", "check"]) == 3
    assert "no local images yet: stormproof engine build" in capsys.readouterr().err


def test_the_project_engine_configs_stay_in_the_state_dir(tmp_path):
    from harness.stack import engine

    env = engine.podman_env(Settings(state_dir=tmp_path))
    conf = (tmp_path / "engine" / "containers.conf").read_text()
    storage = (tmp_path / "engine" / "storage.conf").read_text()
    assert env["CONTAINERS_CONF"] == str(tmp_path / "engine" / "containers.conf")
    assert 'runtime = "runc"' in conf and 'cgroup_manager = "cgroupfs"' in conf
    assert "default_ulimits = []" in conf
    assert f'network_config_dir = "{tmp_path / "engine" / "cni"}"' in conf
    assert f'graphroot = "{tmp_path / "engine" / "storage"}"' in storage


def test_image_tags_follow_content_and_parent(tmp_path):
    from harness.stack.images import content_hash

    cf = tmp_path / "Containerfile"
    cf.write_text("FROM x\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("a = 1\n")
    first = content_hash(cf, {"src": src}, "p1")
    assert content_hash(cf, {"src": src}, "p1") == first
    assert content_hash(cf, {"src": src}, "p2") != first  # a new parent rebuilds the child
    (src / "a.py").write_text("a = 2\n")
    assert content_hash(cf, {"src": src}, "p1") != first
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "a.pyc").write_bytes(b"x")
    assert content_hash(cf, {"src": src}, "p1") == content_hash(cf, {"src": src}, "p1")


def test_local_images_replace_every_upstream_image_and_the_build():
    images = {
        "etcd": "localhost/stormproof-etcd:1",
        "toxiproxy": "localhost/stormproof-toxiproxy:1",
        "prometheus": "localhost/stormproof-prometheus:1",
        "locust": "localhost/stormproof-locust:1",
        "target": "localhost/stormproof-target:1",
        "jaeger": "localhost/stormproof-jaeger:1",
    }
    services = compose_file(TOPOLOGY, REPO_ROOT, images)["services"]
    for name, svc in services.items():
        assert svc["image"].startswith("localhost/stormproof-"), name
        assert "build" not in svc, name
        depends = svc.get("depends_on", {})
        for dep in depends.values() if isinstance(depends, dict) else []:
            assert dep == {"condition": "service_started"}, name
    upstream = compose_file(TOPOLOGY)["services"]
    assert upstream["gateway-1"]["depends_on"]["etcd"] == {"condition": "service_healthy"}


def test_images_older_than_the_sources_are_named(tmp_path):
    settings = Settings(state_dir=tmp_path)
    assert local_images(settings) is None
    now = expected(settings)
    assert set(now) == {
        "base", "python", "toxiproxy", "jaeger", "prometheus", "etcd", "target", "locust"
    }  # fmt: skip
    images_file(settings).parent.mkdir(parents=True)
    images_file(settings).write_text(json.dumps({"images": now}))
    assert stale(settings) == []
    images_file(settings).write_text(json.dumps({"images": {**now, "etcd": "old:1"}}))
    assert stale(settings) == ["etcd"]


def test_the_journal_names_the_backend_and_the_engine(tmp_path, monkeypatch):
    from harness.runner import collect_versions
    from harness.stack import engine

    assert collect_versions(Settings())["backend"] == "local"
    assert "container engine" not in collect_versions(Settings())
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(engine, "SYSTEM_SOCKET", tmp_path / "no-docker.sock")
    found = collect_versions(Settings(state_dir=tmp_path).with_backend("compose"))
    assert found["backend"] == "compose"
    assert found["container engine"].startswith("unavailable: the compose backend needs")


NO_ENGINE = _engine()


@pytest.mark.skipif(NO_ENGINE is not None, reason=str(NO_ENGINE))
def test_compose_stack_comes_up_with_an_engine():
    stack = ComposeStack(TOPOLOGY, Settings())
    try:
        stack.start()
        assert len(stack.registry_members()) == len(TOPOLOGY.instances())
    finally:
        stack.stop()


def test_engine_up_with_a_users_engine_starts_nothing(tmp_path, monkeypatch, capsys):
    from harness import cli

    monkeypatch.setenv("STORMPROOF_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert cli.main(["engine", "up"]) == 0
    assert "DOCKER_HOST is set (unix:///nonexistent/docker.sock)" in capsys.readouterr().out
    assert not (tmp_path / "engine" / "state.json").exists()
    assert cli.main(["engine", "down"]) == 0
    assert "engine was not running" in capsys.readouterr().out


def test_up_on_containers_without_any_engine_is_exit_3_before_anything_starts(
    tmp_path, monkeypatch, capsys
):
    from harness import cli
    from harness.stack import engine

    monkeypatch.setenv("STORMPROOF_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(engine, "SYSTEM_SOCKET", tmp_path / "no-docker.sock")
    monkeypatch.setattr(engine.shutil, "which", lambda _name: None)
    assert cli.main(["up", "--backend", "compose", "--detach"]) == cli.EXIT_INFRA
    err = capsys.readouterr().err
    assert "podman is not installed" in err and "make setup-containers" in err
    assert not (tmp_path / "compose" / "up.json").exists()


def test_a_scenario_that_needs_the_local_backend_is_refused_located_before_anything_starts(
    tmp_path, monkeypatch, capsys
):
    from harness import cli

    monkeypatch.setenv("STORMPROOF_STATE_DIR", str(tmp_path))
    chosen = ["scenarios/retry-budget-orders-payments.yaml", "scenarios/slow-start-payments.yaml"]
    status = cli.main(["run", "--backend", "compose", *chosen])
    assert status == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert (
        "scenarios/retry-budget-orders-payments.yaml:12: target_env: target_env needs the local"
        in err
    )
    assert "slow-start-payments" not in err  # slow_start runs in containers (the start gate)
    assert not (tmp_path / "engine").exists()  # nothing was started, no engine asked


class ExitedContainer(FakeContainer):
    def __init__(self, calls: list[str], name: str) -> None:
        super().__init__(calls, name)
        self.status = "exited"
        self.attrs = {"State": {"ExitCode": 1}}
        self.ports = {"8000/tcp": [{"HostPort": "1"}]}  # nothing listens on port 1

    def logs(self, tail: int) -> bytes:
        return b"starting\nValueError: SHOP_PORT is not a number\n"


def test_a_container_that_exits_at_start_shows_its_last_log_lines(tmp_path):
    fake = FakeDocker()
    fake.list = lambda all, filters: [ExitedContainer(fake.calls, "payments-1")]
    stack = ComposeStack(TOPOLOGY, Settings(state_dir=tmp_path), client=fake)
    with pytest.raises(InfraUnavailable, match="payments-1 healthy died while starting") as info:
        stack.wait_healthy("payments-1", timeout=30)
    assert "container exited (exit 1)" in str(info.value)
    assert "ValueError: SHOP_PORT is not a number" in str(info.value)
