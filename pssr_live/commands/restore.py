"""`pssr-live restore IN.tif -o OUT.tif`: offline restoration with the live engine code.

Every input frame gets one restored frame (T x 4H x 4W), first and last frames by edge
replication. Output is float32 in the input's counts; with ``--uint16`` it is
``clip(round(gain * value), 0, 65535)`` with gain 1 for integer input (counts stay
counts) and ``60000 / max(input)`` for float input, recorded in ``OUT.json``. OME
physical pixel sizes of the input are carried over, divided by the scale.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile
from tqdm import tqdm

from pssr_live.drivers.movie import read_movie
from pssr_live.engines.base import create_engine, engine_names
from pssr_live.errors import UserError
from pssr_live.modelfile import bundled_model_path, model_hash, read_info
from pssr_live.offline import restore_movie

NAME = "restore"
HELP = "restore a recorded raw movie (T x Y x X TIFF) offline, frame by frame"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, metavar="IN.tif", help="raw movie, T x Y x X")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.tif")
    parser.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    parser.add_argument(
        "--window",
        choices=("centered", "causal"),
        help="picks the bundled model (default centered)",
    )
    parser.add_argument("--engine", default="auto", help=f"auto | {' | '.join(engine_names())}")
    parser.add_argument("--uint16", action="store_true", help="write uint16 (scaling in OUT.json)")


def physical_sizes(path: Path) -> dict[str, float | str]:
    """PhysicalSizeX/Y (and units) from the input's OME-XML; empty without one."""
    try:
        with tifffile.TiffFile(path) as tif:
            xml = tif.ome_metadata
    except Exception:  # not an OME file, or no readable metadata: nothing to carry over
        return {}
    if not xml:
        return {}
    pixels = next((e for e in ET.fromstring(xml).iter() if e.tag.endswith("Pixels")), None)
    if pixels is None:
        return {}
    keys = ("PhysicalSizeX", "PhysicalSizeY", "PhysicalSizeXUnit", "PhysicalSizeYUnit")
    return {k: pixels.attrib[k] for k in keys if k in pixels.attrib}


def main(args: argparse.Namespace) -> int:
    movie = read_movie(args.input)
    model = args.model or bundled_model_path(args.window or "centered")
    info = read_info(model)
    if args.window and info.window != args.window:
        raise UserError(f"model {model} is for {info.window} windows, not {args.window}")
    if args.output.resolve() == args.input.resolve():
        raise UserError("-o must differ from the input file")
    engine = create_engine(args.engine, str(model))
    scale = engine.scale
    t, h, w = movie.shape
    gain = 1.0 if movie.dtype.kind in "ui" else 60000.0 / max(float(movie.max()), 1e-12)
    meta: dict = {"axes": "TYX"}
    for k, v in physical_sizes(args.input).items():
        meta[k] = float(v) / scale if k in ("PhysicalSizeX", "PhysicalSizeY") else v
    bar = tqdm(total=t, unit="frame", file=sys.stderr, dynamic_ncols=True)

    def frames() -> Iterator[np.ndarray]:
        for image in restore_movie(engine, movie, info.window, info.norm):
            bar.update(1)
            if args.uint16:
                yield np.clip(np.rint(gain * image), 0, 65535).astype(np.uint16)
            else:
                yield image

    dtype = np.uint16 if args.uint16 else np.float32
    args.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tifffile.TiffWriter(args.output, ome=True, bigtiff=True) as tif:
            tif.write(frames(), shape=(t, scale * h, scale * w), dtype=dtype, metadata=meta)
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    finally:
        bar.close()
    sidecar = {
        "input": str(args.input),
        "model": str(model),
        "model_sha256": model_hash(model),
        "engine": engine.describe(),
        "window": info.window,
        "dtype": np.dtype(dtype).name,
        "uint16_scaling": {"gain": gain, "offset": 0.0} if args.uint16 else None,
        "physical_size": {k: v for k, v in meta.items() if k != "axes"},
    }
    args.output.with_suffix(".json").write_text(json.dumps(sidecar, indent=2))
    print(f"pssr-live restore: {t} frames -> {args.output}", file=sys.stderr)
    return 0
