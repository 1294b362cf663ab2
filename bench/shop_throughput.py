"""Benchmark: completed orders/s through the whole saga path, against a single-hop request.

Starts the bundled shop with the harness (every service-to-service call through Toxiproxy,
SQLite durability on), places orders as fast as CONCURRENCY clients can for DURATION seconds,
then hammers one inventory instance's GET /stock alone for the same time, and prints both with
their ratio. Not a test: figures go to docs/performance.md.

    .venv/bin/python bench/shop_throughput.py [--duration 20] [--concurrency 32] [--no-tracing]
        [--profile orders-1 --profile payments-1 [--profile-top 25]]

Tracing is on as in every run, exported to the stack's Jaeger; the bench sends no
``traceparent``, so the shop samples ``SHOP_TRACE_SAMPLE`` of the orders (1 unless
``--trace-sample`` says); ``--no-tracing`` starts the shop with an empty
``SHOP_OTLP_ENDPOINT``: no tracer at all.

``--profile INSTANCE`` samples that instance with py-spy (``pip install py-spy``) while the
orders run (``--profile-hop``: while the single hop runs too), and prints, per instance, the
functions with the largest shares of the samples: "self" (the function itself was running) and
"total" (it was on the stack). Shares of samples, not seconds: they hold on a loaded machine.
``--profile shop`` samples every shop instance; with any profile the bench prints the share of
the samples tracing's own code owns (``owner``), and ``--profile-top 0`` prints only that.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from harness.settings import Settings
from harness.stack.local import LocalStack
from harness.topology import bundled_topology_path, load_topology


async def hammer(make_request, duration: float, concurrency: int) -> tuple[int, int, list[float]]:
    ok = failed = 0
    lat: list[float] = []
    deadline = time.monotonic() + duration
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker() -> None:
            nonlocal ok, failed
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    good = await make_request(session)
                except (aiohttp.ClientError, TimeoutError):
                    good = False
                lat.append((time.perf_counter() - t0) * 1000)
                ok += good
                failed += not good

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, failed, lat


def figures(name: str, ok: int, failed: int, lat: list[float], duration: float) -> float:
    q = statistics.quantiles(lat, n=100)
    rate = ok / duration
    print(
        f"{name:<28} {rate:8.1f}/s  ok {ok}  failed {failed}  "
        f"p50 {q[49]:.1f} ms  p99 {q[98]:.1f} ms"
    )
    return rate


PACKAGES = (
    # (where a frame's file is, the name shown): the first match names a self sample. py-spy
    # names files from their import root (``starlette/routing.py``). A sample whose innermost
    # Python frame is ``Runner.run`` was in uvloop's C loop: polling, socket reads and writes.
    ("asyncio/runners.py", "event loop (uvloop, native I/O)"),
    ("target_system/", "target_system (the shop)"),
    ("starlette/", "starlette"),
    ("fastapi/", "fastapi"),
    ("pydantic", "pydantic"),
    ("anyio/", "anyio"),
    ("uvicorn/", "uvicorn"),
    ("aiohttp/", "aiohttp"),
    ("multidict/", "aiohttp"),
    ("yarl/", "aiohttp"),
    ("aiohappyeyeballs/", "aiohttp"),
    ("aiosignal/", "aiohttp"),
    # OpenTelemetry's SDK, instrumentations and OTLP exporter (http.client, protobuf)
    ("opentelemetry/", "opentelemetry"),
    ("aiohttp_client/", "opentelemetry"),
    ("instrumentation/", "opentelemetry"),
    ("_shared_internal/", "opentelemetry"),
    ("trace/", "opentelemetry"),
    ("attributes/", "opentelemetry"),
    ("util/", "opentelemetry"),
    ("common/_internal/", "opentelemetry"),
    ("_semconv.py", "opentelemetry"),
    ("protobuf/", "opentelemetry"),
    ("http/client.py", "opentelemetry"),
    ("/trace_exporter/", "opentelemetry"),
    ("prometheus_client/", "prometheus_client"),
    ("json/", "json"),
    ("logging/", "logging"),
    ("sqlite3/", "sqlite3"),
    ("concurrent/", "concurrent.futures (the SQLite thread's queue)"),
    ("threading.py", "threading"),
    ("asyncio/", "asyncio"),
)


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU of each process (its threads included) so far; the machine's busy CPU
    (all cores, every process on it) as ``machine``."""
    out = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = (int(fields[11]) + int(fields[12])) / TICK
    cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    idle = int(cpu[3]) + int(cpu[4])
    out["machine"] = (sum(int(v) for v in cpu[:8]) - idle) / TICK
    return out


