"""Open a rendered report in headless Chromium from file://: it loads with its figures and no
console errors. Chromium runs with a fresh profile and no network features."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from harness.report import render_report
from tests.harness.test_report import make_run

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_S = 90


def chromium(tmp_path: Path, profile: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / profile}", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed at /usr/bin/chromium (scripts/setup.sh installs it)")
    return render_report(make_run(tmp_path_factory.mktemp("browser"))).as_uri()


def test_screenshot_is_a_real_page_without_console_errors(page, tmp_path):
    shot = tmp_path / "report.png"
    run = chromium(
        tmp_path,
        "profile",
        f"--screenshot={shot}",
        "--window-size=1400,3000",
        "--enable-logging=stderr",
        "--v=0",
        page,
    )
    assert shot.exists(), run.stderr[-2000:]
    assert png_size(shot) == (1400, 3000)
    # a blank page compresses to a few kB; text, tables and figures do not
    assert shot.stat().st_size > 100_000
    # the page has no script: any console line (Chromium logs console.error and uncaught
    # exceptions as INFO:CONSOLE) means something went wrong
    console = [ln for ln in run.stderr.splitlines() if "Uncaught" in ln or ":CONSOLE" in ln]
    assert console == []


def test_dom_holds_every_figure_and_section(page, tmp_path):
    dom = chromium(tmp_path, "profile", "--dump-dom", page).stdout
    assert "Stormproof resilience report" in dom
    # five timelines for each of the three scenarios with data; none for the partial one;
    # each an inline SVG with its title, axes and data drawn by the page's style sheet
    assert dom.count('<svg class="tl"') == 15
    assert dom.count('<text class="ttl"') == 15
    assert dom.count('<path class="ok"') == 6  # each throughput line and its legend sample
    assert dom.count('id="tl-fb0"') == 1
    for anchor in ("s-good", "s-bad", "s-stopped", "s-partial"):
        assert f'id="{anchor}"' in dom
