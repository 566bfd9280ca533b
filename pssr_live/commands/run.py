"""`pssr-live run`: acquire, restore, publish and record, live."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from pssr_live.commands.arguments import frame_size, positive_float, positive_int
from pssr_live.commands.view import (
    add_viewer_arguments,
    check_viewer_arguments,
    display_available,
)
from pssr_live.curve import client_keys, server_keys
from pssr_live.drivers.source import open_source
from pssr_live.engines.base import create_engine, engine_class, engine_names
from pssr_live.errors import UserError
from pssr_live.modelfile import bundled_model_path, load_model, model_hash
from pssr_live.pipeline import Pipeline, RunSettings
from pssr_live.wire import DEFAULT_ADDRESS, Publisher

NAME = "run"
HELP = "live pipeline: acquire, restore every new frame, publish over ZeroMQ, record"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--view",
        action=argparse.BooleanOptionalAction,
        help="show the live viewer (default: when a display is available)",
    )
    add_viewer_arguments(parser)
    parser.add_argument(
        "--source",
        default="sim",
        help="sim (simulated confocal, default) | demo (Micro-Manager DemoCamera) | "
        "mm:PATH.cfg (a Micro-Manager config) | file:MOVIE.tif (replay)",
    )
    parser.add_argument(
        "--engine", default="auto", help=f"auto | {' | '.join(engine_names())} (default auto)"
    )
    parser.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    parser.add_argument(
        "--frames", type=positive_int, help="stop after N raw frames (default: until Ctrl-C)"
    )
    parser.add_argument(
        "--fps", type=positive_float, help="acquisition rate (sim, file: 20; hardware: its own)"
    )
    parser.add_argument(
        "--size", type=frame_size, help="LR frame size H[xW] (sim: 128; demo: centred ROI)"
    )
    parser.add_argument("--seed", type=int, default=0, help="simulator seed")
    parser.add_argument("--dose", type=positive_float, help="simulator peak photons per pixel")
    parser.add_argument(
        "--record", type=Path, metavar="DIR", help="record raw (and restored) frames to DIR"
    )
    parser.add_argument(
        "--no-record-restored", action="store_true", help="record only the raw stream"
    )
    parser.add_argument(
        "--publish",
        default=DEFAULT_ADDRESS,
        metavar="ADDR",
        help=f"ZeroMQ PUB address (default {DEFAULT_ADDRESS})",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --publish on a non-loopback address (anyone who can reach it sees the images)",
    )
    parser.add_argument(
        "--curve-keys",
        type=Path,
        metavar="DIR",
        help="encrypt the stream and accept only viewers with a key in DIR (`pssr-live keys`)",
    )
    parser.add_argument(
        "--window",
        choices=("centered", "causal"),
        help="window mode; picks the bundled model (default: the model's, centered)",
    )
    parser.add_argument(
        "--publish-tcs",
        type=positive_int,
        metavar="B",
        help="also publish coded snapshots of every B raw frames (topic tcs, mask seed 0)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=5.0,
        help="seconds without a frame before the source counts as gone (default 5)",
    )


def main(args: argparse.Namespace) -> int:
    check_viewer_arguments(args)
    model_path = args.model or bundled_model_path(args.window or "centered")
    _, info = load_model(model_path)
    if args.window and info.window != args.window:
        raise UserError(
            f"model {model_path} was trained for {info.window} windows, not {args.window}; "
            "drop --window or give a matching --model"
        )
    settings = RunSettings(
        source=args.source,
        engine=args.engine,
        model=str(model_path),
        frames=args.frames,
        fps=args.fps,
        size=args.size,
        record=str(args.record) if args.record else None,
        record_restored=not args.no_record_restored,
        publish=args.publish,
        window=info.window,
        publish_tcs=args.publish_tcs,
    )
    curve = server_keys(args.curve_keys) if args.curve_keys else None
    if args.engine != "auto":
        engine_class(args.engine)  # an unknown name fails before the camera starts
    publisher = Publisher(args.publish, allow_remote=args.allow_remote, curve=curve)
    with ExitStack() as on_error:  # until the pipeline owns them, close what is open
        on_error.callback(publisher.close)
        source = open_source(
            args.source,
            fps=args.fps,
            size=args.size,
            seed=args.seed,
            peak_photons=args.dose,
            timeout_s=args.timeout,
        )
        on_error.callback(source.close)
        engine = create_engine(args.engine, str(model_path), shape=source.shape)
        # the torch CPU reference is always installed: the engine to fall back on mid-run
        fallback = (
            None if engine.name == "torch" else partial(create_engine, "torch", str(model_path))
        )
        pipeline = Pipeline(
            settings, source, engine, publisher, info, model_hash(model_path), fallback=fallback
        )
        on_error.pop_all()
    h, w = source.shape
    print(
        f"pssr-live: {source.name} {h}x{w} {source.dtype.name} -> {engine.describe()} "
        f"({info.window}) -> {h * engine.scale}x{w * engine.scale}; publishing on "
        f"{pipeline.publisher.endpoint}"
        + (f"; recording to {settings.record}" if settings.record else ""),
        file=sys.stderr,
    )
    if engine.reason:
        print(f"pssr-live: engine: {engine.reason}", file=sys.stderr)
    engine.warmup(source.shape)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    job = partial(pipeline.run, stop, tick=_progress(pipeline, args.frames))
    if args.view if args.view is not None else display_available():
        from pssr_live.viewer import run_beside_viewer  # Qt loads only when a window opens

        summary = run_beside_viewer(
            job,
            pipeline.publisher.endpoint,
            stop,
            screenshot=args.screenshot,
            exit_after=args.exit_after,
            curve=client_keys(args.curve_keys) if args.curve_keys else None,
        )
    else:
        summary = job()
    print(file=sys.stderr)
    for line in summary.lines():
        print(f"pssr-live: {line}", file=sys.stderr)
    return 1 if summary.errors else 0


def _progress(pipeline: Pipeline, total: int | None):
    """A one-line live status on stderr: frames, restored, skipped, latency."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True, leave=False)

    def tick() -> None:
        bar.update(pipeline.acquired - bar.n)
        lat = pipeline.last_latency_ms
        bar.set_postfix_str(
            f"restored {pipeline.restorer.count} latency {lat:.0f} ms", refresh=False
        )

    return tick
