"""A crash-consistent BigTIFF page appender: whatever stops the writer, the file stays valid.

tifffile's TiffWriter links a new page into the IFD chain before writing its pixels, so
a kill or a full disk in the middle of a frame leaves a chain that points into missing
bytes and the whole file unreadable. Here each page's pixels, its long tag values and
its IFD are written and flushed first; only then is the previous page's next-IFD
pointer (8 bytes, in place) set to it. At every instant the file on disk is a valid
TIFF of the pages linked so far; bytes after them are ignored by readers.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_SHORT, _ASCII, _LONG, _LONG8 = 3, 2, 4, 16
_SAMPLE_FORMAT = {"u": 1, "i": 2, "f": 3}
_HEADER = struct.pack("<2sHHHQ", b"II", 43, 8, 0, 0)  # BigTIFF, no first IFD yet


def _align(offset: int, to: int) -> int:
    return -(-offset // to) * to


def _entry(code: int, kind: int, count: int, value: int | bytes) -> bytes:
    """One 20-byte BigTIFF tag entry; `value` is a number, inline bytes or an offset."""
    if isinstance(value, bytes):
        field = value.ljust(8, b"\0")
    else:
        field = struct.pack({_SHORT: "<H6x", _LONG: "<I4x"}.get(kind, "<Q"), value)
    return struct.pack("<HHQ", code, kind, count) + field


class BigTiffAppender:
    """Appends uncompressed 2-D grey pages, each with optional ASCII tags (code -> text).

    Raises OSError (disk full, permissions) from the call that failed; the pages appended
    before it stay readable.
    """

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "wb+")  # noqa: SIM115 - kept open for appending, closed in close()
        self._fh.write(_HEADER)
        self._fh.flush()
        self._link = 8  # file offset of the pointer that links the next page
        self._end = len(_HEADER)

    def append(self, data: np.ndarray, texts: dict[int, str]) -> None:
        """Write one page with pixels `data` (2-D) and ASCII `texts`, then link it."""
        if data.ndim != 2 or data.dtype.kind not in _SAMPLE_FORMAT:
            raise ValueError(f"cannot write a {data.ndim}-D {data.dtype} page")
        data = np.ascontiguousarray(data, data.dtype.newbyteorder("<"))
        h, w = data.shape
        data_pos = _align(self._end, 16)
        cursor = data_pos + data.nbytes
        entries = [
            _entry(256, _LONG, 1, w),
            _entry(257, _LONG, 1, h),
            _entry(258, _SHORT, 1, 8 * data.dtype.itemsize),
            _entry(259, _SHORT, 1, 1),  # no compression
            _entry(262, _SHORT, 1, 1),  # min-is-black
            _entry(273, _LONG8, 1, data_pos),
            _entry(277, _SHORT, 1, 1),
            _entry(278, _LONG, 1, h),
            _entry(279, _LONG8, 1, data.nbytes),
            _entry(339, _SHORT, 1, _SAMPLE_FORMAT[data.dtype.kind]),
        ]
        blobs: list[tuple[int, bytes]] = []
        for code, text in texts.items():
            value = text.encode("ascii") + b"\0"
            if len(value) <= 8:
                entries.append(_entry(code, _ASCII, len(value), value))
            else:
                blobs.append((cursor, value))
                entries.append(_entry(code, _ASCII, len(value), cursor))
                cursor = _align(cursor + len(value), 2)
        entries.sort(key=lambda e: struct.unpack_from("<H", e)[0])
        ifd_pos = cursor
        ifd = struct.pack("<Q", len(entries)) + b"".join(entries) + struct.pack("<Q", 0)

        fh = self._fh
        fh.seek(data_pos)
        fh.write(data.data)
        for pos, value in blobs:
            fh.seek(pos)
            fh.write(value)
        fh.seek(ifd_pos)
        fh.write(ifd)
        fh.flush()
        fh.seek(self._link)  # link the page only once all of it is in the file
        fh.write(struct.pack("<Q", ifd_pos))
        fh.flush()
        self._link = ifd_pos + len(ifd) - 8
        self._end = ifd_pos + len(ifd)

    def close(self) -> None:
        self._fh.close()
