"""``stormproof compose generate`` (docker-compose.yml and compose/ from a topology) and
``stormproof engine`` (the project's container engine and its images).

The generator itself is :mod:`harness.stack.composefile` (the compose backend writes its own
file with it), the engine :mod:`harness.stack.engine`, the images :mod:`harness.stack.images`;
this module is the commands.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from harness.errors import InfraUnavailable, InputInvalid
from harness.settings import REPO_ROOT, Settings
from harness.stack.composefile import (
    compose_file,
    generate,
    local_out_dir,
    prometheus_config,
    proxy_ports,
    render,
    toxiproxy_config,
)
from harness.stack.images import images_file, local_images
from harness.topology import bundled_topology_path, load_topology

__all__ = [
    "compose_file",
    "generate",
    "prometheus_config",
    "proxy_ports",
    "render",
    "toxiproxy_config",
]


def register(sub: Any) -> None:
    p = sub.add_parser("compose", help="docker-compose.yml from a topology")
    p.add_argument("action", choices=("generate",))
    p.add_argument("--topology", type=Path, default=None)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory to write into (default: the repository; with --local-images "
        ".stormproof/compose/TOPOLOGY)",
    )
    p.add_argument(
        "--local-images",
        action="store_true",
        help="the images of 'stormproof engine build' (no registry) instead of the upstream ones",
    )
    p.set_defaults(func=cmd_compose)

    e = sub.add_parser("engine", help="the project's container engine (podman) and images")
    e.add_argument(
        "action",
        choices=("up", "down", "status", "build", "check"),
        help="up/down: podman's Docker-API service on .stormproof/engine/podman.sock; "
        "build: the local images (no registry); check: run one container on a network of "
        "its own (exit 3 naming the failing step)",
    )
    e.add_argument(
        "--topology",
        type=Path,
        action="append",
        default=[],
        help="build: also this topology's own image (its profile's compose.dockerfile), e.g. "
        "examples/two-service/topology.yaml; repeatable",
    )
    e.set_defaults(func=cmd_engine)


def cmd_compose(args: argparse.Namespace) -> int:
    path = args.topology or bundled_topology_path()
    images = None
    out = args.out or REPO_ROOT
    if args.local_images:
        settings = Settings()
        images = local_images(settings)
        if images is None:
            raise InputInvalid(
                f"--local-images: no local images yet ({images_file(settings)} is missing); "
                "build them with: stormproof engine build"
            )
        out = args.out or local_out_dir(settings, load_topology(path))
    for written in generate(path, out, images):
        print(f"wrote {written}")
    return 0


def cmd_engine(args: argparse.Namespace) -> int:
    from harness.stack import engine
    from harness.stack.images import build_all

    settings = Settings()
    if args.topology and args.action != "build":
        raise InputInvalid(f"engine {args.action}: --topology is for build only")
    if args.action == "build":
        topologies = [load_topology(p) for p in args.topology]
        t0 = time.monotonic()
        built = build_all(settings, topologies=topologies)
        print(
            f"{sum(b.built for b in built)} of {len(built)} images built in "
            f"{time.monotonic() - t0:.1f}s"
        )
        return 0
    if args.action == "up":
        got = engine.up(settings)
        if got.how == "yours":
            print(f"DOCKER_HOST is set ({got.host}): using your engine, starting none")
        elif got.how == "running":
            print(f"engine already running ({got.version}) at {got.host}")
        else:
            print(f"engine started in {got.seconds:.1f}s ({got.version}) at {got.host}")
        if got.how != "yours":
            print(f"  for docker / docker-compose: export DOCKER_HOST={got.host}")
            if local_images(settings) is None:
                print("  no local images yet: stormproof engine build")
        return 0
    if args.action == "down":
        print("engine stopped" if engine.down(settings) else "engine was not running")
        unmounted = engine.unmount_storage(settings)  # left by any podman command, built or not
        if unmounted:
            print(f"  {unmounted}")
        return 0
    if args.action == "check":
        images = local_images(settings)
        if images is None or "base" not in images:
            raise InfraUnavailable("engine check: no local images yet: stormproof engine build")
        took = engine.check(settings, images["base"])
        print(f"engine check: a container ran on a network of its own in {took:.1f}s")
        return 0
    host = engine.docker_host(settings)
    rec = engine.project_engine(settings)
    print(f"Docker API: {host or 'none'}")
    print(f"project engine: {f'pid {rec.pid}' if rec else 'not running'}")
    for role, image in (local_images(settings) or {}).items():
        print(f"  {role:<11} {image}")
    return 0
