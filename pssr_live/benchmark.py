"""Frame-rate and latency benchmark: engines alone, two baselines, and the live pipeline.

- Engines: every engine present, per LR size, timed by `pssr_live.enginebench`.
- Baselines, timed the same way: bilinear interpolation, and the original PSSR approach
  (the same five-frame U-Net, same width and depth, run at HR size on 4x bilinear-upsampled
  frames), so the gain of working at LR size is a measured ratio.
- Pipeline: replayed frames at `fps` -> ring buffer -> engine -> publisher -> a subscriber
  in the same process, for `duration` seconds; per-stage latency (acquisition -> restore
  start, engine, publication -> reception), sustained rates and skipped windows. The
  engine "none" (returns a blank frame at once) measures what the pipeline costs on top
  of the engine.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from pssr_live.drivers.replay import FileSource
from pssr_live.drivers.source import Frame
from pssr_live.enginebench import available_engines, engine_report, time_engines
from pssr_live.engines.auto import machine
from pssr_live.engines.base import Engine, create_engine
from pssr_live.latency import percentiles
from pssr_live.modelfile import ModelInfo, load_model, model_hash, read_info
from pssr_live.network import PSSRNet
from pssr_live.pipeline import Pipeline, RunSettings
from pssr_live.wire import Publisher, Subscriber

NULL_ENGINE = "none"
Progress = Callable[[str], None]


@dataclass
class BenchSettings:
    """What `pssr-live bench` measures."""

    model: str
    sizes: tuple[int, ...] = (128, 256, 512)
    engines: tuple[str, ...] = ()  # empty: every engine present
    pipeline_engine: str = "auto"
    fps: float = 20.0
    duration_s: float = 60.0
    repeats: int = 20
    threads: int | None = None
    original_max_size: int = 128  # the HR-size baseline is slow: only up to this LR size
    pipeline: bool = True
    viewer_s: float = 10.0  # seconds of the viewer display-rate run (0: none)
    viewer_size: int = 2048  # HR frame size published to the viewer
    viewer_fps: float = 25.0


def machine_report() -> dict[str, Any]:
    """The machine and the runtime versions the figures belong to."""
    versions: dict[str, str | None] = {"torch": torch.__version__}
    for name in ("onnxruntime", "openvino"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    return {
        **machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        **versions,
    }


# -- baselines as engines, so they are timed exactly like the engines ------------------------


def upsample(batch: torch.Tensor, scale: int) -> torch.Tensor:
    """Bilinear upsampling with LR pixels centred on their HR blocks (align_corners=False)."""
    return F.interpolate(batch, scale_factor=scale, mode="bilinear", align_corners=False)


class BilinearBaseline(Engine):
    """Bilinear interpolation of the window's reference frame: the cheapest restoration."""

    name = "bilinear"

    def __init__(self, info: ModelInfo) -> None:
        super().__init__(info)
        self.ref = info.net.ref_index

    def run(self, batch: np.ndarray) -> np.ndarray:
        ref = torch.from_numpy(batch[:, self.ref : self.ref + 1])
        return upsample(ref, self.scale).numpy()


