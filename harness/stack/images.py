"""The project's container images, built locally with no registry (``stormproof engine build``).

A base image from ``debootstrap --variant=minbase bookworm`` (imported with ``podman import``),
then one image per role from a committed Containerfile under ``compose/images/`` (Toxiproxy and
Jaeger from the binaries the setup builds; the bundled
target's is ``target_system/Dockerfile`` itself, on the project's Python image instead of
``python:3.11-slim``). Debian packages and the package's Python dependencies come from the
Debian mirror and PyPI during the build (``--network host``; the containers themselves publish
on 127.0.0.1 only).

A topology other than the bundled shop gets its own image the same way
(``stormproof engine build --topology FILE``, role ``target-NAME``): the Dockerfile its profile's
``compose.dockerfile`` names, on the Python image, with the topology's folder as context.
The Python dependencies are pinned (``compose/images/target/requirements.txt``, written by
``scripts/lock-images.sh``) and installed with ``--no-deps`` before the sources, then
``pip check``: the same versions at every build, and a source change rebuilds in seconds.

Every image is tagged with a content hash: of its Containerfile, of every file of its build
context and of its parent's tag, so an unchanged image is not rebuilt and a changed parent
rebuilds its children. The tags of the last build are in ``.stormproof/engine/images.json``,
where ``stormproof compose generate --local-images`` and the compose backend find them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import InfraUnavailable, InputInvalid, StackError
from harness.settings import REPO_ROOT, Settings
from harness.stack.composefile import BUNDLED_DOCKERFILE, target_role
from harness.stack.engine import engine_dir, podman, podman_env
from harness.topology import Topology

IMAGES_DIR = REPO_ROOT / "compose" / "images"
SUITE = "bookworm"
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", SUITE]
PACKAGE_SOURCES = ("pyproject.toml", "README.md", "harness", "target_system")
# the package's dependencies, pinned (scripts/lock-images.sh); installed before the sources
TARGET_LOCK = IMAGES_DIR / "target" / "requirements.txt"
# The host's pip configuration and CA bundle, lent read-only to the RUN steps of the builds that
# run pip (bind mounts: nothing of them lands in an image), so pip inside reaches PyPI exactly
# as the host does, through a TLS-intercepting proxy included. Not to the others: apt's
# ca-certificates package must be free to write its own bundle.
HOST_FILES = (Path("/etc/pip.conf"), Path("/etc/ssl/certs/ca-certificates.crt"))


@dataclass(frozen=True)
class Recipe:
    role: str  # what the compose file uses it for
    parent: str | None  # the role whose image it starts FROM (None: the debootstrap base)
    containerfile: Path
    context: Callable[[Settings], dict[str, Path]]  # name in the build context -> source
    pip: bool = False  # its RUN steps get the host's pip configuration and CA bundle


def _toxiproxy(settings: Settings) -> dict[str, Path]:
    return {"toxiproxy-server": Path(settings.toxiproxy_bin())}


def _jaeger(settings: Settings) -> dict[str, Path]:
    return {"jaeger": Path(settings.jaeger_bin())}


def _package(_settings: Settings) -> dict[str, Path]:
    # the package's metadata names README.md; a one-line stand-in keeps doc edits from
    # rebuilding the image
    found = {name: REPO_ROOT / name for name in PACKAGE_SOURCES}
    found["README.md"] = IMAGES_DIR / "README.image.md"
    found[str(TARGET_LOCK.relative_to(REPO_ROOT))] = TARGET_LOCK
    return found


def _nothing(_settings: Settings) -> dict[str, Path]:
    return {}


RECIPES = (
    Recipe("python", "base", IMAGES_DIR / "python" / "Containerfile", _nothing),
    Recipe("toxiproxy", "base", IMAGES_DIR / "toxiproxy" / "Containerfile", _toxiproxy),
    Recipe("jaeger", "base", IMAGES_DIR / "jaeger" / "Containerfile", _jaeger),
    Recipe("prometheus", "base", IMAGES_DIR / "prometheus" / "Containerfile", _nothing),
    Recipe("etcd", "base", IMAGES_DIR / "etcd" / "Containerfile", _nothing),
    Recipe("target", "python", REPO_ROOT / BUNDLED_DOCKERFILE, _package, pip=True),
    Recipe("locust", "target", IMAGES_DIR / "locust" / "Containerfile", _nothing),
)


def target_recipe(topology: Topology) -> Recipe:
    """The recipe of a topology's own image: its profile's ``compose.dockerfile`` (relative to
    the repository root) on the project's Python image, its build context the topology's
    folder under its path from the root (as the Dockerfile's COPY lines name it on an upstream
    build, whose context is the root). The bundled shop's is :data:`RECIPES`' ``target``.
    InputInvalid (exit 2) when the topology names no Dockerfile: with no registry, every image
    is built here."""
    dockerfile = topology.profile.compose.dockerfile
    if dockerfile == BUNDLED_DOCKERFILE:
        return next(r for r in RECIPES if r.role == "target")
    where = topology.path or topology.name
    if dockerfile is None:
        raise InputInvalid(
            f"{where}: the project engine builds every image here (no registry), and the "
            "topology's profile names no compose.dockerfile to build its services' image from "
            "(docs/own-system.md, 'With Docker Compose'); or set DOCKER_HOST to an engine that "
            "has its image"
        )
    folder = (topology.path or Path(".")).resolve().parent
    try:
        name = str(folder.relative_to(REPO_ROOT))
    except ValueError:
        raise InputInvalid(
            f"{where}: a topology's own image is built from a folder under {REPO_ROOT}, "
            "where its compose.dockerfile is"
        ) from None

    def context(_settings: Settings) -> dict[str, Path]:
        return {name: folder}

    return Recipe(target_role(topology), "python", REPO_ROOT / dockerfile, context, pip=True)


@dataclass
class Built:
    role: str
    image: str  # name:tag
    seconds: float
    size_mb: float
    built: bool  # False: the tag existed, nothing was done


def _files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    return sorted(
        p
        for p in src.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
    )


def content_hash(containerfile: Path, context: dict[str, Path], parent_tag: str) -> str:
    h = hashlib.sha256()
    h.update(parent_tag.encode() + b"\0" + containerfile.read_bytes() + b"\0")
    for name, src in sorted(context.items()):
        for f in _files(src):
            rel = name if f == src else f"{name}/{f.relative_to(src)}"
            h.update(rel.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:12]


def base_hash() -> str:
    return hashlib.sha256(" ".join(DEBOOTSTRAP).encode()).hexdigest()[:12]


def image_name(role: str, tag: str) -> str:
    return f"localhost/stormproof-{role}:{tag}"


def _exists(settings: Settings, image: str) -> bool:
    return podman(settings, "image", "exists", image, timeout=60).returncode == 0


def _size_mb(settings: Settings, image: str) -> float:
    done = podman(settings, "image", "inspect", "--format", "{{.Size}}", image, timeout=60)
    try:
        return int(done.stdout.strip()) / 1e6
    except ValueError:
        return 0.0


def _failed(step: str, done: subprocess.CompletedProcess) -> StackError:
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
    return StackError(f"image build failed at {step} (exit {done.returncode}):\n{tail}")


def build_base(settings: Settings, progress: Callable[[str], None]) -> Built:
    image = image_name("base", base_hash())
    if _exists(settings, image):
        return Built("base", image, 0.0, _size_mb(settings, image), False)
    if shutil.which("debootstrap") is None:
        raise InfraUnavailable("debootstrap is not installed: run 'make setup-containers'")
    t0 = time.monotonic()
    root = engine_dir(settings) / "rootfs"
    shutil.rmtree(root, ignore_errors=True)
    progress(f"{' '.join(DEBOOTSTRAP)} (about a minute)")
    done = subprocess.run(
        ["nice", "-n", "19", *DEBOOTSTRAP, str(root)], capture_output=True, text=True, timeout=1200
    )
    if done.returncode != 0:
        raise _failed(" ".join(DEBOOTSTRAP), done)
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    try:
        imp = subprocess.run(
            ["nice", "-n", "19", "podman", "import", "--change", 'CMD ["/bin/bash"]', "-", image],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            env=podman_env(settings),
            timeout=600,
        )
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
    shutil.rmtree(root, ignore_errors=True)
    if imp.returncode != 0:
        raise _failed("podman import", imp)
    return Built("base", image, time.monotonic() - t0, _size_mb(settings, image), True)


def build_one(settings: Settings, recipe: Recipe, parent: str) -> Built:
    context = recipe.context(settings)
    tag = content_hash(recipe.containerfile, context, parent.rsplit(":", 1)[1])
    image = image_name(recipe.role, tag)
    if _exists(settings, image):
        return Built(recipe.role, image, 0.0, _size_mb(settings, image), False)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(dir=engine_dir(settings)) as tmp:
        ctx = Path(tmp)
        for name, src in context.items():
            (ctx / name).parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(
                    src, ctx / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                shutil.copy2(src, ctx / name)
        lent = [f"--volume={f}:{f}:ro" for f in HOST_FILES if recipe.pip and f.is_file()]
        done = podman(
            settings,
            "build",
            "--network",
            "host",
            *lent,
            "--build-arg",
            f"BASE={parent}",
            "-f",
            str(recipe.containerfile),
            "-t",
            image,
            str(ctx),
            timeout=1800,
        )
    if done.returncode != 0:
        raise _failed(f"podman build of {recipe.role} ({recipe.containerfile})", done)
    return Built(recipe.role, image, time.monotonic() - t0, _size_mb(settings, image), True)


def build_all(
    settings: Settings,
    progress: Callable[[str], None] = print,
    topologies: Sequence[Topology] = (),
) -> list[Built]:
    """Build what changed, in order: the stack's images, then the own image of each of
    `topologies`; write images.json (the roles built before and not now are kept); one line
    of progress per image."""
    if shutil.which("podman") is None:
        raise InfraUnavailable("podman is not installed: run 'make setup-containers'")
    extra = [target_recipe(t) for t in topologies]  # a topology without one: before any build
    out = [build_base(settings, progress)]
    progress(_line(out[-1]))
    by_role = {**(local_images(settings) or {}), "base": out[0].image}
    for recipe in (*RECIPES, *(r for r in extra if r.role not in {x.role for x in RECIPES})):
        assert recipe.parent is not None
        built = build_one(settings, recipe, by_role[recipe.parent])
        by_role[recipe.role] = built.image
        out.append(built)
        progress(_line(built))
    images_file(settings).write_text(
        json.dumps({"images": by_role, "builds": [asdict(b) for b in out]}, indent=2) + "\n"
    )
    for old in prune(settings, set(by_role.values())):
        progress(f"  removed the superseded {old}")
    return out


def prune(settings: Settings, keep: set[str]) -> list[str]:
    """Remove the project's older image tags (its own storage, its own names only); an image
    a container still uses stays."""
    listed = podman(
        settings, "images", "--format", "{{.Repository}}:{{.Tag}}", timeout=60
    ).stdout.split()
    old = [i for i in listed if i.startswith("localhost/stormproof-") and i not in keep]
    return [i for i in old if podman(settings, "rmi", i, timeout=120).returncode == 0]


def _line(b: Built) -> str:
    what = f"built in {b.seconds:.1f}s" if b.built else "unchanged"
    return f"  {b.role:<18} {b.image:<55} {b.size_mb:7.1f} MB  {what}"


def expected(settings: Settings, topology: Topology | None = None) -> dict[str, str]:
    """role -> the image the sources make now (hashes only: nothing is built or asked): the
    stack's images, and `topology`'s own when given."""
    recipes = [*RECIPES]
    if topology is not None and target_recipe(topology).role != "target":
        recipes.append(target_recipe(topology))
    out = {"base": image_name("base", base_hash())}
    for recipe in recipes:
        assert recipe.parent is not None
        parent_tag = out[recipe.parent].rsplit(":", 1)[1]
        tag = content_hash(recipe.containerfile, recipe.context(settings), parent_tag)
        out[recipe.role] = image_name(recipe.role, tag)
    return out


def stale(settings: Settings, topology: Topology | None = None) -> list[str]:
    """The roles whose last-built image is not what the sources make now ([] when current)."""
    built = local_images(settings) or {}
    return [
        role for role, image in expected(settings, topology).items() if built.get(role) != image
    ]


def images_file(settings: Settings) -> Path:
    return engine_dir(settings) / "images.json"


def local_images(settings: Settings) -> dict[str, str] | None:
    """role -> image of the last build, or None when there was none."""
    try:
        data = json.loads(images_file(settings).read_text())
    except (OSError, ValueError):
        return None
    images = data.get("images")
    return images if isinstance(images, dict) else None
