"""Shared fixtures: a free loopback address for each test, Qt offscreen."""

from __future__ import annotations

import os
import socket

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# pymmcore-plus would switch its cores to Qt signals (needing qtpy) once a test has started a
# QApplication; the sources poll on their own threads and need no Qt.
os.environ.setdefault("PYMM_SIGNALS_BACKEND", "psygnal")


@pytest.fixture
def address() -> str:
    """A tcp address on 127.0.0.1 with a port that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"
