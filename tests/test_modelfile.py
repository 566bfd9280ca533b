"""Tests for pssr_live.modelfile: round trip, bundled models, every ModelError case."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from pssr_live.modelfile import (
    FORMAT_VERSION,
    ModelError,
    ModelInfo,
    bundled_model_path,
    load_model,
    model_hash,
    read_info,
    save_model,
)
from pssr_live.network import NetConfig, PSSRNet
from pssr_live.normalization import NormSettings

SMALL = NetConfig(width=8, depth=2, blocks=1)


def _info(**kw: Any) -> ModelInfo:
    base: dict[str, Any] = {
        "net": SMALL,
        "norm": NormSettings(floor=4.0),
        "training": {"dataset": "sim", "steps": 10, "seed": 3, "ranges": {"dose": [0.1, 1.0]}},
        "metrics": {"psnr": 30.5},
    }
    base.update(kw)
    return ModelInfo(**base)


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, PSSRNet, ModelInfo]:
    torch.manual_seed(0)
    net = PSSRNet(SMALL)
    info = _info()
    return save_model(tmp_path / "m.safetensors", net, info), net, info


def _write_raw(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str] | None) -> Path:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=meta)
    return path


def _doc(info: ModelInfo | None = None) -> dict[str, Any]:
    return (info or _info()).to_dict()


def _expect_error(path: Path, match: str, **kw: Any) -> ModelError:
    with pytest.raises(ModelError, match=match) as e:
        load_model(path, **kw)
    assert "\n" not in str(e.value), "ModelError messages are one line"
    return e.value


# --- round trip ---------------------------------------------------------------------


def test_round_trip(saved: tuple[Path, PSSRNet, ModelInfo]) -> None:
    path, net, info = saved
    net2, info2 = load_model(path, expect_kind="pssr-mf")
    assert info2 == info
    assert info2.version == FORMAT_VERSION
    sd, sd2 = net.state_dict(), net2.state_dict()
    assert sd.keys() == sd2.keys()
    for k in sd:
        assert torch.equal(sd[k], sd2[k]), k
    assert not net2.training
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in net2.parameters())
    x = torch.rand(1, 5, 8, 8)
    with torch.inference_mode():
        torch.testing.assert_close(net.eval()(x), net2(x), rtol=0, atol=0)
    assert read_info(path) == info


def test_round_trip_single_frame_causal(tmp_path: Path) -> None:
    sf = NetConfig(frames=1, ref_index=0, width=8)
    info = _info(kind="pssr-sf", net=sf, window="causal", metrics={})
    path = save_model(tmp_path / "sf.safetensors", PSSRNet(sf), info)
    _, info2 = load_model(path, expect_kind="pssr-sf")
    assert info2 == info
    causal = NetConfig(width=8, ref_index=4, attention=True)
    info = _info(net=causal, window="causal")
    _, info3 = load_model(save_model(tmp_path / "c.safetensors", PSSRNet(causal), info))
    assert info3 == info


def test_metadata_is_plain_json(saved: tuple[Path, PSSRNet, ModelInfo]) -> None:
    from safetensors import safe_open

    path, _, info = saved
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert json.loads(meta["pssr_live"]) == info.to_dict()
    assert meta["written_by"].startswith("pssr-live ")


def test_model_hash(saved: tuple[Path, PSSRNet, ModelInfo], tmp_path: Path) -> None:
    path, net, _ = saved
    h = model_hash(path)
    assert h == hashlib.sha256(path.read_bytes()).hexdigest() and len(h) == 64
    with torch.no_grad():
        next(net.parameters()).add_(1.0)
    assert model_hash(save_model(tmp_path / "other.safetensors", net, _info())) != h
    with pytest.raises(ModelError, match="cannot read"):
        model_hash(tmp_path / "nope.safetensors")


def test_save_leaves_no_temp_files_and_overwrites(tmp_path: Path) -> None:
    net = PSSRNet(SMALL)
    save_model(tmp_path / "sub" / "m.safetensors", net, _info())
    save_model(tmp_path / "sub" / "m.safetensors", net, _info(metrics={"x": 1}))
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["m.safetensors"]
    assert read_info(tmp_path / "sub" / "m.safetensors").metrics == {"x": 1}


def test_save_rejects_inconsistent_info(tmp_path: Path) -> None:
    net = PSSRNet(SMALL)
    with pytest.raises(ModelError, match="does not match"):
        save_model(tmp_path / "a.safetensors", net, _info(net=NetConfig(width=16)))
    with pytest.raises(ModelError, match="ref_index"):
        save_model(tmp_path / "a.safetensors", net, _info(window="causal"))
    with pytest.raises(ModelError, match="strict JSON"):
        save_model(tmp_path / "a.safetensors", net, _info(training={"x": object()}))
    with pytest.raises(ModelError, match="strict JSON"):
        save_model(tmp_path / "a.safetensors", net, _info(metrics={"psnr": float("nan")}))
    with pytest.raises(ModelError, match="unknown model kind"):
        save_model(tmp_path / "a.safetensors", net, _info(kind="tcs"))
    assert not list(tmp_path.iterdir())


# --- bundled models -------------------------------------------------------------------


@pytest.mark.parametrize(("window", "ref"), [("centered", 2), ("causal", 4)])
def test_bundled_models(window: str, ref: int) -> None:
    path = bundled_model_path(window)
    assert path.name == f"pssr_mf_{window}.safetensors" and path.is_file()
    assert path.stat().st_size < 4_000_000
    net, info = load_model(path, expect_kind="pssr-mf")
    assert info.window == window and info.net.ref_index == ref and info.net.frames == 5
    assert info.net.scale == 4
    if info.training.get("status") == "untrained-initial":
        # placeholder weights: must behave as a sensible upsampler (bicubic of the ref frame)
        x = torch.rand(1, 5, 16, 16)
        with torch.inference_mode():
            y = net(x)
        b = F.interpolate(x[:, ref : ref + 1], scale_factor=4, mode="bicubic")
        assert float((y - b).abs().max()) < 0.1


def test_bundled_model_path_rejects_bad_window() -> None:
    with pytest.raises(ModelError, match="window"):
        bundled_model_path("sideways")


# --- every ModelError case ----------------------------------------------------------------


def test_missing_file_and_directory(tmp_path: Path) -> None:
    _expect_error(tmp_path / "missing.safetensors", "not found")
    _expect_error(tmp_path, "not a file")


@pytest.mark.parametrize(
    "content", [b"", b"hello, not a model", b"\x10\x00\x00\x00\x00\x00\x00\x00{bad json header"]
)
def test_not_safetensors(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "x.safetensors"
    p.write_bytes(content)
    _expect_error(p, "not a readable safetensors")


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated(saved: tuple[Path, PSSRNet, ModelInfo], keep: float) -> None:
    path, _, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    _expect_error(path, "not a readable safetensors")


class _Evil:
    """Unpickling this would create a marker file: proves nothing unpickles."""

    marker: Path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_pickle_refused_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "UNPICKLED"
    evil = _Evil()
    evil.marker = marker
    p1 = tmp_path / "torchsave.safetensors"
    torch.save({"w": torch.zeros(3), "evil": evil}, p1)  # zip + pickle
    p2 = tmp_path / "plain.pkl"
    p2.write_bytes(pickle.dumps(evil))
    for p in (p1, p2):
        err = _expect_error(p, "not a readable safetensors")
        assert "pickle" in str(err)
    assert not marker.exists()


def test_missing_metadata(saved: tuple[Path, PSSRNet, ModelInfo], tmp_path: Path) -> None:
    _, net, _ = saved
    p = _write_raw(tmp_path / "nometa.safetensors", net.state_dict(), None)
    _expect_error(p, "no 'pssr_live' metadata")
    p = _write_raw(tmp_path / "othermeta.safetensors", net.state_dict(), {"format": "pt"})
    _expect_error(p, "no 'pssr_live' metadata")


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("{not json", "bad JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({**_doc(), "version": "1"}), "bad version"),
        (json.dumps({k: v for k, v in _doc().items() if k != "version"}), "bad version"),
        (json.dumps({k: v for k, v in _doc().items() if k != "net"}), r"missing key\(s\)"),
        (json.dumps({**_doc(), "extra": 1}), r"unknown key\(s\)"),
        (json.dumps({**_doc(), "net": {**SMALL.to_dict(), "heads": 2}}), "heads"),
        (json.dumps({**_doc(), "net": {**SMALL.to_dict(), "width": "wide"}}), "width"),
        (json.dumps({**_doc(), "norm": {"floor": -1}}), "floor"),
        (json.dumps({**_doc(), "norm": 3}), "'norm' must be"),
        (json.dumps({**_doc(), "window": "sideways"}), "window mode"),
        (json.dumps({**_doc(), "kind": "tcs"}), "unknown model kind"),
        (json.dumps({**_doc(), "net": {**SMALL.to_dict(), "ref_index": 4}}), "ref_index"),
    ],
)
def test_malformed_metadata(
    saved: tuple[Path, PSSRNet, ModelInfo], tmp_path: Path, raw: str, match: str
) -> None:
    _, net, _ = saved
    p = _write_raw(tmp_path / "bad.safetensors", net.state_dict(), {"pssr_live": raw})
    _expect_error(p, match)


def test_wrong_kind(saved: tuple[Path, PSSRNet, ModelInfo]) -> None:
    path, _, _ = saved
    _expect_error(path, "kind is 'pssr-mf', expected 'pssr-sf'", expect_kind="pssr-sf")


def test_newer_version(saved: tuple[Path, PSSRNet, ModelInfo], tmp_path: Path) -> None:
    _, net, _ = saved
    doc = {**_doc(), "version": FORMAT_VERSION + 1, "new_field": {}}
    p = _write_raw(tmp_path / "new.safetensors", net.state_dict(), {"pssr_live": json.dumps(doc)})
    _expect_error(p, "newer than this pssr-live reads.*upgrade")


def test_weights_do_not_match_architecture(
    saved: tuple[Path, PSSRNet, ModelInfo], tmp_path: Path
) -> None:
    _, net, info = saved
    meta = {"pssr_live": json.dumps(info.to_dict())}
    sd = dict(net.state_dict())
    # metadata says width 8, weights are width 16
    wide = PSSRNet(NetConfig(width=16)).state_dict()
    _expect_error(_write_raw(tmp_path / "w.safetensors", wide, meta), "shape")
    missing = {k: v for k, v in sd.items() if k != "head.conv.weight"}
    _expect_error(_write_raw(tmp_path / "m.safetensors", missing, meta), "1 missing")
    extra = {**sd, "attn.gamma": torch.zeros(1)}
    _expect_error(_write_raw(tmp_path / "e.safetensors", extra, meta), "1 unexpected")
    deeper = PSSRNet(NetConfig(width=8, depth=3)).state_dict()
    _expect_error(_write_raw(tmp_path / "d.safetensors", deeper, meta), "declared architecture")
    ints = {**sd, "head.conv.bias": torch.zeros(16, dtype=torch.int32)}
    _expect_error(_write_raw(tmp_path / "i.safetensors", ints, meta), "non-float")
    nan = {**sd, "head.conv.bias": torch.full((16,), float("nan"))}
    _expect_error(_write_raw(tmp_path / "n.safetensors", nan, meta), "NaN")


def test_half_precision_weights_load_as_float32(
    saved: tuple[Path, PSSRNet, ModelInfo], tmp_path: Path
) -> None:
    _, net, info = saved
    half = {k: v.half() for k, v in net.state_dict().items()}
    p = _write_raw(tmp_path / "h.safetensors", half, {"pssr_live": json.dumps(info.to_dict())})
    net2, _ = load_model(p)
    assert all(t.dtype == torch.float32 for t in net2.state_dict().values())
