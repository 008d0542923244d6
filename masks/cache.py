"""On-disk cache for work that depends only on the tokenizer and on automaton fragments.

- ``vocab/<tokenizer>.npz``: the tokenizer's :class:`~grammarlib.masks.vocab.VocabIndex`.
- ``frames/<tokenizer>/<signature>.npz``: the classification of one frame, keyed by a canonical
  signature of the automaton region the frame can reach (see :func:`frame_signature`). Frames with
  the same region classify the same way whatever grammar they come from, so fragments such as
  JSON string contents, numbers and whitespace are computed once per tokenizer.

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

from grammarlib.automata import Automaton
from grammarlib.graphs import strongly_connected

FORMAT_VERSION = "v4"
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


def has_arrays(relative: str) -> bool:
    """Whether a file is stored under ``relative`` (not verified: :func:`load_arrays` does)."""
    root = cache_dir()
    return root is not None and (root / FORMAT_VERSION / relative).is_file()


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


def frame_signature(automaton: Automaton, frame: int, follow: int) -> str:
    """A canonical hash of everything a frame's classification depends on (see
    :class:`FrameSignatures`, which computes many of them in linear time)."""
    return FrameSignatures(automaton)(frame, follow)


class FrameSignatures:
    """Canonical hashes of the automaton regions that frames can reach, memoised per automaton.

    A frame's classification depends on the region reachable from it through byte edges and
    calls (callee and return frames) and on ``follow``, the bytes that may come after its rule
    returns. Equal regions in different grammars must hash equal, and the hash must not cost a
    walk over the whole region per frame (a string with ``maxLength: 200`` is a chain of
    hundreds of frames). So the hash is a Merkle hash over strongly connected components: inside
    a component the frames are numbered breadth-first from the frame, with byte edges grouped
    into ranges, and an edge that leaves the component is written as its target's hash.
    """

    def __init__(self, automaton: Automaton):
        self.automaton = automaton
        successors: dict[int, list[int]] = {}
        for f in range(automaton.num_frames):
            out = set(automaton.byte_next[f].values())
            for callee, ret in automaton.calls[f]:
                out.add(callee)
                if ret >= 0:
                    out.add(ret)
            successors[f] = sorted(out)
        self._successors = successors
        self._component: list[int] = [0] * automaton.num_frames
        self._members: list[list[int]] = []
        for i, group in enumerate(strongly_connected(successors)):
            self._members.append(group)
            for f in group:
                self._component[f] = i
        self._exits: dict[int, list[int]] = {}
        self._structure: dict[int, str] = {}

    def __call__(self, frame: int, follow: int) -> str:
        text = f"v2;follow={follow:x};{self.structure(frame)}"
        return hashlib.sha256(text.encode()).hexdigest()[:40]

    def structure(self, frame: int) -> str:
        """The hash of the region reachable from ``frame`` (without any FOLLOW context)."""
        known = self._structure.get(frame)
        if known is not None:
            return known
        # Post-order over the components below ``frame``'s (iterative: chains can be long).
        stack = [(frame, False)]
        while stack:
            f, ready = stack.pop()
            if f in self._structure:
                continue
            if ready:
                self._structure[f] = self._hash_in_component(f)
                continue
            stack.append((f, True))
            stack.extend((t, False) for t in self.exits(f) if t not in self._structure)
        return self._structure[frame]

    def exits(self, frame: int) -> list[int]:
        """Targets outside ``frame``'s component of edges from inside it."""
        c = self._component[frame]
        out = self._exits.get(c)
        if out is None:
            found = {
                t for f in self._members[c] for t in self._successors[f] if self._component[t] != c
            }
            out = self._exits[c] = sorted(found)
        return out

    def _hash_in_component(self, frame: int) -> str:
        automaton, component = self.automaton, self._component[frame]
        number = {frame: 0}
        queue = [frame]

        def name(target: int) -> str:
            if self._component[target] != component:
                return "@" + self._structure[target]
            if target not in number:
                number[target] = len(queue)
                queue.append(target)
            return str(number[target])

        parts: list[str] = []
        i = 0
        while i < len(queue):
            f = queue[i]
            i += 1
            parts.append("A" if automaton.accepting[f] else "N")
            run_start = run_end = run_target = -1
            for byte, target in sorted(automaton.byte_next[f].items()):
                if target == run_target and byte == run_end + 1:
                    run_end = byte
                    continue
                if run_target >= 0:
                    parts.append(f"{run_start}-{run_end}>{name(run_target)}")
                run_start = run_end = byte
                run_target = target
            if run_target >= 0:
                parts.append(f"{run_start}-{run_end}>{name(run_target)}")
            for callee, ret in automaton.calls[f]:
                parts.append(f"c{name(callee)}r{name(ret) if ret >= 0 else '-'}")
            parts.append(";")
        return hashlib.sha256(",".join(parts).encode()).hexdigest()[:40]
