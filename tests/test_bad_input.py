"""Bad input: frames that change mid-stream, non-finite or extreme pixels, broken files,
malformed messages, bad arguments. Each ends in a one-line error, never a traceback, and
nothing already recorded is lost."""

from __future__ import annotations

import json
import time
from functools import partial

import numpy as np
import pytest
import tifffile
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pssr_live.cli import COMMANDS, main
from pssr_live.drivers.movie import MovieError, read_movie
from pssr_live.drivers.replay import FileSource
from pssr_live.drivers.source import Frame, FrameSink, SourceError, check_frame
from pssr_live.modelfile import bundled_model_path, read_info
from pssr_live.pipeline import Pipeline, RunSettings
from pssr_live.restorer import Restorer
from pssr_live.ringbuffer import FrameWindow, RingBuffer
from pssr_live.wire import Publisher, WireError, decode, encode


def one_line_error(capsys, argv: list[str], code: int = 1) -> str:
    """Run the CLI in-process; it must end with `code` and one error line on stderr (other
    lines, such as which engine `auto` picked, are information)."""
    try:
        result = main(argv)
    except SystemExit as exc:  # argparse errors
        result = exc.code
    assert result == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if ": error:" in line]
    assert len(lines) == 1, err
    return lines[0]


# -- frames --------------------------------------------------------------------------------


class ROIChange(FileSource):
    """Replays a movie, but frame 10 comes back smaller, as after a camera ROI change."""

    def start(self, sink: FrameSink, n_frames: int | None = None) -> None:
        def changed(frame: Frame) -> None:
            if frame.index == 10:
                frame = Frame(frame.index, frame.t_acquired, frame.data[:, :-4])
            sink(frame)

        super().start(changed, n_frames)


def test_frame_of_another_shape_mid_stream_stops_and_keeps_earlier_frames(tmp_path, address):
    movie = np.arange(30 * 16 * 16, dtype=np.uint16).reshape(30, 16, 16)
    tifffile.imwrite(tmp_path / "movie.tif", movie)
    record = tmp_path / "rec"
    pipeline = Pipeline(
        RunSettings(record=str(record), publish=address),
        ROIChange(tmp_path / "movie.tif", fps=300),
        _NearestEngine(),
        Publisher(address),
        read_info(bundled_model_path()),
        "0" * 64,
    )
    summary = pipeline.run()
    assert len(summary.errors) == 1 and "changed its ROI" in summary.errors[0]
    assert "(16, 12)" in summary.errors[0]
    np.testing.assert_array_equal(tifffile.imread(record / "raw.ome.tif"), movie[:10])
    assert summary.acquired == summary.recorded == 10


class _NearestEngine:
    name, device, precision, frames, scale = "nearest", "cpu", "fp32", 5, 4

    def restore(self, window: np.ndarray) -> np.ndarray:
        return np.kron(window[2], np.ones((4, 4), np.float32))


@pytest.mark.parametrize(
    "data", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 1), np.uint16), np.zeros((8, 9), "u2")]
)
def test_check_frame_rejects_dtype_and_shape(data):
    with pytest.raises(SourceError, match="restart the acquisition"):
        check_frame(data, (8, 8), np.dtype(np.uint16))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_replay_with_non_finite_values_is_refused(tmp_path, capsys, address, bad):
    movie = np.ones((10, 16, 16), np.float32)
    movie[3, 4, 5] = bad
    tifffile.imwrite(tmp_path / "f.tif", movie)
    argv = ["run", f"--source=file:{tmp_path / 'f.tif'}", f"--publish={address}", "--engine=torch"]
    line = one_line_error(capsys, argv)
    assert "NaN or inf" in line


def test_offline_restore_refuses_non_finite_input(tmp_path, capsys):
    movie = np.ones((6, 16, 16), np.float32)
    movie[2, 0, 0] = np.nan
    tifffile.imwrite(tmp_path / "f.tif", movie)
    line = one_line_error(capsys, ["restore", str(tmp_path / "f.tif"), "-o", str(tmp_path / "o")])
    assert "NaN" in line or "finite" in line


