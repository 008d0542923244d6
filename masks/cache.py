"""On-disk cache for work that depends only on the tokenizer and on automaton fragments.

- ``vocab/<tokenizer>.npz``: the tokenizer's :class:`~grammarlib.masks.vocab.VocabIndex`.
- ``frames/<tokenizer>/<signature>.npz``: the classification of one frame, keyed by a content
  hash of what the frame's tokens can read (see
  :meth:`grammarlib.automata.Automaton.signature`). Frames with the same signature classify the
  same way whatever grammar they come from, so fragments such as JSON string contents, numbers
  and whitespace are computed once per tokenizer.

Every file carries a SHA-256 of its arrays and is verified on load; a missing, corrupt or
unreadable file is recomputed and rewritten, never trusted. Writes are atomic (temp file and
rename). The directory is ``$GRAMMARLIB_CACHE_DIR``, else ``$XDG_CACHE_HOME/grammarlib``, else
``~/.cache/grammarlib``; :func:`set_cache_dir` overrides it, and ``set_cache_dir(None)`` turns
the disk cache off.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

FORMAT_VERSION = "v5"
_UNSET = object()
_override: object = _UNSET
_warned = False


def set_cache_dir(path: str | os.PathLike | None) -> None:
    """Use ``path`` for the disk cache (``None``: no disk cache)."""
    global _override
    _override = None if path is None else Path(path)


def cache_dir() -> Path | None:
    """The cache directory in use, or None when the disk cache is off."""
    if _override is not _UNSET:
        return _override  # type: ignore[return-value]
    env = os.environ.get("GRAMMARLIB_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "grammarlib"


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def load_arrays(relative: str) -> dict[str, np.ndarray] | None:
    """The arrays stored under ``relative``, or None if absent, unreadable or corrupt."""
    root = cache_dir()
    if root is None:
        return None
    path = root / FORMAT_VERSION / relative
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
    checksum = arrays.pop("__sha256__", None)
    if checksum is None or checksum.tobytes().decode("ascii", "replace") != _digest(arrays):
        return None
    return arrays


def save_arrays(relative: str, arrays: dict[str, np.ndarray]) -> None:
    """Store ``arrays`` under ``relative`` atomically; warn once and go on if that fails."""
    global _warned
    root = cache_dir()
    if root is None:
        return
    path = root / FORMAT_VERSION / relative
    payload = dict(arrays)
    payload["__sha256__"] = np.frombuffer(_digest(arrays).encode("ascii"), dtype=np.uint8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **payload)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        if not _warned:
            _warned = True
            warnings.warn(f"grammarlib: cannot write the cache in {root}: {e}", stacklevel=2)
