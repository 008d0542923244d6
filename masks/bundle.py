"""A grammar's frame classifications packed into one cache file.

The disk cache keeps a classification per frame signature (``frames/<tokenizer>/<sig>.npz``),
shared by every grammar, but only those that were slow to compute, since a file costs about half
a millisecond to open. A *bundle* (``bundles/<tokenizer>/<grammar>.npz``) holds every keyed part
a grammar's matchers used, packed into a few arrays, so a process that meets the grammar again
reads them all at once instead of computing the cheap ones or opening a file per frame.

The classifications are written as flat arrays with per-part lengths: accepted-token bit rows,
uncertain token positions, rest ids and offsets, and the rest bytes as one blob. A per-frame
file is the same format with one part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["pack", "unpack"]


class Part(Protocol):
    """What a classification holds (:class:`grammarlib.masks.store.FrameMask`)."""

    accepted_bits: np.ndarray
    accepted_count: int
    uncertain: np.ndarray
    rest_start: np.ndarray
    rest_ids: np.ndarray
    rests: tuple[bytes, ...]


def pack(parts: Sequence[tuple[str, Part]], width: int) -> dict[str, np.ndarray]:
    """The arrays of a bundle of ``parts`` (cache key text, classification)."""
    keys = "\n".join(text for text, _ in parts).encode()
    masks = [part for _, part in parts]
    rests = [r for m in masks for r in m.rests]
    return {
        "keys": np.frombuffer(keys, dtype=np.uint8),
        "accepted_bits": (
            np.stack([m.accepted_bits for m in masks])
            if masks
            else np.zeros((0, width), dtype=np.uint32)
        ),
        "accepted_count": np.asarray([m.accepted_count for m in masks], dtype=np.int64),
        "uncertain_count": np.asarray([m.uncertain.size for m in masks], dtype=np.int64),
        "uncertain": _joined([m.uncertain for m in masks]),
        "rest_start": _joined([m.rest_start for m in masks]),
        "rest_id_count": np.asarray([m.rest_ids.size for m in masks], dtype=np.int64),
        "rest_ids": _joined([m.rest_ids for m in masks]),
        "rest_count": np.asarray([len(m.rests) for m in masks], dtype=np.int64),
        "rest_lengths": np.asarray([len(r) for r in rests], dtype=np.int64),
        "rest_blob": np.frombuffer(b"".join(rests), dtype=np.uint8),
    }


def unpack(
    arrays: dict[str, np.ndarray], width: int, vocab_positions: int, make: Callable[..., Any]
) -> dict[str, Any]:
    """The parts of a bundle by key text, each built by ``make`` (the classification's
    constructor); empty if the arrays do not fit together or do not fit this vocabulary (a
    bundle is a cache: one that does not check out is recomputed, never trusted)."""
    try:
        keys = arrays["keys"].tobytes().decode()
        texts = keys.split("\n") if keys else []
        bits = arrays["accepted_bits"].astype(np.uint32)
        counts = arrays["accepted_count"].astype(np.int64)
        uncertain_count = arrays["uncertain_count"].astype(np.int64)
        uncertain = arrays["uncertain"].astype(np.int32)
        rest_start = arrays["rest_start"].astype(np.int32)
        rest_id_count = arrays["rest_id_count"].astype(np.int64)
        rest_ids = arrays["rest_ids"].astype(np.int32)
        rest_count = arrays["rest_count"].astype(np.int64)
        rest_lengths = arrays["rest_lengths"].astype(np.int64)
        blob = arrays["rest_blob"].tobytes()
    except (KeyError, UnicodeDecodeError, TypeError, ValueError):
        return {}
    n = len(texts)
    sizes_fit = (
        bits.shape == (n, width)
        and all(a.shape == (n,) for a in (counts, uncertain_count, rest_id_count, rest_count))
        and int(uncertain_count.sum()) == uncertain.size
        and int((uncertain_count + 1).sum()) == rest_start.size
        and int(rest_id_count.sum()) == rest_ids.size
        and int(rest_count.sum()) == rest_lengths.size
        and int(rest_lengths.sum()) == len(blob)
    )
    if not sizes_fit:
        return {}
    if uncertain.size and (uncertain.min() < 0 or uncertain.max() >= vocab_positions):
        return {}
    ends = np.cumsum(rest_lengths).tolist()
    all_rests = [blob[e - k : e] for e, k in zip(ends, rest_lengths.tolist(), strict=True)]
    out = {}
    u = s = r = q = 0  # offsets into uncertain, rest_start, rest_ids, all_rests
    for i, text in enumerate(texts):
        nu, nr, nq = int(uncertain_count[i]), int(rest_id_count[i]), int(rest_count[i])
        starts = rest_start[s : s + nu + 1]
        ids = rest_ids[r : r + nr]
        if starts[0] != 0 or starts[-1] != nr or (nr and (ids.min() < 0 or ids.max() >= nq)):
            return {}
        rests = tuple(all_rests[q : q + nq])
        out[text] = make(bits[i], int(counts[i]), uncertain[u : u + nu], starts, ids, rests)
        u, s, r, q = u + nu, s + nu + 1, r + nr, q + nq
    return out


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays).astype(np.int32) if arrays else np.zeros(0, dtype=np.int32)
