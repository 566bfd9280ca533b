"""`pssr-live decompress`: reconstruct the B frames of every snapshot of a .tcs.tif."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import tifffile
import torch

from pssr_live.commands.arguments import positive_float, positive_int
from pssr_live.engines.base import create_engine, engine_names
from pssr_live.tcs.decode import decode_movie, gap_tv_decoder, net_decoder
from pssr_live.tcs.gaptv import DEFAULT_ITERS, DEFAULT_TV_WEIGHT
from pssr_live.tcs.net import bundled_tcs_path, load_tcs_model
from pssr_live.tcs.snapshot import read_snapshots, resolve_masks

NAME = "decompress"
HELP = "reconstruct the frames of a snapshot file (learned decoder or GAP-TV)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshots", type=Path, help="IN.tcs.tif written by `pssr-live compress`")
    parser.add_argument("-o", "--output", type=Path, required=True, help="MOVIE.tif")
    parser.add_argument(
        "--method", choices=("net", "gap-tv"), default="net", help="decoder (default net)"
    )
    parser.add_argument("--model", type=Path, help="TCS decoder (default: bundled for the B)")
    parser.add_argument(
        "--engine", default="auto", help=f"auto | {' | '.join(engine_names())} (default auto)"
    )
    parser.add_argument(
        "--threads", type=positive_int, help="CPU threads for the decoders (default: all cores)"
    )
    parser.add_argument("--masks", type=Path, help="the mask file, if the snapshots used one")
    parser.add_argument(
        "--iters", type=positive_int, default=DEFAULT_ITERS, help="GAP-TV iterations"
    )
    parser.add_argument(
        "--tv-weight", type=positive_float, default=DEFAULT_TV_WEIGHT, help="GAP-TV TV weight"
    )


def make_decoder(args: argparse.Namespace, ratio: int, shape: tuple[int, int]):
    """The decoder the arguments ask for; the learned one checks the model's B."""
    if args.method == "gap-tv":
        return gap_tv_decoder(args.iters, args.tv_weight), f"GAP-TV ({args.iters} iterations)"
    model = args.model or bundled_tcs_path(ratio)
    _, info = load_tcs_model(model, ratio=ratio)  # one-line error on a wrong B or a bad file
    engine = create_engine(args.engine, str(model), shape=shape, threads=args.threads)
    return net_decoder(engine, ratio, info.norm), f"network on {engine.describe()}"


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    snaps, meta = read_snapshots(args.snapshots)
    masks = resolve_masks(meta, args.masks)
    decoder, label = make_decoder(args, meta.ratio, meta.frame_shape)
    t0 = time.perf_counter()
    movie = decode_movie(snaps, meta, masks, decoder, progress=True)
    seconds = time.perf_counter() - t0
    tifffile.imwrite(args.output, movie, photometric="minisblack", metadata={"axes": "TYX"})
    print(
        f"{len(snaps)} snapshots -> {len(movie)} frames with the {label}: "
        f"{1e3 * seconds / len(snaps):.0f} ms per snapshot; wrote {args.output}"
    )
    return 0
