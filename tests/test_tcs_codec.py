"""TCS forward model and snapshot file: masks, encoder, .tcs.tif round trip, bad input."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import tifffile

from pssr_live.tcs.codec import TCSError, check_masks, encode, masks_from_seed, read_mask_file
from pssr_live.tcs.snapshot import (
    SnapshotMeta,
    compress_movie,
    read_snapshots,
    resolve_masks,
    write_snapshots,
)


def test_seeded_masks_are_reproducible_binary_and_half_open() -> None:
    a = masks_from_seed(7, 10, (64, 48))
    assert a.shape == (10, 64, 48) and a.dtype == np.uint8
    assert np.array_equal(a, masks_from_seed(7, 10, (64, 48)))
    assert not np.array_equal(a, masks_from_seed(8, 10, (64, 48)))
    assert set(np.unique(a)) == {0, 1}
    assert abs(a.mean() - 0.5) < 0.01


def test_encode_is_the_masked_sum_exactly() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 65535, (10, 32, 40), dtype=np.uint16)
    masks = masks_from_seed(1, 10, (32, 40))
    y = encode(frames, masks)
    expected = (frames.astype(np.int64) * masks).sum(axis=0)
    assert y.dtype == np.float32 and np.array_equal(y.astype(np.int64), expected)


def test_encode_rejects_masks_of_the_wrong_shape() -> None:
    with pytest.raises(TCSError, match="masks"):
        encode(np.zeros((4, 8, 8), np.uint16), np.zeros((4, 8, 9), np.uint8))
    with pytest.raises(TCSError, match=r"expected \(5, 8, 8\)"):
        check_masks(np.zeros((4, 8, 8), np.uint8), 5, (8, 8))


def test_snapshot_file_round_trip_with_padding(tmp_path) -> None:
    rng = np.random.default_rng(1)
    movie = rng.integers(0, 4000, (13, 16, 20), dtype=np.uint16)
    masks = masks_from_seed(3, 5, (16, 20))
    snaps = compress_movie(movie, masks)
    assert snaps.shape == (3, 16, 20)  # 13 frames -> 3 snapshots, the last padded
    last = np.concatenate([movie[10:], movie[12:13].repeat(2, axis=0)])
    assert np.array_equal(snaps[2], encode(last, masks))
    times = [0.05 * i for i in range(13)]
    meta = SnapshotMeta(5, (16, 20), 13, "uint16", {"seed": 3}, times)
    path = tmp_path / "m.tcs.tif"
    nbytes = write_snapshots(path, snaps, meta)
    assert nbytes == snaps.size * 2  # 5 x 4000 counts fits uint16
    back, meta2 = read_snapshots(path)
    assert np.array_equal(back, snaps)
    assert meta2 == meta and meta2.n_snapshots == 3
    assert np.array_equal(resolve_masks(meta2, None), masks)


def test_a_tiff_without_metadata_is_refused(tmp_path) -> None:
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((2, 8, 8), np.uint16))
    with pytest.raises(TCSError, match="no TCS metadata") as e:
        read_snapshots(path)
    assert "\n" not in str(e.value)


def test_mask_file_is_identified_by_hash(tmp_path) -> None:
    masks = masks_from_seed(5, 4, (8, 8))
    path = tmp_path / "masks.tif"
    tifffile.imwrite(path, masks * 255, photometric="minisblack")
    read, digest = read_mask_file(path)
    assert np.array_equal(read, masks) and digest == hashlib.sha256(path.read_bytes()).hexdigest()
    meta = SnapshotMeta(4, (8, 8), 4, "uint16", {"sha256": digest})
    assert np.array_equal(resolve_masks(meta, path), masks)
    with pytest.raises(TCSError, match="--masks"):
        resolve_masks(meta, None)
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, masks_from_seed(6, 4, (8, 8)), photometric="minisblack")
    with pytest.raises(TCSError, match="not the mask file"):
        resolve_masks(meta, other)
    wrong = SnapshotMeta(4, (8, 9), 4, "uint16", {"sha256": digest})
    with pytest.raises(TCSError, match="masks have shape"):
        resolve_masks(wrong, path)
