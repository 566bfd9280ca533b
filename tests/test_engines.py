"""Engines: registry, options, parity with the torch float32 reference, auto selection.

Parity (design section 6): every engine present restores fresh random windows of real
shape to within 1e-4 relative L2 error of torch float32 on the CPU when it computes in
fp32, and within 1e-2 in fp16 / bf16. The model is one whose network part is large
(engine_helpers.make_model), plus the bundled model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import TOLERANCE, make_model, random_window, rel_l2

from pssr_live.engines.base import (
    ATTENTION_MAX_TILE,
    EngineError,
    create_engine,
    engine_class,
    engine_names,
)
from pssr_live.engines.onnx_export import export_onnx
from pssr_live.engines.torch_engine import TorchEngine
from pssr_live.modelfile import bundled_model_path, model_hash

SHAPES = [(128, 128), (100, 132)]  # a live frame size, and one that needs padding


@pytest.fixture(autouse=True, scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("cache")
        mp.setenv("PSSR_LIVE_CACHE_DIR", str(root))
        yield root


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Engines run with one thread here (the test machine's cores are shared); torch's
    thread count is process-wide, so it is put back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def strong_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "strong.safetensors")


@pytest.fixture(scope="module")
def references(strong_model: Path) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Fresh random windows of each shape in SHAPES, and torch fp32's output, per model."""
    seed = int(np.random.SeedSequence().entropy % 2**32)
    rng = np.random.default_rng(seed)
    windows = [random_window(rng, shape) for shape in SHAPES]
    out = {"seed": seed}
    for model, path in (("strong", strong_model), ("bundled", bundled_model_path())):
        reference = TorchEngine(str(path), device="cpu")
        out[model] = [(w, reference.restore(w)) for w in windows]
    return out


@pytest.fixture(scope="module")
def fp16_onnx(strong_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "strong-fp16.onnx"
    path.write_bytes(export_onnx(strong_model, fp16=True).SerializeToString())
    return path


def _require(name: str) -> None:
    try:
        engine_class(name).runtime()
    except EngineError as e:
        pytest.skip(f"{name} is not installed here: {e}")


def test_registry_lists_every_engine() -> None:
    assert {"torch", "onnxruntime", "openvino", "tensorrt"} <= set(engine_names())
    with pytest.raises(EngineError, match="unknown engine 'warp'; choose one of: auto, "):
        create_engine("warp", str(bundled_model_path()))


# (engine, options): OpenVINO with no precision is what it picks itself (bf16 on CPUs with
# native bf16, fp32 elsewhere).
ENGINES = [
    ("torch", {"device": "cpu"}),
    ("onnxruntime", {"threads": 1}),
    ("openvino", {"threads": 1, "precision": "fp32"}),
    ("openvino", {"threads": 1}),
]
# (engine, options, model): "fp16-onnx" is the strong model's fp16 ONNX export (what
# TensorRT 11 builds from), run by onnxruntime and held to the strong model's reference.
CASES = [(*engine, model) for model in ("strong", "bundled") for engine in ENGINES] + [
    ("onnxruntime", {"threads": 1}, "fp16-onnx")
]


@pytest.mark.parametrize(("name", "options", "model"), CASES, ids=lambda v: str(v))
def test_parity_with_torch_fp32(
    name: str, options: dict, model: str, strong_model: Path, fp16_onnx: Path, references: dict
) -> None:
    _require(name)
    path = {"strong": strong_model, "bundled": bundled_model_path(), "fp16-onnx": fp16_onnx}
    engine = create_engine(name, str(path[model]), shape=SHAPES[0], **options)
    for window, want in references["bundled" if model == "bundled" else "strong"]:
        got = engine.restore(window)
        assert got.shape == want.shape == (4 * window.shape[1], 4 * window.shape[2])
        assert got.dtype == np.float32
        err = rel_l2(got, want)
        assert err < TOLERANCE[engine.precision], (
            f"{engine.describe()} at {window.shape}: relative L2 error {err:.2e} "
            f"(seed {references['seed']})"
        )
    engine.close()


def test_describe_names_device_and_precision(strong_model: Path) -> None:
    engine = create_engine("torch", str(strong_model), device="cpu", threads=1)
    assert engine.describe() == "torch (cpu, fp32, 1 threads)"
    _require("onnxruntime")
    assert create_engine("onnxruntime", str(strong_model), threads=1).describe() == (
        "onnxruntime (cpu, fp32, 1 threads)"
    )


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("torch", {"device": "cpu", "precision": "fp16"}, "use fp32 on the CPU"),
        ("openvino", {"precision": "int4"}, "openvino precision 'int4'"),
    ],
)
def test_bad_options_are_one_line_errors(
    name: str, options: dict, message: str, strong_model: Path
) -> None:
    _require(name)
    with pytest.raises(EngineError, match=message) as info:
        create_engine(name, str(strong_model), **options)
    assert "\n" not in str(info.value)


