"""Evaluation against HR ground truth: interpolation, a classical baseline, SF and MF nets.

Methods (all scored by :func:`pssr_live.metrics.score`, i.e. percentile-normalised
ground truth and a least-squares affine fit of every prediction):

- ``bilinear`` / ``bicubic``: the reference LR frame interpolated x4;
- ``classical``: temporal mean of the restoring window (the same frames the network
  sees), a Gaussian filter of width ``sigma`` (LR px; chosen on validation movies by
  :func:`choose_sigma`, never on the test set), then bicubic x4. At low dose most of
  the gain over interpolation is denoising, which this already gives;
- ``single-frame`` / ``five-frame``: models through an engine and the restorer's
  normalisation (:func:`pssr_live.offline.restore_movie`).

Simulated test movies come from the ``test`` split of :mod:`pssr_live.domain`, whose
seeds are disjoint from training and validation; each draws its own scene and
microscope (mixed doses), unless a dose is pinned (dose sweep).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from pssr_live.crappify import ConfocalCrappifier, PaperCrappifier
from pssr_live.datasets import simulate, window_indices
from pssr_live.engines.base import Engine
from pssr_live.metrics import Score, score
from pssr_live.normalization import NormSettings
from pssr_live.offline import restore_movie

DOSES = (5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)
SIGMAS = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
#: Evaluated frames keep this many frames to each edge, so every method's window is
#: complete (no edge replication) for both window modes.
EDGE = 4


@dataclass
class TestMovie:
    """LR movie (T, h, w), its HR ground truth (T, 4h, 4w), and what it is."""

    lr: np.ndarray
    hr: np.ndarray
    about: dict = field(default_factory=dict)

    @property
    def targets(self) -> range:
        return range(EDGE, len(self.lr) - EDGE) if len(self.lr) > 2 * EDGE else range(len(self.lr))


@dataclass(frozen=True)
class Model:
    """A restoration model for evaluation: its engine, window mode and normalisation."""

    engine: Engine
    mode: str
    norm: NormSettings


def simulated_movies(
    split: str,
    n: int,
    frames: int = 2 * EDGE + 4,
    size: int = 128,
    seed: int = 0,
    peak_photons: float | None = None,
) -> list[TestMovie]:
    """`n` simulated movies of the `split` ("test" or "validation"), each its own microscope."""
    movies = []
    for i in range(n):
        sim = simulate(split, seed, i, frames, size, peak_photons=peak_photons)
        about = {
            "seed": sim.seed,
            "peak_photons": round(sim.scan.peak_photons, 2),
            "psf_ratio": round(sim.scan.psf_ratio, 3),
            "sampling": sim.scan.sampling,
            "density": round(sim.scene.density, 3),
        }
        movies.append(TestMovie(sim.lr, sim.hr, about))
    return movies


def crappified_movie(
    hr: np.ndarray, crappifier: PaperCrappifier | ConfocalCrappifier, seed: int = 0
) -> TestMovie:
    """A user HR movie (T, H, W) degraded by `crappifier`; HR cropped to a multiple of 16."""
    m = 4 * crappifier.scale
    hr = hr[:, : hr.shape[1] // m * m, : hr.shape[2] // m * m].astype(np.float32)
    lo, hi = np.percentile(hr, [0.1, 99.9])
    hr01 = np.clip((hr - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
    lr = crappifier(hr01, np.random.default_rng(seed))
    return TestMovie(lr, hr, {"crappifier": crappifier.name, "seed": seed})


def upsample(image: np.ndarray, mode: str, scale: int = 4) -> np.ndarray:
    """`mode` ("bilinear" / "bicubic") interpolation x`scale` on the LR pixel-centre grid."""
    t = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None, None]
    return F.interpolate(t, scale_factor=scale, mode=mode, align_corners=False)[0, 0].numpy()


def classical(window: np.ndarray, sigma: float) -> np.ndarray:
    """Temporal mean of the window, Gaussian filter (LR px), bicubic x4."""
    mean = window.astype(np.float32).mean(axis=0)
    return upsample(gaussian_filter(mean, sigma) if sigma > 0 else mean, "bicubic")


def choose_sigma(movies: list[TestMovie], mode: str) -> float:
    """The classical baseline's Gaussian width with the best mean PSNR on `movies`."""
    best = {}
    for sigma in SIGMAS:
        psnrs = [
            score(classical(m.lr[window_indices(t, len(m.lr), mode)], sigma), m.hr[t]).psnr
            for m in movies
            for t in m.targets
        ]
        best[sigma] = float(np.mean(psnrs))
    return max(best, key=best.__getitem__)


def predictions(
    movie: TestMovie, mode: str, sigma: float, models: dict[str, Model]
) -> dict[str, list[np.ndarray]]:
    """Every method's prediction of every target frame of `movie`."""
    t_all, n = list(movie.targets), len(movie.lr)
    ref = {t: movie.lr[t].astype(np.float32) for t in t_all}
    out: dict[str, list[np.ndarray]] = {
        "bilinear": [upsample(ref[t], "bilinear") for t in t_all],
        "bicubic": [upsample(ref[t], "bicubic") for t in t_all],
        "classical": [classical(movie.lr[window_indices(t, n, mode)], sigma) for t in t_all],
    }
    for name, m in models.items():
        out[name] = list(restore_movie(m.engine, movie.lr, m.mode, m.norm, t_all))
    return out


def summarize(scores: list[Score]) -> dict[str, float]:
    """Mean and standard deviation over frames of PSNR, SSIM and NRMSE."""
    out = {}
    for k in ("psnr", "ssim", "nrmse"):
        v = np.array([getattr(s, k) for s in scores], np.float64)
        out[k], out[f"{k}_std"] = float(v.mean()), float(v.std())
    out["frames"] = len(scores)
    return out


def evaluate(
    movies: list[TestMovie],
    mode: str,
    sigma: float,
    models: dict[str, Model],
    on_movie: Callable[[int, dict[str, list[np.ndarray]]], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Per-method summary over all target frames of all `movies`."""
    scores: dict[str, list[Score]] = {}
    for i, movie in enumerate(movies):
        preds = predictions(movie, mode, sigma, models)
        if on_movie:
            on_movie(i, preds)
        for name, frames in preds.items():
            gts = [movie.hr[t] for t in movie.targets]
            scores.setdefault(name, []).extend(
                score(p, g) for p, g in zip(frames, gts, strict=True)
            )
    return {name: summarize(s) for name, s in scores.items()}


def dose_sweep(
    mode: str,
    sigma: float,
    models: dict[str, Model],
    n: int = 3,
    size: int = 128,
    seed: int = 0,
    doses: tuple[float, ...] = DOSES,
) -> dict[str, dict[str, float]]:
    """Mean PSNR of every method at each pinned peak photon count (test split)."""
    out: dict[str, dict[str, float]] = {}
    for dose in doses:
        movies = simulated_movies("test", n, size=size, seed=seed + 1, peak_photons=dose)
        res = evaluate(movies, mode, sigma, models)
        for name, r in res.items():
            out.setdefault(name, {})[f"{dose:g}"] = r["psnr"]
    return out
