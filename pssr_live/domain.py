"""Domain randomisation: every training window draws its own scene and microscope.

No two microscopes agree on PSF, dose, detector noise, offset or background, and no
two samples on density, brightness or motion; a model trained on one fixed setting
looks good on that setting alone (design section 5). :class:`DomainRanges` holds the
documented ranges (docs/training.md) and draws one (SceneSettings, ScanSettings) pair
per window from a seed, so that every window is reproducible on its own.

Seeds: each split (train / validation / test) derives its window seeds from its own
``numpy.random.SeedSequence`` entropy, so the three never share a window.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from pssr_live.drivers.confocal import ScanRanges, ScanSettings
from pssr_live.drivers.scene import SceneSettings

#: Split tags mixed into every window seed: the same index gives unrelated windows.
SPLITS = {"train": 0, "validation": 1, "test": 2}


@dataclass
class SceneRanges:
    """Ranges of the scene knobs, drawn independently per window.

    - density: log-uniform (0.3, 3)  (sparse cells to crowded networks)
    - speed: log-uniform (0.2, 5)  (still to fast transport / long frame intervals)
    - brightness_spread: uniform (0.2, 0.9)  (log-normal sigma of brightness)
    - fission_rate: uniform (0, 0.03) per mitochondrion per frame
    - bleach_per_frame: uniform (0, 0.005)
    """

    density: tuple[float, float] = (0.3, 3.0)
    speed: tuple[float, float] = (0.2, 5.0)
    brightness_spread: tuple[float, float] = (0.2, 0.9)
    fission_rate: tuple[float, float] = (0.0, 0.03)
    bleach_per_frame: tuple[float, float] = (0.0, 0.005)

    def sample(
        self, rng: np.random.Generator, hr_shape: tuple[int, int], seed: int
    ) -> SceneSettings:
        """One SceneSettings of `hr_shape` with scene seed `seed`."""

        def loguni(lo_hi: tuple[float, float]) -> float:
            return float(math.exp(rng.uniform(math.log(lo_hi[0]), math.log(lo_hi[1]))))

        return SceneSettings(
            hr_shape=hr_shape,
            density=loguni(self.density),
            speed=loguni(self.speed),
            brightness_spread=float(rng.uniform(*self.brightness_spread)),
            fission_rate=float(rng.uniform(*self.fission_rate)),
            bleach_per_frame=float(rng.uniform(*self.bleach_per_frame)),
            seed=seed,
        )


@dataclass
class DomainRanges:
    """Scene and microscope ranges; see :class:`SceneRanges` and ``ScanRanges``."""

    scene: SceneRanges = field(default_factory=SceneRanges)
    scan: ScanRanges = field(default_factory=ScanRanges)

    def sample(
        self, seed: int, hr_shape: tuple[int, int], peak_photons: float | None = None
    ) -> tuple[SceneSettings, ScanSettings]:
        """Scene and microscope of the window with seed `seed`; `peak_photons` pins the dose."""
        rng = np.random.default_rng(seed)
        scene = self.scene.sample(rng, hr_shape, seed)
        scan = self.scan.sample(rng)
        if peak_photons is not None:
            scan.peak_photons = float(peak_photons)
        return scene, scan

    def to_dict(self) -> dict[str, dict[str, list]]:
        """JSON-ready description (stored in model files' training metadata)."""
        return {
            "scene": {k: list(v) for k, v in asdict(self.scene).items()},
            "scan": {k: list(v) for k, v in asdict(self.scan).items()},
        }


def window_seed(split: str, base_seed: int, index: int) -> int:
    """Seed of window `index` of `split` for a run seeded `base_seed` (32-bit)."""
    ss = np.random.SeedSequence([SPLITS[split], base_seed, index])
    return int(ss.generate_state(1)[0])
