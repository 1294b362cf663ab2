"""Prometheus range queries into pandas frames (long format: t, value, one column per label).

prometheus-api-client is used with its urllib3 retries off and a timeout: its default retry
loop stalls for tens of seconds when Prometheus is briefly slow during chaos.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from harness.errors import InfraUnavailable
from harness.profile import SeriesQuery


class PrometheusQuery:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self._client = PrometheusConnect(
            url=url, disable_ssl=True, retry=Retry(total=0), timeout=timeout
        )

    def range(self, query: str, start: float, end: float, step: float = 1.0) -> pd.DataFrame:
        try:
            result = self._client.custom_query_range(
                query,
                start_time=datetime.fromtimestamp(start, UTC),
                end_time=datetime.fromtimestamp(end, UTC),
                step=f"{step:g}s",
            )
        except Exception as exc:  # requests / urllib3 / API errors, all at this boundary
            raise InfraUnavailable(
                f"Prometheus query {query!r} failed at {self.url}: {exc}"
            ) from exc
        return to_frame(result)

    def instant(self, query: str) -> list[dict]:
        try:
            return self._client.custom_query(query)
        except Exception as exc:
            raise InfraUnavailable(
                f"Prometheus query {query!r} failed at {self.url}: {exc}"
            ) from exc


def to_frame(result: list[dict]) -> pd.DataFrame:
    """Turn a matrix result into a long frame; an empty result gives an empty frame."""
    rows: list[dict] = []
    for series in result:
        labels = {k: v for k, v in series.get("metric", {}).items() if k != "__name__"}
        for t, v in series.get("values", []):
            value = float(v)
            if math.isnan(value):
                continue
            rows.append({"t": float(t), "value": value, **labels})
    if not rows:
        return pd.DataFrame({"t": pd.Series(dtype=float), "value": pd.Series(dtype=float)})
    return pd.DataFrame(rows)


def collect(
    prom: PrometheusQuery,
    queries: dict[str, str | SeriesQuery],
    start: float,
    end: float,
    out_dir: Path,
    on_missing: Callable[[str, str], None],
) -> dict[str, pd.DataFrame]:
    """Run every query over [start, end] and save ``prom/<key>.csv``; report failures.

    A :class:`SeriesQuery` (the target profile's) is saved in the canonical labels and values.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    frames: dict[str, pd.DataFrame] = {}
    for key, spec in queries.items():
        query = spec.promql if isinstance(spec, SeriesQuery) else spec
        try:
            frame = prom.range(query, start, end)
        except InfraUnavailable as exc:
            on_missing(f"prom/{key}.csv", str(exc))
            continue
        if isinstance(spec, SeriesQuery):
            frame = spec.normalize(frame)
        frame.to_csv(out_dir / f"{key}.csv", index=False)
        frames[key] = frame
        if frame.empty:
            on_missing(f"prom/{key}.csv", f"no samples for {query!r}")
    return frames
