"""`pssr-live restore`: shapes, edge cases, OME pixel size, and the live code path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from tiny_models import make_tiny_models

from pssr_live.cli import main
from pssr_live.datasets import window_indices
from pssr_live.engines.base import create_engine
from pssr_live.modelfile import read_info
from pssr_live.restorer import Restorer
from pssr_live.ringbuffer import FrameWindow


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> tuple:
    return make_tiny_models(tmp_path_factory.mktemp("models"))


def _restore(tmp_path, data, model, *extra, **imwrite_kw):
    src, out = tmp_path / "in.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, data, **imwrite_kw)
    code = main(["restore", str(src), "-o", str(out), "--model", str(model), "--engine", "torch"])
    return code, out


@pytest.mark.parametrize("frames", [1, 3, 7])
def test_one_output_frame_per_input_frame(tmp_path, tiny_models, frames) -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(100, 400, (frames, 12, 16)).astype(np.uint16)
    code, out = _restore(tmp_path, data, tiny_models[0], photometric="minisblack")
    assert code == 0
    res = tifffile.imread(out)
    assert res.shape == (frames, 48, 64)[-res.ndim :] and res.dtype == np.float32
    assert np.isfinite(res).all()


def test_single_2d_image(tmp_path, tiny_models) -> None:
    code, out = _restore(tmp_path, np.full((16, 16), 300, np.uint16), tiny_models[1])
    assert code == 0 and tifffile.imread(out).shape == (64, 64)


@pytest.mark.parametrize("value", [0, 65535])
def test_constant_and_saturated_frames(tmp_path, tiny_models, value) -> None:
    data = np.full((5, 16, 16), value, np.uint16)
    code, out = _restore(tmp_path, data, tiny_models[0], photometric="minisblack")
    res = tifffile.imread(out)
    assert code == 0 and np.isfinite(res).all()
    assert np.allclose(res, value, rtol=1e-3, atol=1.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.full((3, 16, 16), np.nan, np.float32), "NaN"),
        (np.ones((2, 3, 16, 16), np.uint16), "not T x Y x X"),
    ],
)
def test_bad_inputs_fail_on_one_line(tmp_path, tiny_models, capsys, data, message) -> None:
    code, out = _restore(tmp_path, data, tiny_models[0], photometric="minisblack")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and message in err[-1] and not out.exists()


def test_uint16_and_ome_pixel_size(tmp_path, tiny_models) -> None:
    data = np.full((3, 16, 16), 500, np.uint16)
    src, out = tmp_path / "in.ome.tif", tmp_path / "out.ome.tif"
    tifffile.imwrite(
        src, data, ome=True, metadata={"axes": "TYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2}
    )
    argv = ["restore", str(src), "-o", str(out), "--model", str(tiny_models[0])]
    assert main([*argv, "--engine", "torch", "--uint16"]) == 0
    with tifffile.TiffFile(out) as tif:
        assert tif.series[0].dtype == np.uint16 and tif.series[0].shape == (3, 64, 64)
        assert 'PhysicalSizeX="0.05"' in tif.ome_metadata
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["uint16_scaling"] == {"gain": 1.0, "offset": 0.0}


def test_offline_equals_live_path(tmp_path, tiny_models) -> None:
    rng = np.random.default_rng(1)
    data = rng.integers(100, 4000, (6, 16, 16)).astype(np.uint16)
    code, out = _restore(tmp_path, data, tiny_models[0], photometric="minisblack")
    assert code == 0
    engine = create_engine("torch", str(tiny_models[0]))
    live = Restorer(None, engine, norm=read_info(tiny_models[0]).norm)  # type: ignore[arg-type]
    idx = window_indices(3, 6, "centered")
    window = FrameWindow(data[idx], idx.astype(np.int64), np.zeros(5))
    np.testing.assert_array_equal(tifffile.imread(out)[3], live.restore_window(window).image)
