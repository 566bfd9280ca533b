"""pssr_live.enginebench: the numbers `pssr-live bench` reports per engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from engine_helpers import make_model

from pssr_live import enginebench
from pssr_live.engines.base import create_engine
from pssr_live.modelfile import read_info
from pssr_live.network import count_flops


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PSSR_LIVE_CACHE_DIR", str(tmp_path / "cache"))
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def small_model(tmp_path: Path) -> Path:
    return make_model(tmp_path / "small.safetensors", width=8)


@pytest.fixture
def fixed_peak(monkeypatch: pytest.MonkeyPatch) -> None:
    """The peak measurement has its own test; the reports need not spend a second on it."""
    monkeypatch.setattr(enginebench, "measured_peak_gflops", lambda threads: 100.0)


def test_time_engine(small_model: Path) -> None:
    engine = create_engine("torch", str(small_model), device="cpu", threads=1)
    t = enginebench.time_engine(engine, (32, 48), repeats=3)
    assert set(t) == {"median_ms", "p99_ms", "fps"}
    assert 0 < t["median_ms"] <= t["p99_ms"]
    assert t["fps"] == pytest.approx(1e3 / t["median_ms"])


def test_measured_peak_gflops_is_positive_and_keeps_threads() -> None:
    before = torch.get_num_threads()
    assert enginebench.measured_peak_gflops(1, n=256, repeats=2) > 0
    assert torch.get_num_threads() == before


def test_engine_report_rows(small_model: Path, fixed_peak: None) -> None:
    rows = enginebench.engine_report(
        small_model, [(32, 32), (30, 40)], ["torch", "onnxruntime"], threads=1, repeats=2
    )
    assert [(r["engine"], r["shape"]) for r in rows] == [
        ("torch", "32x32"),
        ("onnxruntime", "32x32"),
        ("torch", "30x40"),
        ("onnxruntime", "30x40"),
    ]
    config = read_info(small_model).net
    for r in rows:
        assert (
            r["gflop_per_frame"]
            == count_flops(config, 32, 32 if r["shape"] == "32x32" else 40) / 1e9
        )
        assert r["gflops"] == pytest.approx(r["gflop_per_frame"] / (r["ms"] / 1e3))
        assert r["peak_gflops"] == 100.0 and r["fps"] > 0 and r["threads"] == 1
    assert rows[0]["vs_torch"] == 1.0  # torch eager fp32 on the CPU is the baseline itself


def test_main_prints_a_table_and_writes_json(
    small_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fixed_peak: None
) -> None:
    out = tmp_path / "bench.json"
    argv = ["--model", str(small_model), "--shapes", "32x32", "--engines", "torch"]
    assert enginebench.main([*argv, "--threads", "1", "--repeats", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "x torch" in text and "torch (cpu, fp32, 1 threads)" in text
    doc = json.loads(out.read_text())
    assert doc["rows"][0]["shape"] == "32x32" and doc["machine"]["cores"] >= 1
