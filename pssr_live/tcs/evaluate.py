"""`pssr-live evaluate-tcs`: decoders against the truth, and JPEG at the same bytes.

For every ratio B, every movie is cut into groups of B frames, each group coded with
the seeded masks into one snapshot and decoded by the network (when a model for that B
exists), by GAP-TV and, as the paper's comparison, by JPEG at the same number of bytes:
each frame of the group JPEG-coded (8-bit, mapped with the group's range) at the
highest quality whose B files together fit in the bytes of the stored snapshot.
Frames are scored against the clean frames with :func:`pssr_live.metrics.score`; the
decode time per snapshot is the median over the snapshots.

The default test set is :data:`pssr_live.tcs.data.TEST_MOVIES` (fixed seeds, shot and
read noise at peak 20-200 photons; ``noise_free`` repeats it without noise); a user
movie is its own reference (its noise included).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import imagecodecs
import numpy as np

from pssr_live.metrics import score
from pssr_live.tcs.codec import encode, masks_from_seed
from pssr_live.tcs.data import TEST_MOVIES, VALIDATION_MOVIES, Detector, clean_movie
from pssr_live.tcs.decode import Decoder, gap_tv_decoder, normalize_snapshot
from pssr_live.tcs.gaptv import DEFAULT_TV_ITERS, gap_tv

MASK_SEED = 0


@dataclass
class Case:
    """One movie to code: what goes in (counts) and what it is scored against."""

    name: str
    frames: np.ndarray  # (T, H, W) uint16 counts (or the user's movie)
    reference: np.ndarray  # (T, H, W) float32 clean frames


@dataclass
class Result:
    """Mean quality and decode time of one method at one ratio."""

    method: str
    ratio: int
    psnr: float
    ssim: float
    ms_per_snapshot: float
    snapshots: int
    extra: dict[str, float] = field(default_factory=dict)


def to_counts(frames: np.ndarray) -> np.ndarray:
    """What a detector writes: rounded, clipped uint16."""
    return np.clip(np.rint(frames), 0, 65535).astype(np.uint16)


def simulated_cases(
    size: int, n_frames: int, noise_free: bool = False, movies=TEST_MOVIES
) -> list[Case]:
    """The fixed simulated test (or validation) movies with their clean frames."""
    cases = []
    for seed, speed, detector in movies:
        clean = clean_movie(n_frames, (size, size), seed, speed)
        det = (
            Detector(math.inf, detector.background, 0.0, detector.offset)
            if noise_free
            else detector
        )
        noisy = det.measure(clean, np.random.default_rng(seed))
        name = f"sim{seed} speed {speed:g}, " + (
            "noise-free" if noise_free else f"peak {det.peak:g}"
        )
        cases.append(Case(name, to_counts(noisy), det.expected(clean)))
    return cases


def groups(case: Case, ratio: int) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """Whole groups of ``ratio`` frames (a partial last group is not scored)."""
    for start in range(0, len(case.frames) - ratio + 1, ratio):
        yield case.frames[start : start + ratio], case.reference[start : start + ratio]


def jpeg_at_bytes(frames: np.ndarray, budget: int) -> tuple[np.ndarray, int]:
    """Frames JPEG-coded at the highest quality whose total size fits ``budget`` bytes."""
    lo_v, hi_v = float(frames.min()), float(frames.max())
    span = max(hi_v - lo_v, 1e-6)
    eight = np.rint((frames - lo_v) * (255.0 / span)).astype(np.uint8)

    def code(q: int) -> list[bytes]:
        return [imagecodecs.jpeg8_encode(f, level=q) for f in eight]

    lo, hi, best = 1, 95, code(1)
    while lo <= hi:
        mid = (lo + hi) // 2
        coded = code(mid)
        if sum(map(len, coded)) <= budget:
            best, lo = coded, mid + 1
        else:
            hi = mid - 1
    decoded = np.stack([imagecodecs.jpeg8_decode(b) for b in best]).astype(np.float32)
    return decoded * (span / 255.0) + lo_v, sum(map(len, best))


def snapshot_nbytes(y: np.ndarray) -> int:
    """Bytes of a stored snapshot of integer frames (as `write_snapshots` stores it)."""
    return y.size * (2 if float(y.max()) < 2**16 else 4)


def evaluate_method(name: str, decoder: Decoder | None, cases: list[Case], ratio: int) -> Result:
    """Score one method (``decoder`` None: JPEG at the snapshot's bytes) over all cases."""
    psnrs, ssims, times, jpeg_bytes = [], [], [], []
    for case in cases:
        masks = masks_from_seed(MASK_SEED, ratio, case.frames.shape[1:])
        for frames, ref in groups(case, ratio):
            y = encode(frames, masks)
            t0 = time.perf_counter()
            if decoder is None:
                out, nbytes = jpeg_at_bytes(frames, snapshot_nbytes(y))
                jpeg_bytes.append(nbytes / snapshot_nbytes(y))
            else:
                out = decoder(y, masks)
            times.append(time.perf_counter() - t0)
            for k in range(ratio):
                s = score(out[k], ref[k])
                if np.isfinite(s.psnr):  # an empty reference frame scores inf for all
                    psnrs.append(s.psnr)
                    ssims.append(s.ssim)
    extra = {"bytes_vs_snapshot": float(np.mean(jpeg_bytes))} if jpeg_bytes else {}
    return Result(
        name,
        ratio,
        float(np.mean(psnrs)),
        float(np.mean(ssims)),
        1e3 * statistics.median(times),
        len(times),
        extra,
    )


def tune_gap_tv(
    size: int,
    ratio: int = 10,
    weights: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3),
    checkpoints: tuple[int, ...] = (1, 2, 3, 5, 10, 20),
    log: Callable[[str], None] = print,
) -> tuple[int, float, float]:
    """(iterations, TV weight, PSNR) best on the validation movies (not the test set).

    The validation set: :data:`VALIDATION_MOVIES`, 60 frames of ``size`` x ``size``
    (the test frames' size: the best settings depend on it).
    """
    cases = simulated_cases(size, 60, movies=VALIDATION_MOVIES)
    best = (0, 0.0, -math.inf)
    for w in weights:
        per_iter: dict[int, list[float]] = {c: [] for c in checkpoints}
        for case in cases:
            masks = masks_from_seed(MASK_SEED, ratio, case.frames.shape[1:])
            for frames, ref in groups(case, ratio):
                y_norm, _ = normalize_snapshot(encode(frames, masks), masks)

                def record(
                    i: int, x: np.ndarray, ref: np.ndarray = ref, found: dict = per_iter
                ) -> None:
                    if i + 1 in found:
                        found[i + 1].append(
                            np.mean([score(x[k], ref[k]).psnr for k in range(ratio)])
                        )

                gap_tv(
                    y_norm,
                    masks,
                    iters=max(checkpoints),
                    tv_weight=w,
                    tv_iters=DEFAULT_TV_ITERS,
                    callback=record,
                )
        for iters, values in per_iter.items():
            p = float(np.mean(values))
            log(f"GAP-TV tv_weight {w:g}, {iters} iterations: {p:.2f} dB")
            if p > best[2]:
                best = (iters, w, p)
    return best


def default_decoders(
    ratio: int, net: Decoder | None, gap_iters: int, tv_weight: float
) -> list[tuple[str, Decoder | None]]:
    """The methods compared at one ratio: network (if any), GAP-TV, JPEG."""
    methods: list[tuple[str, Decoder | None]] = []
    if net is not None:
        methods.append(("network", net))
    methods.append((f"GAP-TV {gap_iters} it", gap_tv_decoder(gap_iters, tv_weight)))
    methods.append(("JPEG same bytes", None))
    return methods
