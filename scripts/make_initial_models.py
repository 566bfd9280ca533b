"""Write the placeholder bundled models: freshly initialised, *untrained* PSSRNet weights.

These files exist so that the pipeline has a loadable model before the real ones are
trained (``pssr-live train``). They are marked ``training.status = "untrained-initial"``
and are not restorers: thanks to the ICNR head (started small) and the global residual,
an untrained PSSRNet outputs bicubic upsampling of the reference frame plus a small
correction, i.e. a sensible upsampling and nothing more. The script measures and stores
that deviation in ``metrics``. Replace both files with trained models.

Usage: python scripts/make_initial_models.py [--out pssr_live/models] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from pssr_live.modelfile import ModelInfo, save_model
from pssr_live.network import NetConfig, PSSRNet
from pssr_live.normalization import NormSettings


def deviation_from_bicubic(net: PSSRNet, seed: int) -> dict[str, float]:
    """RMS / max |net - bicubic(reference)| on a smooth random window in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, net.config.frames, 64, 64, generator=g)
    x = F.avg_pool2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    x = (x - x.min()) / (x.max() - x.min())
    r = net.config.ref_index
    with torch.inference_mode():
        y = net(x)
    b = F.interpolate(x[:, r : r + 1], scale_factor=net.config.scale, mode="bicubic")
    d = y - b
    return {
        "untrained_rms_dev_from_bicubic": round(float(d.pow(2).mean().sqrt()), 5),
        "untrained_max_dev_from_bicubic": round(float(d.abs().max()), 5),
        "reference_std": round(float(b.std()), 5),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("pssr_live/models"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for window, ref in (("centered", 2), ("causal", 4)):
        torch.manual_seed(args.seed)
        cfg = NetConfig(frames=5, ref_index=ref)
        net = PSSRNet(cfg).eval()
        info = ModelInfo(
            kind="pssr-mf",
            net=cfg,
            window=window,  # type: ignore[arg-type]
            norm=NormSettings(),
            training={
                "status": "untrained-initial",
                "note": "freshly initialised weights; output ~ bicubic upsampling of the "
                "reference frame. Placeholder until a trained model replaces this file.",
                "seed": args.seed,
                "steps": 0,
                "command": f"python scripts/make_initial_models.py --seed {args.seed}",
            },
            metrics=deviation_from_bicubic(net, args.seed),
        )
        path = save_model(args.out / f"pssr_mf_{window}.safetensors", net, info)
        print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, metrics {info.metrics}")


if __name__ == "__main__":
    main()
