import itertools
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile

from pssr_live.recorder import (
    RawRecorder,
    RecorderError,
    RestoredRecorder,
    read_frame_tags,
    write_session,
)


def test_raw_recording_is_ome_with_every_frame_and_delta_t(tmp_path):
    path = tmp_path / "raw.ome.tif"
    rec = RawRecorder(path)
    for i in range(50):
        rec.submit(i, 1000.0 + 0.05 * i, np.full((16, 24), i, np.uint16))
    rec.close()
    assert rec.recorded == 50
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome
        assert tif.series[0].axes == "TYX"
        data = tif.asarray()
        ome = tif.ome_metadata
    assert data.shape == (50, 16, 24) and data.dtype == np.uint16
    assert data[:, 0, 0].tolist() == list(range(50))
    assert 'DeltaT="2.45' in ome and 'TheT="49"' in ome
    tags = read_frame_tags(path)
    assert [t["frame"] for t in tags] == list(range(50))
    assert all(b["t"] > a["t"] for a, b in itertools.pairwise(tags))


def test_recording_readable_after_the_writer_is_killed(tmp_path):
    path = tmp_path / "raw.ome.tif"
    script = textwrap.dedent(f"""
        import os, numpy as np
        from pssr_live.recorder import StackWriter
        w = StackWriter({str(path)!r})
        for i in range(37):
            w.append(i, float(i), np.full((8, 8), i, np.uint16))
        os.kill(os.getpid(), 9)
    """)
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -9
    data = tifffile.imread(path)
    assert data.shape == (37, 8, 8)
    assert data[:, 0, 0].tolist() == list(range(37))
    assert [t["frame"] for t in read_frame_tags(path)] == list(range(37))


def test_shape_change_mid_recording_is_an_error_and_keeps_earlier_frames(tmp_path):
    path = tmp_path / "raw.ome.tif"
    rec = RawRecorder(path)
    for i in range(5):
        rec.submit(i, float(i), np.zeros((8, 8), np.uint16))
    rec.submit(5, 5.0, np.zeros((8, 9), np.uint16))
    with pytest.raises(RecorderError, match="recording holds"):
        rec.close()
    assert tifffile.imread(path).shape == (5, 8, 8)


def test_raw_recorder_refuses_to_drop_when_disk_cannot_keep_up(tmp_path):
    rec = RawRecorder(tmp_path / "raw.ome.tif", max_queue_bytes=1)
    with pytest.raises(RecorderError, match="cannot keep up"):
        rec.submit(0, 0.0, np.zeros((8, 8), np.uint16))
    rec.close()


def test_restored_recorder_drops_and_counts_instead(tmp_path):
    rec = RestoredRecorder(tmp_path / "restored.ome.tif", max_queue_bytes=1)
    rec.submit(0, 0.0, np.zeros((8, 8), np.float32))
    rec.close()
    assert rec.dropped == 1


def test_session_json_written_atomically(tmp_path):
    path = tmp_path / "session.json"
    write_session(path, {"counters": {"acquired": np.int64(3)}, "dir": tmp_path})
    assert json.loads(path.read_text())["counters"]["acquired"] == 3
    assert not (tmp_path / "session.json.tmp").exists()
