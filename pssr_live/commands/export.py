"""`pssr-live export`: write a model as ONNX for ONNX Runtime, OpenVINO or TensorRT."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pssr_live.engines.cache import write_atomic
from pssr_live.engines.onnx_export import OPSET, export_onnx
from pssr_live.errors import UserError
from pssr_live.modelfile import bundled_model_path

NAME = "export"
HELP = "export a model to ONNX (dynamic batch, height and width; opset 17)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="ONNX file to write")
    parser.add_argument(
        "--fp16",
        action="store_true",
        help="float16 weights and activations, float32 input and output (for TensorRT 11)",
    )


def main(args: argparse.Namespace) -> int:
    if args.output.suffix != ".onnx":
        raise UserError(f"output {args.output} should end in .onnx")
    model_path = args.model or bundled_model_path("centered")
    model = export_onnx(model_path, fp16=args.fp16)
    try:
        write_atomic(args.output, model.SerializeToString())
    except OSError as e:
        raise UserError(f"cannot write {args.output}: {e.strerror or e}") from e
    precision = "fp16 (float32 input/output)" if args.fp16 else "fp32"
    print(
        f"pssr-live: wrote {args.output} ({precision}, opset {OPSET}, input 'window' "
        f"(N, frames, H, W), output 'restored') from {model_path}",
        file=sys.stderr,
    )
    return 0
