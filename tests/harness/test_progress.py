"""The progress printer never breaks a run: a reader that went away silences it."""

from __future__ import annotations

import io

from harness.progress import Progress


class _Gone(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_silences_the_progress_not_the_run() -> None:
    p = Progress(stream=_Gone(), interval=0)
    p.say("▶ scenario")  # no exception
    p.status("s", "fault", 1.0, 10.0, 5.0, 0.0, ["latency a->b"])
    assert p.lost


def test_lines_are_written_while_someone_reads() -> None:
    out = io.StringIO()
    p = Progress(stream=out, interval=0)
    p.say("hello")
    p.status("s", "fault", 1.0, 10.0, 5.0, 0.25, [])
    assert out.getvalue().splitlines()[0] == "hello"
    assert "25.0% errors | faults: none" in out.getvalue()
    assert not p.lost
