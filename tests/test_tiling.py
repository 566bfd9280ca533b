"""Tiling: overlapping tiles blended without seams match the untiled restoration."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import make_model, random_window

from pssr_live.engines.base import Engine, create_engine
from pssr_live.engines.tiling import edge_weights, restore_tiled, tile_starts
from pssr_live.modelfile import read_info


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_tile_starts_cover_the_frame_flush_with_its_end() -> None:
    assert tile_starts(100, 128, 64) == [0]
    assert tile_starts(512, 256, 64) == [0, 192, 256]
    assert tile_starts(448, 256, 64) == [0, 192]
    for length, tile, overlap in [(512, 192, 64), (1000, 256, 48), (260, 256, 64)]:
        starts = tile_starts(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + tile == length
        assert all(0 < b - a <= tile - overlap for a, b in itertools.pairwise(starts))
    with pytest.raises(ValueError, match="larger than the overlap"):
        tile_starts(512, 64, 64)


def test_weights_of_neighbours_sum_to_one_on_a_regular_grid() -> None:
    size, overlap = 1024, 256  # output pixels
    left = edge_weights(size, overlap, taper_start=False, taper_end=True)
    right = edge_weights(size, overlap, taper_start=True, taper_end=False)
    np.testing.assert_allclose(left[-overlap:] + right[:overlap], 1.0, atol=1e-12)
    assert left[0] == 1.0 and right[-1] == 1.0  # frame edges are not tapered
    assert np.all(left[-overlap // 4 :] == 0)  # the tile's own border is discarded


class CountingEngine(Engine):
    """Wraps an engine; records the shapes it is run on and has a `max_shape`."""

    name = "counting"

    def __init__(self, inner: Engine, max_shape: tuple[int, int]) -> None:
        self.inner = inner
        self.frames, self.scale, self.multiple = inner.frames, inner.scale, inner.multiple
        self.max_shape, self.max_tile, self.tile_overlap = max_shape, None, inner.tile_overlap
        self.shapes: list[tuple[int, ...]] = []

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.shapes.append(batch.shape)
        return self.inner.run(batch)


def test_frames_larger_than_max_shape_run_in_tiles_of_that_shape(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m.safetensors", width=8)
    inner = create_engine("torch", str(model), device="cpu")
    engine = CountingEngine(inner, max_shape=(64, 96))
    window = random_window(np.random.default_rng(), (130, 150))
    out = engine.restore(window)
    assert out.shape == (520, 600)
    assert set(engine.shapes) == {(1, 5, 64, 96)}
    small = random_window(np.random.default_rng(), (48, 64))
    engine.restore(small)
    assert engine.shapes[-1] == (1, 5, 48, 64)


def test_tiled_512_matches_untiled_without_seams(tmp_path: Path) -> None:
    """A 512x512 LR frame in 192x192 tiles (3 per axis, the last overlapping more)."""
    model = make_model(tmp_path / "m.safetensors", width=8)
    assert not read_info(model).net.attention
    whole = create_engine("torch", str(model), device="cpu")
    tiled = create_engine("torch", str(model), device="cpu", max_tile=192)
    window = random_window(np.random.default_rng(), (512, 512))
    want, got = whole.restore(window), tiled.restore(window)
    assert got.shape == want.shape == (2048, 2048)
    err = np.abs(got - want)
    signal = np.abs(want).max()
    assert err.max() < 1e-3 * signal, f"max error {err.max():.2e} of {signal:.2f}"

    # Seams would sit where tiles end: the output rows/columns at each tile's edge.
    s = 4
    edges = sorted(
        {s * (t + 192) for t in tile_starts(512, 192, 64)[:-1]}
        | {s * t for t in tile_starts(512, 192, 64)[1:]}
    )
    at_edges = np.zeros(2048, bool)
    for e in edges:
        at_edges[e - 2 : e + 2] = True
    border_err = max(err[at_edges].max(), err[:, at_edges].max())
    elsewhere = err[np.ix_(~at_edges, ~at_edges)].max()
    assert border_err <= elsewhere, f"error at tile edges {border_err:.2e} > {elsewhere:.2e}"


def test_restore_tiled_rejects_unpadded_windows() -> None:
    with pytest.raises(ValueError, match="not padded"):
        restore_tiled(
            lambda w: w, np.zeros((5, 30, 32), np.float32), (16, 16), overlap=8, scale=4, multiple=4
        )
