"""Crappifiers: turn clean HR frames into LR training inputs, as PSSR trains.

Both take HR frames already normalised to [0, 1] (``(F, H, W)``, the five frames of one
window, same crop) and return the LR frames ``(F, H/4, W/4)`` float32 in counts.

- :class:`PaperCrappifier` (Fang et al. 2021, fluorescence): salt-and-pepper noise on
  ``salt_pepper`` (0.5 %) of the pixels, additive Gaussian noise of sigma ``sigma``
  (5 on the 0-255 scale), or with ``local_var`` the original code's local-variance
  form (variance ``local_var_gain`` x the image blurred with sigma 5 px), then
  downsampling by ``scale`` with a spline of order 1. Output on the 0-255 scale.
  Every frame gets its own noise.
- :class:`ConfocalCrappifier`: the physics of ``drivers.confocal`` with one microscope
  drawn from ``ScanRanges`` per window (same microscope, independent noise for the
  five frames). The HR frames already carry the HR PSF, so the extra blur is
  ``sqrt(psf_ratio**2 - 1)`` x the HR sigma: the LR then sees the full confocal PSF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.ndimage import gaussian_filter, zoom

from pssr_live.drivers.confocal import ConfocalScanner, ScanRanges, ScanSettings

CRAPPIFIERS = ("paper", "confocal")


def _check(hr01: np.ndarray, scale: int) -> np.ndarray:
    hr01 = np.asarray(hr01, np.float32)
    if hr01.ndim != 3 or hr01.shape[1] % scale or hr01.shape[2] % scale:
        raise ValueError(
            f"crappify: need (F, H, W) with H, W multiples of {scale}, got {hr01.shape}"
        )
    return hr01


@dataclass(frozen=True)
class PaperCrappifier:
    """The PSSR paper's fluorescence crappifier; see the module docstring."""

    scale: int = 4
    salt_pepper: float = 0.005
    sigma: float = 5.0  # on the 0-255 scale
    local_var: bool = False
    local_var_gain: float = 0.5
    name: str = "paper"

    def __call__(self, hr01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        hr01 = _check(hr01, self.scale)
        return np.stack([self._frame(f, rng) for f in hr01])

    def _frame(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = x.copy()
        hit = rng.random(x.shape) < self.salt_pepper
        x[hit] = rng.integers(0, 2, int(hit.sum())).astype(np.float32)  # half salt, half pepper
        if self.local_var:
            var = self.local_var_gain * np.maximum(gaussian_filter(x, 5.0), 0.0) + 1e-10
            x += np.sqrt(var) * rng.standard_normal(x.shape).astype(np.float32)
        else:
            x += (self.sigma / 255.0) * rng.standard_normal(x.shape).astype(np.float32)
        lr = zoom(x, 1.0 / self.scale, order=1, grid_mode=True, mode="nearest")
        return (255.0 * lr).astype(np.float32)


@dataclass(frozen=True)
class ConfocalCrappifier:
    """Physics-based confocal degradation with a randomised microscope per window."""

    ranges: ScanRanges = field(default_factory=ScanRanges)
    base: ScanSettings = field(default_factory=ScanSettings)
    name: str = "confocal"

    @property
    def scale(self) -> int:
        return self.base.scale

    def __call__(self, hr01: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        hr01 = _check(hr01, self.scale)
        st = self.ranges.sample(rng, self.base)
        extra = math.sqrt(max(st.psf_ratio**2 - 1.0, 0.0))
        scanner = ConfocalScanner(replace(st, psf_ratio=extra), seed=int(rng.integers(2**31)))
        return np.stack([scanner.scan(f) for f in hr01]).astype(np.float32)


def make_crappifier(name: str) -> PaperCrappifier | ConfocalCrappifier:
    """The crappifier called `name` ("paper" or "confocal") with its documented defaults."""
    if name == "paper":
        return PaperCrappifier()
    if name == "confocal":
        return ConfocalCrappifier()
    raise ValueError(f"unknown crappifier {name!r}; choose one of {CRAPPIFIERS}")
