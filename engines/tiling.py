"""Seam-free restoration of frames larger than an engine takes (or than memory allows).

The padded window is cut into overlapping tiles of one fixed size (fixed shapes suit
CUDA graphs and TensorRT profiles). Tile origins are multiples of the network's
``multiple``, so a tile's stride-2 grid is the frame's and the middle of every tile
equals the untiled result exactly. Near a tile's inner edges the network sees its zero
padding instead of the neighbouring pixels; there the tiles are blended with weights
that are zero over the outer quarter of the overlap (the worst of the border effect),
rise as sin^2 over the middle half, and are one beyond. On a regular grid the weights
of two neighbours sum to one (sin^2 + cos^2); the last tile, placed flush with the
frame edge, overlaps more, which the division by the summed weight absorbs. The
frame's own edges are never tapered.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Default overlap between tiles in LR pixels. The default PSSRNet (depth 2, one block
#: per level) sees 23 LR pixels around each output pixel; a quarter of the overlap is
#: discarded, and the blend ramp spans the next half.
DEFAULT_OVERLAP = 64


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size `tile` covering `length`, the last one flush with the end."""
    if tile >= length:
        return [0]
    stride = tile - overlap
    if stride <= 0:
        raise ValueError(f"tile {tile} must be larger than the overlap {overlap}")
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def edge_weights(size: int, overlap: int, taper_start: bool, taper_end: bool) -> np.ndarray:
    """1-D blend weights of one tile along one axis (all lengths in output pixels)."""
    margin = overlap // 4
    ramp = max(overlap - 2 * margin, 1)

    def rise(distance: np.ndarray) -> np.ndarray:
        t = np.clip((distance - margin) / ramp, 0.0, 1.0)
        return np.sin(0.5 * np.pi * t) ** 2

    u = np.arange(size, dtype=np.float64) + 0.5  # pixel centres
    w = np.ones(size)
    if taper_start:
        w *= rise(u)
    if taper_end:
        w *= rise(size - u)
    return w


def restore_tiled(
    run: Callable[[np.ndarray], np.ndarray],
    window: np.ndarray,
    tile: tuple[int, int],
    *,
    overlap: int,
    scale: int,
    multiple: int,
) -> np.ndarray:
    """Restore `window` (frames, H, W) tile by tile with `run` ((frames, th, tw) -> (s*th, s*tw)).

    H and W must already be multiples of `multiple`; `tile` is clipped to the frame and
    rounded down to a multiple, `overlap` rounded up to one and capped at half a tile.
    """
    _, h, w = window.shape
    if h % multiple or w % multiple:
        raise ValueError(f"window {h}x{w} is not padded to a multiple of {multiple}")
    th, tw = (
        max(multiple, min(t, n) // multiple * multiple) for t, n in ((tile[0], h), (tile[1], w))
    )
    ov = -(-overlap // multiple) * multiple
    ov_h = min(ov, th // 2 // multiple * multiple)
    ov_w = min(ov, tw // 2 // multiple * multiple)
    out = np.zeros((scale * h, scale * w), np.float64)
    weight = np.zeros_like(out)
    for y in tile_starts(h, th, ov_h):
        wy = edge_weights(scale * th, scale * ov_h, y > 0, y + th < h)
        for x in tile_starts(w, tw, ov_w):
            wx = edge_weights(scale * tw, scale * ov_w, x > 0, x + tw < w)
            part = run(np.ascontiguousarray(window[:, y : y + th, x : x + tw]))
            wt = np.outer(wy, wx)
            region = np.s_[scale * y : scale * (y + th), scale * x : scale * (x + tw)]
            out[region] += wt * part
            weight[region] += wt
    return (out / weight).astype(np.float32)
