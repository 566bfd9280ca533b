"""`pssr-live export` and engines/onnx_export.py: graph, metadata, fp16, TensorRT's ops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from engine_helpers import make_model

from pssr_live.cli import main
from pssr_live.engines.onnx_export import (
    INPUT,
    OPSET,
    OUTPUT,
    export_onnx,
    onnx_for,
    read_onnx,
)
from pssr_live.engines.phase_space import PhaseSpaceNet, cubic_phase_taps
from pssr_live.modelfile import ModelError, bundled_model_path, model_hash, read_info
from pssr_live.network import NetConfig, PSSRNet

#: Operators TensorRT's ONNX parser supports (onnx-tensorrt docs/operators.md, TensorRT
#: 8.6 to 10), restricted to those a PSSRNet export may contain. Resize is not listed:
#: the export's phase-space form has none (TensorRT's parser took cubic only from 8.6).
TENSORRT_OPS = {
    "Add",
    "Cast",
    "Concat",
    "Constant",
    "Conv",
    "ConvTranspose",
    "DepthToSpace",
    "Gather",
    "Identity",
    "MatMul",
    "Mul",
    "Relu",
    "Reshape",
    "Shape",
    "Slice",
    "Softmax",
    "Transpose",
    "Unsqueeze",
}


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PSSR_LIVE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _dims(value_info: onnx.ValueInfoProto) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_export_command_writes_a_checked_dynamic_onnx(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.onnx"
    assert main(["export", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().err
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == OPSET >= 17
    (inp,), (outp,) = model.graph.input, model.graph.output
    assert inp.name == INPUT and outp.name == OUTPUT
    assert _dims(inp) == ["n", 5, "h", "w"]
    assert _dims(outp) == ["n", 1, "H", "W"]
    assert (
        inp.type.tensor_type.elem_type == outp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    )

    meta = {p.key: p.value for p in model.metadata_props}
    model_path = bundled_model_path("centered")
    info = read_info(model_path)
    assert meta["model_sha256"] == model_hash(model_path)
    assert (meta["frames"], meta["scale"], meta["multiple"]) == ("5", "4", "4")
    assert meta["window"] == "centered" and meta["precision"] == "fp32"
    assert json.loads(meta["norm"]) == info.norm.to_dict()
    assert read_onnx(out).info == info


def test_fp16_export_keeps_float32_input_and_output(tmp_path: Path) -> None:
    out = tmp_path / "half.onnx"
    assert main(["export", "--fp16", "-o", str(out)]) == 0
    model = onnx.load(out)
    assert {p.key: p.value for p in model.metadata_props}["precision"] == "fp16"
    for value in (*model.graph.input, *model.graph.output):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    float_weights = {
        i.data_type for i in model.graph.initializer if i.data_type != onnx.TensorProto.INT64
    }
    assert float_weights == {onnx.TensorProto.FLOAT16}


@pytest.mark.parametrize("fp16", [False, True])
@pytest.mark.parametrize("attention", [False, True])
def test_every_operator_is_one_tensorrt_parses(tmp_path: Path, attention: bool, fp16: bool) -> None:
    path = make_model(tmp_path / "m.safetensors", width=8, attention=attention)
    model = export_onnx(path, fp16=fp16)
    ops = {n.op_type for n in model.graph.node}
    assert ops <= TENSORRT_OPS, f"not in TensorRT's list: {ops - TENSORRT_OPS}"
    assert "Resize" not in ops and {"Conv", "DepthToSpace"} <= ops
    assert ("MatMul" in ops) == attention


def test_cubic_taps_are_torch_bicubic_weights() -> None:
    taps = cubic_phase_taps(4)
    np.testing.assert_allclose(taps.sum(axis=1), 1.0)
    np.testing.assert_allclose(taps[::-1, ::-1], taps)  # phases mirror each other
    # phase 0 of x4 samples 3/8 px left of an LR pixel: Keys kernel at 5/8 ... 11/8
    np.testing.assert_allclose(taps[0, :4], [-0.06591797, 0.42626953, 0.74951172, -0.10986328])


@pytest.mark.parametrize(
    "config",
    [
        NetConfig(width=8),
        NetConfig(width=8, ref_index=4),
        NetConfig(frames=1, width=8, ref_index=0, attention=True),
        NetConfig(width=8, scale=2, depth=1),
        NetConfig(width=8, scale=3),
    ],
    ids=["centered", "causal", "single-frame-attention", "x2", "x3"],
)
def test_phase_space_form_computes_what_the_network_does(config: NetConfig) -> None:
    torch.manual_seed(0)
    net = PSSRNet(config).eval()
    with torch.no_grad():  # a head far from its small init, so the blur matters
        net.head.conv.weight.normal_(0.0, 0.3)
        x = torch.rand(2, config.frames, 12, 20)
        expected, got = net(x), PhaseSpaceNet(net)(x)
    assert got.shape == expected.shape == (2, 1, 12 * config.scale, 20 * config.scale)
    assert float((got - expected).norm() / expected.norm()) < 1e-6
    # the first HR row and column (the replicated edge of the blur) are right too
    assert torch.allclose(got[..., 0, :], expected[..., 0, :], atol=1e-5)
    assert torch.allclose(got[..., :, 0], expected[..., :, 0], atol=1e-5)


def test_onnx_for_exports_once_and_caches(cache: Path) -> None:
    first = onnx_for(bundled_model_path())
    (cached,) = (cache / "onnx").glob("*.onnx")
    stamp = cached.stat().st_mtime_ns
    second = onnx_for(bundled_model_path())
    assert cached.stat().st_mtime_ns == stamp and second.data == first.data
    assert cached.name.startswith(model_hash(bundled_model_path()))


def test_export_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "-o", str(tmp_path / "model.bin")]) == 1
    assert main(["export", "--model", str(tmp_path / "none.safetensors"), "-o", "x.onnx"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "should end in .onnx" in err[0] and "not found" in err[1]


def test_read_onnx_rejects_foreign_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match="not a readable ONNX file"):
        read_onnx(junk)
