"""Secure by default: loopback unless asked, CURVE encryption and authentication, no pickle."""

from __future__ import annotations

import re
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from pssr_live.cli import main
from pssr_live.curve import CurveError, client_keys, create_keys, server_keys
from pssr_live.wire import Publisher, Subscriber


def received(pub: Publisher, sub: Subscriber, seconds: float = 1.5) -> int:
    """Publish for a while (past the handshake); how many messages `sub` got."""
    got = 0
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        pub.send("raw", {"frame": i, "t_acquired": 0.0}, np.full((4, 4), i, np.uint16))
        i += 1
        if sub.receive(20) is not None:
            got += 1
    return got


@pytest.fixture
def keys(tmp_path):
    create_keys(tmp_path / "keys")
    return tmp_path / "keys"


def test_only_a_client_with_an_accepted_key_receives(tmp_path, keys):
    create_keys(tmp_path / "other")  # a stranger's pair, with the right server public key
    (tmp_path / "other" / "server.key").write_bytes((keys / "server.key").read_bytes())
    pub = Publisher("tcp://127.0.0.1:0", curve=server_keys(keys))
    subs = {
        "right key": Subscriber(pub.endpoint, curve=client_keys(keys)),
        "unknown key": Subscriber(pub.endpoint, curve=client_keys(tmp_path / "other")),
        "no key": Subscriber(pub.endpoint),
    }
    try:
        counts = {name: received(pub, sub, 1.0) for name, sub in subs.items()}
    finally:
        for sub in subs.values():
            sub.close()
        pub.close()
    assert counts["right key"] > 0
    assert counts["unknown key"] == counts["no key"] == 0


def test_keys_command_writes_private_secrets_and_refuses_to_overwrite(tmp_path, capsys):
    assert main(["keys", str(tmp_path / "k")]) == 0
    capsys.readouterr()
    for who in ("server", "client"):
        mode = stat.S_IMODE((tmp_path / "k" / f"{who}.key_secret").stat().st_mode)
        assert mode == 0o600
        assert (tmp_path / "k" / f"{who}.key").is_file()
    assert main(["keys", str(tmp_path / "k")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force" in err[0]
    assert main(["keys", "--force", str(tmp_path / "k")]) == 0


def test_missing_keys_are_a_one_line_error(tmp_path):
    with pytest.raises(CurveError, match="pssr-live keys"):
        server_keys(tmp_path)


UNSAFE = [
    (
        re.compile(r"^\s*(import|from)\s+(pickle|cPickle|_pickle|dill|cloudpickle)\b", re.M),
        "pickle",
    ),
    (re.compile(r"\b(recv|send)_pyobj\b"), "ZeroMQ pickled objects"),
    (re.compile(r"allow_pickle\s*=\s*True"), "numpy pickles"),
    (re.compile(r"\bjoblib\.load\b"), "joblib pickles"),
]


def test_no_pickle_in_the_package():
    """Nothing on the wire or in files is unpickled: every torch.load is weights_only."""
    root = Path(__file__).resolve().parents[1]
    found = []
    for package in ("pssr_live", "drivers", "engines"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text()
            found += [f"{path.name}: {what}" for rx, what in UNSAFE if rx.search(text)]
            for call in re.finditer(r"torch\.load\(", text):
                args = text[call.end() : text.find(")", call.end())]
                if "weights_only=True" not in args:
                    found.append(f"{path.name}: torch.load without weights_only=True")
    assert not found


def test_default_publish_address_is_loopback_and_remote_needs_the_flag():
    from pssr_live.wire import DEFAULT_ADDRESS, WireError, is_loopback

    assert is_loopback(DEFAULT_ADDRESS)
    with pytest.raises(WireError, match="--allow-remote"):
        Publisher("tcp://*:0")
    with pytest.warns(UserWarning, match="anyone who can reach it"):
        Publisher("tcp://0.0.0.0:0", allow_remote=True).close()
