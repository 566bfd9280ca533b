"""LatencyHistogram: percentiles of a long run in fixed memory, close to the exact ones."""

from __future__ import annotations

import numpy as np
import pytest

from pssr_live.latency import LatencyHistogram, percentiles


def test_histogram_percentiles_are_within_half_a_percent_of_exact() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.lognormal(np.log(8.0), 0.4, 50_000), [950.0]])  # one spike
    hist = LatencyHistogram()
    for v in values:
        hist.add(float(v))
    exact, approx = percentiles(list(values)), hist.percentiles()
    assert approx.keys() == exact.keys() == {"p50", "p90", "p99", "max"}
    for key in ("p50", "p90", "p99"):
        assert approx[key] == pytest.approx(exact[key], rel=5e-3)
    assert approx["max"] == exact["max"] == 950.0
    assert hist.counts.nbytes <= 16 * 1024  # the same for a minute or a week


def test_histogram_edges_and_empty() -> None:
    hist = LatencyHistogram()
    assert hist.percentiles() == {} and percentiles([]) == {}
    hist.add(0.0)  # below the first bin
    hist.add(1e9)  # beyond the last
    p = hist.percentiles()
    assert 0.0 <= p["p50"] <= p["p99"] <= p["max"] == 1e9
    single = LatencyHistogram()
    single.add(12.3)
    assert single.percentiles() == {"p50": 12.3, "p90": 12.3, "p99": 12.3, "max": 12.3}
