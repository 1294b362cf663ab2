"""Open a rendered report in headless Chromium: it loads from file://, figures and all."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from harness.report import render_report
from tests.harness.test_report import make_run

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (scripts/setup.sh installs it)"
)
def test_report_renders_in_chromium_without_console_errors(tmp_path):
    page = render_report(make_run(tmp_path)).as_uri()
    shot = tmp_path / "report.png"
    run = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1300,2400",
            "--enable-logging=stderr",
            "--v=0",
            page,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert shot.exists() and shot.stat().st_size > 50_000, run.stderr[-2000:]
    console = [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == []
    dom = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", page],
        capture_output=True,
        text=True,
        timeout=90,
    ).stdout
    assert dom.count('src="data:image/png;base64,') >= 15  # 5 timelines x 3 scenarios with data
    assert "Stormproof resilience report" in dom