def cpu_figures(before: dict[str, float], after: dict[str, float], done: int, s: float) -> None:
    """CPU per completed request by process, and each process's share of a core."""
    used = {k: after[k] - before[k] for k in after if k in before}
    machine = used.pop("machine")
    stack = sum(used.values())
    print(
        f"  CPU per request: {stack / done * 1000:.2f} ms in the stack and the bench "
        f"({stack / s:.2f} cores); the machine {machine / s:.2f} cores busy"
    )
    top = sorted(used.items(), key=lambda kv: -kv[1])
    print("  " + ", ".join(f"{k} {v / done * 1000:.2f} ms ({v / s:.0%})" for k, v in top if v))


def start_profiles(
    stack: LocalStack, names: list[str], duration: float, folder: Path
) -> list[tuple[str, subprocess.Popen, Path]]:
    """py-spy on each instance for ``duration`` seconds (raw collapsed stacks, 200 Hz, without
    pausing the process: sampling must not slow what it measures)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out = []
    for name in names:
        path = folder / f"{name}.txt"
        cmd = [spy, "record", "--format", "raw", "--nolineno", "--nonblocking", "--full-filenames"]
        cmd += ["--rate", "200"]
        cmd += ["--duration", str(int(duration)), "-o", str(path)]
        cmd += ["--pid", str(stack.records[name].pid)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        out.append((name, proc, path))
    return out


def _frame(frame: str) -> str:
    """'fn (/…/site-packages/pkg/mod.py)' -> 'fn (pkg/mod.py)'."""
    fn, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for cut in ("site-packages/", "python3.11/", "/work/"):
        if cut in where:
            where = where.split(cut, 1)[1]
            break
    return f"{fn} ({where})"


def _stacks(path: Path) -> Iterator[tuple[list[str], int]]:
    """The (Python frames, outermost first; sample count) of each line of a py-spy raw
    profile; a line without a Python frame (no busy Python thread) is left out."""
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if " (" in f]
        if frames:
            yield frames, int(count)


def profile_top(name: str, path: Path, top: int, seconds: float) -> None:
    """The shares of samples per package (self) and per function (self and total)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    pkg: Counter[str] = Counter()
    samples = 0
    for raw, n in _stacks(path):
        frames = [_frame(f) for f in raw]
        samples += n
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
        leaf = frames[-1].rpartition(" (")[2]
        pkg[
            next((label for key, label in PACKAGES if leaf.startswith(key) or key in leaf), "other")
        ] += n
    busy = samples / (200 * seconds)
    print(f"\nprofile {name}: {samples} samples of busy threads ({busy:.2f} thread-seconds/s)")
    shares = ", ".join(f"{k} {v / samples:.0%}" for k, v in pkg.most_common())
    print(f"  self, by package: {shares}")
    print(f"  {'self':>6} {'total':>6}  function")
    for f, n in own.most_common(top):
        print(f"  {n / samples:6.1%} {total[f] / samples:6.1%}  {f}")
    print("  by total (on the stack):")
    for f, n in total.most_common(top):
        print(f"  {own[f] / samples:6.1%} {n / samples:6.1%}  {f}")


# A sample belongs to the innermost frame outside the standard library (``owner``).
_TRACING = (
    "opentelemetry/", "target_system/shoplib/tracing.py", "google/protobuf/", "requests/",
    "urllib3/",
)  # fmt: skip


def _stdlib(where: str) -> bool:
    """Whether a frame's file is the standard library's: py-spy names files from their import
    root (``asyncio/runners.py``, ``contextlib.py``, ``<frozen runpy>``); a full path too."""
    if where.startswith("<") or ("/python3" in where and "site-packages/" not in where):
        return True
    top = where.split("/", 1)[0].removesuffix(".py")
    return "site-packages/" not in where and top in sys.stdlib_module_names


def owner(frames: list[str]) -> str:
    """Whose a sample is: "tracing" when the innermost frame outside the standard library is
    OpenTelemetry's (its SDK, instrumentations and OTLP exporter with protobuf and requests)
    or the shop's tracing module, "other" otherwise. The ASGI middleware is on the stack of a
    whole traced request; counting the owner, not the stack, charges it only for its own work."""
    for frame in reversed(frames):
        where = frame.rpartition(" (")[2].rstrip(")")
        if _stdlib(where):
            continue  # its caller owns the sample
        return "tracing" if any(t in where for t in _TRACING) else "other"
    return "other"


def tracing_share(path: Path) -> tuple[int, int]:
    """(samples owned by tracing, all samples) of one py-spy raw profile."""
    traced = samples = 0
    for frames, n in _stacks(path):
        samples += n
        traced += n * (owner(frames) == "tracing")
    return traced, samples