def test_torch_engine_needs_the_model_file(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="needs the model file"):
        create_engine("torch", str(tmp_path / "m.onnx"))


def test_attention_models_are_tiled_by_default(tmp_path: Path) -> None:
    path = make_model(tmp_path / "attn.safetensors", width=8, attention=True)
    engine = create_engine("torch", str(path), device="cpu")
    assert engine.max_tile == (ATTENTION_MAX_TILE, ATTENTION_MAX_TILE)
    assert engine.tile_shape(512, 256) == (ATTENTION_MAX_TILE, 256)
    assert engine.tile_shape(256, 256) is None


def test_auto_measures_picks_the_fastest_and_caches(
    strong_model: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="pssr_live.engines.auto")
    engine = create_engine("auto", str(strong_model), shape=(32, 32), threads=1)
    entries = json.loads((cache / "auto-engine.json").read_text())
    (entry,) = [e for e in entries.values() if e["shape"] == [32, 32]]
    present = set(entry["runtimes"])
    assert "torch" in present and "tensorrt" not in present  # no GPU, no TensorRT here
    assert set(entry["ms"]) == present
    assert engine.name == entry["engine"] == min(entry["ms"], key=entry["ms"].get)
    assert "measured now" in engine.reason and engine.describe() in engine.reason
    assert engine.reason in caplog.text
    engine.close()

    again = create_engine("auto", str(strong_model), shape=(32, 32), threads=1)
    assert again.name == engine.name
    assert "cached" in again.reason
    assert len(json.loads((cache / "auto-engine.json").read_text())) == len(entries)


def test_auto_cache_key_covers_shape_and_model(strong_model: Path, cache: Path) -> None:
    create_engine("auto", str(strong_model), shape=(16, 16), threads=1).close()
    create_engine("auto", str(bundled_model_path()), shape=(16, 16), threads=1).close()
    entries = json.loads((cache / "auto-engine.json").read_text())
    assert len([e for e in entries.values() if e["shape"] == [16, 16]]) == 2
    assert model_hash(strong_model) != model_hash(bundled_model_path())


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_torch_cuda_parity(precision: str, strong_model: Path) -> None:
    reference = TorchEngine(str(strong_model), device="cpu")
    engine = create_engine("torch", str(strong_model), device="cuda", precision=precision)
    assert engine.describe() == f"torch (cuda, {precision}, CUDA graphs)"
    rng = np.random.default_rng()
    for shape in [(128, 128), (100, 132), (128, 128)]:
        window = random_window(rng, shape)
        err = rel_l2(engine.restore(window), reference.restore(window))
        assert err < TOLERANCE[precision], f"{precision} at {shape}: {err:.2e}"
    engine.close()


@pytest.mark.gpu
@cuda
def test_cuda_graph_replays_new_inputs(strong_model: Path) -> None:
    graphs = create_engine("torch", str(strong_model), device="cuda")
    eager = create_engine("torch", str(strong_model), device="cuda", cuda_graphs=False)
    rng = np.random.default_rng()
    outputs = []
    for _ in range(3):  # same shape: one capture, then replays reading the new input
        window = random_window(rng, (64, 96))
        got = graphs.restore(window)
        np.testing.assert_allclose(got, eager.restore(window), rtol=0, atol=1e-3)
        outputs.append(got)
    assert not np.allclose(outputs[0], outputs[1])
    assert len(graphs._cuda.slots) == 1
