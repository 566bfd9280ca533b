"""Offline restoration of a whole movie with the live code path (`restore_frames`).

Frame ``t`` of the output is restored from the window that depicts it (centered:
t-2..t+2, causal: t-4..t, single-frame: t alone); windows reaching past the first or
last frame replicate the edge frame, so every input frame gets exactly one output frame,
also for movies shorter than the window.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from pssr_live.datasets import window_indices
from pssr_live.engines.base import Engine
from pssr_live.normalization import NormSettings
from pssr_live.restorer import restore_frames


def restore_movie(
    engine: Engine,
    movie: np.ndarray,
    mode: str,
    norm: NormSettings,
    targets: range | list[int] | None = None,
) -> Iterator[np.ndarray]:
    """Restored float32 frames (counts) of `targets` (default: every frame) in order."""
    n = len(movie)
    for t in targets if targets is not None else range(n):
        yield restore_frames(engine, movie[window_indices(t, n, mode, engine.frames)], norm)
