"""`pssr-live train`: train a PSSR-MF (or single-frame) model on simulated or user data."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from pssr_live.commands.arguments import positive_float, positive_int
from pssr_live.crappify import CRAPPIFIERS
from pssr_live.training import TrainConfig, train

NAME = "train"
HELP = (
    "train a model: domain-randomised simulated confocal data by default, "
    "or your HR movies (--hr) degraded by a crappifier"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig(output=Path("model.safetensors"))
    parser.add_argument("-o", "--output", type=Path, required=True, help="model file to write")
    parser.add_argument("--window", choices=("centered", "causal"), default=d.window)
    parser.add_argument(
        "--single-frame", action="store_true", help="single-frame model (the SF comparison)"
    )
    parser.add_argument(
        "--hr", type=Path, nargs="+", metavar="MOVIE.tif", help="HR movies (T x Y x X) to learn"
    )
    parser.add_argument("--crappifier", choices=CRAPPIFIERS, default=d.crappifier)
    parser.add_argument("--steps", type=positive_int, default=d.steps)
    parser.add_argument("--batch", type=positive_int, default=d.batch)
    parser.add_argument("--patch", type=positive_int, default=d.patch, help="LR tile size")
    parser.add_argument("--width", type=positive_int, default=d.width)
    parser.add_argument("--depth", type=int, default=d.depth)
    parser.add_argument("--lr", type=positive_float, default=d.lr, help="peak learning rate")
    parser.add_argument("--loss", choices=("mse", "l1"), default=d.loss)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument(
        "--val-every", type=positive_int, default=d.val_every, help="steps per validation"
    )
    parser.add_argument(
        "--workers", type=int, default=d.workers, help="data worker processes (0: in-process)"
    )
    parser.add_argument("--threads", type=positive_int, help="torch CPU threads")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT's checkpoint")
    parser.add_argument(
        "--init", type=Path, metavar="MODEL", help="start from this model (fine-tuning)"
    )


def command_line(args: argparse.Namespace) -> str:
    """The full, explicit command that reproduces this run (stored in the model file)."""
    argv = ["pssr-live", "train", "-o", str(args.output), "--window", args.window]
    argv += ["--single-frame"] if args.single_frame else []
    argv += ["--hr", *map(str, args.hr), "--crappifier", args.crappifier] if args.hr else []
    argv += ["--init", str(args.init)] if args.init else []
    for name in ("steps", "batch", "patch", "width", "depth", "lr", "loss", "seed", "val_every"):
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return shlex.join(argv)


def main(args: argparse.Namespace) -> int:
    cfg = TrainConfig(
        output=args.output,
        window=args.window,
        single_frame=args.single_frame,
        steps=args.steps,
        batch=args.batch,
        patch=args.patch,
        width=args.width,
        depth=args.depth,
        lr=args.lr,
        loss=args.loss,
        seed=args.seed,
        val_every=args.val_every,
        hr=list(args.hr or []),
        crappifier=args.crappifier,
        workers=max(args.workers, 0),
        threads=args.threads,
        resume=args.resume,
        init=args.init,
        command=command_line(args),
    )
    result = train(cfg)
    print(
        f"pssr-live train: best validation PSNR {result.best_psnr:.2f} dB at step "
        f"{result.best_step}; wrote {result.path} ({result.seconds / 60:.1f} min)",
        file=sys.stderr,
    )
    return 0
