"""Argument types shared by several sub-commands, each failing with a one-line message."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive, finite number")
    return value


def frame_size(text: str) -> tuple[int, int]:
    """`H` or `HxW`, each a positive multiple of 4 up to 4096."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"{text!r} is not H or HxW")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not H or HxW in pixels") from None
    h, w = dims if len(dims) == 2 else (dims[0], dims[0])
    for d in (h, w):
        if not 16 <= d <= 4096 or d % 4:
            raise argparse.ArgumentTypeError(f"size {d} must be a multiple of 4 from 16 to 4096")
    return h, w