def finish_profiles(profiles: list[tuple[str, subprocess.Popen, Path]], top: int, s: float) -> None:
    shares = []
    for name, proc, path in profiles:
        _, err = proc.communicate(timeout=60)
        if not path.exists():
            print(f"\nprofile {name}: py-spy wrote nothing: {err.decode().strip()[-300:]}")
            continue
        if top:
            profile_top(name, path, top, s)
        shares.append((name, *tracing_share(path)))
    traced = sum(t for _n, t, _s in shares)
    samples = sum(n for _n, _t, n in shares)
    if samples:
        print(
            f"\ntracing's share of the profiled instances' busy samples: {traced / samples:.1%} "
            f"({traced} of {samples}); the CPU it adds to theirs: {traced / (samples - traced):.1%}"
        )
        print("  " + ", ".join(f"{n} {t / max(1, c):.1%}" for n, t, c in shares))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--no-tracing", action="store_true", help="the shop exports no traces")
    ap.add_argument(
        "--trace-sample",
        type=float,
        default=None,
        help="SHOP_TRACE_SAMPLE: share of requests traced (the bench sends no traceparent)",
    )
    ap.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="INSTANCE",
        help="py-spy on this instance (repeat it); 'shop' for every instance of the shop",
    )
    ap.add_argument(
        "--profile-top", type=int, default=25, help="functions per profile; 0: the summary only"
    )
    ap.add_argument("--profile-hop", action="store_true", help="profile the single hop too")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stormproof-bench-"))
    stack = LocalStack(
        load_topology(bundled_topology_path()),
        Settings(state_dir=root / "state"),
        root / "run",
        target_env=(
            {"SHOP_OTLP_ENDPOINT": ""}
            if args.no_tracing
            else None
            if args.trace_sample is None
            else {"SHOP_TRACE_SAMPLE": str(args.trace_sample)}
        ),
    )
    with stack:
        gateway = stack.entry_url()
        inventory = stack.instance_url("inventory-1")

        async def order(session: aiohttp.ClientSession) -> bool:
            body = {
                "sku": "sku-1",
                "quantity": 1,
                "customer": "bench",
                "idempotency_key": uuid.uuid4().hex,
            }
            async with session.post(gateway + "/orders", json=body) as r:
                data = await r.json()
                return r.status == 201 and data.get("state") == "COMPLETED"

        async def stock(session: aiohttp.ClientSession) -> bool:
            async with session.get(inventory + "/stock/sku-1") as r:
                await r.read()
                return r.status == 200

        # the instances run `python -m target_system.service` from this working directory
        # (sys.path[0]), so the code measured is the cwd's, whatever PYTHONPATH says
        code = subprocess.run(
            [sys.executable, "-c", "import target_system; print(target_system.__file__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"shop code: {Path(code).parent}")
        print(
            f"duration {args.duration:g}s, {args.concurrency} concurrent clients, 2 cores shared, "
            f"tracing {'off' if args.no_tracing else 'on'}"
            + ("" if args.trace_sample is None else f", sampling {args.trace_sample:g}")
        )
        spied = Path(tempfile.mkdtemp(prefix="stormproof-spy-")) if args.profile else root
        # sampling starts a second into the load and stops a second before its end
        seconds = max(1.0, args.duration - 2)

        pids = {name: rec.pid for name, rec in stack.records.items()} | {"bench": os.getpid()}
        if "shop" in args.profile:
            shop = [i.name for i in stack.topology.instances()]
            args.profile = [n for n in args.profile if n != "shop"] + shop

        def run(what, label: str, profiled: bool) -> float:
            async def go():
                load = asyncio.ensure_future(hammer(what, args.duration, args.concurrency))
                cpu0 = cpu_seconds(pids)
                profiles = []
                if profiled and args.profile:
                    await asyncio.sleep(1)
                    folder = spied / label.split()[0]
                    folder.mkdir()
                    profiles = start_profiles(stack, args.profile, seconds, folder)
                result = await load
                return result, profiles, cpu0, cpu_seconds(pids)

            result, profiles, cpu0, cpu1 = asyncio.run(go())
            rate = figures(label, *result, args.duration)
            cpu_figures(cpu0, cpu1, result[0], args.duration)
            if profiles:
                finish_profiles(profiles, args.profile_top, seconds)
            return rate

        saga = run(order, "orders (5 services, saga)", True)
        hop = run(stock, "single hop GET /stock", args.profile_hop)
        print(f"ratio orders/single-hop: {saga / hop:.3f}")


if __name__ == "__main__":
    main()
