"""Benchmark results as Markdown tables and a PNG plot (docs/benchmarks.md is made here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pssr_live.benchmark import NULL_ENGINE, describe_machine, gains, overhead_ms

REGENERATE = "pssr-live bench --report docs/"


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(head: list[str], rows: list[list[object]]) -> list[str]:
    return [_row(head), _row(["---"] * len(head)), *(_row(r) for r in rows), ""]


def _peak(results: dict[str, Any]) -> float:
    return max((r["peak_gflops"] for r in results["engines"]), default=float("nan"))


def markdown(results: dict[str, Any], plot_name: str | None = None) -> str:
    """The whole report: machine, engine table, baselines, pipeline runs, plot."""
    s = results["settings"]
    lines = [
        "# Benchmarks",
        "",
        f"Regenerate with `{REGENERATE}` (writes this file, benchmarks.json and "
        "benchmarks.png; `pssr-live bench --help` for sizes, rate and duration).",
        "",
        f"Machine: {describe_machine(results['machine'])}.",
        "",
        "## Engines alone",
        "",
        "Time of one five-frame window at LR size (normalised input, padding included), "
        f"median and p99 of {s['repeats']} after warm-up. The engines take turns in blocks "
        "of five windows, each after a 0.2 s pause (an engine timed right after another "
        "shares the cores with the other's still-spinning threads). GFLOP per window: the "
        "network's convolutions; peak: the best float32 2048x2048 matmul of torch and ONNX "
        f"Runtime with the same threads, {_peak(results):.0f} GFLOP/s on this machine.",
        "",
    ]
    lines += _table(
        [
            "engine",
            "LR size",
            "median ms",
            "p99 ms",
            "fps",
            "GFLOP/window",
            "GFLOP/s",
            "% of peak",
            "x torch",
        ],
        [
            [
                r["describe"],
                r["shape"],
                f"{r['ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['fps']:.1f}",
                f"{r['gflop_per_frame']:.2f}",
                f"{r['gflops']:.1f}",
                f"{100 * r['gflops'] / r['peak_gflops']:.0f}",
                f"{r['vs_torch']:.2f}",
            ]
            for r in results["engines"]
        ],
    )
    lines += [
        "## Baselines",
        "",
        "`bilinear`: bilinear interpolation of the reference frame. `original-pssr-hr`: the "
        "original PSSR approach, the same five-frame U-Net (same width and depth) run at HR "
        "size on 4x bilinear-upsampled frames (torch, CPU).",
        "",
    ]
    lines += _table(
        ["method", "LR size", "median ms", "p99 ms", "fps"],
        [
            [
                r["engine"],
                r["shape"],
                f"{r['median_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['fps']:.1f}",
            ]
            for r in results["baselines"]
        ],
    )
    gain_rows = gains(results)
    if gain_rows:
        lines += ["Working at LR size instead of HR size (original time / engine time):", ""]
        lines += _table(
            ["engine", "LR size", "x faster than original"],
            [[g["engine"], g["shape"], f"{g['x_original']:.1f}"] for g in gain_rows],
        )
    if results["pipeline"]:
        lines += [
            "## Live pipeline",
            "",
            f"Replayed frames at {s['fps']:g} fps for {s['duration_s']:g} s -> ring buffer -> "
            "engine -> ZeroMQ publisher -> a subscriber in the same process. Latencies in ms, "
            "median / p99. `engine` is the restorer's time (normalisation, network, "
            f"inverse); `{NULL_ENGINE}` returns a blank frame at once, so its end-to-end "
            "latency is the pipeline's own cost.",
            "",
        ]
        lines += _table(
            [
                "engine",
                "LR size",
                "acquired fps",
                "restored fps",
                "skipped",
                "acq -> restore start",
                "engine",
                "publish -> receive",
                "acq -> publication",
                "acq -> receive",
            ],
            [
                [
                    r["engine"],
                    r["shape"],
                    f"{r['acquired_fps']:.1f}",
                    f"{r['restored_fps']:.1f}",
                    f"{r['skipped']} / {r['windows']}",
                    *(_p50_p99(r["latency_ms"][k]) for k in _STAGES),
                ]
                for r in results["pipeline"]
            ],
        )
        overhead = overhead_ms(results)
        if overhead:
            lines += [
                f"Pipeline overhead: everything but the network, from the `{NULL_ENGINE}` runs "
                "(medians, ms). Producer: per raw frame on the acquisition thread (ring "
                "buffer, raw publication, recorder hand-off). Restorer: normalisation and "
                "its inverse. Transfer: publication -> reception of the float32 HR frame.",
                "",
            ]
            lines += _table(
                ["LR size", "producer", "restorer", "transfer", "acq -> receive"],
                [
                    [shape, *(f"{o[k]:.2f}" for k in ("producer", "restorer", "transfer", "total"))]
                    for shape, o in overhead.items()
                ],
            )
        errors = [e for r in results["pipeline"] for e in r["errors"]]
        lines += [f"Error during a run: {e}" for e in errors]
    if viewer := results.get("viewer"):
        n = viewer["size"]
        lines += [
            "## Viewer",
            "",
            f"`pssr-live view` on a {n}x{n} float32 restored stream (and its raw stream) "
            f"published at {viewer['fps_published']:.1f} fps: it displayed "
            f"{viewer['fps_displayed']:.1f} fps, using {viewer['cpu_ms_per_displayed_frame']:.0f} "
            "ms of CPU per displayed frame (offscreen rendering; the sender shares the process).",
            "",
        ]
    if plot_name:
        lines += [f"![frame rates and latency]({plot_name})", ""]
    return "\n".join(lines)


_STAGES = (
    "acquisition_to_restore_start",
    "engine",
    "publish_to_receive",
    "acquisition_to_publication",
    "acquisition_to_receive",
)


def _p50_p99(stats: dict[str, float]) -> str:
    return f"{stats['p50']:.1f} / {stats['p99']:.1f}" if stats else "-"


def plot(results: dict[str, Any], path: Path) -> None:
    """fps per LR size for every engine and baseline; latency distribution of each run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    fig, (ax_fps, ax_lat) = plt.subplots(1, 2, figsize=(13, 4.5))
    series: dict[str, dict[int, float]] = {}
    for r in results["engines"]:
        series.setdefault(r["describe"], {})[int(r["shape"].split("x")[0])] = r["fps"]
    for r in results["baselines"]:
        series.setdefault(r["engine"], {})[int(r["shape"].split("x")[0])] = r["fps"]
    for name, points in series.items():
        sizes = sorted(points)
        style = "--" if name in ("bilinear", "original-pssr-hr") else "-"
        ax_fps.plot(sizes, [points[s] for s in sizes], style, marker="o", label=name)
    ax_fps.axhline(results["settings"]["fps"], color="grey", lw=0.8, ls=":", label="target")
    ax_fps.set(xscale="log", yscale="log", xlabel="LR size (px)", ylabel="frames / s")
    ax_fps.set_xticks(results["settings"]["sizes"], [str(s) for s in results["settings"]["sizes"]])
    ax_fps.xaxis.set_minor_locator(NullLocator())
    ax_fps.set_title("engine-only throughput")
    ax_fps.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    runs = results["pipeline"]
    if runs:
        data = [r["acquisition_to_receive_ms"] or [0.0] for r in runs]
        ax_lat.boxplot(data, whis=(1, 99), showfliers=False)
        ax_lat.set_xticks(
            range(1, len(runs) + 1),
            [f"{r['engine'].split(' ')[0]}\n{r['shape']}" for r in runs],
            fontsize=7,
        )
        ax_lat.set(yscale="log", ylabel="ms (box: quartiles, whiskers: p1-p99)")
        ax_lat.set_title("pipeline latency, acquisition -> reception")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict[str, Any], directory: Path) -> Path:
    """benchmarks.md, benchmarks.json and benchmarks.png in `directory`; returns the .md."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    plot(results, directory / "benchmarks.png")
    (directory / "benchmarks.json").write_text(json.dumps(results, indent=1))
    md = directory / "benchmarks.md"
    md.write_text(markdown(results, "benchmarks.png"))
    return md
