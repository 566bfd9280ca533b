"""Engine benchmark: time per window, frames per second and GFLOP/s, per engine and LR shape.

`pssr-live bench` calls these functions; for a table of your own::

    python -m pssr_live.enginebench --shapes 128x128,256x256 --threads 1

Every figure is the time of ``Engine.restore`` on one normalised window (padding and
tiling included, normalisation not), after two warm-up windows. "x torch" is torch
eager float32 on the CPU with the same threads, divided by the engine's time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from pssr_live.engines.auto import machine
from pssr_live.engines.base import Engine, EngineError, create_engine, engine_class, engine_names
from pssr_live.modelfile import bundled_model_path, read_info
from pssr_live.network import count_flops

WARMUP = 2
#: Windows an engine runs in a row before the next engine's turn (see `time_engines`).
BLOCK = 5
#: Pause before each block, so the previous engine's idle threads stop spinning.
SETTLE_S = 0.2


def random_window(frames: int, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A normalised-looking float32 window: values in [0, 1]."""
    return np.random.default_rng(seed).random((frames, *shape), dtype=np.float32)


def time_engine(engine: Engine, shape: tuple[int, int], repeats: int = 20) -> dict[str, float]:
    """Median and 99th-percentile milliseconds per window of `shape`, and frames per second."""
    return time_engines([engine], shape, repeats)[0]


def time_engines(
    engines: Sequence[Engine], shape: tuple[int, int], repeats: int = 20
) -> list[dict[str, float]]:
    """`time_engine` for several engines, in alternating blocks of `BLOCK` windows.

    Blocks, not single windows: the thread pools of torch (OpenMP) and ONNX Runtime
    keep spinning for a while after a run, so an engine timed right after another one
    shares the cores with the other's idle threads (torch measured 2x slower that way
    here), which the live pipeline, with one engine, never does. Alternating the blocks
    still lets a load that comes and goes weigh on every engine alike; each block
    starts after a pause of `SETTLE_S` and one untimed window.
    """
    windows = [random_window(engine.frames, shape) for engine in engines]
    for _ in range(WARMUP):
        for engine, window in zip(engines, windows, strict=True):
            engine.restore(window)
    times: list[list[float]] = [[] for _ in engines]
    repeats = max(repeats, 1)
    while len(times[0]) < repeats:
        block = min(BLOCK, repeats - len(times[0]))
        for engine, window, ts in zip(engines, windows, times, strict=True):
            time.sleep(SETTLE_S)
            engine.restore(window)
            for _ in range(block):
                t0 = time.perf_counter()
                engine.restore(window)
                ts.append((time.perf_counter() - t0) * 1e3)
    return [
        {
            "median_ms": float(np.median(ts)),
            "p99_ms": float(np.percentile(ts, 99)),
            "fps": 1e3 / float(np.median(ts)),
        }
        for ts in times
    ]


