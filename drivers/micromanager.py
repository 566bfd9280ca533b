"""Streams frames from any pymmcore-plus core: a user's config, the DemoCamera, the simulator."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from pymmcore_plus.experimental.unicore import UniMMCore

from pssr_live.drivers.source import Frame, FrameSink, SourceError, ThreadedSource, check_frame

#: Seconds of frames in the simulated camera's sequence buffer (at least 64 MiB). UniMMCore's
#: default pool, 1 GiB, is committed page by page as frames first fill it: in a 10-minute
#: soak the process grew by 450 MiB for nothing (docs/reliability.md).
SIM_BUFFER_S = 4.0

log = logging.getLogger(__name__)


class CoreSource(ThreadedSource):
    """Runs a sequence acquisition on a core and polls it on a thread of its own.

    Micro-Manager's live mode has no per-frame signal, so the thread pops images as
    they arrive and hands each to the sink with a consecutive acquisition index and the
    time it left the core's buffer.

    When its circular buffer is full, Micro-Manager overwrites the oldest images without
    a word (isBufferOverflowed stays false). The camera's own ``ImageNumber`` metadata
    shows the gaps: they are counted in `camera_lost` and logged, so a recording that
    misses frames says so (session.json: ``camera_lost``).
    """

    def __init__(self, core: UniMMCore, name: str, *, timeout_s: float = 5.0) -> None:
        super().__init__()
        self.core = core
        self.name = name
        self.timeout_s = timeout_s
        self.shape = (int(core.getImageHeight()), int(core.getImageWidth()))
        bits = int(core.getBytesPerPixel())
        if bits not in (1, 2) or core.getNumberOfComponents() != 1:
            raise SourceError(
                f"camera {core.getCameraDevice()!r} delivers {bits}-byte, "
                f"{core.getNumberOfComponents()}-component pixels; pssr-live needs 8- or "
                "16-bit grey frames: set the camera's PixelType"
            )
        self.dtype = np.dtype(np.uint8 if bits == 1 else np.uint16)

    # -- constructors for the three kinds of core ----------------------------------------

    @classmethod
    def simulated(
        cls,
        *,
        lr_shape: tuple[int, int] = (128, 128),
        fps: float = 20.0,
        seed: int = 0,
        peak_photons: float | None = None,
        timeout_s: float = 5.0,
    ) -> CoreSource:
        """The simulated confocal, a Python camera inside UniMMCore."""
        from pssr_live.drivers.sim_camera import load_simulated_confocal

        core = UniMMCore()
        kwargs: dict[str, Any] = {"lr_shape": lr_shape, "fps": fps, "seed": seed}
        if peak_photons is not None:
            kwargs["peak_photons"] = peak_photons
        camera = load_simulated_confocal(core, **kwargs)
        frame_mib = lr_shape[0] * lr_shape[1] * 2 / 2**20  # uint16
        core.setCircularBufferMemoryFootprint(max(64, math.ceil(SIM_BUFFER_S * fps * frame_mib)))
        source = cls(core, "sim", timeout_s=timeout_s)
        source.camera = camera
        return source

    @classmethod
    def demo(
        cls,
        *,
        fps: float | None = None,
        size: tuple[int, int] | None = None,
        timeout_s: float = 5.0,
    ) -> CoreSource:
        """Micro-Manager's C++ DemoCamera from the mm-test-adapters package."""
        import mm_test_adapters

        core = UniMMCore()
        core.setDeviceAdapterSearchPaths([mm_test_adapters.device_adapter_path()])
        try:
            core.loadSystemConfiguration()
        except Exception as exc:
            raise SourceError(f"cannot load the Micro-Manager demo configuration: {exc}") from exc
        _configure(core, fps=fps, size=size)
        return cls(core, "demo", timeout_s=timeout_s)

    @classmethod
    def from_config(
        cls, path: Path, *, fps: float | None = None, timeout_s: float = 5.0
    ) -> CoreSource:
        """A user's Micro-Manager hardware configuration file."""
        if not path.is_file():
            raise SourceError(f"Micro-Manager config {path} not found; give mm:PATH.cfg")
        core = UniMMCore()
        try:
            import mm_test_adapters

            core.setDeviceAdapterSearchPaths(
                [str(path.parent), mm_test_adapters.device_adapter_path()]
            )
        except ImportError:  # a user's own Micro-Manager installation is on the path
            pass
        try:
            core.loadSystemConfiguration(str(path))
        except Exception as exc:
            raise SourceError(f"cannot load Micro-Manager config {path}: {exc}") from exc
        if not core.getCameraDevice():
            raise SourceError(f"config {path} defines no camera; set Core-Camera in it")
        _configure(core, fps=fps, size=None)
        return cls(core, f"mm:{path.name}", timeout_s=timeout_s)

    # -- FrameSource -----------------------------------------------------------------------

    camera: Any = None  # the simulated camera device, when there is one

    def start(self, sink: FrameSink, n_frames: int | None = None) -> None:
        core = self.core
        if n_frames is None:
            core.startContinuousSequenceAcquisition(0)
        else:
            core.startSequenceAcquisition(n_frames, 0, True)

        def loop(stop: Any) -> None:
            last_arrival = time.monotonic()
            while not stop.is_set() and (n_frames is None or self.delivered < n_frames):
                if core.getRemainingImageCount() == 0:
                    if (  # count again: the last image may land as the sequence ends
                        n_frames is not None
                        and not core.isSequenceRunning()
                        and core.getRemainingImageCount() == 0
                    ):
                        self._finished_short(n_frames)
                        break
                    if time.monotonic() - last_arrival > self.timeout_s:
                        raise SourceError(
                            f"no frame from camera {core.getCameraDevice()!r} for "
                            f"{self.timeout_s:g} s; check that it is on and connected"
                        )
                    time.sleep(0.0005)
                    continue
                image, meta = core.popNextImageAndMD()
                t_acquired = time.time()
                last_arrival = time.monotonic()
                check_frame(image, self.shape, self.dtype)
                self._count_lost(meta.get("ImageNumber"))
                key = meta.get("SimFrame") if self.camera is not None else None
                sink(Frame(self.delivered, t_acquired, image, int(key) if key else None))
                self.delivered += 1

        self._last_number: int | None = None
        self._run_thread(loop)

    def _finished_short(self, n_frames: int) -> None:
        """The camera's finite sequence ended before `n_frames` reached the sink."""
        if self.core.isBufferOverflowed():
            raise SourceError(
                f"Micro-Manager's circular buffer overflowed after {self.delivered} of "
                f"{n_frames} frames and stopped the camera; lower the frame rate or enlarge "
                "the buffer (Micro-Manager: Tools > Options > sequence buffer size)"
            )
        log.warning(
            "camera %s ended its sequence after %d of %d frames",
            self.core.getCameraDevice(),
            self.delivered,
            n_frames,
        )

    def _count_lost(self, number: str | None) -> None:
        """Add the gap before this camera image number (if the camera numbers its images)."""
        try:
            n = int(number)
        except (TypeError, ValueError):  # no ImageNumber, or not a number
            return
        if self._last_number is not None and n > self._last_number + 1:
            lost = n - self._last_number - 1
            self.camera_lost += lost
            log.warning(
                "camera %s: %d frame(s) lost in Micro-Manager's buffer before image %d "
                "(%d so far); reduce the frame rate or enlarge the buffer",
                self.core.getCameraDevice(),
                lost,
                n,
                self.camera_lost,
            )
        self._last_number = n

    def stop(self) -> None:
        super().stop()
        if self.core.isSequenceRunning():
            self.core.stopSequenceAcquisition()

    def ground_truth(self, frame: Frame) -> np.ndarray | None:
        """The simulator's HR ground truth for a frame, when the source is simulated."""
        if self.camera is None or frame.ground_truth_key is None:
            return None
        return self.camera.ground_truth(frame.ground_truth_key)

    def close(self) -> None:
        """Stop and unload every device, so MMCore's threads end before the interpreter."""
        self.stop()
        self.core.unloadAllDevices()
        self.camera = None


def _configure(core: UniMMCore, *, fps: float | None, size: tuple[int, int] | None) -> None:
    """Apply --fps (as the exposure time) and --size (as a centred ROI) to a hardware camera."""
    if fps is not None:
        core.setExposure(1000.0 / fps)
    if size is not None:
        full_h, full_w = core.getImageHeight(), core.getImageWidth()
        h, w = size
        if h > full_h or w > full_w:
            raise SourceError(f"--size {h}x{w} exceeds the camera's {full_h}x{full_w} sensor")
        core.setROI((full_w - w) // 2, (full_h - h) // 2, w, h)