@pytest.fixture(scope="module")
def torch_restorer() -> Restorer:
    from pssr_live.engines.base import create_engine

    model = bundled_model_path()
    info = read_info(model)
    ring = RingBuffer(8, (32, 32), np.uint16)
    return Restorer(ring, create_engine("torch", str(model)), norm=info.norm)


@pytest.mark.parametrize(
    ("name", "frames"),
    [
        ("black", np.zeros((5, 32, 32), np.uint16)),
        ("constant", np.full((5, 32, 32), 1234, np.uint16)),
        ("saturated", np.full((5, 32, 32), 65535, np.uint16)),
        ("half saturated", np.repeat(np.uint16([0, 65535]), 16 * 32 * 5).reshape(5, 32, 32)),
        ("one hot pixel", np.pad(np.full((5, 1, 1), 65535, np.uint16), [(0, 0), (0, 31), (0, 31)])),
    ],
)
def test_restorer_output_is_finite_for_extreme_windows(torch_restorer, name, frames):
    window = FrameWindow(frames, np.arange(5), np.zeros(5))
    image = torch_restorer.restore_window(window).image
    assert image.shape == (128, 128) and np.isfinite(image).all(), name
    # the normalisation floor keeps flat windows flat: no noise blown up to full scale
    if name in ("black", "constant", "saturated"):
        assert np.ptp(image) < 0.05 * max(float(frames.max()), 1000.0)


# -- files ---------------------------------------------------------------------------------


MOVIE = np.arange(6 * 16 * 16, dtype=np.uint16).reshape(6, 16, 16)


@pytest.fixture(scope="module")
def valid_tiff(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("tiff") / "movie.tif"
    tifffile.imwrite(path, MOVIE)
    return path.read_bytes()


READERS = {
    "read_movie memory-mapped (replay)": (partial(read_movie, mmap=True), MovieError),
    "read_movie (restore, train)": (read_movie, MovieError),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("keep", [0, 7, 16, 100, 0.5, 0.9, -1])
def test_readers_on_truncated_tiff(tmp_path, valid_tiff, reader, keep):
    read, error = READERS[reader]
    n = int(len(valid_tiff) * keep) if isinstance(keep, float) else keep % len(valid_tiff)
    (tmp_path / "cut.tif").write_bytes(valid_tiff[:n])
    try:
        movie = read(tmp_path / "cut.tif")
    except error as exc:
        assert "\n" not in str(exc)
        return
    # a cut through trailing metadata only: what is returned must be the true frames
    np.testing.assert_array_equal(movie, MOVIE[: len(movie)])


@pytest.mark.parametrize("reader", READERS)
def test_readers_on_missing_file_directory_and_four_channel_stack(tmp_path, reader):
    read, error = READERS[reader]
    stack = np.zeros((3, 4, 16, 16), np.uint16)
    tifffile.imwrite(
        tmp_path / "tcyx.tif", stack, photometric="minisblack", metadata={"axes": "TCYX"}
    )
    for path in (tmp_path / "missing.tif", tmp_path, tmp_path / "tcyx.tif"):
        with pytest.raises(error):
            read(path)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=600), cut=st.integers(0, 2000), flip=st.integers(0, 2000))
def test_readers_raise_only_user_errors(tmp_path, valid_tiff, data, cut, flip):
    """Random bytes, truncated and bit-flipped TIFFs: a movie or a one-line UserError."""
    damaged = bytearray(valid_tiff[: max(8, cut)])
    damaged[flip % len(damaged)] ^= 0xFF
    for content in (data, bytes(damaged)):
        path = tmp_path / "x.tif"
        path.write_bytes(content)
        for read, error in READERS.values():
            try:
                movie = read(path)
            except error:
                continue
            assert movie.ndim == 3


