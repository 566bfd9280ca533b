"""Wires a source through the ring buffer to the restorer, the publisher and the recorders."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pssr_live import __version__
from pssr_live.drivers.source import Frame, FrameSource, SourceError, check_frame
from pssr_live.engines.base import Engine
from pssr_live.latency import LatencyHistogram
from pssr_live.livequality import QualityMonitor
from pssr_live.modelfile import ModelInfo
from pssr_live.recorder import RawRecorder, RecorderError, RestoredRecorder, write_session
from pssr_live.restorer import RestoredFrame, Restorer, WindowMode
from pssr_live.ringbuffer import RingBuffer
from pssr_live.tcs.live import SnapshotStreamer
from pssr_live.wire import Publisher


@dataclass
class RunSettings:
    """What `pssr-live run` was asked to do (recorded in session.json)."""

    source: str = "sim"
    engine: str = "auto"
    model: str | None = None
    frames: int | None = None
    fps: float | None = None
    size: tuple[int, int] | None = None
    record: str | None = None
    record_restored: bool = True
    publish: str = "tcp://127.0.0.1:5555"
    window: WindowMode = "centered"
    ring_frames: int = 64
    quality_interval_s: float = 1.0  # live PSNR/SSIM against a simulator's ground truth
    publish_tcs: int | None = None  # also publish coded snapshots of B frames (topic tcs)


@dataclass
class Summary:
    """Counters and latency figures of a run; printed at the end and kept in session.json."""

    acquired: int = 0
    camera_lost: int = 0  # numbered by the camera, lost before pssr-live got them
    recorded: int = 0
    windows: int = 0
    restored: int = 0
    skipped: int = 0
    published_raw: int = 0
    published_restored: int = 0
    published_tcs: int = 0
    publish_dropped: int = 0
    restored_recorded: int = 0
    duration_s: float = 0.0
    acquired_fps: float = 0.0
    restored_fps: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    engine_ms: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        lat, eng = self.latency_ms, self.engine_ms
        out = [
            f"acquired {self.acquired}, recorded {self.recorded}, windows {self.windows}, "
            f"restored {self.restored}, skipped {self.skipped}, published "
            f"{self.published_raw} raw + {self.published_restored} restored "
            + (f"+ {self.published_tcs} tcs " if self.published_tcs else "")
            + f"({self.publish_dropped} dropped)",
            f"{self.duration_s:.1f} s: acquisition {self.acquired_fps:.1f} fps, "
            f"restoration {self.restored_fps:.1f} fps",
        ]
        if self.camera_lost:
            out.append(
                f"WARNING: the camera lost {self.camera_lost} frame(s) before pssr-live "
                "received them (Micro-Manager's buffer overwrote them)"
            )
        if lat:
            out.append(
                f"latency acquisition->publication: median {lat['p50']:.1f} ms, "
                f"p99 {lat['p99']:.1f} ms; engine median {eng['p50']:.1f} ms"
            )
        out += [f"error: {e}" for e in self.errors]
        return out


class Pipeline:
    """Source -> ring buffer (+ raw recorder, raw publication) -> restorer -> publication.

    Everything on the producer side (`on_frame`) is a copy into preallocated or queued
    memory, so neither the restorer nor a subscriber can stall acquisition or cost a raw
    frame.
    """

    def __init__(
        self,
        settings: RunSettings,
        source: FrameSource,
        engine: Engine,
        publisher: Publisher,
        model_info: ModelInfo,
        model_hash: str,
        fallback: Callable[[], Engine] | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.engine = engine
        self.publisher = publisher
        self.model_info = model_info
        self.model_hash = model_hash
        self.ring = RingBuffer(settings.ring_frames, source.shape, source.dtype, engine.frames)
        self.restorer = Restorer(
            self.ring, engine, mode=model_info.window, norm=model_info.norm, fallback=fallback
        )
        self.raw_recorder: RawRecorder | None = None
        self.restored_recorder: RestoredRecorder | None = None
        self.record_dir = Path(settings.record) if settings.record else None
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
            self.raw_recorder = RawRecorder(self.record_dir / "raw.ome.tif")
            if settings.record_restored:
                self.restored_recorder = RestoredRecorder(self.record_dir / "restored.ome.tif")
        self.acquired = 0
        self._latencies = LatencyHistogram()  # fixed memory however long the run
        self.last_latency_ms = 0.0
        self._engine_times = LatencyHistogram()
        self._errors: list[str] = []
        self._fatal = threading.Event()
        self._t_start = 0.0
        self._last_checkpoint = 0.0
        self._t_first_restored: float | None = None
        self._t_last_restored = 0.0
        self.restorer.restored.connect(self._on_restored)
        self.restorer.failed.connect(self._on_restorer_failed)
        self.quality = QualityMonitor(source, interval_s=settings.quality_interval_s)
        self.tcs = (
            SnapshotStreamer(publisher, settings.publish_tcs, source.shape, source.dtype)
            if settings.publish_tcs
            else None
        )

    # -- producer side ---------------------------------------------------------------------

    def on_frame(self, frame: Frame) -> None:
        """Called on the source's thread for every raw frame; a frame of the wrong shape or
        dtype raises SourceError before anything is recorded, ending the acquisition."""
        check_frame(frame.data, self.source.shape, self.source.dtype)
        self.acquired += 1
        if self.raw_recorder is not None:
            try:
                self.raw_recorder.submit(frame.index, frame.t_acquired, frame.data)
            except RecorderError as exc:
                self._fail(str(exc))
        self.ring.push(frame.index, frame.t_acquired, frame.data)
        if self.tcs is not None:
            self.tcs.submit(frame)
        self.quality.remember(frame)
        self.publisher.send(
            "raw", {"frame": frame.index, "t_acquired": frame.t_acquired}, frame.data
        )

    # -- restorer side ---------------------------------------------------------------------

    def _on_restored(self, result: RestoredFrame) -> None:
        latency_ms = (time.time() - result.t_acquired) * 1e3
        header: dict[str, Any] = {
            "frame": result.window[1],
            "target": result.target,
            "t_acquired": result.t_acquired,
            "window": list(result.window),
            "latency_ms": latency_ms,
            "engine_ms": result.engine_ms,
            "engine": result.engine,
        }
        if (quality := self.quality.offer(result.target, result.image)) is not None:
            header["quality"] = quality
        self.publisher.send("restored", header, result.image)
        if self.restored_recorder is not None:
            self.restored_recorder.submit(result.target, result.t_acquired, result.image)
        self.last_latency_ms = latency_ms
        self._latencies.add(latency_ms)
        self._engine_times.add(result.engine_ms)
        now = time.monotonic()
        self._t_first_restored = self._t_first_restored or now
        self._t_last_restored = now

    def _on_restorer_failed(self, exc: Exception) -> None:
        then = "falling back" if self.restorer.can_fall_back else "restoration stopped"
        self._errors.append(
            f"engine {self.restorer.engine.name} failed ({type(exc).__name__}: {exc}); "
            f"{then}; raw recording continues"
        )

    def _fail(self, message: str) -> None:
        if message not in self._errors:
            self._errors.append(message)
        self._fatal.set()

    # -- running -----------------------------------------------------------------------------

    def run(
        self, stop: threading.Event | None = None, tick: Callable[[], None] | None = None
    ) -> Summary:
        """Acquire until the source finishes, `stop` is set, or a fatal error; always close.

        `tick` is called about ten times a second on the calling thread (progress display).
        """
        stop = stop or threading.Event()
        self._t_start = time.monotonic()
        self.restorer.start()
        try:
            self.source.start(self.on_frame, self.settings.frames)
            while not stop.is_set() and not self._fatal.is_set():
                if self.source.wait(0.1):
                    break
                self._checkpoint()
                if tick is not None:
                    tick()
            if self.source.error is not None:
                error = self.source.error
                if not isinstance(error, SourceError):
                    error = SourceError(f"{type(error).__name__}: {error}")
                self._errors.append(str(error))
        finally:
            self.source.stop()
            self.restorer.finish()
            summary = self.close()
        return summary

    def _checkpoint(self) -> None:
        """Rewrite session.json now and then, so a crash leaves recent counters."""
        if self.record_dir is not None and time.monotonic() - self._last_checkpoint > 2.0:
            self._last_checkpoint = time.monotonic()
            try:
                write_session(self.record_dir / "session.json", self.session(self.summary()))
            except RecorderError as exc:
                self._fail(str(exc))

    def summary(self) -> Summary:
        counters = self.ring.counters()
        duration = time.monotonic() - self._t_start
        restored_span = (
            self._t_last_restored - self._t_first_restored if self._t_first_restored else 0.0
        )
        return Summary(
            acquired=self.acquired,
            camera_lost=self.source.camera_lost,
            recorded=self.raw_recorder.recorded if self.raw_recorder else 0,
            windows=counters.windows,
            restored=self.restorer.count,
            skipped=counters.windows - self.restorer.count,
            published_raw=self.publisher.published["raw"],
            published_restored=self.publisher.published["restored"],
            published_tcs=self.publisher.published["tcs"],
            publish_dropped=self.publisher.dropped,
            restored_recorded=self.restored_recorder.recorded if self.restored_recorder else 0,
            duration_s=duration,
            acquired_fps=self.acquired / duration if duration else 0.0,
            restored_fps=(self.restorer.count - 1) / restored_span if restored_span else 0.0,
            latency_ms=self._latencies.percentiles(),
            engine_ms=self._engine_times.percentiles(),
            errors=list(self._errors),
        )

    def session(self, summary: Summary) -> dict[str, Any]:
        """The session.json document of design 3.5."""
        return {
            "pssr_live_version": __version__,
            "settings": asdict(self.settings),
            "source": {
                "name": self.source.name,
                "shape": list(self.source.shape),
                "dtype": self.source.dtype.name,
            },
            "model": {
                "path": self.settings.model,
                "sha256": self.model_hash,
                "kind": self.model_info.kind,
                "window": self.model_info.window,
            },
            "engine": {  # the one running at the end: a fallback replaces a failed engine
                "name": self.restorer.engine.name,
                "device": self.restorer.engine.device,
                "precision": self.restorer.engine.precision,
            },
            "counters": {
                "acquired": summary.acquired,
                "camera_lost": summary.camera_lost,
                "recorded": summary.recorded,
                "windows": summary.windows,
                "restored": summary.restored,
                "skipped": summary.skipped,
                "published_raw": summary.published_raw,
                "published_restored": summary.published_restored,
                "published_tcs": summary.published_tcs,
                "publish_dropped": summary.publish_dropped,
                "restored_recorded": summary.restored_recorded,
            },
            "latency_ms": summary.latency_ms,
            "engine_ms": summary.engine_ms,
            "duration_s": summary.duration_s,
            "errors": summary.errors,
        }

    def close(self) -> Summary:
        """Close recorders and the publisher, write session.json, release the source."""
        for recorder in (self.raw_recorder, self.restored_recorder):
            if recorder is not None:
                try:
                    recorder.close()
                except RecorderError as exc:
                    self._fail(str(exc))
        self.quality.close()
        if self.tcs is not None:
            self.tcs.close()
        self.publisher.close()
        self.source.close()
        summary = self.summary()
        if self.record_dir is not None:
            try:
                write_session(self.record_dir / "session.json", self.session(summary))
            except RecorderError as exc:
                if str(exc) not in summary.errors:
                    summary.errors.append(str(exc))
        return summary