class OriginalPSSR(Engine):
    """The original PSSR approach: the U-Net at HR size on bilinear-upsampled frames.

    Same frames, width, depth and blocks as the model, scale 1, untrained weights: only
    its speed is measured.
    """

    name = "original-pssr-hr"

    def __init__(self, info: ModelInfo) -> None:
        super().__init__(info)
        self.net = PSSRNet(dataclasses.replace(info.net, scale=1)).eval()

    def run(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.net(upsample(torch.from_numpy(batch), self.scale)).numpy()


class NullEngine(Engine):
    """Returns a blank frame at once: a pipeline run with it measures the pipeline alone."""

    name = NULL_ENGINE

    def __init__(self, info: ModelInfo) -> None:
        super().__init__(info)
        self._out: np.ndarray | None = None

    def run(self, batch: np.ndarray) -> np.ndarray:
        n, _, h, w = batch.shape
        shape = (n, 1, self.scale * h, self.scale * w)
        if self._out is None or self._out.shape != shape:
            self._out = np.zeros(shape, np.float32)
        return self._out


def baseline_rows(settings: BenchSettings, progress: Progress) -> list[dict[str, Any]]:
    """Bilinear and original-PSSR timings per LR size (the latter up to original_max_size)."""
    info = read_info(settings.model)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    rows = []
    for size in settings.sizes:
        engines: list[Engine] = [BilinearBaseline(info)]
        if size <= settings.original_max_size:
            engines.append(OriginalPSSR(info))
        progress(f"baselines at {size}x{size}: {', '.join(e.name for e in engines)}")
        repeats = max(1, settings.repeats // 4)  # the HR-size network is ~16x slower
        for engine, timing in zip(
            engines, time_engines(engines, (size, size), repeats), strict=True
        ):
            rows.append({"engine": engine.name, "shape": f"{size}x{size}", **timing})
    return rows


# -- the live pipeline ----------------------------------------------------------------------


def synthetic_movie(path: Path, size: int, n: int = 24, seed: int = 0) -> Path:
    """A short uint16 movie of smooth structure with shot noise, replayed in a loop."""
    rng = np.random.default_rng(seed)
    scene = gaussian_filter(rng.random((size, size)), 2.0)
    scene = (scene - scene.min()) / np.ptp(scene)
    frames = rng.poisson(100 + 800 * scene**3, size=(n, size, size)).astype(np.uint16)
    tifffile.imwrite(path, frames)
    return path


class Receiver:
    """A subscriber thread that notes when each restored frame arrives."""

    def __init__(self, address: str) -> None:
        self._sub = Subscriber(address, ("restored",))
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-receiver", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._sub.receive(100)
            if message is not None:
                self.arrivals.append((time.time(), message.header))

    def close(self) -> None:
        time.sleep(0.5)  # what is in flight arrives
        self._stop.set()
        self._thread.join()
        self._sub.close()


def pipeline_run(
    settings: BenchSettings, engine_name: str, size: int, workdir: Path
) -> dict[str, Any]:
    """Run the live pipeline for `settings.duration_s` and measure every stage."""
    _, info = load_model(settings.model)
    shape = (size, size)
    if engine_name == NULL_ENGINE:
        engine: Engine = NullEngine(info)
    else:
        engine = create_engine(engine_name, settings.model, shape=shape, threads=settings.threads)
    engine.warmup(shape)
    movie = synthetic_movie(workdir / f"movie_{size}.tif", size)
    source = FileSource(movie, fps=settings.fps, loop=True)
    publisher = Publisher("tcp://127.0.0.1:*")
    receiver = Receiver(publisher.endpoint)
    time.sleep(0.3)  # the subscription reaches the publisher before the first frame
    run_settings = RunSettings(
        source="bench", engine=engine.name, model=settings.model, fps=settings.fps, size=shape
    )
    pipeline = Pipeline(run_settings, source, engine, publisher, info, model_hash(settings.model))
    # time the producer side (ring buffer, raw publication) of every raw frame
    producer_ms: list[float] = []
    on_frame = pipeline.on_frame

    def timed_on_frame(frame: Frame) -> None:
        t0 = time.perf_counter()
        on_frame(frame)
        producer_ms.append((time.perf_counter() - t0) * 1e3)

    pipeline.on_frame = timed_on_frame  # type: ignore[method-assign]
    stop = threading.Event()
    timer = threading.Timer(settings.duration_s, stop.set)
    timer.start()
    try:
        summary = pipeline.run(stop)
    finally:
        timer.cancel()
        receiver.close()
        engine.close()
    to_restore, engine_ms, transfer, total = [], [], [], []
    for t_received, h in receiver.arrivals:
        to_restore.append(h["latency_ms"] - h["engine_ms"])
        engine_ms.append(h["engine_ms"])
        transfer.append((t_received - h["t_acquired"]) * 1e3 - h["latency_ms"])
        total.append(round((t_received - h["t_acquired"]) * 1e3, 3))
    return {
        "engine": engine.describe(),
        "shape": f"{size}x{size}",
        "fps_set": settings.fps,
        "duration_s": summary.duration_s,
        "acquired": summary.acquired,
        "acquired_fps": summary.acquired_fps,
        "windows": summary.windows,
        "restored": summary.restored,
        "restored_fps": summary.restored_fps,
        "skipped": summary.skipped,
        "received": len(receiver.arrivals),
        "publish_dropped": summary.publish_dropped,
        "latency_ms": {
            "producer_per_frame": percentiles(producer_ms),
            "acquisition_to_restore_start": percentiles(to_restore),
            "engine": percentiles(engine_ms),
            "publish_to_receive": percentiles(transfer),
            "acquisition_to_publication": summary.latency_ms,
            "acquisition_to_receive": percentiles(total),
        },
        "acquisition_to_receive_ms": total,
        "errors": summary.errors,
    }


# -- everything -----------------------------------------------------------------------------


def run_benchmark(settings: BenchSettings, progress: Progress = print) -> dict[str, Any]:
    """Measure engines, baselines and the pipeline; one JSON-ready document."""
    engines = list(settings.engines) or available_engines()
    shapes = [(s, s) for s in settings.sizes]
    progress(f"engines {', '.join(engines)} at {', '.join(f'{s}x{s}' for s in settings.sizes)}")
    engine_rows = engine_report(
        settings.model, shapes, engines, threads=settings.threads, repeats=settings.repeats
    )
    baselines = baseline_rows(settings, progress)
    runs = []
    if settings.pipeline:
        with tempfile.TemporaryDirectory(prefix="pssr-bench-") as tmp:
            for size in settings.sizes:
                for name in dict.fromkeys((settings.pipeline_engine, NULL_ENGINE)):
                    progress(
                        f"pipeline {name} at {size}x{size}, {settings.fps:g} fps, "
                        f"{settings.duration_s:g} s"
                    )
                    runs.append(pipeline_run(settings, name, size, Path(tmp)))
    viewer = None
    if settings.viewer_s:
        progress(
            f"viewer on {settings.viewer_size}x{settings.viewer_size} float32 at "
            f"{settings.viewer_fps:g} fps, {settings.viewer_s:g} s"
        )
        viewer = viewer_run(settings.viewer_size, settings.viewer_fps, settings.viewer_s)
    return {
        "machine": machine_report(),
        "settings": dataclasses.asdict(settings),
        "engines": engine_rows,
        "baselines": baselines,
        "pipeline": runs,
        "viewer": viewer,
    }


def viewer_run(size: int, fps: float, duration_s: float) -> dict[str, float]:
    """Frames per second the viewer displays of a `size`^2 float32 restored stream (with its
    raw stream) published at `fps`, and the viewer's CPU time per displayed frame."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display needed to measure
    from pssr_live.viewer import show

    rng = np.random.default_rng(0)
    restored = [rng.random((size, size), dtype=np.float32) * 1000 for _ in range(2)]
    raw = (restored[0][::4, ::4]).astype(np.uint16)
    publisher = Publisher("tcp://127.0.0.1:*")
    done = threading.Event()
    sent = 0

    def send() -> None:
        nonlocal sent
        t0 = time.monotonic()
        while not done.is_set():
            t = time.time()
            publisher.send("raw", {"frame": sent, "t_acquired": t}, raw)
            header = {"frame": sent, "t_acquired": t, "window": [sent, sent]}
            header |= {"latency_ms": 0.0, "engine": "synthetic"}
            publisher.send("restored", header, restored[sent % 2])
            sent += 1
            done.wait(max(0.0, t0 + sent / fps - time.monotonic()))

    sender = threading.Thread(target=send, name="bench-sender", daemon=True)
    timer = threading.Timer(duration_s, done.set)
    t_start, cpu_start = time.monotonic(), time.process_time()
    sender.start()
    timer.start()
    try:
        shown = show(publisher.endpoint, stop=done)
    finally:
        done.set()
        sender.join()
        publisher.close()
    elapsed = time.monotonic() - t_start
    return {
        "size": size,
        "fps_published": sent / elapsed,
        "fps_displayed": shown / elapsed,
        "cpu_ms_per_displayed_frame": (time.process_time() - cpu_start) / max(shown, 1) * 1e3,
    }


def gains(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per size: how much faster each engine at LR size is than the original HR approach."""
    original = {
        r["shape"]: r["median_ms"] for r in results["baselines"] if r["engine"] == OriginalPSSR.name
    }
    return [
        {"engine": r["describe"], "shape": r["shape"], "x_original": original[r["shape"]] / r["ms"]}
        for r in results["engines"]
        if r["shape"] in original
    ]


def describe_machine(m: dict[str, Any]) -> str:
    runtimes = ", ".join(f"{k} {m[k]}" for k in ("torch", "onnxruntime", "openvino") if m.get(k))
    gpus = f"; GPU {', '.join(m['gpus'])}" if m.get("gpus") else ""
    return (
        f"{m['cpu']}, {m['cores']} cores (torch threads {m['torch_threads']}){gpus}; "
        f"{m['platform']}, Python {m['python']}; {runtimes}"
    )


def overhead_ms(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per size, what the pipeline costs besides the network, from the null-engine runs
    (medians, ms): producer side per raw frame, the restorer's normalisation and inverse,
    publication -> reception, and acquisition -> reception in all."""
    out = {}
    for run in results["pipeline"]:
        if run["engine"].startswith(NULL_ENGINE):
            lat = run["latency_ms"]
            out[run["shape"]] = {
                "producer": lat["producer_per_frame"]["p50"],
                "restorer": lat["engine"]["p50"],
                "transfer": lat["publish_to_receive"]["p50"],
                "total": lat["acquisition_to_receive"]["p50"],
            }
    return out
