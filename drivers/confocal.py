"""Point-scanning confocal physics: HR object -> HR ground truth and LR noisy scan.

- Ground truth (HR, ~50 nm px): the object blurred by an Airyscan-like Gaussian PSF
  (`hr_psf_sigma_px`, default 1 px = ~120 nm FWHM), no noise.
- Scan (LR, `scale` x coarser, ~200 nm px): the object blurred by the wider confocal
  PSF (`psf_ratio` x the HR sigma), sampled per LR pixel either by integrating over the
  scale x scale block ("area") or at its centre ("point"), plus a smooth background
  haze; Poisson shot noise at `peak_photons`, optional PMT gain (excess) noise, gain,
  offset and Gaussian read noise; rounded and clipped to the output dtype.

Geometry: LR pixel (r, c) is centred on HR coordinate (r*s + (s-1)/2, c*s + (s-1)/2),
for both samplings; i.e. the LR grid is the s x s block-mean grid of the HR grid.

Intensity: the object's scale is fixed (a tubule of brightness 1.0 has peak object
value 1.0; see `drivers.scene`), and expected photons are `peak_photons` times the
blurred, sampled object, so `peak_photons` is the photon count of the brightest
structures before the blur spreads them.

Speed: blur and sampling are separable linear operators, built once per shape as sparse
matrices (`A_y @ obj @ A_x.T`); this equals `scipy.ndimage.gaussian_filter`
(mode "reflect", truncate 4) followed by block averaging, at half the cost or less, and
does the LR blur only where LR pixels need it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.ndimage import gaussian_filter

from .scene import MitoScene, SceneSettings

__all__ = ["ConfocalScanner", "ScanRanges", "ScanSettings", "simulate_movie"]

_TRUNCATE = 4.0


@dataclass
class ScanSettings:
    """Microscope and detector parameters of one simulated scan."""

    scale: int = 4  # LR pixel = scale x HR pixel (200 nm)
    hr_psf_sigma_px: float = 1.0  # Airyscan-like PSF of the HR ground truth, in HR px
    psf_ratio: float = 1.6  # confocal PSF sigma / HR PSF sigma
    sampling: Literal["area", "point"] = "area"  # block integration or centre sampling
    peak_photons: float = 30.0  # expected photons at the brightest structures (low dose)
    background: float = 0.02  # smooth haze, fraction of peak
    read_noise: float = 2.0  # detector read noise, counts (after gain)
    gain: float = 1.0  # counts per photon
    offset: float = 100.0  # counts
    dtype: str = "uint16"
    excess_noise: float = 0.0  # PMT: relative variance of the per-photon gain (0 = none)


@dataclass
class ScanRanges:
    """Domain-randomisation ranges, drawn independently per training window.

    - psf_ratio: uniform in (1.3, 2.2)  (pinhole size, objective, wavelength)
    - sampling: one of ("area", "point")  (pixel integration vs. point sampling)
    - peak_photons: log-uniform in (5, 500)  (dose: very low to moderate)
    - background: uniform in (0, 0.2)  (haze, fraction of peak)
    - read_noise: uniform in (0, 6) counts
    - gain: log-uniform in (0.5, 4) counts per photon
    - offset: uniform in (0, 500) counts
    - excess_noise: uniform in (0, 0.5)  (PMT gain variance; 0 = photon counting / HyD)
    `scale`, `hr_psf_sigma_px` and `dtype` are not randomised: they define the task.
    """

    psf_ratio: tuple[float, float] = (1.3, 2.2)
    sampling: tuple[str, ...] = ("area", "point")
    peak_photons: tuple[float, float] = (5.0, 500.0)
    background: tuple[float, float] = (0.0, 0.2)
    read_noise: tuple[float, float] = (0.0, 6.0)
    gain: tuple[float, float] = (0.5, 4.0)
    offset: tuple[float, float] = (0.0, 500.0)
    excess_noise: tuple[float, float] = (0.0, 0.5)

    def sample(self, rng: np.random.Generator, base: ScanSettings | None = None) -> ScanSettings:
        """Draw one `ScanSettings`; fields not randomised are taken from `base`."""

        def loguni(lo_hi: tuple[float, float]) -> float:
            lo, hi = lo_hi
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))

        return replace(
            base or ScanSettings(),
            psf_ratio=float(rng.uniform(*self.psf_ratio)),
            sampling=str(rng.choice(list(self.sampling))),  # type: ignore[arg-type]
            peak_photons=loguni(self.peak_photons),
            background=float(rng.uniform(*self.background)),
            read_noise=float(rng.uniform(*self.read_noise)),
            gain=loguni(self.gain),
            offset=float(rng.uniform(*self.offset)),
            excess_noise=float(rng.uniform(*self.excess_noise)),
        )


def _reflect(j: np.ndarray, n: int) -> np.ndarray:
    """Indices mirrored into [0, n) like scipy.ndimage mode "reflect" (d c b a | a b c d)."""
    m = np.mod(j, 2 * n)
    return np.where(m >= n, 2 * n - 1 - m, m)


def _gauss_op(n: int, sigma: float) -> sp.csr_matrix:
    """(n, n) sparse operator of a 1-D Gaussian blur with reflecting edges."""
    if sigma <= 0:
        return sp.identity(n, dtype=np.float64, format="csr")
    r = int(_TRUNCATE * sigma + 0.5)
    k = np.arange(-r, r + 1)
    wts = np.exp(-0.5 * (k / sigma) ** 2)
    wts /= wts.sum()
    rows = np.repeat(np.arange(n), len(k))
    cols = _reflect(np.arange(n)[:, None] + k[None, :], n).ravel()
    vals = np.tile(wts, n)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))  # duplicates are summed


def _sample_op(n_lr: int, scale: int, sampling: str) -> sp.csr_matrix:
    """(n_lr, n_lr*scale) sparse sampling: block mean ("area") or block centre ("point")."""
    if sampling == "area":
        taps = np.arange(scale)
    elif sampling == "point":
        c = (scale - 1) / 2.0
        taps = np.unique([math.floor(c), math.ceil(c)])  # mean of the 1-2 centre pixels
    else:
        raise ValueError(f"sampling must be 'area' or 'point', not {sampling!r}")
    rows = np.repeat(np.arange(n_lr), len(taps))
    cols = (np.arange(n_lr)[:, None] * scale + taps[None, :]).ravel()
    vals = np.full(len(cols), 1.0 / len(taps))
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_lr, n_lr * scale))


def _apply(op_y: sp.csr_matrix, op_x: sp.csr_matrix, img: np.ndarray) -> np.ndarray:
    """op_y @ img @ op_x.T as float32 C-contiguous."""
    tmp = op_y @ img
    return np.ascontiguousarray((op_x @ tmp.T).T)


class ConfocalScanner:
    """Turns HR objects into HR ground truth and noisy LR confocal frames.

    Settings may be changed between calls (e.g. `scanner.settings.peak_photons = 100`);
    operators are cached per (shape, PSF, sampling). Noise comes from `seed`.
    """

    def __init__(self, settings: ScanSettings, seed: int = 0) -> None:
        self.settings = settings
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._ops: dict[tuple, sp.csr_matrix] = {}
        self._bg: dict[tuple[int, int], np.ndarray] = {}

    def _op(self, n: int, sigma: float, scale: int = 1, sampling: str = "area") -> sp.csr_matrix:
        key = (n, round(sigma, 9), scale, sampling)
        op = self._ops.get(key)
        if op is None:
            op = _gauss_op(n, sigma)
            if scale > 1:
                op = _sample_op(n // scale, scale, sampling) @ op
            op = sp.csr_matrix(op, dtype=np.float32)
            if len(self._ops) > 32:
                self._ops.clear()
            self._ops[key] = op
        return op

    def _check(self, obj: np.ndarray) -> np.ndarray:
        if obj.ndim != 2:
            raise ValueError(f"object must be 2-D, got shape {obj.shape}")
        s = self.settings.scale
        if obj.shape[0] % s or obj.shape[1] % s:
            raise ValueError(f"object shape {obj.shape} is not a multiple of scale {s}")
        return np.asarray(obj, dtype=np.float32)

    def ground_truth(self, obj: np.ndarray) -> np.ndarray:
        """HR ground truth: object convolved with the HR PSF, float32, no noise."""
        obj = self._check(obj)
        sig = self.settings.hr_psf_sigma_px
        h, w = obj.shape
        return _apply(self._op(h, sig), self._op(w, sig), obj)

    def signal(self, obj: np.ndarray) -> np.ndarray:
        """Noise-free LR signal (object units): confocal PSF blur, then pixel sampling."""
        obj = self._check(obj)
        st = self.settings
        sig = st.hr_psf_sigma_px * st.psf_ratio
        h, w = obj.shape
        oy = self._op(h, sig, st.scale, st.sampling)
        ox = self._op(w, sig, st.scale, st.sampling)
        return _apply(oy, ox, obj)

    def background_field(self, lr_shape: tuple[int, int]) -> np.ndarray:
        """Smooth haze pattern at LR size, mean ~1, fixed per scanner seed and shape."""
        key = (int(lr_shape[0]), int(lr_shape[1]))
        bg = self._bg.get(key)
        if bg is None:
            rng = np.random.default_rng([self.seed, 1])
            noise = rng.normal(size=key)
            smooth = gaussian_filter(noise, max(key) / 6.0, mode="wrap")
            smooth /= max(float(smooth.std()), 1e-12)
            bg = np.clip(1.0 + 0.4 * smooth, 0.2, None).astype(np.float32)
            self._bg[key] = bg
        return bg

    def scan(self, obj: np.ndarray) -> np.ndarray:
        """One LR frame (H/scale, W/scale) in `settings.dtype` with shot and detector noise."""
        st = self.settings
        sig = self.signal(obj)
        lam = st.peak_photons * (sig + st.background * self.background_field(sig.shape))
        photons = self.rng.poisson(np.maximum(lam, 0.0)).astype(np.float64)
        if st.excess_noise > 0:  # sum of n per-photon gains ~ Gamma(n / v, v)
            v = st.excess_noise
            photons = self.rng.gamma(photons / v, v)
        counts = st.gain * photons + st.offset
        if st.read_noise > 0:
            counts += st.read_noise * self.rng.standard_normal(counts.shape)
        dt = np.dtype(st.dtype)
        info = np.iinfo(dt)
        return np.clip(np.rint(counts), info.min, info.max).astype(dt)


def simulate_movie(
    n_frames: int,
    lr_shape: tuple[int, int] = (128, 128),
    seed: int = 0,
    scene: SceneSettings | None = None,
    scan: ScanSettings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(lr[T,h,w] uint16, hr[T,4h,4w] float32 ground truth).

    The scene's `hr_shape` is set from `lr_shape` x scale; without `scene`, its seed is
    `seed`. Each frame is: scene.step(), render, scan (same order as the live camera).
    """
    scan = scan or ScanSettings()
    s = scan.scale
    hr_shape = (int(lr_shape[0]) * s, int(lr_shape[1]) * s)
    scene_s = replace(scene, hr_shape=hr_shape) if scene else SceneSettings(hr_shape, seed=seed)
    mito = MitoScene(scene_s)
    scanner = ConfocalScanner(scan, seed=seed)
    lr = np.empty((n_frames, *lr_shape), dtype=np.dtype(scan.dtype))
    hr = np.empty((n_frames, *hr_shape), dtype=np.float32)
    for t in range(n_frames):
        mito.step()
        obj = mito.render()
        hr[t] = scanner.ground_truth(obj)
        lr[t] = scanner.scan(obj)
    return lr, hr
