"""Recording directory of design 3.5: raw.ome.tif, restored.ome.tif and session.json."""

from __future__ import annotations

import json
import os
import queue
import threading
from array import array
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from pssr_live.bigtiff import BigTiffAppender
from pssr_live.errors import UserError

# Private TIFF tag on every page: {"frame": index, "t": unix seconds}. It keeps each
# plane's index and time stamp readable even when the writer died before the final
# OME-XML was written.
FRAME_TAG = 65000
IN_PROGRESS = "pssr-live recording in progress (OME-XML is written when it closes)"


class RecorderError(UserError):
    """Writing the recording failed (disk full, permissions); what was written stays readable."""


class StackWriter:
    """Appends 2-D frames to an OME-TIFF, one page per frame, each flushed as it is written.

    The pages go through BigTiffAppender, so the file stays readable with tifffile up to
    the last complete frame after a crash, a kill or a full disk. The OME-XML (T x Y x X,
    DeltaT per plane) replaces the first page's description when the writer is closed;
    after a failed write it is left out, as writing it would need the space that ran out.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._pages = BigTiffAppender(self.path)
        except OSError as exc:
            raise RecorderError(f"cannot create {self.path}: {exc}") from exc
        self._times = array("d")  # 8 bytes a frame: kept for the OME-XML DeltaT at close
        self._shape: tuple[int, int] | None = None
        self._dtype: np.dtype | None = None
        self._failed = False
        self._closed = False

    @property
    def count(self) -> int:
        return len(self._times)

    def append(self, index: int, t_acquired: float, data: np.ndarray) -> None:
        if self._shape is None:
            self._shape, self._dtype = data.shape, data.dtype
        elif data.shape != self._shape or data.dtype != self._dtype:
            raise RecorderError(
                f"frame {index} is {data.shape} {data.dtype}, the recording holds "
                f"{self._shape} {self._dtype}"
            )
        texts = {FRAME_TAG: json.dumps({"frame": int(index), "t": float(t_acquired)})}
        if not self._times:
            texts[270] = IN_PROGRESS  # ImageDescription, replaced by the OME-XML at close
        try:
            self._pages.append(data, texts)
        except OSError as exc:
            self._failed = True
            raise RecorderError(f"cannot write {self.path}: {exc}") from exc
        self._times.append(float(t_acquired))

    def close(self) -> None:
        """Flush, close, and write the OME-XML with per-plane DeltaT."""
        if self._closed:
            return
        self._closed = True
        try:
            self._pages.close()
        except OSError as exc:
            if not self._failed:
                raise RecorderError(f"cannot close {self.path}: {exc}") from exc
        if self._failed or not self._times or self._shape is None or self._dtype is None:
            return
        n = len(self._times)
        t0 = self._times[0]
        ome = tifffile.OmeXml()
        ome.addimage(
            self._dtype,
            (n, *self._shape),
            (n, 1, 1, *self._shape, 1),
            axes="TYX",
            Plane={
                "TheT": list(range(n)),
                "DeltaT": [t - t0 for t in self._times],
                "DeltaTUnit": ["s"] * n,
            },
        )
        try:
            tifffile.tiffcomment(self.path, ome.tostring())
        except OSError as exc:
            raise RecorderError(f"cannot finish OME-XML of {self.path}: {exc}") from exc


class RawRecorder:
    """Records every raw frame on a writer thread fed by the producer.

    The producer only copies the frame into a queue, so a slow disk cannot stall the
    camera; the queue is bounded by memory (`max_queue_bytes`), and if the disk cannot
    keep up at all the recorder fails loudly instead of dropping frames.
    """

    def __init__(self, path: Path, *, max_queue_bytes: int = 2 << 30) -> None:
        self._writer = StackWriter(path)
        self._queue: queue.SimpleQueue[tuple[int, float, np.ndarray] | None] = queue.SimpleQueue()
        self._queued_bytes = 0
        self._max_queue_bytes = max_queue_bytes
        self.error: BaseException | None = None
        self.submitted = 0
        self._thread = threading.Thread(target=self._run, name="raw-recorder", daemon=True)
        self._thread.start()

    @property
    def path(self) -> Path:
        return self._writer.path

    @property
    def recorded(self) -> int:
        return self._writer.count

    @property
    def queued_bytes(self) -> int:
        """Bytes of frames submitted but not yet written."""
        return self._queued_bytes

    def submit(self, index: int, t_acquired: float, data: np.ndarray) -> None:
        """Queue a copy of the frame; raises RecorderError if writing has failed."""
        if self.error is not None:
            raise RecorderError(str(self.error))
        if self._queued_bytes + data.nbytes > self._max_queue_bytes:
            raise RecorderError(
                f"the disk writing {self.path} cannot keep up ({self._queued_bytes >> 20} MiB "
                "queued); record to a faster disk or lower the frame rate"
            )
        self._queued_bytes += data.nbytes
        self.submitted += 1
        self._queue.put((index, t_acquired, data.copy()))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            index, t_acquired, data = item
            self._queued_bytes -= data.nbytes
            if self.error is not None:
                continue
            try:
                self._writer.append(index, t_acquired, data)
            except RecorderError as exc:
                self.error = exc

    def close(self) -> None:
        """Write everything queued, then finish the file."""
        self._queue.put(None)
        self._thread.join()
        self._writer.close()
        if self.error is not None:
            raise RecorderError(str(self.error))


def read_frame_tags(path: Path) -> list[dict[str, float]]:
    """Per-page {"frame", "t"} tags of a recording; works on unfinished files."""
    with tifffile.TiffFile(path) as tif:
        tif.pages.useframes = False
        return [json.loads(page.tags[FRAME_TAG].value) for page in tif.pages]


def write_session(path: Path, session: dict[str, Any]) -> None:
    """Write session.json atomically (a crash leaves the old or the new, never half)."""
    tmp = Path(path).with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(session, indent=2, default=_json_default))
        os.replace(tmp, path)
    except OSError as exc:
        raise RecorderError(f"cannot write {path}: {exc}") from exc


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


class RestoredRecorder(RawRecorder):
    """Records restored frames; unlike raw frames, these may be dropped (and counted).

    `submit` never raises: after a write error the rest is dropped, and `close` reports it.
    """

    def __init__(self, path: Path, *, max_queue_bytes: int = 512 << 20) -> None:
        super().__init__(path, max_queue_bytes=max_queue_bytes)
        self.dropped = 0

    def submit(self, index: int, t_acquired: float, data: np.ndarray) -> None:
        if self.error is not None or self._queued_bytes + data.nbytes > self._max_queue_bytes:
            self.dropped += 1
            return
        super().submit(index, t_acquired, data)
