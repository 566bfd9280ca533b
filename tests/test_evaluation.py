"""Evaluation: interpolation geometry, the classical baseline, and a tiny end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_models import make_tiny_models

from pssr_live.cli import main
from pssr_live.engines.base import create_engine
from pssr_live.evaluation import (
    Model,
    choose_sigma,
    classical,
    dose_sweep,
    evaluate,
    simulated_movies,
    upsample,
)
from pssr_live.modelfile import read_info


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> tuple:
    return make_tiny_models(tmp_path_factory.mktemp("models"))


def test_upsample_keeps_constants_and_pixel_centres() -> None:
    assert np.allclose(upsample(np.full((4, 4), 7.0), "bicubic"), 7.0, atol=1e-4)
    ramp = np.tile(np.arange(8, dtype=np.float32), (8, 1))
    up = upsample(ramp, "bilinear")
    # LR pixel c is centred on HR coordinate 4c + 1.5: the mean of HR pixels 4c+1, 4c+2
    assert up[4, 4 * 3 + 1 : 4 * 3 + 3].mean() == pytest.approx(3.0, abs=1e-5)


def test_classical_averages_the_window() -> None:
    w = np.stack([np.full((4, 4), v, np.float32) for v in (0, 1, 2, 3, 4)])
    assert np.allclose(classical(w, 1.0), 2.0, atol=1e-4)


def test_test_and_validation_movies_differ() -> None:
    a = simulated_movies("test", 1, frames=3, size=16)[0]
    b = simulated_movies("validation", 1, frames=3, size=16)[0]
    assert a.lr.shape == (3, 16, 16) and a.hr.shape == (3, 64, 64)
    assert a.about["seed"] != b.about["seed"]


def test_tiny_evaluation_and_dose_sweep(tiny_models) -> None:
    mf, sf = tiny_models
    models = {
        name: Model(create_engine("torch", str(p)), "centered", read_info(p).norm)
        for name, p in (("single-frame", sf), ("five-frame", mf))
    }
    movies = simulated_movies("test", 1, frames=10, size=16)
    sigma = choose_sigma(movies, "centered")
    res = evaluate(movies, "centered", sigma, models)
    assert set(res) == {"bilinear", "bicubic", "classical", "single-frame", "five-frame"}
    assert res["five-frame"]["frames"] == 2 and np.isfinite(res["five-frame"]["psnr"])
    sweep = dose_sweep("centered", sigma, models, n=1, size=16, doses=(5.0, 50.0))
    assert list(sweep["classical"]) == ["5", "50"]


def test_cli_evaluate_writes_json_and_png(tiny_models, tmp_path, capsys) -> None:
    mf, sf = tiny_models
    out = tmp_path / "e.json"
    argv = ["evaluate", "--model", str(mf), "--sf-model", str(sf), "--movies", "1"]
    argv += ["--size", "16", "--json", str(out), "--png", str(tmp_path / "p.png")]
    assert main(argv) == 0
    assert "five-frame" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["results"]["classical"]["frames"] >= 1
    assert (tmp_path / "p.png").stat().st_size > 1000
