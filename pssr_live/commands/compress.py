"""`pssr-live compress`: code every B frames of a movie into one snapshot (TCS)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pssr_live.commands.arguments import positive_int
from pssr_live.drivers.movie import read_movie
from pssr_live.recorder import read_frame_tags
from pssr_live.tcs.codec import TCSError, check_masks, masks_from_seed, read_mask_file
from pssr_live.tcs.snapshot import SnapshotMeta, compress_movie, write_snapshots

NAME = "compress"
HELP = "temporal compressive sensing: code every B frames of MOVIE.tif into one snapshot"
DEFAULT_RATIO = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("movie", type=Path, help="T x Y x X TIFF (e.g. a recording's raw.ome.tif)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="OUT.tcs.tif")
    parser.add_argument(
        "--ratio",
        type=positive_int,
        help=f"frames per snapshot, B (default {DEFAULT_RATIO}, or the mask file's frame count)",
    )
    masks = parser.add_mutually_exclusive_group()
    masks.add_argument(
        "--mask-seed", type=int, default=0, help="seed of the random masks (default 0)"
    )
    masks.add_argument("--masks", type=Path, help="calibrated masks, a B x Y x X TIFF")


def frame_times(path: Path) -> list[float] | None:
    """Acquisition times of a pssr-live recording's frames, None for other movies."""
    try:
        return [float(tag["t"]) for tag in read_frame_tags(path)]
    except Exception:  # not a pssr-live recording: no per-frame tags
        return None


def main(args: argparse.Namespace) -> int:
    movie = read_movie(args.movie)
    shape = movie.shape[1:]
    if args.masks is not None:
        masks, digest = read_mask_file(args.masks)
        ratio = args.ratio or masks.shape[0]
        check_masks(masks, ratio, shape)
        label: dict[str, object] = {"sha256": digest}
    else:
        ratio = args.ratio or DEFAULT_RATIO
        masks = masks_from_seed(args.mask_seed, ratio, shape)
        label = {"seed": args.mask_seed}
    times = frame_times(args.movie)
    if times is not None and len(times) != len(movie):
        raise TCSError(f"{args.movie}: {len(times)} time stamps for {len(movie)} frames")
    t0 = time.perf_counter()
    snaps = compress_movie(movie, masks, progress=True)
    seconds = time.perf_counter() - t0
    meta = SnapshotMeta(ratio, shape, len(movie), movie.dtype.name, label, times)
    written = write_snapshots(args.output, snaps, meta)
    pad = len(snaps) * ratio - len(movie)
    print(
        f"{len(movie)} frames -> {len(snaps)} snapshots (B = {ratio}"
        f"{f', last padded with {pad} frames' if pad else ''}): {movie.nbytes / 1e6:.1f} MB -> "
        f"{written / 1e6:.1f} MB, coded at {movie.nbytes / max(seconds, 1e-9) / 1e9:.1f} GB/s; "
        f"wrote {args.output}"
    )
    return 0
