"""Training: a tiny run writes a loadable, described model; resume continues exactly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import tifffile
import torch
from safetensors.torch import load_file

import pssr_live.training as training
from pssr_live.cli import main
from pssr_live.errors import UserError
from pssr_live.modelfile import load_model
from pssr_live.training import TrainConfig, checkpoint_paths, train


def _cfg(tmp_path, **kw) -> TrainConfig:
    base = TrainConfig(
        output=tmp_path / "m.safetensors",
        steps=4,
        batch=2,
        patch=16,
        width=4,
        depth=1,
        val_every=2,
        val_windows=2,
        workers=0,
        threads=1,
        command="test",
    )
    return replace(base, **kw)


def test_tiny_run_writes_described_model(tmp_path) -> None:
    res = train(_cfg(tmp_path), progress=False)
    _, info = load_model(res.path)
    assert info.kind == "pssr-mf" and info.window == "centered"
    t = info.training
    assert t["status"] == "trained" and t["command"] == "test"
    assert t["recipe"]["steps"] == 4 and t["recipe"]["optimizer"] == "AdamW"
    assert "psf_ratio" in t["data"]["ranges"]["scan"]
    assert info.metrics["validation_psnr"] == pytest.approx(res.best_psnr, abs=1e-3)
    assert all(p.exists() for p in checkpoint_paths(res.path))


def test_single_frame_causal(tmp_path) -> None:
    res = train(_cfg(tmp_path, single_frame=True, window="causal", steps=2), progress=False)
    _, info = load_model(res.path)
    assert info.kind == "pssr-sf" and info.net.frames == 1


def test_resume_continues_where_it_stopped(tmp_path, monkeypatch) -> None:
    full = train(_cfg(tmp_path / "a"), progress=False)
    real_validate, calls = training.validate, []

    def interrupted(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_validate(*args, **kw)

    monkeypatch.setattr(training, "validate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tmp_path / "b"), progress=False)
    monkeypatch.setattr(training, "validate", real_validate)
    train(_cfg(tmp_path / "b", resume=True), progress=False)
    a = load_file(checkpoint_paths(full.path)[0])
    b = load_file(checkpoint_paths(tmp_path / "b" / "m.safetensors")[0])
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_cli_errors_are_one_line(tmp_path, capsys) -> None:
    out = tmp_path / "x.safetensors"
    assert main(["train", "-o", str(out), "--resume", "--steps", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no checkpoint" in err
    assert main(["train", "-o", str(out), "--patch", "18", "--steps", "2"]) == 1
    assert "multiple of 4" in capsys.readouterr().err


def test_init_from_model_and_user_movies(tmp_path) -> None:
    first = train(_cfg(tmp_path / "a", steps=2), progress=False)
    movie = np.zeros((4, 96, 96), np.uint16)
    movie[:, 30:70, 40:48] = 3000
    tifffile.imwrite(tmp_path / "hr.tif", movie, photometric="minisblack")
    cfg = _cfg(tmp_path / "b", steps=2, init=first.path, hr=[tmp_path / "hr.tif"])
    _, info = load_model(train(replace(cfg, crappifier="paper"), progress=False).path)
    assert info.training["recipe"]["init"]["training"]["recipe"]["steps"] == 2
    assert info.training["data"]["files"][0]["name"] == "hr.tif"
    with pytest.raises(UserError, match="differs"):
        train(_cfg(tmp_path / "c", steps=2, init=first.path, width=8), progress=False)
