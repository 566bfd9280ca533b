"""Tests for pssr_live.normalization: percentiles, floor, clamp, inverse, input checks."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pssr_live import normalization as nm
from pssr_live.normalization import NormSettings, Scaling, denormalize, normalize


def _window(dtype: type = np.uint16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.poisson(30, (5, 64, 64)).astype(np.float64)
    x[:, 20:30, 10:50] += 400  # a bright tubule
    return x.astype(dtype)


def test_percentiles_match_numpy() -> None:
    x = _window(np.float32)
    _, s = normalize(x)
    lo, hi = np.percentile(x, [0.1, 99.9])
    assert s.low == pytest.approx(lo, rel=1e-6)
    assert s.scale == pytest.approx(hi - lo, rel=1e-6)


def test_round_trip_inside_clamp() -> None:
    x = _window(np.float32)
    y, s = normalize(x, NormSettings(clamp=(-10.0, 10.0)))
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(denormalize(y, s), x, rtol=1e-5, atol=1e-3)


def test_default_maps_percentiles_to_0_and_1() -> None:
    y, _ = normalize(_window())
    assert np.percentile(y, 0.1) == pytest.approx(0.0, abs=1e-5)
    assert np.percentile(y, 99.9) == pytest.approx(1.0, abs=1e-5)


def test_floor_keeps_noise_small_on_nearly_empty_window() -> None:
    rng = np.random.default_rng(1)
    x = (100 + rng.normal(0, 0.2, (5, 64, 64))).astype(np.float32)  # offset + tiny noise
    y, s = normalize(x)
    assert s.scale == 8.0  # the floor, not the ~1.3-count percentile range
    assert float(y.std()) < 0.05
    # without a floor the same noise would span the full [0, 1] range
    y_nofloor, _ = normalize(x, NormSettings(floor=1e-6))
    assert float(y_nofloor.std()) > 4 * float(y.std())


def test_constant_window() -> None:
    y, s = normalize(np.full((5, 8, 8), 7, np.uint8))
    assert s == Scaling(low=7.0, scale=8.0)
    assert np.all(y == 0)


def test_clamp() -> None:
    x = np.zeros((1, 100, 100), np.float32)
    x[0, 0, 0] = 1e6  # one hot pixel, above the 99.9 % point
    x[0, 0, 1] = -1e6
    y, _ = normalize(x, NormSettings(clamp=(-0.5, 2.0)))
    assert y.max() == 2.0 and y.min() == -0.5


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
def test_dtypes(dtype: type) -> None:
    x = _window(np.uint8 if dtype is np.uint8 else dtype)
    y, s = normalize(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    ref, _ = normalize(x.astype(np.float64))
    np.testing.assert_allclose(y, ref, atol=1e-6)
    assert isinstance(s.low, float) and isinstance(s.scale, float)


def test_input_not_modified() -> None:
    x = _window(np.float32)
    before = x.copy()
    normalize(x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_rejects_non_finite(bad: float) -> None:
    x = _window(np.float32)
    x[2, 3, 4] = bad
    with pytest.raises(ValueError, match="finite") as e:
        normalize(x)
    assert "\n" not in str(e.value)


def test_rejects_empty_and_non_numeric() -> None:
    with pytest.raises(ValueError, match="empty"):
        normalize(np.zeros((5, 0, 4)))
    with pytest.raises(ValueError, match="dtype"):
        normalize(np.zeros((2, 2), dtype=bool))


def test_large_window_subsampled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nm, "MAX_PERCENTILE_SAMPLES", 1000)
    x = _window(np.float32)  # 20480 values -> every 21st
    _, s = normalize(x)
    lo, hi = np.percentile(x, [0.1, 99.9])
    assert s.low == pytest.approx(lo, abs=5) and s.scale == pytest.approx(hi - lo, rel=0.05)


def test_settings_dict_round_trip_and_validation() -> None:
    s = NormSettings(low_pct=1.0, high_pct=99.0, floor=4.0, clamp=(-1.0, 3.0))
    assert NormSettings.from_dict(s.to_dict()) == s
    assert isinstance(s.to_dict()["clamp"], list)
    with pytest.raises(ValueError, match="unknown"):
        NormSettings.from_dict({"floor": 8.0, "gamma": 1})
    with pytest.raises(ValueError):
        NormSettings(low_pct=50, high_pct=40)
    with pytest.raises(ValueError):
        NormSettings(floor=0)
    with pytest.raises(ValueError):
        NormSettings(clamp=(1.0, 0.0))


def test_fast_enough() -> None:
    x = _window(np.uint16)[:, :, :].repeat(2, 1).repeat(2, 2)  # 5 x 128 x 128
    normalize(x)
    t = time.perf_counter()
    for _ in range(20):
        normalize(x)
    per_call = (time.perf_counter() - t) / 20
    assert per_call < 0.01  # ~1 ms typical; generous for a shared 2-core machine
