"""Simulated movies for the TCS decoder: clean HR frames and a detector that adds noise.

The clean frames are the simulator's HR ground truth (drivers.confocal.simulate_movie:
mitochondria that move, bend, split, fuse and bleach). TCS codes raw frames on the
acquisition side, so each frame gets its own detector noise before coding: Poisson shot
noise at ``peak`` photons for the brightest structures, a flat background, Gaussian
read noise and an offset, all in counts. Decoders are scored against the clean frames.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from pssr_live.drivers.confocal import simulate_movie
from pssr_live.drivers.scene import SceneSettings


@dataclass(frozen=True)
class Detector:
    """One detector setting (counts = photons + offset + read noise; gain 1)."""

    peak: float = 50.0  # photons at the brightest structures; inf = noise-free
    background: float = 0.02  # flat haze, fraction of peak
    read_noise: float = 2.0  # counts
    offset: float = 100.0  # counts

    def expected(self, clean: np.ndarray) -> np.ndarray:
        """Noise-free counts of clean frames (object units, brightest ~1)."""
        peak = 1000.0 if math.isinf(self.peak) else self.peak
        return (peak * (np.maximum(clean, 0) + self.background) + self.offset).astype(np.float32)

    def measure(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy counts (float32) of clean frames; noise-free when ``peak`` is inf."""
        mean = self.expected(clean)
        if math.isinf(self.peak):
            return mean
        photons = rng.poisson(np.maximum(mean - self.offset, 0)).astype(np.float32)
        return photons + self.offset + self.read_noise * rng.standard_normal(mean.shape, np.float32)


@dataclass(frozen=True)
class DetectorRanges:
    """Training ranges, drawn per sample: peak log-uniform, the rest uniform."""

    peak: tuple[float, float] = (20.0, 200.0)
    background: tuple[float, float] = (0.0, 0.1)
    read_noise: tuple[float, float] = (0.0, 4.0)
    offset: tuple[float, float] = (0.0, 200.0)
    noise_free_fraction: float = 0.1

    def sample(self, rng: np.random.Generator) -> Detector:
        noise_free = rng.random() < self.noise_free_fraction
        peak = math.exp(rng.uniform(math.log(self.peak[0]), math.log(self.peak[1])))
        return Detector(
            peak=math.inf if noise_free else peak,
            background=float(rng.uniform(*self.background)),
            read_noise=float(rng.uniform(*self.read_noise)),
            offset=float(rng.uniform(*self.offset)),
        )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def clean_movie(frames: int, shape: tuple[int, int], seed: int, speed: float) -> np.ndarray:
    """HR ground-truth movie (frames, H, W) float32 from the simulator (H, W multiples of 4)."""
    scene = SceneSettings(hr_shape=shape, speed=speed, seed=seed)
    _, hr = simulate_movie(frames, (shape[0] // 4, shape[1] // 4), seed=seed, scene=scene)
    return hr


#: The fixed test set of `pssr-live evaluate-tcs`: (seed, speed, detector) per movie.
TEST_MOVIES: tuple[tuple[int, float, Detector], ...] = (
    (9001, 1.0, Detector(peak=20.0, read_noise=2.0)),
    (9002, 2.0, Detector(peak=50.0, read_noise=3.0)),
    (9003, 3.0, Detector(peak=100.0, read_noise=2.0)),
    (9004, 4.0, Detector(peak=200.0, read_noise=1.0)),
)
#: Validation movies for tuning GAP-TV (other seeds, same kind of settings).
VALIDATION_MOVIES: tuple[tuple[int, float, Detector], ...] = (
    (8001, 1.5, Detector(peak=30.0)),
    (8002, 3.0, Detector(peak=120.0)),
)
