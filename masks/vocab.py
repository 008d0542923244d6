"""Per-tokenizer precomputation shared by every grammar: sorted tokens, a trie, byte matrices.

Only *grammar tokens* take part: tokens with non-empty bytes that are not special. They are
sorted by their bytes, and everything here is indexed by *sorted position* (``ids[p]`` is the
token id at position ``p``), so the tokens sharing a prefix are one contiguous range: a trie node
covers positions ``lo[n]:hi[n]``.

Built once per tokenizer (about a second for 128k tokens) and cached on disk by the mask store.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .progress import Progress

_ARRAY_FIELDS = ("ids", "lengths", "depth", "lo", "hi", "token_end")
_ARRAY_FIELDS += ("child_start", "child_byte", "child_node")


@dataclass(frozen=True, eq=False)
class VocabIndex:
    """Tokens sorted by bytes, with a trie over them and length-bucketed byte matrices.

    Trie arrays are indexed by node (node 0 is the root, the empty prefix): ``depth``, ``lo``,
    ``hi`` (the sorted positions of the tokens under the node), ``token_end`` (the tokens ending
    exactly at the node are positions ``lo[n] : token_end[n]``; -1 if none: shorter strings sort
    first), and the children ``child_start[n] : child_start[n + 1]`` into ``child_byte`` and
    ``child_node``, in increasing byte order.
    """

    ids: np.ndarray  # int32 (n,): token id at each sorted position
    token_bytes: tuple[bytes, ...]  # bytes at each sorted position
    lengths: np.ndarray  # int32 (n,)
    depth: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    token_end: np.ndarray  # int32: end of the range of tokens ending exactly at the node
    child_start: np.ndarray
    child_byte: np.ndarray
    child_node: np.ndarray
    buckets: tuple[tuple[int, np.ndarray, np.ndarray], ...]  # (length, positions, bytes matrix)

    @functools.cached_property
    def trie_lists(self) -> tuple[list[int], ...]:
        """``lo, hi, token_end, child_start, child_byte, child_node, depth`` as Python lists:
        scalar access in the trie walks is much faster than on numpy arrays. Built once per
        tokenizer and shared by every grammar."""
        arrays = (self.lo, self.hi, self.token_end, self.child_start)
        arrays += (self.child_byte, self.child_node, self.depth)
        return tuple(a.tolist() for a in arrays)

    @property
    def size(self) -> int:
        return len(self.token_bytes)

    @functools.cached_property
    def max_length(self) -> int:
        """The longest token, in bytes (0 for an empty vocabulary)."""
        return int(self.lengths.max()) if len(self.lengths) else 0

    @functools.cached_property
    def byte_words(self) -> np.ndarray:
        """uint64 (n, 4): the set of bytes in each token, as 256 bits (byte ``b`` is bit
        ``b % 64`` of word ``b // 64``), for testing at once whether a token uses only given
        bytes."""
        words = np.zeros((len(self.token_bytes), 4), dtype=np.uint64)
        one = np.uint64(1)
        for n, positions, matrix in self.buckets:
            for j in range(n):
                column = matrix[:, j]
                bits = np.left_shift(one, (column & 63).astype(np.uint64))
                word = column >> 6
                for k in np.unique(word).tolist():
                    chosen = word == k
                    words[positions[chosen], k] |= bits[chosen]
        return words

    @functools.cached_property
    def _tiers(self) -> dict[tuple[int, int], tuple[np.ndarray, ...]]:
        return {}

    def tier_arrays(self, low: int, high: int) -> tuple[np.ndarray, ...]:
        """The tokens of ``low..high`` bytes, sorted by first byte: (positions, lengths, bytes
        padded with zeros to the longest, start row of each first byte (257 entries)),
        memoised. The mask store's numpy pass walks them together."""
        key = (low, high)
        cached = self._tiers.get(key)
        if cached is None:
            chosen = [(n, p, m) for n, p, m in self.buckets if low <= n <= high]
            width = max((n for n, _, _ in chosen), default=1)
            size = sum(len(p) for _, p, _ in chosen)
            positions = np.zeros(size, dtype=np.int32)
            lengths = np.zeros(size, dtype=np.int32)
            matrix = np.zeros((size, width), dtype=np.uint8)
            row = 0
            for n, p, m in chosen:
                positions[row : row + len(p)] = p
                lengths[row : row + len(p)] = n
                matrix[row : row + len(p), :n] = m
                row += len(p)
            order = np.argsort(matrix[:, 0], kind="stable")
            positions, lengths, matrix = positions[order], lengths[order], matrix[order]
            byte_start = np.searchsorted(matrix[:, 0], np.arange(257)).tolist()
            cached = self._tiers[key] = (positions, lengths, matrix, byte_start)
        return cached

    @property
    def num_nodes(self) -> int:
        return len(self.depth)

    @classmethod
    def build(cls, token_bytes: tuple[bytes, ...], excluded: frozenset[int]) -> VocabIndex:
        """Index the tokens of ``token_bytes`` (by id) that are non-empty and not ``excluded``."""
        order = sorted((b, i) for i, b in enumerate(token_bytes) if b and i not in excluded)
        ids = np.fromiter((i for _, i in order), dtype=np.int32, count=len(order))
        data = tuple(b for b, _ in order)
        lengths = np.fromiter((len(b) for b in data), dtype=np.int32, count=len(data))
        trie = _build_trie(data)
        buckets = []
        for length in np.unique(lengths):
            positions = np.flatnonzero(lengths == length).astype(np.int32)
            matrix = np.frombuffer(b"".join(data[p] for p in positions), dtype=np.uint8)
            buckets.append((int(length), positions, matrix.reshape(len(positions), int(length))))
        return cls(ids=ids, token_bytes=data, lengths=lengths, buckets=tuple(buckets), **trie)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (see :meth:`from_arrays`)."""
        arrays = {name: getattr(self, name) for name in _ARRAY_FIELDS}
        arrays["blob"] = np.frombuffer(b"".join(self.token_bytes), dtype=np.uint8)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> VocabIndex:
        blob = arrays["blob"].tobytes()
        lengths = arrays["lengths"]
        ends = np.cumsum(lengths)
        starts = ends - lengths
        data = tuple(blob[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True))
        buckets = []
        for length in np.unique(lengths):
            positions = np.flatnonzero(lengths == length).astype(np.int32)
            matrix = np.frombuffer(b"".join(data[p] for p in positions), dtype=np.uint8)
            buckets.append((int(length), positions, matrix.reshape(len(positions), int(length))))
        fields = {k: arrays[k] for k in arrays if k != "blob"}
        return cls(token_bytes=data, buckets=tuple(buckets), **fields)


def _build_trie(data: tuple[bytes, ...]) -> dict[str, np.ndarray]:
    """Trie over sorted byte strings, in one pass keeping the path to the previous string."""
    depth = [0]
    lo = [0]
    hi = [0]
    token_start = [-1]
    token_end = [-1]
    children: list[list[int]] = [[]]
    child_bytes: list[list[int]] = [[]]
    path = [0]
    prev = b""
    with Progress(len(data), "indexing the vocabulary") as progress:
        for pos, s in enumerate(data):
            if pos & 4095 == 0:
                progress.advance(4096)
            common = 0
            limit = min(len(prev), len(s))
            while common < limit and prev[common] == s[common]:
                common += 1
            while len(path) - 1 > common:
                hi[path.pop()] = pos
            for d in range(common, len(s)):
                node = len(depth)
                depth.append(d + 1)
                lo.append(pos)
                hi.append(pos)
                token_start.append(-1)
                token_end.append(-1)
                children.append([])
                child_bytes.append([])
                children[path[-1]].append(node)
                child_bytes[path[-1]].append(s[d])
                path.append(node)
            end_node = path[-1]
            if token_start[end_node] < 0:
                token_start[end_node] = pos
            token_end[end_node] = pos + 1
            prev = s
    while path:
        hi[path.pop()] = len(data)
    counts = np.fromiter((len(c) for c in children), dtype=np.int64, count=len(children))
    child_start = np.zeros(len(children) + 1, dtype=np.int32)
    np.cumsum(counts, out=child_start[1:])
    flat_nodes = [n for c in children for n in c]
    flat_bytes = [b for c in child_bytes for b in c]
    return {
        "depth": np.asarray(depth, dtype=np.int32),
        "lo": np.asarray(lo, dtype=np.int32),
        "hi": np.asarray(hi, dtype=np.int32),
        "token_end": np.asarray(
            [e if s >= 0 else -1 for s, e in zip(token_start, token_end, strict=True)],
            dtype=np.int32,
        ),
        "child_start": child_start,
        "child_byte": np.asarray(flat_bytes, dtype=np.uint8),
        "child_node": np.asarray(flat_nodes, dtype=np.int32),
    }
