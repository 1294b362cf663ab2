"""``stormproof``: run scenarios, validate them, drive the stack and faults by hand, report.

Exit statuses: 0 every scenario passed, 1 a resilience check failed, 2 bad input (nothing was
started), 3 the infrastructure failed, 130 interrupted (faults reverted, journal marked aborted).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import HarnessError, InputInvalid
from harness.settings import Settings, add_backend_options

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INFRA, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line naming the problem (its default, made explicit)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"stormproof: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stormproof", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"stormproof {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run scenarios against the stack and write the report")
    run.add_argument("paths", nargs="*", default=["scenarios"], help="scenario files or dirs")
    run.add_argument("-k", dest="keyword", help="select scenarios whose name matches EXPR")
    run.add_argument("-m", dest="markers", help="select scenarios by marker expression")
    run.add_argument("--report", type=Path, help="report directory (default reports/<run-id>)")
    run.add_argument("--load-workers", type=int, default=0, help="Locust distributed workers")
    add_backend_options(run.add_argument)
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and print each scenario's timeline (seeded picks resolved); start nothing",
    )
    run.add_argument("--json", action="store_true", help="with --dry-run: print the plan as JSON")
    run.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each selected scenario N times on the same stack; runs that disagree: flaky",
    )
    run.set_defaults(func=cmd_run)

    val = sub.add_parser(
        "validate", help="check scenario and topology files without running anything"
    )
    val.add_argument("paths", nargs="*", help="scenario or topology files, or directories")
    val.add_argument(
        "--schema",
        nargs="?",
        const="scenario",
        choices=("scenario", "topology"),
        help="print the JSON Schema of a scenario (default) or topology file and exit",
    )
    val.set_defaults(func=cmd_validate)

    cov = sub.add_parser(
        "coverage", help="print which failure families the scenarios put on each link"
    )
    cov.add_argument("paths", nargs="*", default=["scenarios"], help="scenario files or dirs")
    cov.add_argument("--json", action="store_true", help="print the map as JSON")
    cov.add_argument("--fail-on-gap", action="store_true", help="exit 1 when a cell is empty")
    cov.set_defaults(func=cmd_coverage)

    rep = sub.add_parser("report", help="rebuild the HTML report of a run from its saved data")
    rep.add_argument("run_dir", type=Path)
    rep.set_defaults(func=cmd_report)

    cmp = sub.add_parser(
        "compare", help="compare two runs' verdicts and recovery figures (exit 1 on regression)"
    )
    cmp.add_argument("base_run", type=Path, help="the run folder to compare against")
    cmp.add_argument("head_run", type=Path, help="the run folder under test")
    cmp.add_argument(
        "--max-regression",
        action="append",
        metavar="FIGURE=ABS[,REL%]",
        help="how much worse a figure may get, e.g. recovery_s=3 or p99_ms=50,25%% "
        "(repeatable; defaults in docs/results.md)",
    )
    cmp.add_argument("--markdown", type=Path, help="also write the comparison as Markdown here")
    cmp.add_argument("--html", type=Path, help="also write the comparison as HTML here")
    cmp.set_defaults(func=cmd_compare)

    summ = sub.add_parser(
        "summary",
        help="print a run's Markdown summary (appended to $GITHUB_STEP_SUMMARY when set)",
    )
    summ.add_argument("run_dir", type=Path)
    summ.set_defaults(func=cmd_summary)

    from harness import cli_stack, compose, selftest, ui

    for module in (cli_stack, selftest, ui, compose):
        module.register(sub)
    return parser


def cmd_validate(args: argparse.Namespace) -> int:
    """Scenario files and topology files (a file with `services` and no `phases`), named or
    found in a folder; every problem in every file is reported before the exit status."""
    from harness import scenario, topology

    if args.schema:
        module = topology if args.schema == "topology" else scenario
        print(json.dumps(module.json_schema(), indent=2))
        return EXIT_OK
    if not args.paths:
        raise InputInvalid("validate needs at least one scenario or topology file or directory")
    from harness.selection import expand_paths
    from harness.targets import load_scenarios

    files = expand_paths(args.paths)
    topologies = [f for f in files if topology.is_topology_file(f)]
    problems, ok = [], []
    for f in topologies:
        try:
            t = topology.load_topology(f)
        except InputInvalid as exc:
            problems.append(str(exc))
            continue
        ok.append(f"ok  {f}: topology {t.name} ({len(t.instances())} instances, "
                  f"{len(t.links)} links)")  # fmt: skip
    rest = [str(f) for f in files if f not in topologies]
    try:
        scenarios = load_scenarios(rest) if rest else []
    except InputInvalid as exc:
        problems.append(str(exc))
        scenarios = []
    if problems:
        raise InputInvalid("\n".join(problems))
    for s in scenarios:
        ok.append(f"ok  {s.source}: {s.name} ({s.duration:g}s, {len(s.faults)} faults)")
    print("\n".join(ok))
    return EXIT_OK


def cmd_coverage(args: argparse.Namespace) -> int:
    """The coverage map of each target the scenarios use; nothing is started."""
    from harness.coverage import render_text
    from harness.targets import coverage_maps, load_scenarios

    maps = coverage_maps(load_scenarios(args.paths))
    if args.json:
        print(json.dumps([m.as_dict() for m in maps], indent=2))
    else:
        print("\n\n".join(render_text(m) for m in maps))
    return 1 if args.fail_on_gap and any(m.gaps() for m in maps) else 0


def cmd_run(args: argparse.Namespace) -> int:
    from harness.faults.kinds import old_markers_in, with_aliases
    from harness.runner import Engine, install_interrupt_handler
    from harness.scenario import markers
    from harness.selection import matches
    from harness.targets import check_backend, load_scenarios

    for old, new in old_markers_in(args.markers).items():
        print(f"stormproof: warning: marker {old!r} is deprecated; use {new!r}", file=sys.stderr)
    scenarios = [
        s
        for s in load_scenarios(args.paths)
        if matches(s.name, with_aliases(markers(s)), args.keyword, args.markers)
    ]
    if not scenarios:
        raise InputInvalid("no scenario matches the selection")
    if args.json and not args.dry_run:
        raise InputInvalid("--json goes with --dry-run")
    if not 1 <= args.repeat <= 100:
        raise InputInvalid(f"--repeat {args.repeat}: expected a number of runs from 1 to 100")
    if args.dry_run:
        from harness.dryrun import plans, render_text

        found = plans(scenarios)
        if args.json:
            print(json.dumps(found, indent=2))
        else:
            print("\n\n".join(render_text(p) for p in found))
        return EXIT_OK
    settings = Settings().with_backend(args.backend, args.compose_project)
    check_backend(settings, scenarios)
    install_interrupt_handler()
    engine = Engine.create(
        report_dir=args.report, load_workers=args.load_workers, settings=settings
    )
    times = f" x {args.repeat} runs" if args.repeat > 1 else ""
    engine.progress.say(
        f"stormproof {__version__}: {len(scenarios)} scenarios{times} -> {engine.run_dir}"
    )
    runs: dict[str, list[str]] = {}
    interrupted = False
    try:
        for s in scenarios:
            for k in range(1, args.repeat + 1):
                repeat = {"of": s.name, "index": k, "count": args.repeat}
                journal = engine.run_scenario(
                    _repeat_variant(s, k), repeat=repeat if args.repeat > 1 else None
                )
                runs.setdefault(s.name, []).append(journal.verdict or "error")
    except KeyboardInterrupt:
        interrupted = True
    finally:
        report = engine.close()
    from harness.verdict import FAILING, repeat_verdict

    verdicts = {name: repeat_verdict(v) for name, v in runs.items()}
    if args.repeat > 1:
        from harness.repeats import repeat_lines

        engine.progress.say("\n".join(repeat_lines(engine.run_dir)))
    counts = {v: list(verdicts.values()).count(v) for v in sorted(set(verdicts.values()))}
    engine.progress.say(
        "summary: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f"\nreport: {report}"
    )
    from harness.ci_summary import write_step_summary

    write_step_summary(engine.run_dir, report)  # the CI job page, when $GITHUB_STEP_SUMMARY
    if interrupted:
        return EXIT_INTERRUPTED
    if any(v == "error" for v in verdicts.values()):
        return EXIT_INFRA
    if any(v in FAILING for v in verdicts.values()):
        return EXIT_FAILED
    return EXIT_OK


def _repeat_variant(scenario: Any, k: int) -> Any:
    """Run k of a repeated scenario: its own folder, ``<name>--run<k>`` from the second on."""
    if k == 1:
        return scenario
    copy = scenario.model_copy(update={"name": f"{scenario.name}--run{k}"})
    copy._source = scenario.source
    copy._line = scenario.line
    return copy


def cmd_report(args: argparse.Namespace) -> int:
    from harness.recovery import write_results
    from harness.report import render_report, write_junit

    if not args.run_dir.is_dir():
        raise InputInvalid(f"no run directory {args.run_dir}")
    write_results(args.run_dir)
    path = render_report(args.run_dir)
    write_junit(args.run_dir)
    print(path)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import (
        compare,
        load_results,
        parse_thresholds,
        render_html,
        render_markdown,
    )

    thresholds = parse_thresholds(args.max_regression)
    result = compare(load_results(args.base_run), load_results(args.head_run), thresholds)
    if not result.verdicts:
        raise InputInvalid(
            f"compare: {args.base_run} and {args.head_run} have no scenario in common "
            f"(base: {', '.join(result.only_base) or 'none'}; "
            f"head: {', '.join(result.only_head) or 'none'})"
        )
    text = render_markdown(result)
    print(text, end="")
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    if args.html:
        args.html.write_text(render_html(result), encoding="utf-8")
    return EXIT_FAILED if result.regressions else EXIT_OK


def cmd_summary(args: argparse.Namespace) -> int:
    """For CI after ``pytest scenarios/``: the job page's summary of a finished run folder."""
    from harness.ci_summary import render, write_step_summary
    from harness.compare import load_results

    results = load_results(
        args.run_dir, "summary"
    )  # one message, exit 2, for a missing or old folder
    report = args.run_dir / "index.html"
    report = report if report.is_file() else None
    print(render(results, report, os.environ), end="")
    write_step_summary(args.run_dir, report)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"stormproof: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("stormproof: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