@pytest.mark.parametrize("content", [b"", b"\x80\x04K\x01.", b"PK\x03\x04" + bytes(100)])
def test_bad_model_file_on_the_command_line(tmp_path, capsys, content, address):
    (tmp_path / "m.safetensors").write_bytes(content)
    argv = ["run", f"--model={tmp_path / 'm.safetensors'}", f"--publish={address}", "--frames=5"]
    line = one_line_error(capsys, argv)
    assert "m.safetensors" in line


# -- messages ------------------------------------------------------------------------------


def parts_of(topic: str = "raw", **header) -> list[bytes]:
    base = {"frame": 1, "t_acquired": 0.0}
    if topic == "restored":
        base.update(window=[0, 4], latency_ms=1.0, engine="torch")
    parts = [bytes(p) for p in encode(topic, base, np.zeros((2, 2), np.uint16))]
    doc = json.loads(parts[1])
    doc.update(header)
    parts[1] = json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()
    return parts


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        (parts_of(v=2), "version"),
        (parts_of(frame=True), "frame"),
        (parts_of(frame="1"), "frame"),
        (parts_of(shape=[2, 2, 1]), "shape"),
        (parts_of(shape=[0, 2]), "shape"),
        (parts_of(dtype="object"), "dtype"),
        (parts_of(dtype="complex128"), "dtype"),
        (parts_of(t_acquired=...), "t_acquired"),
        (parts_of("tcs"), "ratio"),
        ([b"raw", b"\xff\xfe", b""], "UTF-8"),
        ([b"\xff", b"{}", b""], "ASCII"),
        ([b"raw", b"{}", b"", b"extra"], "4 parts"),
        ([], "0 parts"),
    ],
)
def test_more_malformed_messages(parts, reason):
    with pytest.raises(WireError, match=reason):
        decode(parts)


def test_viewer_stream_survives_malformed_messages():
    from pssr_live.viewstream import LatestReceiver

    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    receiver = LatestReceiver(f"tcp://127.0.0.1:{port}")
    try:
        time.sleep(0.3)
        for bad in (
            [b"raw"],
            [b"raw", b"{", b""],
            parts_of(shape=[3, 3]),
            [b"restored", b"[]", b""],
        ):
            pub.send_multipart(bad)
        pub.send_multipart(parts_of(frame=7))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and receiver._sub.received == 0:
            time.sleep(0.05)
        assert receiver._sub.received == 1 and receiver._sub.rejected == 4
    finally:
        receiver.close()
        pub.close()


# -- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_rejects_unknown_options_in_one_line(capsys, command):
    line = one_line_error(capsys, [command, "--no-such-option"], code=2)
    assert line.startswith(f"pssr-live {command}: error:") or "unrecognized" in line


BAD_ARGUMENTS = [
    (["restore"], "required"),
    (["restore", "in.tif"], "-o"),
    (["train", "-o", "m.safetensors", "--steps", "0"], "must be positive"),
    (["train", "-o", "m.safetensors", "--lr", "fast"], "not a number"),
    (["evaluate", "--size", "13"], "multiple of 4"),
    (["build-engine", "--shape", "7x7"], "multiple of 4"),
    (["keys"], "required"),
    (["bench", "--soak", "0"], "must be a positive"),
    (["view", "--exit-after", "-1"], "must be positive"),
    (["run", "--curve-keys", "/nonexistent", "--frames", "5"], "not found"),
]


@pytest.mark.parametrize(
    ("argv", "needle"), BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS]
)
def test_bad_arguments_table(capsys, argv, needle):
    if argv[0] not in COMMANDS:
        pytest.skip(f"`{argv[0]}` is not a command (yet)")
    code = 1 if argv[0] == "run" else 2
    assert needle in one_line_error(capsys, argv, code=code)


def test_no_command_and_unknown_command(capsys):
    assert "required" in one_line_error(capsys, [], code=2)
    assert "invalid choice" in one_line_error(capsys, ["warp"], code=2)
