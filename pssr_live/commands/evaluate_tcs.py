"""`pssr-live evaluate-tcs`: network vs GAP-TV vs JPEG at equal bytes, for B = 10, 20, 30."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from pssr_live.commands.arguments import positive_float, positive_int
from pssr_live.drivers.movie import read_movie
from pssr_live.engines.base import create_engine, engine_names
from pssr_live.tcs.decode import Decoder, net_decoder
from pssr_live.tcs.evaluate import (
    Case,
    Result,
    default_decoders,
    evaluate_method,
    simulated_cases,
    tune_gap_tv,
)
from pssr_live.tcs.gaptv import DEFAULT_ITERS, DEFAULT_TV_WEIGHT
from pssr_live.tcs.net import bundled_tcs_path, load_tcs_model

NAME = "evaluate-tcs"
HELP = "PSNR/SSIM and decode time of the TCS decoders and of JPEG at the same bytes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ratios", type=positive_int, nargs="+", default=[10, 20, 30], help="B values"
    )
    parser.add_argument("--movie", type=Path, help="evaluate on this movie instead (its own truth)")
    parser.add_argument("--noise-free", action="store_true", help="simulated movies without noise")
    parser.add_argument("--size", type=positive_int, default=256, help="simulated frame size")
    parser.add_argument("--frames", type=positive_int, default=60, help="frames per movie")
    parser.add_argument("--model-dir", type=Path, help="tcs_bB.safetensors files (default bundled)")
    parser.add_argument(
        "--engine", default="auto", help=f"auto | {' | '.join(engine_names())} (default auto)"
    )
    parser.add_argument(
        "--threads", type=positive_int, help="CPU threads for the decoders (default: all cores)"
    )
    parser.add_argument("--gap-iters", type=positive_int, default=DEFAULT_ITERS)
    parser.add_argument("--tv-weight", type=positive_float, default=DEFAULT_TV_WEIGHT)
    parser.add_argument(
        "--tune",
        action="store_true",
        help="first tune GAP-TV on the validation movies (B = 10, --size)",
    )
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--png", type=Path, help="plots: PATH-quality.png and PATH-time.png")


def network(
    args: argparse.Namespace, ratio: int, shape: tuple[int, int]
) -> tuple[Decoder | None, str]:
    """The learned decoder for this B and its engine, or (None, "") without a model."""
    path = (
        (args.model_dir / f"tcs_b{ratio}.safetensors")
        if args.model_dir
        else bundled_tcs_path(ratio)
    )
    if not path.exists():
        return None, ""
    _, info = load_tcs_model(path, ratio=ratio)
    engine = create_engine(args.engine, str(path), shape=shape, threads=args.threads)
    return net_decoder(engine, ratio, info.norm), engine.describe()


def table(results: list[Result]) -> str:
    lines = [f"{'B':>3}  {'method':<18} {'PSNR dB':>8} {'SSIM':>6} {'ms/snapshot':>12}"]
    for r in results:
        lines.append(
            f"{r.ratio:>3}  {r.method:<18} {r.psnr:>8.2f} {r.ssim:>6.3f} {r.ms_per_snapshot:>12.1f}"
        )
    return "\n".join(lines)


def plot(results: list[Result], prefix: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for key, label in (("psnr", "PSNR (dB)"), ("ms_per_snapshot", "decode time per snapshot (ms)")):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for method in dict.fromkeys(r.method for r in results):
            rs = [r for r in results if r.method == method]
            ax.plot([r.ratio for r in rs], [getattr(r, key) for r in rs], "o-", label=method)
        ax.set_xlabel("compression ratio B")
        ax.set_ylabel(label)
        if key != "psnr":
            ax.set_yscale("log")
        ax.legend()
        fig.tight_layout()
        path = prefix.with_name(f"{prefix.name}-{'quality' if key == 'psnr' else 'time'}.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    iters, weight = args.gap_iters, args.tv_weight
    if args.tune:
        iters, weight, best = tune_gap_tv(args.size)
        print(f"tuned GAP-TV: {iters} iterations, TV weight {weight:g} ({best:.2f} dB validation)")
    if args.movie:
        movie = read_movie(args.movie)
        cases = [Case(args.movie.name, movie, movie.astype(np.float32))]
    else:
        cases = simulated_cases(args.size, args.frames, noise_free=args.noise_free)
    shape = cases[0].frames.shape[1:]
    results, engines = [], {}
    for ratio in args.ratios:
        net, engines[ratio] = network(args, ratio, shape)
        if net is not None:
            print(f"B = {ratio}: network on {engines[ratio]}")
        for name, decoder in default_decoders(ratio, net, iters, weight):
            results.append(evaluate_method(name, decoder, cases, ratio))
            print(table(results[-1:]).splitlines()[1], flush=True)
    print(table(results))
    if args.json:
        doc = {
            "cases": [c.name for c in cases],
            "gap_tv": {"iters": iters, "tv_weight": weight, "threads": torch.get_num_threads()},
            "network_engines": {str(b): e for b, e in engines.items() if e},
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(doc, indent=1))
    if args.png:
        for path in plot(results, args.png):
            print(f"wrote {path}")
    return 0
