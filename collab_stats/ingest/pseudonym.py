"""Keyed pseudonyms for respondent ids, and the secret key behind them.

A pseudonym is ``"p"`` followed by the first 20 hex digits (80 bits) of
``HMAC-SHA256(secret, programme_id + "\\x1f" + id)``. The same id gives the same pseudonym in
every wave of a programme (the panel link), a different one in another programme, and without
the secret nobody can recompute it from a guessed id (an unkeyed hash of an e-mail address
can be reversed by hashing a list of addresses). Ids are compared after stripping surrounding
whitespace only: normalise case yourself if your ids are case-insensitive (e-mail addresses).

The secret is 32 random bytes stored as hex in a file readable by its owner only (mode 0600),
kept *outside* the data store: whoever holds both can re-identify respondents by hashing
candidate ids, so the two must not travel together.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CollabStatsError, ParameterError

__all__ = ["PSEUDONYM_HEX_DIGITS", "SecretError", "create_secret", "load_secret",
           "pseudonymise"]

PSEUDONYM_HEX_DIGITS = 20
SECRET_BYTES = 32
_MIN_SECRET_BYTES = 16


class SecretError(CollabStatsError):
    """The pseudonymisation secret cannot be created or read, or is stored unsafely."""


def _check_secret(secret: bytes) -> bytes:
    if not isinstance(secret, bytes | bytearray):
        raise ParameterError(f"secret must be bytes; got {type(secret).__name__}")
    if len(secret) < _MIN_SECRET_BYTES:
        raise ParameterError(f"secret must be at least {_MIN_SECRET_BYTES} bytes; got "
                             f"{len(secret)}")
    return bytes(secret)


def pseudonymise(ids: Iterable[object], *, secret: bytes, programme_id: str) -> np.ndarray:
    """Keyed pseudonyms of respondent ids (see the module documentation).

    Parameters
    ----------
    ids : iterable
        Raw ids (converted with ``str`` and stripped); blank ids are not allowed.
    secret : bytes
        The programme's secret key (:func:`load_secret`), at least 16 bytes.
    programme_id : str
        Mixed into every pseudonym so programmes cannot be linked.

    Returns
    -------
    ndarray of str (object dtype), one pseudonym per id.

    Examples
    --------
    >>> key = bytes(range(32))
    >>> a = pseudonymise(["R_1", " R_1 "], secret=key, programme_id="demo")
    >>> a[0] == a[1], a[0].startswith("p"), len(a[0])
    (True, True, 21)
    """
    key = _check_secret(secret)
    if not isinstance(programme_id, str) or not programme_id:
        raise ParameterError(f"programme_id must be a non-empty string; got {programme_id!r}")
    prefix = programme_id.encode("utf-8") + b"\x1f"
    values = ids if isinstance(ids, list | np.ndarray) else list(ids)
    if len(values) and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return _pseudonymise_texts(values, key, prefix)
    texts = []
    for k, value in enumerate(values):
        blank = value is None or (isinstance(value, float) and value != value)
        text = "" if blank else str(value).strip()
        if not text:
            raise ParameterError(f"ids must not be blank; id number {k} is {value!r}")
        texts.append(text)
    return _pseudonyms(key, prefix, texts)


def _pseudonymise_texts(values, key: bytes, prefix: bytes) -> np.ndarray:
    """Pseudonyms of text ids, each distinct id hashed once."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    texts = [u.strip() for u in uniques]
    blank = np.array([not t for t in texts], dtype=bool)
    if blank.any():
        k = int(np.flatnonzero(blank[codes])[0])
        raise ParameterError(f"ids must not be blank; id number {k} is {values[k]!r}")
    return _pseudonyms(key, prefix, texts)[codes]


def _pseudonyms(key: bytes, prefix: bytes, texts: list[str]) -> np.ndarray:
    """The pseudonym of each stripped, non-blank text: ``"p"`` and the first
    ``PSEUDONYM_HEX_DIGITS`` hex digits of ``HMAC-SHA256(key, prefix + text)``. One HMAC per
    text, each continued from a copy of the standard library's HMAC after the key and
    ``prefix``, so the keyed pads are hashed once for all texts (the precomputation of RFC 2104, section 4;
    ``hmac.HMAC.copy`` keeps both keyed states). No hashing of our own: the tests check the
    result against :func:`hmac.new` from scratch."""
    base = hmac.new(key, prefix, "sha256")
    out = []
    for text in texts:
        h = base.copy()
        h.update(text.encode("utf-8"))
        out.append("p" + h.hexdigest()[:PSEUDONYM_HEX_DIGITS])
    return np.array(out, dtype=object)


def _outside(path: Path, store: str | Path | None) -> None:
    if store is None:
        return
    store_path = Path(store).resolve()
    if path.resolve().is_relative_to(store_path):
        raise SecretError(f"{path}: the secret must be kept outside the data store "
                          f"{store_path}")


def create_secret(path: str | Path, *, store: str | Path | None = None) -> bytes:
    """Create a new secret (32 random bytes, hex) in a file only its owner can read (0600).

    Refuses to overwrite an existing file (a new secret breaks the panel link to every
    earlier wave) and, given ``store``, to create it inside the data store.
    """
    path = Path(path)
    _outside(path, store)
    secret = secrets.token_bytes(SECRET_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SecretError(f"{path}: already exists; a new secret would change every "
                          "pseudonym (remove the file yourself if that is what you want)") from None
    except OSError as exc:
        raise SecretError(f"{path}: cannot create the secret ({exc.strerror or exc})") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret.hex() + "\n")
    os.chmod(path, 0o600)  # umask cannot widen it, but be explicit
    return secret


def load_secret(path: str | Path, *, store: str | Path | None = None) -> bytes:
    """Read a secret written by :func:`create_secret`.

    Raises :class:`SecretError` if the file is missing, not hex, shorter than 16 bytes,
    readable by group or others (POSIX), or (given ``store``) inside the data store.
    """
    path = Path(path)
    _outside(path, store)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"{path}: cannot read the secret ({exc})") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(f"{path}: group or others may read the secret (mode "
                          f"{stat.S_IMODE(mode):04o}); run chmod 600 {path}")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise SecretError(f"{path}: expected the secret as hex digits") from None
    if len(secret) < _MIN_SECRET_BYTES:
        raise SecretError(f"{path}: the secret is {len(secret)} bytes; at least "
                          f"{_MIN_SECRET_BYTES} are needed")
    return secret
