"""`pssr-live build-engine`: build (or find cached) a TensorRT engine for one LR shape."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from pssr_live.commands.arguments import frame_size, positive_float
from pssr_live.engines.tensorrt_engine import DEFAULT_WORKSPACE_GB, build_engine
from pssr_live.errors import UserError
from pssr_live.modelfile import bundled_model_path

NAME = "build-engine"
HELP = "build a TensorRT engine for an LR frame shape (cached per GPU and TensorRT version)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--onnx", type=Path, help="ONNX file from `pssr-live export`")
    source.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    parser.add_argument(
        "--shape", type=frame_size, default=(512, 512), help="LR frame size H[xW] (default 512)"
    )
    parser.add_argument("--fp16", action="store_true", help="fp16 engine (default fp32)")
    parser.add_argument(
        "--workspace",
        type=positive_float,
        default=DEFAULT_WORKSPACE_GB,
        metavar="GB",
        help=f"builder workspace (default {DEFAULT_WORKSPACE_GB:g} GB)",
    )
    parser.add_argument("--rebuild", action="store_true", help="build even if cached")
    parser.add_argument("-o", "--output", type=Path, help="also copy the engine here")


def main(args: argparse.Namespace) -> int:
    source = args.onnx or args.model or bundled_model_path("centered")
    precision = "fp16" if args.fp16 else "fp32"
    t0 = time.perf_counter()
    path, built = build_engine(
        str(source),
        args.shape,
        precision=precision,
        workspace_gb=args.workspace,
        rebuild=args.rebuild,
    )
    what = f"built in {time.perf_counter() - t0:.0f} s" if built else "found in the cache"
    print(f"pssr-live: TensorRT engine {path} ({precision}) {what}", file=sys.stderr)
    if args.output:
        try:
            shutil.copyfile(path, args.output)
        except OSError as e:
            raise UserError(f"cannot write {args.output}: {e.strerror or e}") from e
        print(f"pssr-live: copied to {args.output}", file=sys.stderr)
    return 0
