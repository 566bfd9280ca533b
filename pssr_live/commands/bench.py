"""`pssr-live bench`: frame rate and latency of the engines, the baselines and the pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pssr_live.commands.arguments import positive_float, positive_int
from pssr_live.errors import UserError

NAME = "bench"
HELP = "frame-rate and latency benchmark (engines, baselines, live pipeline); --json PATH"


def size_list(text: str) -> tuple[int, ...]:
    """Comma-separated LR sizes, each a multiple of 4 from 16 to 4096."""
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of sizes"
        ) from None
    for s in sizes:
        if not 16 <= s <= 4096 or s % 4:
            raise argparse.ArgumentTypeError(f"size {s} must be a multiple of 4 from 16 to 4096")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes", type=size_list, default=(128, 256, 512), help="LR sizes (default 128,256,512)"
    )
    parser.add_argument(
        "--engines", help="engines timed alone, comma-separated (default: every one present)"
    )
    parser.add_argument(
        "--pipeline-engine", default="auto", help="engine of the pipeline runs (default auto)"
    )
    parser.add_argument(
        "--fps", type=positive_float, default=20.0, help="acquisition rate (default 20)"
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=60.0,
        help="seconds per pipeline run (default 60)",
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=20, help="timed windows per engine (default 20)"
    )
    parser.add_argument("--threads", type=positive_int, help="CPU threads for every engine")
    parser.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    parser.add_argument(
        "--original-max-size",
        type=positive_int,
        default=128,
        help="largest LR size to time the original HR-size PSSR at (slow; default 128)",
    )
    parser.add_argument(
        "--no-pipeline", action="store_true", help="time the engines and baselines only"
    )
    parser.add_argument(
        "--viewer-seconds",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="seconds of the viewer display-rate run on 2048x2048 frames at 25 fps (default 10)",
    )
    parser.add_argument("--no-viewer", action="store_true", help="skip the viewer run")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write DIR/benchmarks.md, .json and .png (docs/benchmarks.md: --report docs/)",
    )
    parser.add_argument(
        "--soak",
        type=positive_float,
        metavar="MINUTES",
        help="instead: soak the live pipeline for MINUTES with lagging subscribers and check "
        "that nothing is lost (docs/reliability.md); LR size: the first of --sizes",
    )
    parser.add_argument("--soak-source", default="sim", help="source of the soak (default sim)")
    parser.add_argument(
        "--soak-fps", type=positive_float, default=60.0, help="soak acquisition rate (default 60)"
    )


def main(args: argparse.Namespace) -> int:
    if args.soak:
        return soak(args)
    from pssr_live.benchmark import BenchSettings, run_benchmark
    from pssr_live.modelfile import bundled_model_path

    model = args.model or bundled_model_path("centered")
    if not Path(model).is_file():
        raise UserError(f"model {model} not found")
    settings = BenchSettings(
        model=str(model),
        sizes=args.sizes,
        engines=tuple(args.engines.split(",")) if args.engines else (),
        pipeline_engine=args.pipeline_engine,
        fps=args.fps,
        duration_s=args.duration,
        repeats=args.repeats,
        threads=args.threads,
        original_max_size=args.original_max_size,
        pipeline=not args.no_pipeline,
        viewer_s=0.0 if args.no_viewer else args.viewer_seconds,
    )
    results = run_benchmark(
        settings, progress=lambda text: print(f"bench: {text}", file=sys.stderr)
    )
    report(results, args)
    return 0


def report(results: dict, args: argparse.Namespace) -> None:
    """Print the Markdown tables; write --json and --report outputs."""
    from pssr_live.benchreport import markdown, write_report

    print(markdown(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    if args.report:
        print(f"bench: wrote {write_report(results, args.report)}", file=sys.stderr)


def soak(args: argparse.Namespace) -> int:
    """`bench --soak MINUTES`: print the soak report (and --json); exit 1 if a check failed."""
    import tempfile

    from pssr_live.soak import run_soak

    with tempfile.TemporaryDirectory(prefix="pssr-live-soak-") as record:
        result = run_soak(
            60 * args.soak,
            Path(record),
            source=args.soak_source,
            fps=args.soak_fps,
            size=(args.sizes[0], args.sizes[0]),
            engine=args.pipeline_engine,
        )
    print("\n".join(result.lines()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_dict(), indent=1))
    return 0 if result.ok else 1
