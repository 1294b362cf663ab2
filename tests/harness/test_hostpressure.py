"""Host pressure (PSI) sampled during a scenario, saved, and read back as shares."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from harness.hostpressure import PressureSampler, parse_psi, psi_unavailable, read_psi
from harness.records import pressure_shares, read_series

CPU = """some avg10=1.82 avg60=2.41 avg300=6.25 total=3405499523
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
"""
IO = """some avg10=4.00 avg60=5.23 avg300=3.22 total=91315292
full avg10=3.72 avg60=4.13 avg300=2.44 total=53627011
"""


def fake_psi(root: Path, cpu: int = 0, io_some: int = 0, io_full: int = 0) -> Path:
    root.mkdir(exist_ok=True)
    (root / "cpu").write_text(f"some avg10=0.00 avg60=0.00 avg300=0.00 total={cpu}\n")
    (root / "io").write_text(
        f"some avg10=0.00 avg60=0.00 avg300=0.00 total={io_some}\n"
        f"full avg10=0.00 avg60=0.00 avg300=0.00 total={io_full}\n"
    )
    return root


def test_the_kernels_lines_give_the_cumulative_totals(tmp_path: Path) -> None:
    assert parse_psi(CPU) == {"some": 3405499523, "full": 0}
    (tmp_path / "cpu").write_text(CPU)
    (tmp_path / "io").write_text(IO)
    assert read_psi(tmp_path) == {"cpu_some": 3405499523, "io_some": 91315292, "io_full": 53627011}
    assert psi_unavailable(tmp_path) is None


def test_a_host_without_psi_is_not_measured_never_zero(tmp_path: Path) -> None:
    why = psi_unavailable(tmp_path / "absent")
    assert why is not None and why.startswith("this host has no PSI (")
    sampler = PressureSampler(root=tmp_path / "absent")
    sampler.start()
    sampler.stop()
    assert sampler.save(tmp_path / "host_pressure.csv") == why
    assert not (tmp_path / "host_pressure.csv").exists()
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "cpu").write_text("some avg10=1.0\n")
    (tmp_path / "garbled" / "io").write_text(IO)
    assert "no 'total='" in str(psi_unavailable(tmp_path / "garbled"))


def test_the_sampler_saves_a_file_the_checks_read_back(tmp_path: Path) -> None:
    root = fake_psi(tmp_path / "psi")
    sampler = PressureSampler(interval=0.02, root=root)
    sampler.start()
    deadline = time.time() + 5
    while len(sampler.rows) < 3 and time.time() < deadline:
        time.sleep(0.01)
    fake_psi(root, cpu=10**6)  # one second of CPU stall from here
    while len(sampler.rows) < 6 and time.time() < deadline:
        time.sleep(0.01)
    sampler.stop()
    assert sampler.save(tmp_path / "host_pressure.csv") is None
    frame = read_series(tmp_path / "host_pressure.csv", needs=("t",))
    assert list(frame.columns) == ["t", "cpu_some", "io_some", "io_full"]
    shares = pressure_shares(frame)
    assert len(shares) == len(frame) - 1
    assert shares["cpu_some"].max() == 1.0  # 1 s of stall in a 20 ms interval, capped
    assert shares["io_full"].max() == 0.0


def test_shares_are_the_stall_time_over_each_interval() -> None:
    frame = pd.DataFrame(
        {
            "t": [0.0, 1.0, 2.0, 2.5, 3.0],
            "cpu_some": [0, 200_000, 1_000_000, 900_000, 1_100_000],  # a counter going back
            "io_some": [0, 0, 500_000, 600_000, 600_000],
            "io_full": [0, 0, 100_000, 100_000, 100_000],
        }
    )
    shares = pressure_shares(frame)
    assert shares["start"].tolist() == [0.0, 1.0, 2.5]
    assert shares["cpu_some"].round(3).tolist() == [0.2, 0.8, 0.4]
    assert shares["io_full"].round(3).tolist() == [0.0, 0.1, 0.0]
    assert pressure_shares(frame.iloc[:1]).empty and pressure_shares(None).empty
