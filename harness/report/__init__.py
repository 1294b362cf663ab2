"""The HTML resilience report, rendered from a run's saved data and journals only."""

from harness.report.junit import write_junit
from harness.report.render import render_report, update_latest

__all__ = ["render_report", "update_latest", "write_junit"]
