"""Reading scenario files: YAML -> models, file:line problems, and the JSON Schema."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.checks.steady import STEADY_KINDS
from harness.errors import InputInvalid, ScenarioInvalid
from harness.facts import MAX_ITEMS, TopologyFacts
from harness.scenario.crosscheck import LocustfileCheck, cross_check, load_check, reference_check
from harness.scenario.expectations import EXPECT_MODELS
from harness.scenario.faultspec import DEFAULT_ALLOWED_TAGS
from harness.scenario.models import Scenario
from harness.yamlsource import (
    Located,
    Problem,
    display,
    read_yaml,
    step,
    tag_member,
    validate,
    walk,
)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario file as written (expectations as one-key mappings)."""
    schema = Scenario.model_json_schema(mode="validation")
    defs = schema.setdefault("$defs", {})
    entries: dict[str, dict[str, Any]] = {}
    for kind, model in EXPECT_MODELS.items():
        d = defs.get(model.__name__)
        if d is not None:
            d.get("properties", {}).pop("type", None)
        entries[kind] = {
            "type": "object",
            "properties": {kind: {"$ref": f"#/$defs/{model.__name__}"}},
            "required": [kind],
            "additionalProperties": False,
        }
    expect = [e for k, e in entries.items() if k != "steady"]
    schema["properties"]["expect"]["items"] = {"oneOf": expect}
    steady = schema["properties"]["steady_state"]
    steady.pop("maxLength", None)
    steady["anyOf"] = [
        {"type": "array", "items": {"oneOf": [entries[k] for k in STEADY_KINDS]},
         "maxItems": MAX_ITEMS},
        {"const": "none"},
    ]  # fmt: skip
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Stormproof scenario"
    return schema


# ---------------------------------------------------------------------------- YAML locations


def _yaml_loc(loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """Drop the `kind` tags pydantic inserts (``faults.0.latency.link``): `kind` is a field in
    the YAML, not a key level. Expectation `type` tags stay: there the type is the YAML key."""
    out: list[str | int] = []
    tp: Any = Scenario
    for part in loc:
        is_kind_tag = tp is not None and tag_member(tp, part, "kind") is not None
        tp = step(tp, part) if tp is not None else None
        if not is_kind_tag:
            out.append(part)
    return tuple(out)


# ---------------------------------------------------------------------------- loading


def _parse(path: Path) -> tuple[Scenario, yaml.Node]:
    data, root = read_yaml(path, "name, load, phases")
    scenario = validate(Scenario, data, root, path, _yaml_loc)
    scenario._source = path
    scenario._line = walk(root, ("name",))[0]
    return scenario, root


def load_scenario(
    path: str | Path,
    facts_for_target: Callable[[Scenario, Path], TopologyFacts] | None = None,
    allowed_tags: Iterable[str] | None = DEFAULT_ALLOWED_TAGS,
    check_locustfile: LocustfileCheck | None = None,
) -> Scenario:
    """Parse and validate one scenario file; raise ScenarioInvalid naming file:line: field.

    `facts_for_target(scenario, path)` returns the target's topology facts (None: references
    and the load are not checked). `allowed_tags=None` accepts any tag. `check_locustfile`
    loads the locustfile the way Locust does (None: only its presence is checked).
    """
    path = Path(path)
    try:
        scenario, root = _parse(path)
        _check(scenario, root, path, facts_for_target, allowed_tags, check_locustfile)
    except Located as exc:
        err = ScenarioInvalid(str(exc))
        err.problems = exc.problems  # type: ignore[attr-defined]
        raise err from None
    return scenario


def validate_files(
    paths: Iterable[str | Path],
    facts_for_target: Callable[[Scenario, Path], TopologyFacts] | None = None,
    allowed_tags: Iterable[str] | None = DEFAULT_ALLOWED_TAGS,
    check_locustfile: LocustfileCheck | None = None,
) -> list[Problem]:
    """Every problem in every file, plus scenario names used twice; empty when all is well."""
    return load_files(paths, facts_for_target, allowed_tags, check_locustfile)[0]


def load_files(
    paths: Iterable[str | Path],
    facts_for_target: Callable[[Scenario, Path], TopologyFacts] | None = None,
    allowed_tags: Iterable[str] | None = DEFAULT_ALLOWED_TAGS,
    check_locustfile: LocustfileCheck | None = None,
) -> tuple[list[Problem], list[Scenario]]:
    """(every problem, the scenarios that validated): validate all before running any."""
    problems: list[Problem] = []
    scenarios: list[Scenario] = []
    names: dict[str, str] = {}
    for p in paths:
        path = Path(p)
        try:
            scenario, root = _parse(path)
            _check(scenario, root, path, facts_for_target, allowed_tags, check_locustfile)
        except Located as exc:
            problems += exc.problems
            continue
        shown = display(path)
        if scenario.name in names:
            problems.append(
                Problem(
                    shown,
                    scenario.line,
                    "name",
                    f"duplicate scenario name {scenario.name!r} (also in {names[scenario.name]})",
                )
            )
            continue
        names[scenario.name] = f"{shown}:{scenario.line}"
        scenarios.append(scenario)
    return problems, scenarios


def _check(
    scenario: Scenario,
    root: yaml.Node,
    path: Path,
    facts_for_target: Callable[[Scenario, Path], TopologyFacts] | None,
    allowed_tags: Iterable[str] | None,
    check_locustfile: LocustfileCheck | None = None,
) -> None:
    shown = display(path)
    found = cross_check(scenario, None if allowed_tags is None else set(allowed_tags))
    if facts_for_target is not None:
        try:
            facts = facts_for_target(scenario, path)
        except InputInvalid as exc:
            found.append((("target",), f"cannot read the target: {exc}"))
        else:
            found += reference_check(scenario, facts)
            found += load_check(scenario, facts, check_locustfile)
    if found:
        # in file order: a misspelt link comes before the checks it makes meaningless
        problems = sorted(
            (Problem(shown, *walk(root, loc), msg) for loc, msg in found), key=lambda p: p.line
        )
        raise Located(problems)
