"""Clustered systems that announce their proxies and are formed once their members are up:
``{advertise_port:PORT}`` and the topology's ``bootstrap:`` commands (validation and the local
backend running them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import StackError, TopologyInvalid
from harness.procs import start_time
from harness.settings import Settings
from harness.stack.local import LocalStack
from harness.topology import load_topology

CLUSTER = """
proxy_mode: shared
services:
  node:
    instances: 3
    ports: [client, bus]
    command: [n, --port, "{port:client}", --announce-port, "{advertise_port:client}",
              --announce-bus-port, "{advertise_port:bus}", --announce, "{advertise:bus}",
              --main, "{advertise_port}"]
    health: {port: client, tcp: true}
    metrics: null
links: [node -> node:client, node -> node:bus]
"""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    return load_topology(path)


def _stack(tmp_path: Path, text: str) -> LocalStack:
    return LocalStack(_load(tmp_path, text), Settings(state_dir=tmp_path / "s"), tmp_path / "run")


def test_advertise_port_is_the_port_number_of_the_proxy_in_front(tmp_path):
    stack = _stack(tmp_path, CLUSTER)
    for inst in stack.topology.instances():
        values = stack.template_values(inst.name)
        for port in ("client", "bus"):
            host, _, number = values[f"advertise:{port}"].rpartition(":")
            assert (host, values[f"advertise_port:{port}"]) == ("127.0.0.1", number)
            assert values[f"advertise:{port}"] == values[f"proxy:node:{port}:{inst.index}"]
        assert values["advertise_port"] == values["advertise_port:client"]
        cmd, _ = stack.topology.render(inst, {"python": "py", **values})
        assert cmd[4] == values["advertise_port:client"] and cmd[6] == values["advertise_port:bus"]
        assert cmd[8] == values["advertise:bus"] and cmd[10] == values["advertise_port:client"]
        assert not any("{" in c for c in cmd)


def boot(cmd: str, timeout: str = "10s") -> str:
    return CLUSTER + f"bootstrap:\n  - command: [{cmd}]\n    timeout: {timeout}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            CLUSTER.replace("{advertise_port:bus}", "{advertise_port:peer}"),
            "t.yaml:8: services.node.command[6]: {advertise_port:peer}: node has no port 'peer'",
        ),
        (
            CLUSTER.replace("node -> node:bus]", "node -> node:client]\n").replace(
                "links: [node -> node:client, node -> node:client]", "links: [node -> node:client]"
            ),
            "{advertise_port:bus}: no proxy in front of node:bus (needs a link to node:bus)",
        ),
        (
            CLUSTER.replace("proxy_mode: shared", "proxy_mode: per_instance"),
            "{advertise_port:client}: with proxy_mode per_instance every caller instance has its "
            "own proxy",
        ),
        (
            boot("cli, '{proxy:node:client:4}'", "10s"),
            "t.yaml:14: bootstrap[0].command[1]: {proxy:node:client:4}: node has instances 1..3, "
            "not '4'",
        ),
        (
            boot("cli, '{port:client}'", "10s"),
            "t.yaml:14: bootstrap[0].command[1]: unknown template variable {port:client} in a "
            "bootstrap command; known: dir, host, python, {proxy:SERVICE[:PORT[:INDEX]]}",
        ),
        (
            boot("cli, '{proxy:nope:client:1}'", "10s"),
            "bootstrap[0].command[1]: {proxy:nope:client:1}: unknown service 'nope'; known: node",
        ),
        (
            boot("cli, '{proxy:node:admin}'", "10s"),
            "{proxy:node:admin}: node has no port 'admin'; its ports: client, bus",
        ),
        (
            boot("cli, '{proxy:node:bus:1}'", "10s")
            .replace("node -> node:bus]", "node -> node:client]\n")
            .replace("links: [node -> node:client, node -> node:client]", "links: []"),
            "{proxy:node:bus:1}: no link reaches node:bus, so no proxy to it",
        ),
        (
            boot("cli, '{proxy:node:client:1}'", "10s").replace(
                "proxy_mode: shared", "proxy_mode: per_link"
            ),
            "{proxy:node:client:1}: a bootstrap command is no caller of any link, so it reaches "
            "proxies only with proxy_mode: shared",
        ),
        (boot("cli", "0s"), "t.yaml:15: bootstrap[0].timeout: input should be greater than 0"),
        (CLUSTER + "bootstrap:\n  - command: []\n", "bootstrap[0].command"),
        (CLUSTER + "bootstrap:\n  - {command: [x], retries: 2}\n", "unknown field 'retries'"),
    ],
)
def test_bad_cluster_templates_and_bootstrap_are_located(tmp_path, text, message):
    with pytest.raises(TopologyInvalid) as err:
        _load(tmp_path, text)
    assert message in str(err.value).replace(str(tmp_path) + "/", ""), str(err.value)


def test_bootstrap_templates_are_the_shared_proxies(tmp_path):
    text = boot(
        "'{python}', '{dir}/x.py', '{host}', '{proxy:node:client:2}', '{proxy:node:bus}'", "5s"
    )
    stack = _stack(tmp_path, text)
    step = stack.topology.bootstrap[0]
    assert step.timeout == 5.0
    cmd = stack.topology.render_bootstrap(step, stack.bootstrap_values())
    member = stack.template_values("node-1")
    assert cmd == [
        stack.settings.python,
        f"{tmp_path}/x.py",
        "127.0.0.1",
        member["proxy:node:client:2"],
        member["proxy:node:bus"],
    ]


def _boot(tmp_path: Path, code: str, timeout: str = "20s") -> LocalStack:
    text = boot(f"'{{python}}', -c, {code!r}", timeout)
    stack = _stack(tmp_path, text)
    return stack


def test_bootstrap_runs_once_recorded_and_logged(tmp_path):
    stack = _boot(tmp_path, "print('formed', flush=True)")
    seen: list[str] = []
    adopt = stack.adopt
    stack.adopt = lambda rec: (seen.append(rec.name), adopt(rec))  # type: ignore[method-assign]
    stack._bootstrap()
    assert seen == ["bootstrap-1"]  # recorded before it ran
    assert "bootstrap-1" not in stack.records  # and forgotten once it exited
    assert (stack.dir / "logs" / "bootstrap-1.log").read_text() == "formed\n"
    stack.state.remove()


def test_a_failing_bootstrap_fails_the_start_with_its_output(tmp_path):
    stack = _boot(tmp_path, "import sys; print('no quorum'); sys.exit(3)")
    with pytest.raises(StackError, match=r"bootstrap command 1 \(.*\) exit status 3") as err:
        stack._bootstrap()
    assert "no quorum" in str(err.value)
    assert "bootstrap-1" not in stack.records
    stack.state.remove()


def test_a_bootstrap_past_its_timeout_is_killed(tmp_path):
    stack = _boot(tmp_path, "import time; print('waiting', flush=True); time.sleep(60)", "1s")
    pids: list[int] = []
    adopt = stack.adopt
    stack.adopt = lambda rec: (pids.append(rec.pid), adopt(rec))  # type: ignore[method-assign]
    with pytest.raises(StackError, match="did not finish within 1s") as err:
        stack._bootstrap()
    assert "waiting" in str(err.value)
    assert start_time(pids[0]) is None  # gone, not left running
    stack.state.remove()


def test_an_instance_restart_does_not_run_the_bootstrap_again(tmp_path, monkeypatch):
    stack = _boot(tmp_path, "print('x')")
    ran: list[str] = []
    monkeypatch.setattr(stack, "_bootstrap", lambda: ran.append("bootstrap"))
    monkeypatch.setattr(stack, "_spawn", lambda name, cmd, env=None: ran.append(name))
    stack.start_instance("node-2", wait=False)
    assert ran == ["node-2"]  # restarting an instance starts it alone


def test_the_redis_example_announces_its_proxies_and_forms_the_cluster(tmp_path):
    t = load_topology(Path(__file__).parents[2] / "examples" / "redis-cluster" / "topology.yaml")
    stack = LocalStack(t, Settings(state_dir=tmp_path / "s"), tmp_path / "run")
    cmd = t.render_bootstrap(t.bootstrap[0], stack.bootstrap_values())
    nodes = [stack.template_values(f"redis-{i}")["advertise:client"] for i in range(1, 7)]
    assert cmd[:3] == ["redis-cli", "--cluster", "create"] and cmd[3:9] == nodes
    values = stack.template_values("exporter-3")
    argv, _ = t.render(t.instance("exporter-3"), {"python": "py", "host": "h", "port": 1, **values})
    assert f"--redis.addr=redis://{values['proxy:redis:client:3']}" in argv


def test_the_compose_backend_refuses_a_bootstrap(tmp_path):
    from harness.errors import InputInvalid
    from harness.stack.compose import require_one_port

    text = boot("cli").replace("ports: [client, bus]", "ports: [client]")
    text = text.replace(", node -> node:bus]", "]").replace("{advertise_port:bus}", "x")
    text = text.replace("{advertise:bus}", "x")
    text = text.replace("health: {port: client, tcp: true}", "health: /h")
    with pytest.raises(InputInvalid, match="bootstrap commands run on the local backend only"):
        require_one_port(_load(tmp_path, text))
    require_one_port(_load(tmp_path, text.split("bootstrap:")[0]))
