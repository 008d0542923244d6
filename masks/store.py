"""The mask store: which tokens each automaton frame accepts, rejects or leaves to the stack.

For a frame ``f`` on top of a stack, a token is

- **accepted** when its bytes can be consumed starting at ``f`` without returning from ``f``'s
  rule (calls into other rules are fine: what they push is known) — allowed whatever is below;
- **uncertain** when some way of consuming it returns from ``f``'s rule before its last byte, so
  the rest depends on the stack below — checked against the real stack at run time;
- **rejected** otherwise.

A token that is accepted by one way and uncertain by another is accepted. The frame's own calls
and return are not taken for the first byte: the runtime closure already put the callees and the
callers on top as frames of their own.

Classification is lazy (per frame, on first use) and has two passes. A vectorised pass runs the
frame's rule DFA over the whole vocabulary with numpy (tokens bucketed by length) while the path
stays on *plain* frames (no calls, not accepting), which decides most tokens inside strings,
numbers and literals at once. Tokens that reach a frame with calls or a return mid-token go to a
trie walk over the shared, memoised runtime, which prunes dead subtrees early.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from grammarlib.automata import Automaton
from grammarlib.runtime import BOTTOM, Runtime, State

from .bitmask import bitmask_width
from .cache import frame_signature, load_arrays, save_arrays
from .vocab import VocabIndex

REJECT, ACCEPT, UNCERTAIN = 0, 1, 2


@dataclass(frozen=True, slots=True)
class FrameMask:
    """The classification of every grammar token for one frame."""

    accepted_bits: np.ndarray  # uint32 words over token ids
    accepted_count: int
    uncertain: np.ndarray  # int32 sorted positions (into the VocabIndex)
    # For uncertain token i: the byte offsets at which the frame's rule can return, so the rest
    # of the token must be read from the stack below: offsets[offset_start[i]:offset_start[i+1]].
    offset_start: np.ndarray  # int32 (len(uncertain) + 1,)
    offsets: np.ndarray  # int32


class MaskStore:
    """Per (automaton, tokenizer) frame classifications and state masks, computed lazily.

    Thread-safe: classifications and cached masks are immutable once stored; concurrent
    computation of the same entry only duplicates work.
    """

    def __init__(
        self,
        automaton: Automaton,
        runtime: Runtime,
        index: VocabIndex,
        vocab_size: int,
        stop_token_ids: frozenset[int],
        *,
        tokenizer_key: str = "",
        cache_size: int = 2048,
    ):
        self.automaton = automaton
        self.runtime = runtime
        self.tokenizer_key = tokenizer_key
        self.index = index
        self.vocab_size = vocab_size
        self.width = bitmask_width(vocab_size)
        self.stop_ids = np.asarray(sorted(stop_token_ids), dtype=np.int64)
        frames = automaton.num_frames
        dead = frames
        table = np.full((frames + 1, 256), dead, dtype=np.int32)
        for f, row in enumerate(automaton.byte_next):
            if row:
                table[f, list(row.keys())] = list(row.values())
        self.table = table
        self.dead = dead
        plain = np.ones(frames + 1, dtype=bool)
        for f in range(frames):
            plain[f] = not automaton.calls[f] and not automaton.accepting[f]
        plain[dead] = True
        self.plain = plain
        self._frames: dict[int, FrameMask] = {}
        self._trie: tuple[list[int], ...] | None = None
        self._follow: dict[str, int] | None = None
        self._masks: OrderedDict[State, np.ndarray] = OrderedDict()
        self._node_cache: dict = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # -- per-frame classification ------------------------------------------------------------

    def frame_mask(self, frame: int) -> FrameMask:
        """The classification of ``frame``: from memory, from a frame with the same signature
        (this process or the disk cache), or computed and then cached."""
        mask = self._frames.get(frame)
        if mask is not None:
            return mask
        key = None
        if self.tokenizer_key:
            # The FOLLOW set is context from outside the region the signature covers.
            signature = frame_signature(self.automaton, frame, self.follow_bytes(frame))
            key = (self.tokenizer_key, signature)
            mask = _shared_get(key)
            if mask is None:
                mask = self._load(key)
        if mask is None:
            mask = self._classify(frame)
            if key is not None:
                self._save(key, mask)
        if key is not None:
            _shared_put(key, mask)
        self._frames[frame] = mask
        return mask

    def _load(self, key: tuple[str, str]) -> FrameMask | None:
        arrays = load_arrays(f"frames/{key[0]}/{key[1]}.npz")
        if arrays is None:
            return None
        try:
            bits = arrays["accepted_bits"].astype(np.uint32)
            count = int(arrays["accepted_count"])
            uncertain = arrays["uncertain"].astype(np.int32)
            offset_start = arrays["offset_start"].astype(np.int32)
            offsets = arrays["offsets"].astype(np.int32)
        except (KeyError, TypeError):
            return None
        if bits.shape != (self.width,) or offset_start.shape != (uncertain.size + 1,):
            return None
        if uncertain.size and (uncertain.min() < 0 or uncertain.max() >= self.index.size):
            return None
        if offset_start[-1] != offsets.size or (offsets.size and offsets.min() < 1):
            return None
        return FrameMask(bits, count, uncertain, offset_start, offsets)

    def _save(self, key: tuple[str, str], mask: FrameMask) -> None:
        arrays = {
            "accepted_bits": mask.accepted_bits,
            "accepted_count": np.asarray(mask.accepted_count),
            "uncertain": mask.uncertain,
            "offset_start": mask.offset_start,
            "offsets": mask.offsets,
        }
        save_arrays(f"frames/{key[0]}/{key[1]}.npz", arrays)

    def precompute(self) -> None:
        """Classify every frame that can be on top (has byte edges) now rather than lazily."""
        for f, row in enumerate(self.automaton.byte_next):
            if row:
                self.frame_mask(f)

    def _classify(self, frame: int) -> FrameMask:
        index = self.index
        classes = np.zeros(index.size, dtype=np.int8)
        needs_walk = np.zeros(index.size, dtype=bool)
        table, plain, dead = self.table, self.plain, self.dead
        first_bytes = self.automaton.next_bytes[frame]
        for length, positions, matrix in index.buckets:
            # Cheap first filter: the first byte must be one the frame can consume.
            first = matrix[:, 0]
            rows = np.flatnonzero(_byte_mask_array(first_bytes)[first])
            if rows.size == 0:
                continue
            states = np.full(rows.size, frame, dtype=np.int32)
            for i in range(length):
                states = table[states, matrix[rows, i]]
                alive = states != dead
                if i == length - 1:
                    classes[positions[rows[alive]]] = ACCEPT
                    break
                branch = alive & ~plain[states]
                if branch.any():
                    needs_walk[positions[rows[branch]]] = True
                keep = alive & ~branch
                rows = rows[keep]
                states = states[keep]
                if rows.size == 0:
                    break
        returns: dict[int, tuple[int, ...]] = {}
        if needs_walk.any():
            self._walk(frame, classes, needs_walk, returns)
        accepted_ids = index.ids[classes == ACCEPT]
        uncertain = np.flatnonzero(classes == UNCERTAIN).astype(np.int32)
        per_token = [returns[p] for p in uncertain.tolist()]
        offset_start = np.zeros(len(per_token) + 1, dtype=np.int32)
        np.cumsum([len(o) for o in per_token], out=offset_start[1:])
        offsets = np.fromiter((k for o in per_token for k in o), dtype=np.int32)
        return FrameMask(
            accepted_bits=_ids_to_bits(accepted_ids, self.width),
            accepted_count=int(accepted_ids.size),
            uncertain=uncertain,
            offset_start=offset_start,
            offsets=offsets,
        )

    def _walk(
        self,
        frame: int,
        classes: np.ndarray,
        needs_walk: np.ndarray,
        returns: dict[int, tuple[int, ...]],
    ) -> None:
        """Trie walk from ``frame`` over the tokens marked in ``needs_walk``; for the uncertain
        ones, ``returns`` gets the offsets where the frame's rule can return."""
        index = self.index
        runtime = self.runtime
        counts = np.zeros(index.size + 1, dtype=np.int64)
        np.cumsum(needs_walk, out=counts[1:])
        counts = counts.tolist()
        lo, hi, token_end, child_start, child_byte, child_node, _ = self._trie_lists()
        next_bytes = runtime.next_bytes
        start: State = (((frame, frozenset((BOTTOM,))),), False)
        follow = self.follow_bytes(frame)
        depth = self._depth
        stack: list[tuple[int, State, tuple[int, ...]]] = [(0, start, ())]
        while stack:
            node, state, below = stack.pop()
            # below: the offsets at which some way of reading this prefix left the frame's rule
            # with the next byte readable by a caller; what fails locally is left to the stack.
            if node:
                end = token_end[node]
                if end >= 0:
                    own = slice(lo[node], end)
                    classes[own][needs_walk[own]] = ACCEPT
            returned = state[1]
            allowed = next_bytes(state)
            for k in range(child_start[node], child_start[node + 1]):
                child = child_node[k]
                c_lo, c_hi = lo[child], hi[child]
                if counts[c_hi] == counts[c_lo]:
                    continue
                byte = child_byte[k]
                child_below = (*below, depth[node]) if returned and follow >> byte & 1 else below
                if allowed >> byte & 1:
                    stack.append((child, runtime.advance(state, byte), child_below))
                elif child_below:
                    span = slice(c_lo, c_hi)
                    todo = needs_walk[span] & (classes[span] != ACCEPT)
                    classes[span][todo] = UNCERTAIN
                    for p in (np.flatnonzero(todo) + c_lo).tolist():
                        returns[p] = child_below

    def follow_bytes(self, frame: int) -> int:
        """Bitmask of the bytes that can come right after ``frame``'s rule returns, at any of
        its call sites (context expansion: a token that needs anything else there is rejected
        without looking at the stack)."""
        if self._follow is None:
            self._follow = _follow_sets(self.automaton)
        return self._follow[self.automaton.frame_rule[frame]]

    @property
    def _depth(self) -> list[int]:
        lists = self._trie_lists()
        return lists[-1]

    def _trie_lists(self) -> tuple[list[int], ...]:
        """The trie arrays as Python lists (scalar access in the walk is much faster)."""
        lists = self._trie
        if lists is None:
            index = self.index
            arrays = (index.lo, index.hi, index.token_end, index.child_start)
            arrays += (index.child_byte, index.child_node, index.depth)
            lists = self._trie = tuple(a.tolist() for a in arrays)
        return lists

    # -- masks of states ---------------------------------------------------------------------

    def state_mask(self, state: State) -> np.ndarray:
        """uint32 words: the tokens allowed in ``state`` (stop tokens where it is complete)."""
        cached = self._masks.get(state)
        if cached is not None:
            with self._lock:
                if state in self._masks:
                    self._masks.move_to_end(state)
            return cached
        mask = self._compute_state_mask(state)
        mask.setflags(write=False)
        with self._lock:
            self._masks[state] = mask
            while len(self._masks) > self._cache_size:
                self._masks.popitem(last=False)
        return mask

    def _uncertain_allowed(self, node, fm: FrameMask) -> list[int]:
        """The uncertain tokens of ``node``'s frame that its stack allows (cached per node:
        interned nodes recur across states far more often than whole states do)."""
        cached = self._node_cache.get(node)
        if cached is not None:
            return cached
        allowed: list[int] = []
        below = self._below(node)
        if below is not None:
            runtime = self.runtime
            ids, data = self.index.ids, self.index.token_bytes
            readable = runtime.next_bytes(below)
            known: dict[bytes, bool] = {}
            starts = fm.offset_start.tolist()
            offsets = fm.offsets.tolist()
            for i, p in enumerate(fm.uncertain.tolist()):
                token_bytes = data[p]
                for k in offsets[starts[i] : starts[i + 1]]:
                    rest = token_bytes[k:]
                    ok = known.get(rest)
                    if ok is None:
                        ok = known[rest] = bool(readable >> rest[0] & 1) and (
                            runtime.advance_bytes(below, rest) is not None
                        )
                    if ok:
                        allowed.append(int(ids[p]))
                        break
        with self._lock:
            self._node_cache[node] = allowed
            if len(self._node_cache) > 4 * self._cache_size:
                self._node_cache.clear()
        return allowed

    def _below(self, node) -> State | None:
        """The state just after the rule of ``node``'s frame returns: its parents on top, closed
        (None if nothing below can read a byte)."""
        seeds: dict[int, set] = {}
        for parent in node[1]:
            if parent[0] >= 0:
                have = seeds.get(parent[0])
                if have is None:
                    seeds[parent[0]] = set(parent[1])
                else:
                    have |= parent[1]
        if not seeds:
            return None
        below = self.runtime._closure(seeds)
        return below if below is not None and below[0] else None

    def _compute_state_mask(self, state: State) -> np.ndarray:
        words = np.zeros(self.width, dtype=np.uint32)
        tops = state[0]
        frame_masks = [self.frame_mask(node[0]) for node in tops]
        for fm in frame_masks:
            if fm.accepted_count:
                words |= fm.accepted_bits
        for node, fm in zip(tops, frame_masks, strict=True):
            if fm.uncertain.size:
                for token in self._uncertain_allowed(node, fm):
                    words[token >> 5] |= np.uint32(1 << (token & 31))
        if state[1] and self.stop_ids.size:
            np.bitwise_or.at(
                words, self.stop_ids >> 5, (1 << (self.stop_ids & 31)).astype(np.uint32)
            )
        return words


