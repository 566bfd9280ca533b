"""Decoding snapshots in counts: per-snapshot normalisation, then GAP-TV or the network.

Normalisation (design 7: without it a decoder fails on bright, hazy scenes): the
``low`` / ``high`` percentiles of the mean image ``y / Phi`` (``Phi = sum_k M_k``),
with a floor, define one affine map for all B frames, ``x' = (x - low) / scale``. The
snapshot maps consistently, ``y' = (y - low * Phi) / scale``, so the decoders see
``y' = sum_k M_k x'_k`` at a scale near one, and their output is mapped back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
from tqdm import tqdm

from pssr_live.engines.base import pad_to_multiple
from pssr_live.normalization import NormSettings, Scaling, denormalize, normalize
from pssr_live.tcs.codec import TCSError, check_masks, mask_sum
from pssr_live.tcs.gaptv import DEFAULT_ITERS, DEFAULT_TV_ITERS, DEFAULT_TV_WEIGHT, gap_tv
from pssr_live.tcs.snapshot import SnapshotMeta

DEFAULT_NORM = NormSettings()
#: Decoder: (snapshot (H, W) counts, masks (B, H, W)) -> frames (B, H, W) counts.
Decoder = Callable[[np.ndarray, np.ndarray], np.ndarray]


def normalize_snapshot(
    y: np.ndarray, masks: np.ndarray, norm: NormSettings = DEFAULT_NORM
) -> tuple[np.ndarray, Scaling]:
    """The normalised snapshot ``(y - low * Phi) / scale`` (float32) and its scaling."""
    phi = mask_sum(masks)
    _, scaling = normalize(y / np.maximum(phi, 1.0), norm)
    return ((y - np.float32(scaling.low) * phi) / np.float32(scaling.scale)).astype(
        np.float32
    ), scaling


def pack(y_norm: np.ndarray, masks: np.ndarray, multiple: int) -> np.ndarray:
    """Engine input (1, 1+B, H', W'): snapshot then masks, padded to ``multiple``."""
    stacked = np.concatenate([y_norm[np.newaxis], masks.astype(np.float32)])
    return pad_to_multiple(stacked, multiple)[np.newaxis]


class RunsNetwork(Protocol):
    """What the learned decoder needs of an engine (or of a network in training)."""

    multiple: int

    def run(self, batch: np.ndarray) -> np.ndarray: ...


def net_decoder(engine: RunsNetwork, ratio: int, norm: NormSettings) -> Decoder:
    """The learned decoder on any engine that runs a TCS model (``engine.run``)."""

    def decode(y: np.ndarray, masks: np.ndarray) -> np.ndarray:
        check_masks(masks, ratio, y.shape)
        y_norm, scaling = normalize_snapshot(y, masks, norm)
        out = engine.run(pack(y_norm, masks, engine.multiple))[0, :, : y.shape[0], : y.shape[1]]
        return denormalize(out, scaling)

    return decode


def gap_tv_decoder(
    iters: int = DEFAULT_ITERS,
    tv_weight: float = DEFAULT_TV_WEIGHT,
    tv_iters: int = DEFAULT_TV_ITERS,
    norm: NormSettings = DEFAULT_NORM,
) -> Decoder:
    """GAP-TV on the normalised snapshot (so one TV weight fits every intensity scale)."""

    def decode(y: np.ndarray, masks: np.ndarray) -> np.ndarray:
        if masks.shape[1:] != y.shape:
            raise TCSError(f"masks {masks.shape} do not fit a snapshot of shape {y.shape}")
        y_norm, scaling = normalize_snapshot(y, masks, norm)
        x = gap_tv(y_norm, masks, iters=iters, tv_weight=tv_weight, tv_iters=tv_iters)
        return denormalize(x, scaling)

    return decode


def to_dtype(frames: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round and clip decoded frames into the source dtype (float sources kept float)."""
    if dtype.kind not in "ui":
        return frames.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.rint(frames), info.min, info.max).astype(dtype)


def decode_movie(
    snaps: np.ndarray,
    meta: SnapshotMeta,
    masks: np.ndarray,
    decoder: Decoder,
    *,
    progress: bool = False,
) -> np.ndarray:
    """All frames of a snapshot file, padding dropped, in the source dtype."""
    check_masks(masks, meta.ratio, meta.frame_shape)
    dtype = np.dtype(meta.source_dtype)
    movie = np.empty((meta.n_frames, *meta.frame_shape), dtype)
    for i, y in enumerate(tqdm(snaps, disable=not progress, unit="snap", desc="decoding")):
        start = i * meta.ratio
        n = min(meta.ratio, meta.n_frames - start)
        movie[start : start + n] = to_dtype(decoder(y, masks)[:n], dtype)
    return movie
