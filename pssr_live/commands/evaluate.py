"""`pssr-live evaluate`: PSNR / SSIM / NRMSE of every method against HR ground truth."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from pssr_live.commands.arguments import frame_size, positive_int
from pssr_live.crappify import CRAPPIFIERS, make_crappifier
from pssr_live.drivers.movie import read_movie
from pssr_live.engines.base import create_engine, engine_names
from pssr_live.errors import UserError
from pssr_live.evaluation import (
    Model,
    choose_sigma,
    crappified_movie,
    dose_sweep,
    evaluate,
    simulated_movies,
)
from pssr_live.modelfile import bundled_model_path, read_info

NAME = "evaluate"
HELP = (
    "PSSR-MF against bilinear, bicubic, a classical multi-frame baseline and the "
    "single-frame model, on a fixed simulated test set or your HR movie"
)
ORDER = ("bilinear", "bicubic", "classical", "single-frame", "five-frame")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, help="five-frame model (default: bundled)")
    parser.add_argument(
        "--sf-model", type=Path, help="single-frame model (default: bundled pssr_sf, if present)"
    )
    parser.add_argument(
        "--engine",
        default="torch",
        help=f"auto | {' | '.join(engine_names())} (default torch, the float32 reference)",
    )
    parser.add_argument("--hr", type=Path, metavar="MOVIE.tif", help="evaluate on this HR movie")
    parser.add_argument("--crappifier", choices=CRAPPIFIERS, default="confocal")
    parser.add_argument("--movies", type=positive_int, default=8, help="simulated test movies")
    parser.add_argument("--size", type=frame_size, default=(128, 128), help="LR size (sim)")
    parser.add_argument("--seed", type=int, default=0, help="test-set seed")
    parser.add_argument("--json", type=Path, help="write all results as JSON")
    parser.add_argument("--png", type=Path, help="panel of crops and a line profile")
    parser.add_argument(
        "--dose-sweep", type=Path, metavar="PREFIX", help="PSNR vs dose: PREFIX.png, PREFIX.json"
    )


def _models(args: argparse.Namespace) -> tuple[dict[str, Model], str]:
    mf_path = args.model or bundled_model_path("centered")
    sf_path = args.sf_model or bundled_model_path("centered").with_name("pssr_sf.safetensors")
    models, mode = {}, read_info(mf_path).window
    if args.sf_model or sf_path.exists():
        sf = read_info(sf_path)
        models["single-frame"] = Model(create_engine(args.engine, str(sf_path)), mode, sf.norm)
    mf = read_info(mf_path)
    models["five-frame"] = Model(create_engine(args.engine, str(mf_path)), mode, mf.norm)
    return models, mode


def main(args: argparse.Namespace) -> int:
    models, mode = _models(args)
    h = args.size[0]
    if args.size[0] != args.size[1]:
        raise UserError("--size: the simulated test set uses square frames (give one number)")
    validation = simulated_movies("validation", 4, size=h, seed=args.seed + 1)
    sigma = choose_sigma(validation, mode)
    if args.hr:
        movies = [crappified_movie(read_movie(args.hr), make_crappifier(args.crappifier))]
        data = {"hr": str(args.hr), "crappifier": args.crappifier}
    else:
        movies = simulated_movies("test", args.movies, size=h, seed=args.seed)
        data = {"simulated_test": [m.about for m in movies]}
    panel: dict = {}

    def keep_first(i: int, preds: dict) -> None:
        if i == 0:
            panel.update(preds)

    results = evaluate(movies, mode, sigma, models, keep_first)
    print(f"{'method':<14}{'PSNR (dB)':>16}{'SSIM':>16}{'NRMSE':>16}")
    for name in (n for n in ORDER if n in results):
        r = results[name]
        print(
            f"{name:<14}{r['psnr']:>9.2f} ± {r['psnr_std']:<4.2f}{r['ssim']:>9.3f} ± "
            f"{r['ssim_std']:<5.3f}{r['nrmse']:>9.3f} ± {r['nrmse_std']:.3f}"
        )
    report = {"window": mode, "classical_sigma_lr_px": sigma, "data": data, "results": results}
    if args.png:
        from pssr_live.figures import panel_figure

        panel_figure(movies[0], panel, args.png)
    if args.dose_sweep:
        from pssr_live.figures import dose_figure

        sweep = dose_sweep(mode, sigma, models, size=min(h, 128), seed=args.seed)
        report["dose_sweep"] = sweep
        prefix = args.dose_sweep
        prefix.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{prefix}.json").write_text(json.dumps(sweep, indent=2))
        dose_figure(sweep, Path(f"{prefix}.png"))
        print("dose sweep, PSNR (dB) by peak photons:")
        doses = list(next(iter(sweep.values())))
        print(f"{'method':<14}" + "".join(f"{d:>8}" for d in doses))
        for name in (n for n in ORDER if n in sweep):
            print(f"{name:<14}" + "".join(f"{sweep[name][d]:>8.2f}" for d in doses))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    print(
        f"classical baseline: Gaussian sigma {sigma} LR px (chosen on validation movies)",
        file=sys.stderr,
    )
    return 0 if all(np.isfinite(r["psnr"]) for r in results.values()) else 1
