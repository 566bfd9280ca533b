"""Settings dataclasses from JSON dicts, refusing keys they do not know.

Model files carry their settings as JSON; a key this version does not know means a file
from another version or a typo, and loading it silently would hide that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


def checked_keys(cls: type, d: Mapping[str, Any]) -> dict[str, Any]:
    """`d` as a dict, after checking that every key names a field of the dataclass `cls`."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown key(s) {unknown}; known: {sorted(known)}")
    return dict(d)
