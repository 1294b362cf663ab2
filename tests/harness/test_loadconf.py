"""A scenario's load: the locustfile and the host template, from the scenario or its target's
topology; refused before anything starts with file:line: field, the way the rest is."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.errors import InputInvalid, ScenarioInvalid, TopologyInvalid
from harness.loadconf import DEFAULT_HOST, host_problems, render_host, resolve_locustfile
from harness.scenario import TopologyFacts, effective_load, load_scenario
from harness.topology import bundled_topology_path, load_topology
from harness.ui import ui_load

REPO = Path(__file__).resolve().parents[2]
SHOP_LOCUSTFILE = REPO / "target_system" / "locustfile.py"
SERVICES = ["web", "quotes"]


def addr(service: str, port: str | None) -> str:
    return {"web": "127.0.0.1:4001", "quotes": "127.0.0.1:4002"}[service] + (
        f"/{port}" if port else ""
    )


# ---------------------------------------------------------------------------- host templates


@pytest.mark.parametrize(
    ("template", "url"),
    [
        ("http://{entry}", "http://127.0.0.1:4001"),
        ("http://{addr:quotes}/v1", "http://127.0.0.1:4002/v1"),
        ("https://{addr:web}/{{literal}}", "https://127.0.0.1:4001/{literal}"),
        ("ws://example.test", "ws://example.test"),
    ],
)
def test_a_host_template_renders_through_one_resolver(template: str, url: str) -> None:
    assert host_problems(template, SERVICES) == []
    assert render_host(template, "web", addr) == url


def test_the_resolver_is_asked_for_a_named_port_where_the_topology_declares_ports() -> None:
    ports = {"quotes": ["http", "admin"]}
    assert host_problems("http://{addr:quotes:admin}", SERVICES, ports) == []
    assert render_host("http://{addr:quotes:admin}", "web", addr) == "http://127.0.0.1:4002/admin"
    assert host_problems("http://{addr:quotes:grpc}", SERVICES, ports) == [
        "{addr:quotes:grpc}: unknown port 'grpc' of quotes; known: http, admin"
    ]
    assert host_problems("http://{addr:web:http}", SERVICES) == [
        "{addr:web:http}: service 'web' declares no named ports"
    ]


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("http://{host}", "unknown template variable {host}; known: {entry}, {addr:SERVICE}"),
        ("http://{entry:web}", "unknown template variable {entry:web}"),
        ("http://{addr!r:web}", "unknown template variable {addr!r:web}"),
        ("http://{addr}", "{addr}: name a service, e.g. {addr:SERVICE}"),
        ("http://{addr:qoutes}", "{addr:qoutes}: unknown service 'qoutes'; known: web, quotes"),
    ],
)
def test_unknown_host_variables_are_named(template: str, problem: str) -> None:
    problems = host_problems(template, SERVICES)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


@pytest.mark.parametrize("template", ["http://{host}", "http://{entry:web}", "{addr!r:web}"])
def test_rendering_an_unknown_variable_raises(template: str) -> None:
    with pytest.raises(ValueError, match="unknown host template variable"):
        render_host(template, "web", addr)


def test_a_locustfile_is_relative_to_the_file_that_names_it(tmp_path: Path) -> None:
    source = tmp_path / "scenarios" / "s.yaml"
    assert resolve_locustfile("load.py", source, None) == tmp_path / "scenarios" / "load.py"
    assert resolve_locustfile("../l.py", source, None) == tmp_path / "l.py"
    assert resolve_locustfile(None, source, SHOP_LOCUSTFILE) == SHOP_LOCUSTFILE
    assert resolve_locustfile(None, source, None) is None


# ---------------------------------------------------------------------------- topology `load:`


def test_the_bundled_topology_names_the_shops_locustfile() -> None:
    shop = load_topology(bundled_topology_path())
    assert shop.load_locustfile == SHOP_LOCUSTFILE
    assert shop.load_host == "http://{entry}"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


TOPOLOGY = """\
name: two
entry: web
services:
  web: {command: [x]}
  quotes: {command: [y]}