def measured_peak_gflops(threads: int | None = None, n: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of an n x n matmul on the CPU with `threads` threads, by torch
    and by ONNX Runtime (if installed), whichever is faster.

    Both, because a BLAS may not use the widest vector unit: torch's (MKL) ran the AVX2
    path on this AMD CPU with AVX-512, half of what ONNX Runtime's MLAS reached.
    """
    a, b = np.random.default_rng(0).random((2, n, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    matmuls = [lambda: ta @ tb]
    with contextlib.suppress(ImportError):  # onnxruntime is optional for this figure
        matmuls.append(_onnxruntime_matmul(a, b, threads))
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        best = float("inf")
        for matmul in matmuls:
            matmul()  # warm-up
            for _ in range(repeats):
                t0 = time.perf_counter()
                matmul()
                best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)
    return 2 * n**3 / best / 1e9


def _onnxruntime_matmul(a: np.ndarray, b: np.ndarray, threads: int | None):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from pssr_live.engines.onnxruntime_engine import usable_cores

    shape = list(a.shape)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, shape) for x in "ab"],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or usable_cores()
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return lambda: session.run(None, {"a": a, "b": b})


def engine_report(
    model_path: str | Path,
    shapes: Sequence[tuple[int, int]],
    engines: Sequence[str],
    *,
    threads: int | None = None,
    repeats: int = 20,
) -> list[dict[str, object]]:
    """One row per engine and shape: ms, fps, model GFLOP per frame, achieved and peak
    GFLOP/s, and the speed-up over torch eager float32 on the CPU with the same threads.

    `engines` are names, or "name:precision" for an engine that offers several.
    """
    model_path = str(model_path)
    config = read_info(model_path).net
    peak = measured_peak_gflops(threads)
    rows = []
    for shape in shapes:
        made = [_create(spec, model_path, shape, threads) for spec in engines]
        baseline = next(
            (e for e in made if e.name == "torch" and e.device == "cpu"), None
        ) or create_engine("torch", model_path, device="cpu", threads=threads)
        timed = made if baseline in made else [*made, baseline]
        try:
            timings = time_engines(timed, shape, repeats)
        finally:
            for engine in timed:
                engine.close()
        torch_ms = timings[timed.index(baseline)]["median_ms"]
        padded = tuple(-(-n // config.multiple) * config.multiple for n in shape)
        gflop = count_flops(config, *padded) / 1e9
        for spec, engine, timing in zip(engines, made, timings, strict=False):
            rows.append(
                {
                    "engine": spec,
                    "describe": engine.describe(),
                    "precision": engine.precision,
                    "shape": f"{shape[0]}x{shape[1]}",
                    "threads": threads,
                    "ms": timing["median_ms"],
                    "p99_ms": timing["p99_ms"],
                    "fps": timing["fps"],
                    "gflop_per_frame": gflop,
                    "gflops": gflop / (timing["median_ms"] / 1e3),
                    "peak_gflops": peak,
                    "vs_torch": torch_ms / timing["median_ms"],
                }
            )
    return rows


def _create(spec: str, model_path: str, shape: tuple[int, int], threads: int | None) -> Engine:
    """An engine from "name" or "name:precision" (e.g. "openvino:fp32", "torch:bf16")."""
    name, _, precision = spec.partition(":")
    options = {"precision": precision} if precision else {}
    return create_engine(name, model_path, shape=shape, threads=threads, **options)


def available_engines() -> list[str]:
    """Registered engines whose runtime is installed here."""
    names = []
    for name in engine_names():
        try:
            engine_class(name).runtime()
        except EngineError:
            continue
        names.append(name)
    return names


def format_table(rows: list[dict[str, object]]) -> str:
    head = f"{'engine':<40} {'shape':>9} {'ms':>8} {'p99 ms':>8} {'fps':>7} "
    head += f"{'GFLOP':>6} {'GFLOP/s':>8} {'peak':>6} {'x torch':>8}"
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['describe']!s:<40} {r['shape']!s:>9} {r['ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{r['fps']:>7.1f} {r['gflop_per_frame']:>6.2f} {r['gflops']:>8.1f} "
            f"{r['peak_gflops']:>6.0f} {r['vs_torch']:>8.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from pssr_live.commands.arguments import frame_size, positive_int

    parser = argparse.ArgumentParser(prog="python -m pssr_live.enginebench", description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="default: the bundled model")
    parser.add_argument("--shapes", default="128x128,256x256", help="LR shapes, comma-separated")
    parser.add_argument(
        "--engines",
        help="comma-separated names or name:precision (default: every engine present)",
    )
    parser.add_argument("--threads", type=positive_int, help="CPU threads for every engine")
    parser.add_argument("--repeats", type=positive_int, default=20)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    shapes = [frame_size(s) for s in args.shapes.split(",")]
    engines = args.engines.split(",") if args.engines else available_engines()
    model = args.model or bundled_model_path("centered")
    rows = engine_report(model, shapes, engines, threads=args.threads, repeats=args.repeats)
    m = machine()
    load = os.getloadavg()[0]  # others' work on the machine slows every engine down
    gpus = "".join(f", {g}" for g in m["gpus"])
    print(f"{m['cpu']}, {m['cores']} cores{gpus}; load average {load:.1f} at the end")
    print(f"threads {args.threads or 'runtime default'}; model {model}; {args.repeats} repeats")
    print(format_table(rows))
    if args.json:
        doc = {"machine": m, "load_average": load, "rows": rows}
        args.json.write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
