"""Coding masks and the TCS encoder: ``y = sum_k M_k * x_k``.

Masks are binary, one per frame and pixel, stored as uint8 0/1 ``(B, H, W)``. They
come either from a seed (Bernoulli(0.5), reproducible: see :func:`masks_from_seed`) or
from a T x Y x X TIFF holding a real system's calibrated masks (a beam blanker or
laser modulator), identified by the file's sha256. The same B masks code every
snapshot of a movie, as a hardware modulator cycling through its patterns would.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import tifffile

from pssr_live.errors import UserError


class TCSError(UserError):
    """Bad TCS input (masks, snapshot file, ratio, model): one line, says what to do."""


def masks_from_seed(seed: int, ratio: int, shape: tuple[int, int]) -> np.ndarray:
    """``(ratio, H, W)`` uint8 0/1 masks, each pixel of each frame Bernoulli(0.5).

    Definition (stable across versions): the bits of
    ``numpy.random.default_rng(seed).bytes(ceil(ratio*H*W/8))``, unpacked most
    significant bit first, in C order.
    """
    if ratio < 1:
        raise TCSError(f"compression ratio must be >= 1, got {ratio}")
    h, w = shape
    n = ratio * h * w
    raw = np.frombuffer(np.random.default_rng(seed).bytes(-(-n // 8)), np.uint8)
    return np.unpackbits(raw, count=n).reshape(ratio, h, w)


def read_mask_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, str]:
    """Read calibrated masks (T x Y x X TIFF, any values: nonzero = open) and their sha256."""
    path = Path(path)
    try:
        data = path.read_bytes()
        masks = tifffile.imread(io.BytesIO(data))  # the bytes that are hashed, read once
    except OSError as e:
        raise TCSError(f"cannot read mask file {path}: {e.strerror or e}") from e
    except Exception as e:  # tifffile raises several kinds on a file that is not a TIFF
        raise TCSError(f"{path}: not a readable TIFF of masks ({type(e).__name__})") from e
    if masks.ndim != 3:
        raise TCSError(f"{path}: masks must be T x Y x X, got shape {masks.shape}")
    return (masks != 0).astype(np.uint8), hashlib.sha256(data).hexdigest()


def check_masks(masks: np.ndarray, ratio: int, shape: tuple[int, int]) -> None:
    """Raise TCSError unless ``masks`` is ``(ratio, *shape)``."""
    if masks.shape != (ratio, *shape):
        raise TCSError(
            f"masks have shape {masks.shape}, expected {(ratio, *shape)} "
            f"(ratio x frame height x frame width)"
        )


def encode(frames: np.ndarray, masks: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Snapshot ``sum_k masks[k] * frames[k]`` as float32 ``(H, W)``.

    One in-place multiply and add per frame through a reused buffer (several GB/s of
    uint16 frames on one core; see docs/tcs.md). Exact for integer frames while the sum
    stays below 2**24 (B = 256 frames of uint16).
    """
    if frames.ndim != 3 or frames.shape != masks.shape:
        raise TCSError(
            f"frames {frames.shape} and masks {masks.shape} must both be (B, H, W) and equal"
        )
    y = np.zeros(frames.shape[1:], np.float32) if out is None else out
    if out is not None:
        y.fill(0)
    tmp = np.empty(frames.shape[1:], np.float32)
    for x_k, m_k in zip(frames, masks, strict=True):
        accumulate(y, x_k, m_k, tmp)
    return y


def accumulate(y: np.ndarray, frame: np.ndarray, mask: np.ndarray, tmp: np.ndarray) -> None:
    """``y += mask * frame`` in place through the float32 buffer ``tmp`` (one frame's share)."""
    np.multiply(frame, mask, out=tmp)
    y += tmp


def mask_sum(masks: np.ndarray) -> np.ndarray:
    """``Phi = sum_k M_k`` as float32 ``(H, W)`` (how many frames each pixel sums)."""
    return masks.sum(axis=0, dtype=np.float32)
