"""`pssr-live train-tcs`: train the learned TCS decoder for one compression ratio B."""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from pssr_live.commands.arguments import positive_float, positive_int
from pssr_live.drivers.movie import read_movie
from pssr_live.tcs.codec import TCSError
from pssr_live.tcs.train import TrainSettings, train

NAME = "train-tcs"
HELP = "train the TCS decoder (simulated movies by default, or --movies A.tif ...)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainSettings()
    parser.add_argument("--ratio", type=positive_int, default=d.ratio, help="frames per snapshot B")
    parser.add_argument(
        "--movies",
        type=Path,
        nargs="+",
        help="clean T x Y x X movies to learn from (default: the simulator's HR movies)",
    )
    parser.add_argument("-o", "--output", type=Path, help="model file (default tcs_bB.safetensors)")
    parser.add_argument(
        "--minutes",
        type=positive_float,
        default=d.minutes,
        help="time budget (default %(default)s)",
    )
    parser.add_argument("--steps", type=positive_int, default=d.max_steps, help="at most N steps")
    parser.add_argument("--width", type=positive_int, default=d.width, help="U-Net width")
    parser.add_argument("--stages", type=positive_int, default=d.stages, help="GAP + U-Net stages")
    parser.add_argument(
        "--gap-iters",
        type=int,
        default=d.gap_iters,
        choices=range(0, 21),
        metavar="N",
        help="GAP-TV iterations in front of the U-Net (0-20; default %(default)s: quality; "
        "0: fastest)",
    )
    parser.add_argument("--patch", type=positive_int, default=d.patch, help="training patch, px")
    parser.add_argument("--batch", type=positive_int, default=d.batch, help="patches per step")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--threads", type=positive_int, default=d.threads, help="torch threads")


def user_movies(paths: list[Path], ratio: int, patch: int) -> list[np.ndarray]:
    """Movies scaled to 0..1 (0.1 / 99.9 percentiles); one-line error if one is too small."""
    movies = []
    for path in paths:
        movie = read_movie(path)
        t, h, w = movie.shape
        if t < ratio or h < patch or w < patch:
            raise TCSError(
                f"{path}: {t} frames of {h}x{w}; training needs >= {ratio} frames of at least "
                f"{patch}x{patch} (or a smaller --patch)"
            )
        lo, hi = np.percentile(movie, [0.1, 99.9])
        movies.append(((movie - lo) / max(float(hi - lo), 1e-6)).astype(np.float32))
    return movies


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = replace(
        TrainSettings(),
        ratio=args.ratio,
        minutes=args.minutes,
        max_steps=args.steps,
        width=args.width,
        stages=args.stages,
        gap_iters=args.gap_iters,
        patch=args.patch,
        batch=args.batch,
        seed=args.seed,
        threads=args.threads,
    )
    out = args.output or Path(f"tcs_b{args.ratio}.safetensors")
    movies = user_movies(args.movies, args.ratio, args.patch) if args.movies else None
    label = ", ".join(p.name for p in args.movies) if args.movies else "simulator"
    info = train(settings, out, movies=movies, data_label=label)
    t = info.training
    kept = (
        f"the best on the validation movies ({t['validation_psnr']:.2f} dB, step {t['best_step']})"
        if "validation_psnr" in t
        else "the last"
    )
    print(f"trained {t['steps']} steps in {t['seconds'] / 60:.1f} min; wrote {kept} to {out}")
    return 0
