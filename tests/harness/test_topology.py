from __future__ import annotations

import pytest

from harness.errors import TopologyInvalid
from harness.settings import REPO_ROOT
from harness.topology import bundled_topology_path, load_topology


def test_bundled_topology():
    t = load_topology(bundled_topology_path())
    assert t.entry == "gateway" and t.lease_ttl == 5.0
    assert [i.name for i in t.instances_of("payments")] == ["payments-1", "payments-2"]
    # per_link: one proxy per (caller service, callee instance); inventory has two callers
    names = {p.name for p in t.proxies()}
    assert {"gateway--inventory-1", "orders--inventory-1", "orders--payments-2"} <= names
    assert len(names) == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "services: {a: {command: [x]}}\nlinks: [a -> b]\n",
            "t.yaml:2: links[0]: unknown service 'b'; known: a",
        ),
        (
            "services: {a: {command: [x], instances: 0}}\n",
            "t.yaml:1: services.a.instances: input should be greater than or equal to 1, got 0",
        ),
        ("services: {a: {command: ['{prot}']}}\n", "unknown template variable {prot}"),
        ("services: {a: {command: [x], colour: red}}\n", "services.a.colour: unknown field"),
        ("services: [\n", "t.yaml:2: YAML syntax error"),
        (
            "services: {a: {command: [x]}}\nproxy_mode: mesh\n",
            "t.yaml:2: proxy_mode: input should be 'per_link', 'shared' or 'per_instance', "
            "got 'mesh'",
        ),
    ],
)
def test_bad_topology_names_file_line_and_field(tmp_path, text, message):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(TopologyInvalid) as err:
        load_topology(path)
    assert message in str(err.value).replace(str(tmp_path) + "/", "")


def test_dir_renders_the_topology_files_folder(tmp_path):
    path = tmp_path / "sys" / "t.yaml"
    path.parent.mkdir()
    path.write_text("services: {a: {command: ['{python}', '{dir}/a.py'], env: {D: '{dir}'}}}\n")
    t = load_topology(path)
    cmd, env = t.render(t.instances()[0], {"python": "py"})
    assert cmd == ["py", f"{tmp_path}/sys/a.py"] and env == {"D": f"{tmp_path}/sys"}


def test_otlp_endpoint_is_a_template_the_shop_gets_its_jaeger_through(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("services: {a: {command: [x], env: {OTEL: '{otlp_endpoint}/v1/traces'}}}\n")
    t = load_topology(path)
    _cmd, env = t.render(t.instances()[0], {"otlp_endpoint": "http://127.0.0.1:4318"})
    assert env == {"OTEL": "http://127.0.0.1:4318/v1/traces"}
    shop = load_topology(bundled_topology_path())
    _cmd, env = shop.render(shop.instances()[0], {"otlp_endpoint": "http://h:1"})
    assert env["SHOP_OTLP_ENDPOINT"] == "http://h:1"
    path.write_text("services: {a: {command: [x], env: {OTEL: '{otlp}'}}}\n")
    with pytest.raises(TopologyInvalid, match="otlp_endpoint"):
        load_topology(path)  # an unknown variable names the known ones


def test_a_topology_exports_traces_only_when_a_service_is_handed_the_otlp_endpoint() -> None:
    assert load_topology(bundled_topology_path()).exports_traces()
    two = REPO_ROOT / "examples" / "two-service" / "topology.yaml"
    assert not load_topology(two).exports_traces()  # the stack runs no Jaeger for it
