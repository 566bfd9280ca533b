"""SimulatedConfocal inside a real UniMMCore: snap, sequence, ground truth, properties."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from pymmcore_plus.experimental.unicore import UniMMCore

from pssr_live.drivers.sim_camera import SimulatedConfocal, load_simulated_confocal

LABEL = "SimConfocal"


@pytest.fixture
def core() -> Iterator[UniMMCore]:
    mmc = UniMMCore()
    try:
        yield mmc
    finally:
        if mmc.isSequenceRunning():
            mmc.stopSequenceAcquisition()
        mmc.unloadAllDevices()


def _pop(core: UniMMCore, n: int, timeout: float = 10.0) -> list[tuple[np.ndarray, dict]]:
    """Pop `n` frames from a running sequence (poll with a deadline)."""
    out: list[tuple[np.ndarray, dict]] = []
    end = time.monotonic() + timeout
    while len(out) < n:
        if core.getRemainingImageCount():
            img, md = core.popNextImageAndMD()
            out.append((np.array(img), dict(md)))
        elif time.monotonic() > end:
            raise TimeoutError(f"only {len(out)} of {n} frames")
        else:
            time.sleep(0.001)
    return out


def test_snap_gives_noisy_uint16_frame(core: UniMMCore) -> None:
    cam = load_simulated_confocal(core, fps=200.0)
    assert isinstance(cam, SimulatedConfocal)
    assert core.getCameraDevice() == LABEL and not core.getAutoShutter()
    core.snapImage()
    img = core.getImage()
    assert img.shape == (128, 128) and img.dtype == np.uint16
    assert img.std() > 0 and img.max() > img.min()
    assert core.getImageWidth() == 128 and core.getImageHeight() == 128


def test_sequence_frames_carry_matching_ground_truth(core: UniMMCore) -> None:
    cam = load_simulated_confocal(core, fps=200.0, seed=3)  # default low dose, 30 photons
    core.startContinuousSequenceAcquisition(0)
    frames = _pop(core, 8)
    core.stopSequenceAcquisition()
    idx = [int(md["SimFrame"]) for _, md in frames]
    assert idx == sorted(idx) and len(set(idx)) == 8 and np.all(np.diff(idx) == 1)
    for img, md in frames:
        assert img.shape == (128, 128) and img.dtype == np.uint16
        gt = cam.ground_truth(int(md["SimFrame"]))
        assert gt is not None and gt.shape == (512, 512) and gt.dtype == np.float32
        assert not gt.flags.writeable
        down = gt.reshape(128, 4, 128, 4).mean(axis=(1, 3))
        assert np.corrcoef(down.ravel(), img.ravel().astype(np.float64))[0, 1] > 0.5
    assert cam.ground_truth(10**9) is None


def test_ground_truth_history_is_bounded() -> None:
    cam = SimulatedConfocal((16, 16), fps=2000.0, gt_history=3)
    buf = np.empty((16, 16), np.uint16)
    keys = [int(cam.snap(buf)["SimFrame"]) for _ in range(5)]
    assert keys == [0, 1, 2, 3, 4]
    assert cam.ground_truth(1) is None and cam.ground_truth(2) is not None
    assert cam.ground_truth(4).shape == (64, 64)


def test_frame_rate_property_sets_the_rate(core: UniMMCore) -> None:
    load_simulated_confocal(core, fps=20.0)
    core.setProperty(LABEL, "FrameRate", 50.0)
    assert float(core.getProperty(LABEL, "FrameRate")) == pytest.approx(50.0)
    assert core.getExposure() == pytest.approx(20.0)  # ms, one frame period
    core.startContinuousSequenceAcquisition(0)
    t0 = time.monotonic()
    _pop(core, 20)
    elapsed = time.monotonic() - t0
    core.stopSequenceAcquisition()
    assert 0.37 < elapsed < 2.0  # nominal 0.4 s; never faster than the schedule
    core.setExposure(10.0)  # exposure and frame rate are the same knob
    assert float(core.getProperty(LABEL, "FrameRate")) == pytest.approx(100.0)


def test_peak_photons_property_changes_signal(core: UniMMCore) -> None:
    load_simulated_confocal(core, fps=500.0, peak_photons=10.0, seed=1)
    offset = 100.0  # ScanSettings default

    def mean_signal() -> float:
        vals = []
        for _ in range(3):
            core.snapImage()
            vals.append(core.getImage().astype(np.float64).mean() - offset)
        return float(np.mean(vals))

    low = mean_signal()
    core.setProperty(LABEL, "PeakPhotons", 300.0)
    assert float(core.getProperty(LABEL, "PeakPhotons")) == pytest.approx(300.0)
    high = mean_signal()
    assert high > 10 * max(low, 0.05)


def test_seed_property_restarts_simulation(core: UniMMCore) -> None:
    cam = load_simulated_confocal(core, fps=500.0, seed=0)
    core.setProperty(LABEL, "Seed", 5)
    core.snapImage()
    first = np.array(core.getImage())
    fresh = SimulatedConfocal((128, 128), fps=2000.0, seed=5, peak_photons=30.0)
    buf = np.empty((128, 128), np.uint16)
    fresh.snap(buf)
    np.testing.assert_array_equal(first, buf)
    assert cam.ground_truth(0) is not None  # frame counter keeps counting across seeds
