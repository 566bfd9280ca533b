"""Five-to-one training pairs: from user HR movies (crappified) or from the simulator.

A pair is ``(x, y)``: ``x`` the normalised LR window ``(frames, p, p)`` float32 (the
restorer's normalisation: one percentile scaling for the window), ``y`` the clean HR
target frame ``(1, scale*p, scale*p)`` float32, normalised by its own 0.1 / 99.9 %
percentiles. The target frame is the middle frame (``centered``) or the last
(``causal``). The single-frame model takes only that reference frame and normalises it
alone, exactly as at inference.

Augmentation: one of the eight dihedral transforms, shared by all frames and the target.
Simulated windows are skipped when nearly empty; movie tiles skip empty background.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from pssr_live.crappify import ConfocalCrappifier, PaperCrappifier
from pssr_live.domain import DomainRanges, window_seed
from pssr_live.drivers.confocal import ScanSettings, simulate_movie
from pssr_live.drivers.movie import MovieError, check_movie
from pssr_live.drivers.scene import SceneSettings
from pssr_live.metrics import percentile_normalize
from pssr_live.normalization import NormSettings, normalize

WINDOW_FRAMES = 5
#: A simulated window is redrawn when fewer than this fraction of its HR target pixels
#: exceed EMPTY_LEVEL of the brightest structures (object units, see drivers.scene).
MIN_FOREGROUND, EMPTY_LEVEL = 0.01, 0.05


def window_indices(t: int, n_total: int, mode: str, frames: int = WINDOW_FRAMES) -> np.ndarray:
    """Frame indices of the window that restores frame `t`, edges replicated.

    centered: t-2..t+2; causal: t-4..t; indices outside 0..n_total-1 are clipped, so a
    movie shorter than the window (even one frame) still has a defined result.
    """
    offsets = np.arange(frames) - (frames // 2 if mode == "centered" else frames - 1)
    return np.clip(t + offsets, 0, n_total - 1)


def reference_index(mode: str, frames: int = WINDOW_FRAMES) -> int:
    """Position of the target frame inside a window: the middle (centered) or the last."""
    return frames // 2 if mode == "centered" else frames - 1


def dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """Transform `k` (0..7) of the dihedral group on the last two axes."""
    a = np.rot90(a, k % 4, axes=(-2, -1))
    return a[..., ::-1] if k >= 4 else a


def make_pair(
    lr: np.ndarray,
    target: np.ndarray,
    mode: str,
    frames: int,
    norm: NormSettings,
    k: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalise a 5-frame LR window (or its reference frame alone, frames=1) as the
    restorer does, and the clean target by its own 0.1 / 99.9 % percentiles (as
    `metrics.score` does); apply dihedral transform `k` to both.

    The target's own normalisation is what the network learns to output: structure,
    not the microscope's gain, offset or haze, which the LR cannot pin down anyway.
    """
    if frames == 1:
        r = reference_index(mode)
        lr = lr[r : r + 1]
    x, _ = normalize(lr, norm)
    y = percentile_normalize(target)
    x = np.ascontiguousarray(dihedral(x, k), np.float32)
    y = np.ascontiguousarray(dihedral(y, k), np.float32)[np.newaxis]
    return x, y


@dataclass(frozen=True)
class Simulation:
    """A simulated LR movie, its HR ground truth, and the scene and microscope drawn."""

    lr: np.ndarray  # (T, h, w) uint16
    hr: np.ndarray  # (T, 4h, 4w) float32, object units
    scene: SceneSettings
    scan: ScanSettings
    seed: int