_SHARED_LIMIT = 4096
_shared: OrderedDict[tuple[str, str], FrameMask] = OrderedDict()
_shared_lock = threading.Lock()


def _shared_get(key: tuple[str, str]) -> FrameMask | None:
    with _shared_lock:
        mask = _shared.get(key)
        if mask is not None:
            _shared.move_to_end(key)
        return mask


def _shared_put(key: tuple[str, str], mask: FrameMask) -> None:
    with _shared_lock:
        _shared[key] = mask
        while len(_shared) > _SHARED_LIMIT:
            _shared.popitem(last=False)


_BYTE_MASK_CACHE: dict[int, np.ndarray] = {}


def _byte_mask_array(mask: int) -> np.ndarray:
    """Boolean array over 0..255 for a byte bitmask int."""
    arr = _BYTE_MASK_CACHE.get(mask)
    if arr is None:
        arr = np.array([(mask >> b) & 1 for b in range(256)], dtype=bool)
        if len(_BYTE_MASK_CACHE) < 65536:
            _BYTE_MASK_CACHE[mask] = arr
    return arr


def _ids_to_bits(ids: np.ndarray, width: int) -> np.ndarray:
    allowed = np.zeros(width * 32, dtype=bool)
    allowed[ids] = True
    return np.packbits(allowed, bitorder="little").view("<u4").astype(np.uint32)


