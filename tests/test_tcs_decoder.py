"""Learned TCS decoder: model file, engines (torch vs ONNX Runtime), training, commands."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from pssr_live.cli import main as cli
from pssr_live.engines.base import create_engine
from pssr_live.modelfile import ModelError, load_model, load_network
from pssr_live.tcs.codec import encode, masks_from_seed
from pssr_live.tcs.decode import gap_tv_decoder, net_decoder, normalize_snapshot
from pssr_live.tcs.net import (
    TCSConfig,
    TCSInfo,
    TCSNet,
    bundled_tcs_path,
    load_tcs_model,
    save_tcs_model,
)
from pssr_live.tcs.train import TrainSettings, train

TINY = TCSConfig(ratio=4, width=4, stages=2, gap_iters=1)


@pytest.fixture
def tiny_model(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("PSSR_LIVE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "tcs_b4.safetensors"
    net = TCSNet(TINY)
    save_tcs_model(path, net, TCSInfo(net=TINY, training={"data": "none (test)"}))
    return str(path)


def test_model_file_round_trip_and_kind_checks(tiny_model) -> None:
    _, info = load_tcs_model(tiny_model, ratio=4)
    assert info.net == TINY and info.kind == "tcs" and info.training["data"] == "none (test)"
    assert isinstance(load_network(tiny_model)[0], TCSNet)
    with pytest.raises(ModelError, match="B = 4, the snapshots have B = 10"):
        load_tcs_model(tiny_model, ratio=10)
    with pytest.raises(ModelError, match="unknown model kind 'tcs' for a restoration model"):
        load_model(tiny_model)


def test_torch_and_onnxruntime_agree(tiny_model) -> None:
    pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    batch = np.concatenate(
        [
            rng.random((1, 1, 40, 44), np.float32),
            rng.integers(0, 2, (1, 4, 40, 44)).astype(np.float32),
        ],
        axis=1,
    )
    ref = create_engine("torch", tiny_model).run(batch)
    out = create_engine("onnxruntime", tiny_model).run(batch)
    assert out.shape == ref.shape == (1, 4, 40, 44)
    assert np.linalg.norm(out - ref) / np.linalg.norm(ref) < 1e-4


def test_decoders_return_b_frames_in_counts(tiny_model) -> None:
    rng = np.random.default_rng(1)
    frames = rng.poisson(50, (4, 30, 34)).astype(np.float32) + 100
    masks = masks_from_seed(2, 4, (30, 34))
    y = (frames * masks).sum(0)
    _, info = load_tcs_model(tiny_model)
    out = net_decoder(create_engine("torch", tiny_model), 4, info.norm)(y, masks)
    assert out.shape == (4, 30, 34) and np.isfinite(out).all()
    gap = gap_tv_decoder(iters=5)(y, masks)
    assert gap.shape == (4, 30, 34) and abs(float(gap.mean()) - float(frames.mean())) < 10
    y_norm, scaling = normalize_snapshot(y, masks)
    assert np.allclose(y_norm * scaling.scale + scaling.low * masks.sum(0), y, rtol=1e-4)


def test_training_runs_and_writes_a_model(tmp_path) -> None:
    movies = [np.random.default_rng(3).random((8, 40, 40)).astype(np.float32)]
    s = TrainSettings(ratio=4, width=4, stages=1, patch=16, batch=2, max_steps=3, minutes=1)
    info = train(s, tmp_path / "m.safetensors", movies=movies, data_label="noise")
    assert info.training["steps"] == 3 and np.isfinite(info.training["loss"])
    assert "validation_psnr" not in info.training  # the user's movies: the last model
    assert load_tcs_model(tmp_path / "m.safetensors")[1].training["data"] == "noise"


def test_simulated_training_keeps_the_best_model_on_the_validation_movies(tmp_path) -> None:
    s = TrainSettings(
        ratio=10, width=4, patch=16, batch=2, max_steps=4, pool_movies=2, pool_shape=32,
        validate_every_s=0.0,  # after every step
    )  # fmt: skip
    info = train(s, tmp_path / "m.safetensors")
    t = load_tcs_model(tmp_path / "m.safetensors")[1].training
    assert info.training["steps"] == 4 and 1 <= t["best_step"] <= 4
    assert np.isfinite(t["validation_psnr"]) and t["data"] == "simulator"


def test_compress_and_decompress_commands(tmp_path, tiny_model, capsys) -> None:
    movie = np.random.default_rng(4).integers(100, 400, (10, 24, 28), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "movie.tif", movie)
    snap = tmp_path / "movie.tcs.tif"
    assert cli(["compress", str(tmp_path / "movie.tif"), "-o", str(snap), "--ratio", "4"]) == 0
    assert "10 frames -> 3 snapshots" in capsys.readouterr().out
    for method in (["--method", "gap-tv", "--iters", "3"], ["--model", tiny_model]):
        out = tmp_path / "back.tif"
        assert cli(["decompress", str(snap), "-o", str(out), "--engine", "torch", *method]) == 0
        back = tifffile.imread(out)
        assert back.shape == movie.shape and back.dtype == np.uint16


def test_bad_inputs_give_one_line_errors(tmp_path, tiny_model, capsys) -> None:
    movie = np.zeros((8, 16, 16), np.uint16)
    tifffile.imwrite(tmp_path / "movie.tif", movie)
    tifffile.imwrite(
        tmp_path / "masks.tif", np.ones((4, 16, 12), np.uint8), photometric="minisblack"
    )
    snap = tmp_path / "m.tcs.tif"
    cases = [
        (
            [
                "compress",
                str(tmp_path / "movie.tif"),
                "-o",
                str(snap),
                "--masks",
                str(tmp_path / "masks.tif"),
            ],
            "masks have shape",
        ),
        (
            ["decompress", str(tmp_path / "movie.tif"), "-o", str(tmp_path / "x.tif")],
            "no TCS metadata",
        ),
    ]
    assert cli(["compress", str(tmp_path / "movie.tif"), "-o", str(snap), "--ratio", "8"]) == 0
    cases.append(
        (
            ["decompress", str(snap), "-o", str(tmp_path / "x.tif"), "--model", tiny_model],
            "B = 4, the snapshots have B = 8",
        )
    )
    capsys.readouterr()
    for argv, message in cases:
        assert cli(argv) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("ratio", [10, 20])
def test_bundled_decoders_load_and_say_what_they_learned_from(ratio: int) -> None:
    _, info = load_tcs_model(bundled_tcs_path(ratio), ratio=ratio)
    assert info.net.ratio == ratio and info.training["data"] == "simulator"
    assert info.training["validation_psnr"] > 30 and info.training["best_step"] > 0
    masks = masks_from_seed(0, ratio, (32, 36))
    frames = np.random.default_rng(ratio).integers(100, 300, (ratio, 32, 36)).astype(np.float32)
    out = net_decoder(create_engine("torch", str(bundled_tcs_path(ratio))), ratio, info.norm)(
        encode(frames, masks), masks
    )
    assert out.shape == (ratio, 32, 36) and np.isfinite(out).all()
