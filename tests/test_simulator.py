"""MitoScene and the confocal scanner: determinism, geometry, dynamics and noise physics."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt, gaussian_filter

from pssr_live.drivers.confocal import ConfocalScanner, ScanRanges, ScanSettings, simulate_movie
from pssr_live.drivers.scene import MitoScene, SceneSettings

SMALL = (192, 192)  # HR shape used by most tests: ~9.6 um, fast


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def _run(scene: MitoScene, n: int) -> None:
    for _ in range(n):
        scene.step()


def test_scene_is_deterministic_from_seed() -> None:
    a, b, c = (MitoScene(SceneSettings(SMALL, seed=s)) for s in (3, 3, 4))
    for sc in (a, b, c):
        _run(sc, 20)
    ra, rb, rc = a.render(), b.render(), c.render()
    assert ra.dtype == np.float32 and ra.shape == SMALL
    np.testing.assert_array_equal(ra, rb)
    assert not np.array_equal(ra, rc)
    obj = ra
    s1 = ConfocalScanner(ScanSettings(), seed=7).scan(obj)
    s2 = ConfocalScanner(ScanSettings(), seed=7).scan(obj)
    s3 = ConfocalScanner(ScanSettings(), seed=8).scan(obj)
    np.testing.assert_array_equal(s1, s2)
    assert not np.array_equal(s1, s3)


def test_tubule_geometry_is_physical() -> None:
    sc = MitoScene(SceneSettings(seed=1))  # 512 x 512 at 50 nm = 25.6 um
    sc.check()
    lines = sc.polylines()
    assert 10 <= sc.n_mitochondria <= 80
    widths = np.concatenate([w for _, w, _ in lines])
    assert widths.min() >= 4.0 and widths.max() <= 14.0  # 0.2-0.7 um
    lengths = np.array([np.hypot(*np.diff(p, axis=0).T).sum() for p, _, _ in lines])
    assert lengths.min() >= 8.0 and lengths.max() <= 260.0  # chains, <= ~10 um (+ slack)
    assert np.median(lengths) > 20.0  # ~1 um and more
    obj = sc.render()
    assert 0.3 < float(obj.max()) < 4.0  # brightest ~1, overlaps add
    mask = obj > 0.01
    assert 0.01 < mask.mean() < 0.3  # sparse structures, not a fog
    # Half-widths inside the mask: at most ~7 px (14 px tubes) except at crossings.
    half = distance_transform_edt(mask)[mask]
    assert 1.5 < np.percentile(half, 99) <= 8.0


def test_scene_moves_smoothly() -> None:
    sc = MitoScene(SceneSettings(SMALL, seed=2, speed=2.0))
    frames = [sc.render()]
    for _ in range(60):
        sc.step()
        frames.append(sc.render())
    neighbours = [_corr(frames[t], frames[t + 1]) for t in range(60)]
    assert min(neighbours) > 0.8  # consecutive frames: same structures, small motion
    assert _corr(frames[0], frames[60]) < np.mean(neighbours) - 0.1  # but it does move
    assert not np.array_equal(frames[0], frames[1])


def test_fission_happens() -> None:
    sc = MitoScene(SceneSettings(SMALL, seed=5, fission_rate=0.1, fusion_distance_px=0.0))
    n0 = sc.n_mitochondria
    _run(sc, 80)
    sc.check()
    assert sc.n_fissions > 0 and sc.n_fusions == 0
    assert sc.n_mitochondria > n0
    assert sc.n_mitochondria - n0 == sc.n_fissions  # every split adds exactly one


def test_fusion_happens() -> None:
    sc = MitoScene(SceneSettings(SMALL, seed=6, fission_rate=0.0, fusion_distance_px=12.0))
    n0 = sc.n_mitochondria
    _run(sc, 150)
    sc.check()
    assert sc.n_fusions > 0 and sc.n_fissions == 0
    assert sc.n_mitochondria == n0 - sc.n_fusions  # every fusion removes one


def test_default_dynamics_stay_consistent() -> None:
    sc = MitoScene(SceneSettings(SMALL, seed=9, fission_rate=0.05, speed=3.0))
    n0 = sc.n_mitochondria
    for t in range(150):
        sc.step()
        if t % 25 == 0:
            sc.check()
    assert sc.n_fissions > 0 and sc.n_fusions > 0
    assert 0 < sc.n_mitochondria < 6 * max(n0, 1)


def test_bleaching_lowers_total_intensity() -> None:
    still = {"speed": 0.0, "fission_rate": 0.0, "fusion_distance_px": 0.0, "seed": 4}
    bleached = MitoScene(SceneSettings(SMALL, bleach_per_frame=0.01, **still))
    control = MitoScene(SceneSettings(SMALL, bleach_per_frame=0.0, **still))
    start = bleached.render().sum()
    _run(bleached, 100)
    _run(control, 100)
    ratio = bleached.render().sum() / control.render().sum()
    assert 0.2 < ratio < 0.55  # ~exp(-1), varied per mitochondrion
    assert control.render().sum() == pytest.approx(start, rel=0.05)


def test_ground_truth_and_signal_match_reference_filters() -> None:
    rng = np.random.default_rng(0)
    obj = rng.random((64, 96)).astype(np.float32)
    sc = ConfocalScanner(ScanSettings(psf_ratio=1.6))
    gt = sc.ground_truth(obj)
    assert gt.dtype == np.float32 and gt.shape == obj.shape
    np.testing.assert_allclose(gt, gaussian_filter(obj, 1.0), atol=1e-5)
    blurred = gaussian_filter(obj, 1.6)
    area = blurred.reshape(16, 4, 24, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(sc.signal(obj), area, atol=1e-5)
    sc.settings.sampling = "point"  # centre of each 4x4 block: mean of pixels 1 and 2
    point = blurred.reshape(16, 4, 24, 4)[:, 1:3, :, 1:3].mean(axis=(1, 3))
    np.testing.assert_allclose(sc.signal(obj), point, atol=1e-5)


def test_scan_shape_dtype_and_errors() -> None:
    obj = MitoScene(SceneSettings(SMALL, seed=0)).render()
    lr = ConfocalScanner(ScanSettings()).scan(obj)
    assert lr.shape == (SMALL[0] // 4, SMALL[1] // 4) and lr.dtype == np.uint16
    lr8 = ConfocalScanner(ScanSettings(dtype="uint8", offset=10)).scan(obj)
    assert lr8.dtype == np.uint8
    with pytest.raises(ValueError):
        ConfocalScanner(ScanSettings()).scan(obj[:-1])


def test_noise_model_statistics() -> None:
    """Mean and variance of counts follow gain * Poisson(lambda) + offset + read noise."""
    obj = np.zeros((64, 64), np.float32)
    obj[20:44, 20:44] = 1.0
    st = ScanSettings(peak_photons=40.0, gain=2.5, offset=300.0, read_noise=3.0, background=0.1)
    sc = ConfocalScanner(st, seed=1)
    frames = np.stack([sc.scan(obj) for _ in range(400)]).astype(np.float64)
    lam = st.peak_photons * (sc.signal(obj) + st.background * sc.background_field((16, 16)))
    mean_expected = st.gain * lam + st.offset
    var_expected = st.gain**2 * lam + st.read_noise**2 + 1 / 12  # + rounding
    np.testing.assert_allclose(frames.mean(0), mean_expected, rtol=0.02, atol=1.0)
    ratio = frames.var(0).mean() / var_expected.mean()
    assert 0.9 < ratio < 1.1
    # Bright plateau (object 1.0) gives ~peak_photons.
    assert frames.mean(0)[7, 7] == pytest.approx(st.gain * 40 * 1.0 + 300 + 2.5 * 4, rel=0.1)


def test_higher_dose_gives_higher_snr() -> None:
    sc = MitoScene(SceneSettings(SMALL, seed=8))
    obj = sc.render()
    ref = ConfocalScanner(ScanSettings()).signal(obj)
    snr = []
    for photons in (5.0, 50.0, 500.0):
        lr = ConfocalScanner(ScanSettings(peak_photons=photons), seed=2).scan(obj)
        snr.append(_corr(lr, ref))
    assert snr[0] < snr[1] < snr[2]
    assert snr[2] > 0.9


def test_scan_ranges_sample_in_range() -> None:
    r = ScanRanges()
    rng = np.random.default_rng(0)
    draws = [r.sample(rng) for _ in range(300)]
    for name in ("psf_ratio", "peak_photons", "background", "read_noise", "gain", "offset"):
        vals = np.array([getattr(d, name) for d in draws])
        lo, hi = getattr(r, name)
        assert vals.min() >= lo and vals.max() <= hi, name
        assert vals.max() - vals.min() > 0.5 * (hi - lo) or name in ("peak_photons", "gain")
    assert {d.sampling for d in draws} == {"area", "point"}
    photons = np.log([d.peak_photons for d in draws])
    assert abs(np.median(photons) - np.log(50.0)) < 0.5  # log-uniform: median ~ sqrt(5*500)
    base = ScanSettings(scale=4, hr_psf_sigma_px=1.2, dtype="uint8")
    d = r.sample(rng, base)
    assert (d.scale, d.hr_psf_sigma_px, d.dtype) == (4, 1.2, "uint8")


def test_simulate_movie_shapes_and_consistency() -> None:
    lr, hr = simulate_movie(4, (24, 40), seed=3)
    assert lr.shape == (4, 24, 40) and lr.dtype == np.uint16
    assert hr.shape == (4, 96, 160) and hr.dtype == np.float32
    lr2, hr2 = simulate_movie(4, (24, 40), seed=3)
    np.testing.assert_array_equal(lr, lr2)
    np.testing.assert_array_equal(hr, hr2)
    scene = SceneSettings(hr_shape=(8, 8), density=2.0, seed=11)  # hr_shape is overridden
    lr3, hr3 = simulate_movie(2, (24, 40), scene=scene, scan=replace(ScanSettings(), gain=2.0))
    assert hr3.shape == (2, 96, 160) and lr3.shape == (2, 24, 40)