links: [web -> quotes]
"""


def test_a_topology_load_section_is_relative_to_the_topology(tmp_path: Path) -> None:
    write(tmp_path / "t" / "users.py", "")
    t = load_topology(
        write(
            tmp_path / "t" / "top.yaml",
            TOPOLOGY + "load: {locustfile: users.py, host: 'http://{addr:quotes}'}\n",
        )
    )
    assert t.load_locustfile == tmp_path / "t" / "users.py"
    assert t.load_host == "http://{addr:quotes}"


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ("load: {locustfile: gone.py}", "top.yaml:7: load.locustfile: locustfile "),
        ("load: {locustfile: users.txt}", "top.yaml:7: load.locustfile: string should match"),
        ("load: {host: 'http://{adr:web}'}", "top.yaml:7: load.host: unknown template variable"),
        ("load: {host: 'http://{addr:db}'}", "top.yaml:7: load.host: {addr:db}: unknown service"),
        ("load: {host: 'http://{entry'}", "top.yaml:7: load.host: bad template"),
        ("load: {host: 'http://a b'}", "top.yaml:7: load.host: expected a URL template without"),
        ("load: {hots: x}", "top.yaml:7: load.hots: unknown field"),
    ],
)
def test_a_bad_topology_load_section_is_located(tmp_path: Path, load: str, message: str) -> None:
    path = write(tmp_path / "top.yaml", TOPOLOGY + load + "\n")
    with pytest.raises(TopologyInvalid) as info:
        load_topology(path)
    assert message in str(info.value).replace(str(tmp_path) + "/", ""), str(info.value)


# ---------------------------------------------------------------------------- scenario `load:`

FACTS = TopologyFacts(
    services={"web": ["web-1"], "quotes": ["quotes-1"]},
    links=[("web", "quotes")],
    entry="web",
    registry="none",
    load_locustfile=SHOP_LOCUSTFILE,
    load_host="http://{addr:web}",
)


def scenario_text(load: str) -> str:
    return f"name: s\nload: {load}\nphases: [{{name: all, duration: 5s}}]\n"


def load(tmp_path: Path, text: str, facts: TopologyFacts = FACTS, check=None):
    path = write(tmp_path / "sc" / "s.yaml", text)
    return load_scenario(path, lambda s, p: facts, check_locustfile=check)


def error(tmp_path: Path, text: str, facts: TopologyFacts = FACTS, check=None) -> str:
    with pytest.raises(ScenarioInvalid) as info:
        load(tmp_path, text, facts, check)
    return str(info.value).replace(str(tmp_path) + "/", "")


def test_a_scenario_takes_the_targets_load_unless_it_names_its_own(tmp_path: Path) -> None:
    s = load(tmp_path, scenario_text("{users: 1}"))
    assert effective_load(s, FACTS) == (SHOP_LOCUSTFILE, "http://{addr:web}")
    assert s.load.rate is None
    write(tmp_path / "sc" / "mine.py", "")
    s = load(tmp_path, scenario_text("{users: 1, locustfile: mine.py, host: 'http://{entry}/x'}"))
    assert effective_load(s, FACTS) == (tmp_path / "sc" / "mine.py", "http://{entry}/x")
    bare = TopologyFacts(services=FACTS.services, links=FACTS.links, load_locustfile=Path("/l.py"))
    assert effective_load(s, bare)[1] == "http://{entry}/x"
    s = load(tmp_path, scenario_text("{users: 1, locustfile: mine.py}"), facts=bare)
    assert effective_load(s, bare)[1] == DEFAULT_HOST


def test_a_missing_locustfile_is_located_at_the_scenarios_field(tmp_path: Path) -> None:
    text = scenario_text("\n  users: 1\n  locustfile: nowhere.py")
    assert error(tmp_path, text).startswith("sc/s.yaml:4: load.locustfile: locustfile ")
    assert "nowhere.py not found" in error(tmp_path, text)


def test_no_locustfile_anywhere_is_refused(tmp_path: Path) -> None:
    bare = TopologyFacts(services=FACTS.services, links=FACTS.links, entry="web")
    assert "sc/s.yaml:2: load: no locustfile: give load.locustfile" in error(
        tmp_path, scenario_text("{users: 1}"), facts=bare
    )


def test_the_locustfile_check_is_asked_and_its_line_reported(tmp_path: Path) -> None:
    write(tmp_path / "sc" / "mine.py", "")
    asked: list[Path] = []

    def check(path: Path) -> str | None:
        asked.append(path)
        return "Locust cannot load it: No User class found!"

    text = scenario_text("\n  users: 1\n  locustfile: mine.py")
    msg = error(tmp_path, text, check=check)
    assert asked == [tmp_path / "sc" / "mine.py"]
    assert msg.startswith("sc/s.yaml:4: load.locustfile: ")
    assert msg.endswith("mine.py: Locust cannot load it: No User class found!")
    # the target's own locustfile, refused: located at the scenario's load, naming whose it is
    msg = error(tmp_path, scenario_text("{users: 1}"), check=check)
    assert msg.startswith("sc/s.yaml:2: load: ")
    assert "(the target topology's load.locustfile): Locust cannot load it" in msg


def test_host_template_problems_are_located(tmp_path: Path) -> None:
    msg = error(tmp_path, scenario_text("\n  users: 1\n  host: 'http://{addr:qoutes}'"))
    assert msg == (
        "sc/s.yaml:4: load.host: {addr:qoutes}: unknown service 'qoutes'; known: web, quotes"
    )
    msg = error(tmp_path, scenario_text("{users: 1, host: 'http://{port}'}"))
    assert "sc/s.yaml:2: load.host: unknown template variable {port}" in msg
    msg = error(tmp_path, scenario_text("{users: 1, host: 'http://{entry'}"))
    assert "load.host: bad template" in msg
    msg = error(tmp_path, scenario_text("{users: 1, locustfile: users.txt}"))
    assert "load.locustfile: string should match" in msg


def test_a_rate_must_be_positive_and_is_optional(tmp_path: Path) -> None:
    assert load(tmp_path, scenario_text("{users: 1, rate: 2}")).load.rate == 2.0
    assert "load.rate: input should be greater than 0" in error(
        tmp_path, scenario_text("{users: 1, rate: 0}")
    )


# ---------------------------------------------------------------------------- stormproof ui


def test_ui_takes_the_targets_load_or_its_options(tmp_path: Path) -> None:
    assert ui_load(None, None, SHOP_LOCUSTFILE, None, SERVICES) == (SHOP_LOCUSTFILE, DEFAULT_HOST)
    chosen = ui_load(None, "http://{addr:quotes}", SHOP_LOCUSTFILE, "http://{entry}", SERVICES)
    assert chosen == (SHOP_LOCUSTFILE, "http://{addr:quotes}")
    assert ui_load(None, None, SHOP_LOCUSTFILE, "http://{entry}/x", SERVICES)[1] == (
        "http://{entry}/x"
    )


@pytest.mark.parametrize(
    ("locustfile", "host", "default", "message"),
    [
        (None, None, None, "--locustfile: the running target's topology names no load.locustf"),
        ("gone.py", None, None, "--locustfile: "),
        (None, "http://{addr:db}", SHOP_LOCUSTFILE, "--host: http://{addr:db}: {addr:db}: unk"),
        ("empty.py", None, None, "No User class found!"),
    ],
)
def test_ui_refuses_bad_options_before_starting_locust(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    locustfile: str | None,
    host: str | None,
    default: Path | None,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(InputInvalid) as info:
        ui_load(locustfile, host, default, None, SERVICES)
    assert message in str(info.value)
    if locustfile == "gone.py":
        assert str(info.value).endswith("gone.py not found")


def test_validate_refuses_a_locustfile_locust_cannot_load_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    write(tmp_path / "users.py", "import no_such_module_here\n")
    path = write(tmp_path / "s.yaml", scenario_text("\n  users: 1\n  locustfile: users.py"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].endswith(
        "s.yaml:4: load.locustfile: "
        f"{tmp_path / 'users.py'}: Locust cannot load it: "
        "ModuleNotFoundError: No module named 'no_such_module_here'"
    )
