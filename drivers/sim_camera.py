"""SimulatedConfocal: a pymmcore-plus (UniMMCore) Python camera around MitoScene + scanner.

Every snap advances the scene one frame, renders it, scans it into the LR uint16 buffer
and keeps the matching HR ground truth (bounded history) so that live restoration
quality can be measured: the frame's metadata carries ``"SimFrame": str(index)`` and
`SimulatedConfocal.ground_truth(index)` returns the HR frame (or None once evicted).

Timing follows a monotonic schedule at `FrameRate` fps (frame k is delivered at
t0 + (k + 1) / fps; a late frame does not shift later ones, an idle gap of more than
one period restarts the schedule), so the rate does not drift with compute time.
Exposure (ms) is 1000 / FrameRate: a scanning confocal's frame time is its exposure.

MM properties: ``FrameRate`` (fps), ``PeakPhotons`` (dose, photons at the brightest
structures), ``Seed`` (restarts scene and noise); plus the standard ``Exposure``.
Frame size is a constructor argument (`lr_shape`), not a property.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
from pymmcore_plus.experimental.unicore import SimpleCameraDevice, UniMMCore, pymm_property

from .confocal import ConfocalScanner, ScanSettings
from .scene import MitoScene, SceneSettings

__all__ = ["SimulatedConfocal", "load_simulated_confocal"]

_GT_BYTES_MAX = 256 * 1024 * 1024  # cap of the ground-truth history, bytes


class SimulatedConfocal(SimpleCameraDevice):
    """Simulated undersampled laser-scanning confocal (LR uint16 frames, HR ground truth)."""

    def __init__(
        self,
        lr_shape: tuple[int, int] = (128, 128),
        *,
        fps: float = 20.0,
        peak_photons: float | None = None,
        seed: int = 0,
        scene: SceneSettings | None = None,
        scan: ScanSettings | None = None,
        gt_history: int = 128,
    ) -> None:
        """`peak_photons` overrides `scan.peak_photons` when given; `scene.hr_shape` and
        `scene.seed` are replaced by lr_shape * scale and `seed`."""
        super().__init__()
        self._lr_shape = (int(lr_shape[0]), int(lr_shape[1]))
        self._scene_settings = scene
        self._scan_settings = replace(scan or ScanSettings())  # own copy: setters mutate it
        if peak_photons is not None:
            self._scan_settings.peak_photons = float(peak_photons)
        self._fps = float(fps)
        self._seed = int(seed)
        self._sim_lock = threading.Lock()  # scene/scanner state (snap thread vs. setters)
        self._gt_lock = threading.Lock()
        self._gt: OrderedDict[int, np.ndarray] = OrderedDict()
        s = self._scan_settings.scale
        gt_bytes = self._lr_shape[0] * self._lr_shape[1] * s * s * 4
        self._gt_max = max(1, min(int(gt_history), _GT_BYTES_MAX // gt_bytes))
        self._index = 0  # next sim frame index (never reset, so GT keys stay unique)
        self._deadline: float | None = None
        self._reset()

    # ------------------------------------------------------------------ simulation

    def _reset(self) -> None:
        """(Re)build scene and scanner from the current seed."""
        s = self._scan_settings.scale
        hr = (self._lr_shape[0] * s, self._lr_shape[1] * s)
        base = self._scene_settings or SceneSettings()
        self.scene = MitoScene(replace(base, hr_shape=hr, seed=self._seed))
        self.scanner = ConfocalScanner(self._scan_settings, seed=self._seed)

    def ground_truth(self, sim_index: int) -> np.ndarray | None:
        """HR ground truth (float32, lr_shape * scale, read-only) of frame `sim_index`.

        None once evicted: the history holds the last `gt_history` frames (at most 256 MiB).
        """
        with self._gt_lock:
            return self._gt.get(int(sim_index))

    @property
    def scale(self) -> int:
        """HR pixels per LR pixel, per axis."""
        return self._scan_settings.scale

    # ------------------------------------------------------------------ camera API

    def sensor_shape(self) -> tuple[int, int]:
        return self._lr_shape

    def dtype(self) -> np.dtype:
        return np.dtype(self._scan_settings.dtype)

    def get_exposure(self) -> float:
        return 1000.0 / self._fps

    def set_exposure(self, exposure: float) -> None:
        self._fps = min(max(1000.0 / max(float(exposure), 1e-6), 1.0), 2000.0)

    def snap(self, buffer: np.ndarray) -> Mapping:
        """Simulate one frame into `buffer`, then wait for its slot in the schedule."""
        period = 1.0 / self._fps
        now = time.monotonic()
        if self._deadline is None or now - self._deadline > period:
            self._deadline = now  # first frame or idle gap: restart the schedule
        self._deadline += period
        deadline = self._deadline
        with self._sim_lock:
            self.scene.step()
            obj = self.scene.render()
            gt = self.scanner.ground_truth(obj)
            buffer[:] = self.scanner.scan(obj)
            idx = self._index
            self._index += 1
        gt.flags.writeable = False  # shared with consumers without a copy
        with self._gt_lock:
            self._gt[idx] = gt
            while len(self._gt) > self._gt_max:
                self._gt.popitem(last=False)
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return {"SimFrame": str(idx)}

    # ------------------------------------------------------------------ properties

    # >= 1 fps: a snap sleeps up to one period, and UniMMCore waits only 2 s for the
    # acquisition thread when a sequence is stopped.
    @pymm_property(limits=(1.0, 2000.0))
    def FrameRate(self) -> float:
        """Frames per second (sets the exposure to 1000 / fps)."""
        return self._fps

    @FrameRate.setter
    def FrameRate(self, value: float) -> None:
        self._fps = float(value)

    @pymm_property(limits=(0.01, 1.0e6))
    def PeakPhotons(self) -> float:
        """Expected photons at the brightest structures (dose)."""
        return self._scan_settings.peak_photons

    @PeakPhotons.setter
    def PeakPhotons(self, value: float) -> None:
        with self._sim_lock:
            self._scan_settings.peak_photons = float(value)

    @pymm_property
    def Seed(self) -> int:
        """Seed of scene and noise; setting it restarts the simulation."""
        return self._seed

    @Seed.setter
    def Seed(self, value: int) -> None:
        with self._sim_lock:
            self._seed = int(value)
            self._reset()


def load_simulated_confocal(
    core: UniMMCore,
    label: str = "SimConfocal",
    *,
    lr_shape: tuple[int, int] = (128, 128),
    fps: float = 20.0,
    peak_photons: float = 30.0,
    seed: int = 0,
    scene: SceneSettings | None = None,
    scan: ScanSettings | None = None,
) -> SimulatedConfocal:
    """loadPyDevice + initializeDevice + setCameraDevice + setAutoShutter(False).

    `scene` / `scan` optionally set the simulation (e.g. ``bleach_per_frame=0`` for an
    endless demo); `peak_photons` wins over ``scan.peak_photons``.
    """
    cam = SimulatedConfocal(
        lr_shape, fps=fps, peak_photons=peak_photons, seed=seed, scene=scene, scan=scan
    )
    core.loadPyDevice(label, cam)
    core.initializeDevice(label)
    core.setCameraDevice(label)
    core.setAutoShutter(False)
    return cam
