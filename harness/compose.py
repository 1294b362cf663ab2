"""``stormproof compose generate``: docker-compose.yml and compose/ from a topology.

The generator itself is :mod:`harness.stack.composefile` (the compose backend writes its own
file with it); this module is the command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.errors import InputInvalid
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
