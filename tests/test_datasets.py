"""Movie reading and layout checks, windows with edge replication, training pairs."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from pssr_live.crappify import PaperCrappifier
from pssr_live.datasets import (
    MoviePairs,
    PairStream,
    SimulatedPairs,
    dihedral,
    make_pair,
    window_indices,
)
from pssr_live.drivers.movie import MovieError, check_movie, read_movie
from pssr_live.normalization import NormSettings


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_read_movie_dtypes(tmp_path, dtype) -> None:
    data = (np.arange(3 * 8 * 8) % 200).reshape(3, 8, 8).astype(dtype)
    tifffile.imwrite(tmp_path / "m.tif", data, photometric="minisblack")
    out = read_movie(tmp_path / "m.tif")
    assert out.shape == (3, 8, 8) and out.dtype == dtype


def test_read_single_image_and_singleton_axes(tmp_path) -> None:
    tifffile.imwrite(tmp_path / "one.tif", np.ones((8, 8), np.uint16))
    assert read_movie(tmp_path / "one.tif").shape == (1, 8, 8)
    assert check_movie(np.ones((4, 1, 8, 8), np.uint16)).shape == (4, 8, 8)


def test_wrong_layouts_are_one_line_errors(tmp_path) -> None:
    tifffile.imwrite(tmp_path / "rgb.tif", np.ones((16, 16, 3), np.uint8), photometric="rgb")
    with pytest.raises(MovieError, match="channels"):
        read_movie(tmp_path / "rgb.tif")
    with pytest.raises(MovieError, match="not T x Y x X"):
        check_movie(np.ones((2, 3, 8, 8), np.uint16))
    with pytest.raises(MovieError, match="NaN"):
        check_movie(np.full((2, 8, 8), np.nan, np.float32))
    with pytest.raises(MovieError, match="dtype"):
        check_movie(np.ones((2, 8, 8), bool))
    with pytest.raises(MovieError, match="no such file"):
        read_movie(tmp_path / "missing.tif")
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    with pytest.raises(MovieError, match="not a readable TIFF"):
        read_movie(tmp_path / "bad.tif")


def test_window_indices_replicate_edges() -> None:
    assert window_indices(0, 10, "centered").tolist() == [0, 0, 0, 1, 2]
    assert window_indices(9, 10, "centered").tolist() == [7, 8, 9, 9, 9]
    assert window_indices(1, 10, "causal").tolist() == [0, 0, 0, 0, 1]
    assert window_indices(0, 1, "centered").tolist() == [0] * 5
    assert window_indices(2, 3, "causal", frames=1).tolist() == [2]


def test_dihedral_is_shared_by_input_and_target() -> None:
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 100, (5, 8, 8)).astype(np.uint16)
    target = np.kron(lr[2].astype(np.float32), np.ones((4, 4), np.float32))
    norm = NormSettings()
    for k in range(8):
        x, y = make_pair(lr, target, "centered", 5, norm, k)
        assert x.shape == (5, 8, 8) and y.shape == (1, 32, 32)
        # the target is the reference frame (own normalisation), transformed alike
        assert np.corrcoef(y[0, ::4, ::4].ravel(), x[2].ravel())[0, 1] > 0.999
    assert len({dihedral(np.arange(4).reshape(2, 2), k).tobytes() for k in range(8)}) == 8


def test_constant_window_does_not_divide_by_zero() -> None:
    lr = np.full((5, 8, 8), 65535, np.uint16)
    x, y = make_pair(lr, np.full((32, 32), 65535.0, np.float32), "causal", 1, NormSettings())
    assert x.shape == (1, 8, 8) and np.isfinite(x).all() and np.isfinite(y).all()


def test_simulated_pairs_seeded_and_split_apart() -> None:
    a = SimulatedPairs(patch=16, split="train", seed=0)
    x1, y1 = a.pair(3)
    x2, _ = a.pair(3)
    np.testing.assert_array_equal(x1, x2)
    assert x1.shape == (5, 16, 16) and y1.shape == (1, 64, 64)
    xv, _ = SimulatedPairs(patch=16, split="validation", seed=0).pair(3)
    assert not np.array_equal(x1, xv)
    xs, _ = SimulatedPairs(patch=16, frames=1).pair(3)
    assert xs.shape == (1, 16, 16)


def test_movie_pairs_skip_empty_tiles_and_stream() -> None:
    movie = np.zeros((6, 128, 128), np.uint16)
    movie[:, 96:120, 96:120] = 1000  # one bright patch in an empty field
    src = MoviePairs([movie], PaperCrappifier(), patch=8, seed=1)
    x, y = src.pair(0)
    assert x.shape == (5, 8, 8) and y.shape == (1, 32, 32)
    assert y.max() > 0.5 and y.min() < 0.5  # the tile found the structure's edge
    xb, yb = next(iter(PairStream(src, start=0)))
    assert tuple(xb.shape) == (5, 8, 8) and tuple(yb.shape) == (1, 32, 32)
    with pytest.raises(MovieError, match="smaller than the HR tile"):
        MoviePairs([movie], PaperCrappifier(), patch=64)