def _follow_sets(automaton: Automaton) -> dict[str, int]:
    """FOLLOW sets (as byte bitmasks) of every rule, by fixed-point iteration.

    ``first(x)``: bytes readable at frame ``x`` before its rule returns (its byte edges and the
    FIRST sets of its callees). FOLLOW of a rule called with return frame ``r``: ``first(r)``,
    plus the caller's rule's FOLLOW when ``r`` may return (or the call is a tail call).
    """
    rule_of = automaton.frame_rule
    starts = automaton.rule_start
    first_rule = {rule: 0 for rule in starts}
    follow = {rule: 0 for rule in starts}

    def first(frame: int) -> int:
        mask = automaton.next_bytes[frame]
        for callee, _ in automaton.calls[frame]:
            mask |= first_rule[rule_of[callee]]
        return mask

    changed = True
    while changed:
        changed = False
        for rule, start in starts.items():
            value = first(start)
            if value != first_rule[rule]:
                first_rule[rule] = value
                changed = True
    changed = True
    while changed:
        changed = False
        for frame, calls in enumerate(automaton.calls):
            for callee, ret in calls:
                rule = rule_of[callee]
                value = follow[rule]
                if ret >= 0:
                    value |= first(ret)
                if ret < 0 or automaton.accepting[ret]:
                    value |= follow[rule_of[frame]]
                if value != follow[rule]:
                    follow[rule] = value
                    changed = True
    return follow
