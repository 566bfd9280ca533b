"""ZeroMQ CURVE keys: encryption and client authentication for publishing beyond this machine.

`pssr-live keys DIR` writes two key pairs (ZeroMQ certificate files):

- ``server.key`` / ``server.key_secret``: the publisher's (`run --curve-keys DIR`);
- ``client.key`` / ``client.key_secret``: a viewer's (`view --curve-keys DIR`).

The publisher accepts the clients whose public key is a ``*.key`` file in DIR (add one
per extra viewer); a viewer needs ``server.key`` and its own pair. Copy DIR to a viewer
machine without ``server.key_secret``. Secret files are readable by their owner only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

from pssr_live.errors import UserError

SERVER, CLIENT = "server", "client"


class CurveError(UserError):
    """Missing or unreadable CURVE keys; the message says which file and what to run."""


@dataclass(frozen=True, slots=True)
class CurveKeys:
    """One side's key pair, the server's public key, and (server side) who may connect."""

    public: bytes
    secret: bytes
    server_public: bytes
    authorized: Path | None = None  # directory of accepted client public keys (server only)


def create_keys(directory: Path, *, force: bool = False) -> list[Path]:
    """Write the server and client key pairs into `directory`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"{who}.{ext}" for who in (SERVER, CLIENT) for ext in ("key", "key_secret")]
    existing = [n for n in names if (directory / n).exists()]
    if existing and not force:
        raise CurveError(
            f"{directory} already holds {', '.join(existing)}; pass --force to replace them "
            "(connected viewers then need the new keys)"
        )
    for who in (SERVER, CLIENT):
        _, secret = zmq.auth.create_certificates(str(directory), who)
        os.chmod(secret, 0o600)
    return [directory / n for n in names]


def _load(path: Path, *, secret: bool) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise CurveError(f"CURVE key {path} not found; create keys with `pssr-live keys DIR`")
    try:
        public, secret_key = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise CurveError(f"cannot read CURVE key {path}: {exc}") from exc
    if secret and secret_key is None:
        raise CurveError(f"{path} holds no secret key")
    return public, secret_key


def server_keys(directory: Path) -> CurveKeys:
    """The publisher's keys from DIR; clients with a public key file in DIR are accepted."""
    public, secret = _load(directory / f"{SERVER}.key_secret", secret=True)
    assert secret is not None
    return CurveKeys(public, secret, public, authorized=directory)


def client_keys(directory: Path) -> CurveKeys:
    """A viewer's keys from DIR: its own pair and the publisher's public key."""
    public, secret = _load(directory / f"{CLIENT}.key_secret", secret=True)
    server_public, _ = _load(directory / f"{SERVER}.key", secret=False)
    assert secret is not None
    return CurveKeys(public, secret, server_public)


def secure_server(socket: zmq.Socket, keys: CurveKeys) -> None:
    """Make `socket` a CURVE server (call before bind)."""
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.curve_server = True


def secure_client(socket: zmq.Socket, keys: CurveKeys) -> None:
    """Make `socket` a CURVE client of the server whose public key `keys` holds."""
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.curve_serverkey = keys.server_public
