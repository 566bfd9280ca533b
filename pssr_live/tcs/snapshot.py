"""The snapshot file (``.tcs.tif``): coded snapshots plus all a decoder needs to know.

A TIFF with one page per snapshot, ``(S, H, W)``, and in the first page's description a
JSON object ``{"pssr_live_tcs": {...}}`` (:class:`SnapshotMeta`): the ratio B, the
masks (``{"seed": S}`` or ``{"sha256": ...}`` of a calibrated mask file), the source
dtype, the frame shape, the original frame count (the last snapshot may be padded by
repeating the last frame; decoding drops the padding) and per-frame time stamps.
Snapshots of integer frames are stored exactly in the smallest unsigned type that
holds them (uint16 for 10 frames up to 6553 counts), float frames as float32.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from tqdm import tqdm

from pssr_live.tcs.codec import (
    TCSError,
    check_masks,
    encode,
    masks_from_seed,
    read_mask_file,
)

META_KEY = "pssr_live_tcs"
FORMAT_VERSION = 1


@dataclass
class SnapshotMeta:
    """What a ``.tcs.tif`` says about its snapshots."""

    ratio: int
    frame_shape: tuple[int, int]
    n_frames: int  # frames of the original movie (the padding is not counted)
    source_dtype: str
    masks: dict[str, Any]  # {"seed": int} | {"sha256": str}
    times: list[float] | None = None  # per original frame, seconds (None: unknown)
    version: int = FORMAT_VERSION

    @property
    def n_snapshots(self) -> int:
        return -(-self.n_frames // self.ratio)

    def to_json(self) -> str:
        d = asdict(self)
        d["frame_shape"] = list(self.frame_shape)
        return json.dumps({META_KEY: d})

    @classmethod
    def from_json(cls, text: str, source: str) -> SnapshotMeta:
        """Parse and check the description of a snapshot file (TCSError if it is not one)."""
        try:
            d = json.loads(text)[META_KEY]
            known = {f.name for f in fields(cls)}
            if not isinstance(d, dict) or set(d) - known:
                raise ValueError(f"unknown keys {sorted(set(d) - known)}")
            meta = cls(**d)
            meta.frame_shape = (int(meta.frame_shape[0]), int(meta.frame_shape[1]))
            np.dtype(meta.source_dtype)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as e:
            raise TCSError(
                f"{source}: no TCS metadata ({type(e).__name__}); not a snapshot file "
                "written by `pssr-live compress`"
            ) from e
        if meta.version > FORMAT_VERSION:
            raise TCSError(f"{source}: snapshot format {meta.version} is newer than this reader")
        if not (isinstance(meta.ratio, int) and meta.ratio >= 1 and meta.n_frames >= 1):
            raise TCSError(f"{source}: bad ratio {meta.ratio!r} or frame count {meta.n_frames!r}")
        if not ("seed" in meta.masks or "sha256" in meta.masks):
            raise TCSError(f"{source}: the metadata names no masks (seed or sha256)")
        return meta

    def mask_label(self) -> int | str:
        """The seed, or the mask file's hash (the wire header's ``masks``)."""
        return self.masks["seed"] if "seed" in self.masks else self.masks["sha256"]


def resolve_masks(meta: SnapshotMeta, mask_file: str | os.PathLike[str] | None) -> np.ndarray:
    """The masks a snapshot file was coded with: from its seed, or the given mask file."""
    if "seed" in meta.masks:
        masks = masks_from_seed(int(meta.masks["seed"]), meta.ratio, meta.frame_shape)
    elif mask_file is None:
        raise TCSError(
            f"the snapshots were coded with a mask file (sha256 {meta.masks['sha256'][:12]}...): "
            "pass it with --masks"
        )
    else:
        masks, digest = read_mask_file(mask_file)
        if digest != meta.masks["sha256"]:
            raise TCSError(
                f"{mask_file} is not the mask file these snapshots were coded with "
                f"(sha256 {digest[:12]}... != {meta.masks['sha256'][:12]}...)"
            )
    check_masks(masks, meta.ratio, meta.frame_shape)
    return masks


def padded_groups(movie: np.ndarray, ratio: int) -> Iterable[np.ndarray]:
    """Consecutive groups of ``ratio`` frames; the last is padded by repeating its last frame."""
    for start in range(0, len(movie), ratio):
        group = movie[start : start + ratio]
        if len(group) < ratio:
            pad = np.repeat(group[-1:], ratio - len(group), axis=0)
            group = np.concatenate([group, pad])
        yield group


def compress_movie(movie: np.ndarray, masks: np.ndarray, *, progress: bool = False) -> np.ndarray:
    """All snapshots of a (T, H, W) movie, float32 ``(S, H, W)`` (S = ceil(T / B))."""
    ratio = masks.shape[0]
    check_masks(masks, ratio, movie.shape[1:])
    snaps = np.empty((-(-len(movie) // ratio), *movie.shape[1:]), np.float32)
    groups = padded_groups(movie, ratio)
    for i, group in enumerate(tqdm(groups, total=len(snaps), disable=not progress, unit="snap")):
        encode(group, masks, out=snaps[i])
    return snaps


def write_snapshots(path: str | os.PathLike[str], snaps: np.ndarray, meta: SnapshotMeta) -> int:
    """Write snapshots and metadata; returns the bytes of snapshot data written.

    Integer sources are stored as the narrowest exact unsigned type whose range the
    data fits (uint16 when the largest snapshot value allows it).
    """
    dtype = np.dtype(np.float32)
    if np.dtype(meta.source_dtype).kind in "ui" and snaps.min(initial=0) >= 0:
        top = float(snaps.max(initial=0))
        dtype = np.dtype(np.uint16 if top < 2**16 else np.uint32)
    data = snaps.astype(dtype)
    tifffile.imwrite(
        path, data, description=meta.to_json(), metadata=None, photometric="minisblack"
    )
    return int(data.nbytes)


def read_snapshots(path: str | os.PathLike[str]) -> tuple[np.ndarray, SnapshotMeta]:
    """Snapshots as float32 ``(S, H, W)`` and their metadata (TCSError on a foreign file)."""
    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tif:
            description = tif.pages[0].description if tif.pages else ""
            meta = SnapshotMeta.from_json(description, str(path))
            data = tif.asarray()
    except OSError as e:
        raise TCSError(f"cannot read {path}: {e.strerror or e}") from e
    except tifffile.TiffFileError as e:
        raise TCSError(f"{path}: not a TIFF ({e})") from e
    data = data.reshape(-1, *data.shape[-2:]).astype(np.float32)
    if data.shape != (meta.n_snapshots, *meta.frame_shape):
        raise TCSError(
            f"{path}: holds snapshots {data.shape}, its metadata says "
            f"{(meta.n_snapshots, *meta.frame_shape)}"
        )
    return data, meta