def simulate(
    split: str,
    base_seed: int,
    index: int,
    frames: int,
    size: int,
    ranges: DomainRanges | None = None,
    peak_photons: float | None = None,
    check_frame: int | None = None,
) -> Simulation:
    """Movie `index` of `split`: its own scene and microscope from `ranges`.

    Nearly empty fields are redrawn with the next sub-seed (deterministically), so that
    no pair or test frame is blank; `check_frame` (default: the middle) is the one checked.
    """
    ranges = ranges or DomainRanges()
    for attempt in range(20):
        seed = window_seed(split, base_seed, index * 1000 + attempt)
        scene, scan = ranges.sample(seed, (4 * size, 4 * size), peak_photons)
        lr, hr = simulate_movie(frames, (size, size), seed=seed, scene=scene, scan=scan)
        check = hr[frames // 2 if check_frame is None else check_frame]
        if np.mean(check > EMPTY_LEVEL) >= MIN_FOREGROUND:
            break
    return Simulation(lr, hr, scene, scan, seed)


@dataclass
class SimulatedPairs:
    """Seeded simulated windows: window `i` of a split is the same on every machine."""

    patch: int = 48  # LR tile size
    mode: str = "centered"
    frames: int = WINDOW_FRAMES  # 5, or 1 for the single-frame model
    split: str = "train"
    seed: int = 0
    ranges: DomainRanges = field(default_factory=DomainRanges)
    norm: NormSettings = field(default_factory=NormSettings)
    augment: bool = True

    def raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(LR window (5, p, p) uint16, HR target (scale*p, scale*p)) of window `index`."""
        ref = reference_index(self.mode)
        sim = simulate(
            self.split, self.seed, index, WINDOW_FRAMES, self.patch, self.ranges, check_frame=ref
        )
        return sim.lr, sim.hr[ref]

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Normalised, augmented training pair of window `index`."""
        lr, target = self.raw(index)
        k = int(np.random.default_rng(window_seed(self.split, self.seed, index)).integers(8))
        return make_pair(lr, target, self.mode, self.frames, self.norm, k if self.augment else 0)


@dataclass
class MoviePairs:
    """Pairs from user HR movies: random frame and non-empty tile, crappified on the fly."""

    movies: list[np.ndarray]
    crappifier: PaperCrappifier | ConfocalCrappifier
    patch: int = 48
    mode: str = "centered"
    frames: int = WINDOW_FRAMES
    seed: int = 0
    norm: NormSettings = field(default_factory=NormSettings)
    augment: bool = True

    def __post_init__(self) -> None:
        hr = self.patch * self.crappifier.scale
        self._movies = []
        for i, m in enumerate(self.movies):
            m = check_movie(m, f"movie {i}")
            if m.shape[1] < hr or m.shape[2] < hr:
                raise MovieError(
                    f"movie {i}: frames {m.shape[1]}x{m.shape[2]} are smaller than the HR "
                    f"tile {hr}x{hr}; use a smaller --patch"
                )
            lo, hi = np.percentile(m[:: max(1, len(m) // 16)], [0.1, 99.9])
            self._movies.append((m, float(lo), max(float(hi - lo), 1e-6)))

    def pair(self, index: int, split_tag: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Normalised, augmented training pair `index` (seeded by index and run seed)."""
        rng = np.random.default_rng([3, split_tag, self.seed, index])
        m, lo, rng_ = self._movies[int(rng.integers(len(self._movies)))]
        hr_p = self.patch * self.crappifier.scale
        t = int(rng.integers(len(m)))
        idx = window_indices(t, len(m), self.mode)
        for _ in range(20):  # skip empty background
            y0 = int(rng.integers(m.shape[1] - hr_p + 1))
            x0 = int(rng.integers(m.shape[2] - hr_p + 1))
            tile = (m[idx, y0 : y0 + hr_p, x0 : x0 + hr_p].astype(np.float32) - lo) / rng_
            if np.mean(tile[reference_index(self.mode)] > 0.15) >= MIN_FOREGROUND:
                break
        tile = np.clip(tile, 0.0, 1.0)
        lr = self.crappifier(tile, rng)
        k = int(rng.integers(8)) if self.augment else 0
        return make_pair(lr, tile[reference_index(self.mode)], self.mode, self.frames, self.norm, k)


class PairStream(IterableDataset):
    """Endless stream of pairs ``source.pair(start), source.pair(start + 1), ...``.

    With a DataLoader worker process the simulator runs beside the training step, so
    training on 2 cores is not starved; workers split the indices between them.
    """

    def __init__(self, source: SimulatedPairs | MoviePairs, start: int = 0) -> None:
        super().__init__()
        self.source = source
        self.start = start

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        step, offset = (info.num_workers, info.id) if info else (1, 0)
        if info:
            torch.set_num_threads(1)
        i = self.start + offset
        while True:
            x, y = self.source.pair(i)
            yield torch.from_numpy(x), torch.from_numpy(y)
            i += step
