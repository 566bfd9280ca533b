"""TensorRT engine and `pssr-live build-engine`.

Tests marked `tensorrt` run where tensorrt and pycuda import and a GPU is visible; the
others check what a machine without TensorRT sees: one line that says how to install it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import TOLERANCE, make_model, random_window, rel_l2

from pssr_live.cli import main
from pssr_live.engines.base import EngineError, create_engine
from pssr_live.engines.torch_engine import TorchEngine

HAVE_TRT = all(importlib.util.find_spec(m) is not None for m in ("tensorrt", "pycuda"))
needs_trt = pytest.mark.skipif(not HAVE_TRT, reason="needs TensorRT and pycuda (and a GPU)")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PSSR_LIVE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here")
def test_missing_tensorrt_is_one_line_with_install_steps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["build-engine", "--shape", "64x64", "--fp16"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("pssr-live build-engine: error: TensorRT is not installed")
    assert "pip install tensorrt pycuda" in err
    with pytest.raises(EngineError, match="pip install tensorrt pycuda"):
        create_engine("tensorrt", "model.safetensors")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("trt") / "m.safetensors")


@pytest.mark.tensorrt
@needs_trt
@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_tensorrt_parity_and_graph_replay(model: Path, precision: str) -> None:
    reference = TorchEngine(str(model), device="cpu")
    engine = create_engine("tensorrt", str(model), shape=(128, 128), precision=precision)
    assert engine.precision == precision and engine.max_shape == (128, 128)
    rng = np.random.default_rng()
    outputs = []
    # a full-size window three times (run, capture, replay), a smaller one, one to tile
    for shape in [(128, 128), (128, 128), (128, 128), (100, 132), (200, 256)]:
        window = random_window(rng, shape)
        got = engine.restore(window)
        err = rel_l2(got, reference.restore(window))
        assert err < TOLERANCE[precision], f"{engine.describe()} at {shape}: {err:.2e}"
        outputs.append(got)
    assert not np.allclose(outputs[1], outputs[2])  # the replayed graph read the new input
    engine.close()


@pytest.mark.tensorrt
@needs_trt
def test_build_engine_caches_plans_and_timings(
    model: Path, cache: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", "--model", str(model), "-o", str(onnx_path)]) == 0
    argv = ["build-engine", "--onnx", str(onnx_path), "--fp16", "--shape", "64x96"]
    assert main(argv) == 0
    assert "built in" in capsys.readouterr().err
    (plan,) = (cache / "tensorrt").glob("*.engine")
    assert "-64x96-fp16-" in plan.name and "-sm" in plan.name and "-trt" in plan.name
    assert list((cache / "tensorrt").glob("timing-*.cache"))
    assert main([*argv, "-o", str(tmp_path / "copy.engine")]) == 0
    assert "found in the cache" in capsys.readouterr().err
    assert (tmp_path / "copy.engine").read_bytes() == plan.read_bytes()
