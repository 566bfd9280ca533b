"""Live quality of the restored stream against a simulated source's HR ground truth.

The pipeline hands every restored frame to `QualityMonitor.offer`; about once a second
one of them is scored on a thread of its own (PSNR and SSIM of the restored frame and of
bilinear interpolation, on a central 256 x 256 crop: tens of ms of one core), so the
restorer's latency is not affected.
The newest result travels in the `quality` key of later restored headers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from scipy.ndimage import zoom

from pssr_live.drivers.source import Frame, FrameSource
from pssr_live.metrics import score


def bilinear_upsample(lr: np.ndarray, scale: int) -> np.ndarray:
    """Bilinear interpolation by `scale`, LR pixels centred on their HR blocks (float32)."""
    return zoom(lr.astype(np.float32), scale, order=1, grid_mode=True, mode="nearest")


def central_crop(shape: tuple[int, int], size: int, multiple: int) -> tuple[slice, slice]:
    """A centred window of at most `size` per axis whose corner is on a `multiple` grid."""
    out = []
    for n in shape:
        c = min(size, n)
        start = (n - c) // 2 // multiple * multiple
        out.append(slice(start, start + c))
    return out[0], out[1]


def measure(restored: np.ndarray, lr: np.ndarray, truth: np.ndarray, crop: int = 256) -> dict:
    """PSNR / SSIM of the restored frame and of bilinear interpolation on a central crop."""
    scale = truth.shape[0] // lr.shape[0]
    ys, xs = central_crop(truth.shape, crop, scale)
    # Interpolate only the LR pixels under the crop, with a margin for the interpolation.
    margin = 2
    ly0, lx0 = max(ys.start // scale - margin, 0), max(xs.start // scale - margin, 0)
    ly1 = min(-(-ys.stop // scale) + margin, lr.shape[0])
    lx1 = min(-(-xs.stop // scale) + margin, lr.shape[1])
    bilinear = bilinear_upsample(lr[ly0:ly1, lx0:lx1], scale)
    by, bx = ys.start - ly0 * scale, xs.start - lx0 * scale
    bilinear = bilinear[by : by + ys.stop - ys.start, bx : bx + xs.stop - xs.start]
    restored_score = score(restored[ys, xs], truth[ys, xs])
    bilinear_score = score(bilinear, truth[ys, xs])
    return {
        "psnr": float(restored_score.psnr),
        "ssim": float(restored_score.ssim),
        "psnr_bilinear": float(bilinear_score.psnr),
        "ssim_bilinear": float(bilinear_score.ssim),
    }


class QualityMonitor:
    """Scores a restored frame every `interval_s` seconds, off the restorer's thread.

    `remember` (producer side) keeps the last `keep` raw frames that carry a ground-truth
    key; `offer` (restorer side) never waits: when the scorer is busy or the interval has
    not passed, the frame is simply not scored.
    """

    def __init__(self, source: FrameSource, *, interval_s: float = 1.0, keep: int = 64) -> None:
        self.source = source
        self.interval_s = interval_s
        self.keep = keep
        self.latest: dict[str, Any] | None = None
        self.error: str | None = None
        self._frames: dict[int, Frame] = {}
        self._pending: tuple[Frame, np.ndarray] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._t_next = 0.0
        self._thread = threading.Thread(target=self._run, name="quality", daemon=True)
        self._thread.start()

    def remember(self, frame: Frame) -> None:
        """Keep a raw frame that has ground truth (called for every frame; O(1))."""
        if frame.ground_truth_key is not None:
            self._frames[frame.index] = frame
            self._frames.pop(frame.index - self.keep, None)

    def offer(self, target: int, image: np.ndarray) -> dict[str, Any] | None:
        """Maybe queue `image` (restoring raw frame `target`) for scoring; the newest result."""
        now = time.monotonic()
        frame = self._frames.get(target)
        if frame is not None and now >= self._t_next and not self._wake.is_set():
            self._t_next = now + self.interval_s
            self._pending = (frame, image)
            self._wake.set()
        return self.latest

    def _run(self) -> None:
        while self._wake.wait() and not self._stop.is_set():
            frame, image = self._pending  # type: ignore[misc]
            try:
                truth = self.source.ground_truth(frame)
                if truth is not None:
                    self.latest = {"frame": frame.index, **measure(image, frame.data, truth)}
            except Exception as exc:  # quality is a readout: report it, never stop the run
                self.error = f"live quality stopped: {type(exc).__name__}: {exc}"
                return
            finally:
                self._wake.clear()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5.0)
