"""`pssr-live bench`: every part measured once, small and short, and the report written."""

from __future__ import annotations

import json

from pssr_live.cli import main


def test_bench_writes_json_markdown_and_plot(tmp_path):
    out = tmp_path / "bench.json"
    report = tmp_path / "docs"
    code = main(
        [
            "bench",
            "--sizes",
            "32",
            "--engines",
            "torch",
            "--pipeline-engine",
            "torch",
            "--repeats",
            "2",
            "--fps",
            "10",
            "--duration",
            "2",
            "--original-max-size",
            "32",
            "--viewer-seconds",
            "1.5",
            "--json",
            str(out),
            "--report",
            str(report),
        ]
    )
    assert code == 0
    results = json.loads(out.read_text())
    assert results["machine"]["cores"] and results["machine"]["torch"]
    assert [(r["engine"], r["shape"]) for r in results["engines"]] == [("torch", "32x32")]
    assert {r["engine"] for r in results["baselines"]} == {"bilinear", "original-pssr-hr"}
    runs = {r["engine"].split(" ")[0]: r for r in results["pipeline"]}
    assert set(runs) == {"torch", "none"}
    for run in runs.values():
        assert run["acquired"] > 5
        assert run["restored"] + run["skipped"] == run["windows"]
        assert run["received"] == run["restored"]  # every published frame reached the subscriber
        stages = run["latency_ms"]
        assert stages["acquisition_to_receive"]["p50"] >= stages["engine"]["p50"] > 0
    viewer = results["viewer"]
    assert viewer["size"] == 2048 and viewer["fps_published"] > 0 and viewer["fps_displayed"] > 0
    md = (report / "benchmarks.md").read_text()
    for needle in ("pssr-live bench --report docs/", results["machine"]["cpu"], "cores", "| none"):
        assert needle in md
    assert "original-pssr-hr" in md and "x faster than original" in md and "## Viewer" in md
    assert (report / "benchmarks.png").stat().st_size > 10_000
    assert json.loads((report / "benchmarks.json").read_text())["settings"]["sizes"] == [32]
