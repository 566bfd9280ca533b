"""Reading T x Y x X movies from TIFF files: replay, offline restoration and training."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tifffile

from pssr_live.errors import UserError


class MovieError(UserError):
    """A movie file that cannot be used; one line saying why."""


def read_movie(path: str | os.PathLike[str], *, mmap: bool = False) -> np.ndarray:
    """A T x Y x X movie (a 2-D image becomes T = 1) from a TIFF / OME-TIFF.

    Accepts uint8, uint16, int and float data; singleton axes are dropped. Raises
    MovieError (one line) for anything else: unreadable files, colour or multi-channel
    stacks, 4-D+ data, NaN/inf. With `mmap`, an uncompressed file is memory-mapped
    rather than read (replay of long recordings).
    """
    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes
            data = _memmap(path) if mmap and series.dataoffset is not None else None
            if data is None:
                data = series.asarray()
    except FileNotFoundError:
        raise MovieError(f"movie {path} not found: no such file") from None
    except Exception as exc:  # tifffile raises many types for bad files
        raise MovieError(f"{path}: not a readable TIFF ({exc})") from None
    if len(axes) != data.ndim:  # a damaged file tifffile could only partly read
        raise MovieError(f"{path}: damaged TIFF (axes {axes!r}, data of shape {data.shape})")
    for ax, n in zip(axes, data.shape, strict=True):
        if ax in "CS" and n > 1:
            raise MovieError(
                f"{path}: has {n} channels/samples (axes {axes}); pssr-live needs one "
                "channel: split the channels into separate files"
            )
    return check_movie(np.asarray(data), str(path))


def check_movie(data: np.ndarray, name: str = "movie") -> np.ndarray:
    """Validate an array as T x Y x X (2-D: T = 1; leading singleton axes dropped)."""
    if data.dtype.kind not in "uif":
        raise MovieError(f"{name}: unsupported dtype {data.dtype}; need uint8/uint16/float")
    shape = data.shape
    if data.ndim > 3:
        data = data.reshape(*[n for n in shape[:-2] if n != 1], *shape[-2:])
    if data.ndim == 2:
        data = data[np.newaxis]
    if data.ndim != 3 or data.shape[0] == 0:
        raise MovieError(
            f"{name}: shape {shape} is not T x Y x X (one channel, one z-plane); "
            "split channels / planes into separate files"
        )
    if data.shape[1] < 4 or data.shape[2] < 4:
        raise MovieError(f"{name}: frames of {data.shape[1]}x{data.shape[2]} are too small")
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise MovieError(f"{name}: holds NaN or inf values; frames must be finite")
    return data


def _memmap(path: Path) -> np.ndarray | None:
    """The file's first series memory-mapped, or None where tifffile cannot map it."""
    try:
        return tifffile.memmap(path, mode="r")
    except ValueError:
        return None
