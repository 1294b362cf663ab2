"""Locust's command line, with Ctrl-C (SIGINT) handled whatever the parent left behind.

The harness stops Locust with SIGINT, the one signal on which Locust writes its HTML report.
A shell that starts a command in the background without job control (``cmd &`` in a script,
``nohup``, many CI runners) sets SIGINT to "ignore", and an ignored signal stays ignored across
``exec``: Locust would then never see the SIGINT and be killed after the stop timeout, 15 s
later and without its report. Run as ``python -m harness.locust_main ARGS...``.
"""

from __future__ import annotations

import signal
import sys


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from locust.main import main as locust_main

    sys.argv[0] = "locust"
    locust_main()


if __name__ == "__main__":
    main()
