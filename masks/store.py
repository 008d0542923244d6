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
stays on frames without calls, which decides most tokens inside strings, numbers, literals and
free text at once: a token that survives is accepted, even if the rule could have returned on the
way. Tokens that reach a frame with calls, or die after passing a frame where the rule may
return (what follows the return decides them), go to a trie walk over the shared, memoised
runtime, which prunes dead subtrees early.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from grammarlib.automata import Automaton
from grammarlib.collector import collection_paused
from grammarlib.ir import mask_bytes
from grammarlib.runtime import BOTTOM, Runtime, State

from .bitmask import bitmask_width
from .bundle import pack, unpack
from .cache import cache_dir, load_arrays, save_arrays
from .loops import Entry, Loop, entry_table, find_entry, find_loop, loop_table
from .progress import Progress
from .vocab import VocabIndex

REJECT, ACCEPT, UNCERTAIN = 0, 1, 2
SAVE_MIN_SECONDS = 0.002
"""Classifications that took less than this (per frame) to compute are not written to disk."""


@dataclass(frozen=True, slots=True)
class FrameMask:
    """The classification of every grammar token for one frame."""

    accepted_bits: np.ndarray  # uint32 words over token ids
    accepted_count: int
    uncertain: np.ndarray  # int32 positions (into the VocabIndex), sorted per length tier
    # Uncertain token i is allowed if the stack below the frame's rule can read one of its
    # *rests* (what remains of the token where the rule can return):
    # rests[j] for j in rest_ids[rest_start[i]:rest_start[i + 1]].
    rest_start: np.ndarray  # int32 (len(uncertain) + 1,)
    rest_ids: np.ndarray  # int32
    rests: tuple[bytes, ...]


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
        bundle_name: Callable[[], str] | None = None,
        bundle_check: Callable[[], str] | None = None,
    ):
        """``bundle_name``: a hash naming the disk-cache bundle of the grammar's classifications
        (asked for when first needed; see :mod:`grammarlib.masks.bundle`): its content hash, or
        a cheaper hash of its source with the content hash as ``bundle_check``, which is
        stored in the bundle and checked when one is read (asked for only then and when the
        bundle is written)."""
        self.automaton = automaton
        self.runtime = runtime
        self.tokenizer_key = tokenizer_key
        self.index = index
        self.vocab_size = vocab_size
        self.width = bitmask_width(vocab_size)
        self.stop_ids = np.asarray(sorted(stop_token_ids), dtype=np.int64)
        # The automaton grows as it is explored, so the numpy view of it does too. Row r of
        # ``table`` is frame r - 1 (row 0 is the dead state, which only leads to itself); a row
        # is written when its frame is first needed (``filled``).
        self.dead = 0
        capacity = max(64, automaton.num_frames + 1)
        self.table = np.zeros((capacity, 256), dtype=np.int32)
        self.filled = np.zeros(capacity, dtype=bool)
        self.filled[0] = True
        self.no_calls = np.ones(capacity, dtype=bool)
        self.may_return = np.zeros(capacity, dtype=bool)
        tiers = _tiers(index)
        self._whole = len(tiers)  # the index of the pseudo-tier of all tokens
        self._tiers = [*tiers, (0, index.max_length)]
        self._frames: dict[int, FrameMask] = {}
        self._parts: dict[tuple[int, int], FrameMask] = {}
        self._keys: dict[tuple[int, int], tuple[str, str]] = {}
        self._masks: OrderedDict[State, np.ndarray] = OrderedDict()
        self._node_cache: dict = {}
        self._verdicts: dict[tuple[int, bytes], tuple[bool, tuple[int, ...]]] = {}
        self._returned: dict[int, State] = {}
        self._rest_tables: dict[tuple[int, int], tuple[np.ndarray, list]] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._bundle_name = bundle_name if tokenizer_key else None
        self._bundle_check = bundle_check
        self._bundle: dict[str, FrameMask] | None = None  # key text -> part; read on first use
        self._bundle_pending = False  # parts may have been found that the bundle lacks
        self._bundle_dirty = False  # the bundle read has parts that the file on disk lacks
        self._bundle_by_frame = False  # whether the bundle read has classifications by frame
        # The bundle's name is the grammar's content hash (milliseconds for a large grammar):
        # it is asked for only once the first mask is out, so time to first mask does not pay
        # it; parts found before then wait in _early_parts.
        self._bundle_deferred = True
        self._early_parts: dict[str, FrameMask] = {}
        self._unbundled_frames: list[int] = []  # narrow frames not yet in the bundle
        self._unsaved_parts: list[tuple[tuple[str, str], FrameMask]] = []  # files to write
        if self._bundle_name is not None:
            _LIVE_STORES.add(self)

    # -- per-frame classification ------------------------------------------------------------

    def frame_mask(self, frame: int) -> FrameMask:
        """The classification of ``frame``. A frame where few bytes can start, one inside a
        byte loop (string content) and one whose bytes mostly lead into a loop (a key being
        written) are classified whole (trie walk, loop table, entry table) and kept in the
        grammar's bundle by frame identity. Any other frame is the union of its parts, one per
        token length tier (see :data:`TIER_LIMITS`), each from memory, from a frame with the
        same signature (this process or the disk cache), or computed and then cached: short
        tokens only see the next few bytes, so their parts are shared by many frames (every
        position of a long bounded string that is far from its end)."""
        mask = self._frames.get(frame)
        if mask is not None:
            return mask
        if self.automaton.next_bytes[frame].bit_count() <= NARROW_BYTES:
            # Few bytes can start here: a walk over the token trie usually decides the tokens in
            # a few hundred steps; otherwise one numpy pass over the tokens that start with those
            # bytes (milliseconds at most). Neither is keyed by the frame's signature, which
            # hashes what the frame can reach (tens of ms for the first frames of a large
            # grammar); the classification goes into the grammar's bundle by frame identity.
            mask = self._by_frame(frame, lambda: self._narrow(frame))
        else:
            loop = find_loop(self.automaton, frame)
            entry = find_entry(self.automaton, frame) if loop is None else None
            if loop is not None:
                # String content and the like: the tokens that stay in the loop are known per
                # tokenizer and loop shape; only those leaving it are followed from here.
                mask = self._by_frame(frame, lambda: self._classify_loop(frame, loop))
            elif entry is not None:
                # A key being written and the like: most bytes lead into a loop, whose entry
                # table gives the tokens that stay inside after their first byte.
                mask = self._by_frame(frame, lambda: self._classify_entry(frame, entry))
            else:
                parts = [self._part(frame, tier) for tier in range(self._whole)]
                mask = parts[0] if len(parts) == 1 else _merge(parts)
        self._frames[frame] = mask
        return mask

    def _narrow(self, frame: int) -> FrameMask:
        """The classification of a frame where few bytes can start: by trie walk, or by the
        numpy pass where the walk would visit more than :data:`TRIE_BUDGET` nodes."""
        found = self._trie_pass(frame, TRIE_BUDGET)
        if found is not None:
            return self._finish(frame, *found)
        return self._part(frame, self._whole, keyed=False)

    def _part(self, frame: int, tier: int, *, keyed: bool = True) -> FrameMask:
        """The classification of the tokens of length tier ``tier`` from ``frame``: from
        memory, from the cache, or computed (one frame at a time: classifying the neighbours of
        a new frame ahead of need lowered the median step but raised the total and the p99).
        ``keyed=False``: computed without a cache key (cheaper than the frame's signature)."""
        part = self._parts.get((frame, tier))
        if part is not None:
            return part
        if keyed:
            part = self._cached(frame, tier)
            if part is not None:
                return part
        began = time.perf_counter()
        (part,) = self._classify_batch([frame], tier)
        key = self._key(frame, tier) if keyed else None
        if key is not None:
            # A file costs about half a millisecond to read back: parts cheaper than that to
            # compute get no file of their own (they go in the grammar's bundle). The others
            # are written with the bundle (save_bundle, or at exit), not while a mask waits.
            if time.perf_counter() - began >= SAVE_MIN_SECONDS:
                if self._bundle_name is None:
                    self._save(key, part)
                else:
                    with self._lock:
                        self._unsaved_parts.append((key, part))
                        self._bundle_pending = True
            _shared_put(key, part)
            self._add_to_bundle(key[1], part)
        self._parts[(frame, tier)] = part
        return self._parts[(frame, tier)]

    def _key(self, frame: int, tier: int) -> tuple[str, str] | None:
        """The cache key of ``frame``'s part for ``tier``: the tokenizer, the tier and the
        frame's signature as far as the tier's tokens can read."""
        if not self.tokenizer_key:
            return None
        key = self._keys.get((frame, tier))
        if key is None:
            # What lies further than the tier's longest token does not matter, so positions
            # deep inside a long bounded string share one classification. The FOLLOW set is
            # context from outside what the signature covers.
            low, high = self._tiers[tier]
            signature = self.automaton.signature(frame, high + 1)
            follow = self.follow_bytes(frame)
            text = f"{signature}-{follow:x}-{low}-{high}"
            key = self._keys[(frame, tier)] = (self.tokenizer_key, text)
        return key

    def _cached(self, frame: int, tier: int) -> FrameMask | None:
        """A part from this process or the disk cache, if there."""
        key = self._key(frame, tier)
        if key is None:
            return None
        part = _shared_get(key)
        if part is None:
            bundled = None if self._bundle_deferred else self._bundle_parts().get(key[1])
            part = bundled or self._load(key)
            if part is None:
                return None
            _shared_put(key, part)
        self._add_to_bundle(key[1], part)
        self._parts[(frame, tier)] = part
        return part

    # -- the grammar's bundle ----------------------------------------------------------------

    def _bundle_file(self) -> str:
        assert self._bundle_name is not None
        return f"bundles/{self.tokenizer_key}/{self._bundle_name()}.npz"

    def _bundle_parts(self) -> dict[str, FrameMask]:
        """The parts in this grammar's bundle (read from the disk cache on first use)."""
        if self._bundle is None:
            found: dict[str, FrameMask] = {}
            if self._bundle_name is not None and cache_dir() is not None:
                arrays = load_arrays(self._bundle_file())
                if arrays is not None and self._bundle_check is not None:
                    stored = arrays.get(_BUNDLE_GRAMMAR)
                    if stored is None or stored.tobytes() != self._bundle_check().encode():
                        arrays = None  # another grammar from the same source: not trusted
                if arrays is not None:
                    found = unpack(arrays, self.width, self.index.size, FrameMask)
            self._bundle_by_frame = any(text.startswith(_BY_FRAME) for text in found)
            for text, part in self._early_parts.items():
                if text not in found:
                    found[text] = part
                    self._bundle_dirty = True
            self._bundle = found
        return self._bundle

    def _bundled_frame(self, frame: int) -> FrameMask | None:
        """The classification of ``frame`` from the bundle, where it holds frames by identity
        (see :meth:`Automaton.identity`)."""
        if self._bundle_name is None or self._bundle_deferred:
            return None
        parts = self._bundle_parts()
        if not self._bundle_by_frame:
            return None
        return parts.get(_BY_FRAME + self.automaton.identity(frame))

    def _add_to_bundle(self, text: str, part: FrameMask) -> None:
        if self._bundle_name is None:
            return
        with self._lock:
            if self._bundle_deferred:
                self._early_parts[text] = part
                self._bundle_pending = True
                return
        parts = self._bundle_parts()
        if text not in parts:
            with self._lock:
                parts[text] = part
                self._bundle_dirty = self._bundle_pending = True

    def save_bundle(self) -> None:
        """Write the grammar's bundle (every part its matchers used) to the disk cache, if it
        gained parts since it was read or last written, and the files of its costly parts
        (shared with other grammars by signature); also done at exit."""
        with self._lock:
            if not self._bundle_pending or cache_dir() is None:
                return
            self._bundle_pending = False
            frames, self._unbundled_frames = self._unbundled_frames, []
            unsaved, self._unsaved_parts = self._unsaved_parts, []
        for key, part in unsaved:
            self._save(key, part)
        parts = self._bundle_parts()
        for frame in frames:  # (identities are computed here, not on the way)
            mask = self._frames.get(frame)
            text = _BY_FRAME + self.automaton.identity(frame)
            if mask is not None and text not in parts:
                parts[text] = mask
                self._bundle_dirty = True
        with self._lock:
            if not self._bundle_dirty:
                return
            items = list(parts.items())
            self._bundle_dirty = False
        arrays = pack(items, self.width)
        if self._bundle_check is not None:
            arrays[_BUNDLE_GRAMMAR] = np.frombuffer(self._bundle_check().encode(), dtype=np.uint8)
        save_arrays(self._bundle_file(), arrays)

    def _load(self, key: tuple[str, str]) -> FrameMask | None:
        """A part from its own file (the bundle format with one part, checked the same way)."""
        arrays = load_arrays(f"frames/{key[0]}/{key[1]}.npz")
        if arrays is None:
            return None
        return unpack(arrays, self.width, self.index.size, FrameMask).get(key[1])

    def _save(self, key: tuple[str, str], mask: FrameMask) -> None:
        save_arrays(f"frames/{key[0]}/{key[1]}.npz", pack([(key[1], mask)], self.width))

    def precompute(self) -> None:
        """Classify every frame that can be on top (has byte edges) now rather than lazily
        (this explores the whole automaton first)."""
        self.automaton.explore()
        frames = [f for f, row in enumerate(self.automaton.byte_next) if row]
        with Progress(len(frames), "classifying tokens per automaton state") as progress:
            for f in frames:
                self.frame_mask(f)
                progress.advance()

    def _classify(self, frame: int) -> FrameMask:
        """The classification of every token from ``frame`` (all tiers in one pass)."""
        return self._classify_batch([frame], None)[0]

    def _trie_pass(self, frame: int, budget: int) -> tuple[np.ndarray, np.ndarray] | None:
        """What the numpy pass finds for ``frame`` (the positions it accepts, those it leaves
        to the runtime walk), found by walking the token trie along the automaton's byte edges
        instead: the walk only visits prefixes the frame can read, so a frame where few tokens
        get far (a key, a literal, punctuation) costs a few dozen steps, not a pass over every
        candidate token at every byte offset. None once more than ``budget`` trie nodes were
        visited (the numpy pass is then the cheaper one)."""
        automaton = self.automaton
        lo, hi, token_end, child_start, child_byte, child_node, _ = self.index.trie_lists
        byte_next, next_bytes, calls, accepting, expand = (
            automaton.byte_next,
            automaton.next_bytes,
            automaton.calls,
            automaton.accepting,
            automaton.expand,
        )
        accepted: list[tuple[int, int]] = []  # position ranges
        to_walk: list[tuple[int, int]] = []
        expand(frame)
        # (trie node, frame after its bytes, whether a frame passed after the first byte may
        # return: then a token that dies later is decided by what follows the return)
        stack = [(0, frame, False)]
        visited = 0
        while stack:
            node, at, returned = stack.pop()
            row = byte_next[at]
            first, last = child_start[node], child_start[node + 1]
            if returned or 4 * len(row) >= last - first:  # type: ignore[arg-type]
                children: Iterable[int] = range(first, last)
            else:  # few readable bytes among many children: look those up (children by byte)
                children = _children_with_bytes(next_bytes[at], child_byte, first, last)
            for k in children:
                child = child_node[k]
                target = row.get(child_byte[k])  # type: ignore[union-attr]
                if target is None:
                    if returned:
                        to_walk.append((lo[child], hi[child]))
                    continue
                visited += 1
                if visited > budget:
                    return None
                branches = calls[target]
                if branches is None:
                    branches = expand(target)
                end = token_end[child]
                if end >= 0:
                    accepted.append((lo[child], end))
                if branches:  # the token reaches a call: the runtime walk decides the rest
                    rest = end if end >= 0 else lo[child]
                    if hi[child] > rest:
                        to_walk.append((rest, hi[child]))
                elif hi[child] > (end if end >= 0 else lo[child]):
                    stack.append((child, target, returned or accepting[target]))
        return _positions(accepted), _positions(to_walk)

    def _classify_batch(self, frames: list[int], tier: int | None) -> list[FrameMask]:
        """Classify the tokens of ``tier`` (None: all) from several frames at once: the numpy
        simulation runs over (frame, token) pairs, so its per-call overhead is shared; the trie
        walks stay per frame."""
        index = self.index
        n = len(frames)
        accepted: list[tuple[np.ndarray, np.ndarray]] = []  # (which frame, position) pairs
        to_walk: list[tuple[np.ndarray, np.ndarray]] = []
        starts = np.asarray(frames, dtype=np.int32) + 1
        self._prepare(starts)
        next_bytes = [self.automaton.next_bytes[f] for f in frames]
        narrow = all(b.bit_count() <= NARROW_BYTES for b in next_bytes)
        loop_words = None
        if not narrow:  # first filter: the first byte must be one the frame can consume
            first_ok = np.stack([_byte_mask_array(b) for b in next_bytes])
            if n == 1 and self.no_calls[starts[0]]:
                loop_words = _loop_words(self.table[starts[0]] == starts[0])
        # All tokens (a classification of its own, or the narrow frames' single part) go in one
        # pass over the whole vocabulary; otherwise one tier.
        whole = tier is None or tier == self._whole
        for low, high in [(0, index.max_length)] if whole else [self._tiers[tier]]:
            tier_arrays = index.tier_arrays(low, high)
            positions, _, matrix, byte_start = tier_arrays
            if narrow:
                # Rows are sorted by first byte: take the ranges of the allowed bytes only.
                spans = [
                    (k, byte_start[b], byte_start[b + 1])
                    for k, mask in enumerate(next_bytes)
                    for b in mask_bytes(mask)
                    if byte_start[b + 1] > byte_start[b]
                ]
                if not spans:
                    continue
                rows = np.concatenate([np.arange(lo, hi) for _, lo, hi in spans])
                which = np.repeat([k for k, _, _ in spans], [hi - lo for _, lo, hi in spans])
            else:
                which, rows = np.nonzero(first_ok[:, matrix[:, 0]])
                if n == 1 and loop_words is not None:
                    # Tokens made only of bytes the frame reads without moving (string
                    # content, digits of an unbounded number) stay in it: accepted at once.
                    used = index.byte_words[positions[rows]]
                    inside = ~(used & ~loop_words).any(axis=1)
                    accepted.append((which[inside], positions[rows[inside]]))
                    keep = ~inside
                    which, rows = which[keep], rows[keep]
            if rows.size == 0:
                continue
            # Tokens of several lengths go together (padded), so the loop runs once per byte
            # offset of the tier, not once per length: long tiers hold few tokens.
            done, walk = self._follow(
                rows, np.zeros(rows.size, dtype=np.int32), starts[which], tier_arrays, which
            )
            accepted.extend(done)
            to_walk.extend(walk)
        accepted_which, accepted_at = _pairs(accepted)
        walk_which, walk_at = _pairs(to_walk)
        out = []
        for k, f in enumerate(frames):
            own = accepted_at[accepted_which == k] if n > 1 else accepted_at
            walk = walk_at[walk_which == k] if n > 1 else walk_at
            out.append(self._finish(f, own, walk))
        return out

    def _by_frame(self, frame: int, classify: Callable[[], FrameMask]) -> FrameMask:
        """The classification of ``frame`` from the grammar's bundle, or by ``classify`` (then
        added to the bundle by frame identity when it is written)."""
        mask = self._bundled_frame(frame)
        if mask is None:
            mask = classify()
            if self._bundle_name is not None:
                with self._lock:
                    self._unbundled_frames.append(frame)
                    self._bundle_pending = True
        return mask

    def _classify_loop(self, frame: int, loop: Loop) -> FrameMask:
        """The classification of ``frame``, whose loop is ``loop``: the tokens that stay in the
        loop (from its table) are accepted; those that leave it are followed from where they
        leave, as in the numpy pass of :meth:`_classify_batch`."""
        table = loop_table(self.index, loop, self.width)
        sources = np.asarray(loop.frames, dtype=np.int32)[table.exit_states] + 1
        accepted, to_walk = self._follow_one(table.exit_rows, table.exit_offsets, sources)
        return self._finish(frame, accepted, to_walk, (table.stay_bits, table.stay_count))

    def _classify_entry(self, frame: int, entry: Entry) -> FrameMask:
        """The classification of ``frame``, most of whose bytes lead into ``entry.loop``: the
        tokens that start with one of those bytes and stay in the loop after it (from the
        loop's entry table) are accepted, those that leave it are followed from where they
        leave, and the tokens that start with another byte are followed from the start, as in
        the numpy pass of :meth:`_classify_batch`."""
        table = entry_table(self.index, entry.loop)
        positions, _, matrix, _ = self.index.tier_arrays(0, self.index.max_length)
        into = _byte_mask_array(entry.bytes_mask)
        first = matrix[:, 0]
        stay_rows = table.stay_rows[into[first[table.stay_rows]]]
        leaving = into[first[table.exit_rows]]
        frames = np.asarray(entry.loop.frames, dtype=np.int32)
        accepted, to_walk = self._follow_one(
            table.exit_rows[leaving],
            table.exit_offsets[leaving],
            frames[table.exit_states[leaving]] + 1,
        )
        others = np.flatnonzero(
            _byte_mask_array(self.automaton.next_bytes[frame] & ~entry.bytes_mask)[first]
        )
        more_accepted, more_walk = self._follow_one(
            others,
            np.zeros(others.size, dtype=np.int32),
            np.full(others.size, frame + 1, dtype=np.int32),
        )
        return self._finish(
            frame,
            np.concatenate([positions[stay_rows], accepted, more_accepted]),
            np.concatenate([to_walk, more_walk]),
        )

    def _follow(
        self,
        rows: np.ndarray,
        offsets: np.ndarray,
        sources: np.ndarray,
        tier_arrays: tuple[np.ndarray, ...],
        which: np.ndarray,
    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]:
        """The numpy simulation: the tokens at ``rows`` of a tier (its ``tier_arrays``), each
        read from byte ``offsets`` on, from table row ``sources`` (a frame + 1), each for the
        frame ``which`` says (an index into the caller's frames). Returns (which, position)
        chunks of the tokens accepted and of those left to the trie walk: a token that dies
        after its frame's rule may have returned, or that reaches a call, is the walk's."""
        positions, lengths, matrix, _ = tier_arrays
        self._prepare(sources)
        states = self.table[sources, matrix[rows, offsets]]
        returned = np.zeros(rows.size, dtype=bool)  # passed a frame whose rule may return
        accepted: list[tuple[np.ndarray, np.ndarray]] = []
        to_walk: list[tuple[np.ndarray, np.ndarray]] = []
        dead = self.dead
        while rows.size:
            self._prepare(states)
            alive = states != dead
            died = ~alive & returned
            if died.any():  # the rule may have returned before: the walk decides
                to_walk.append((which[died], positions[rows[died]]))
            last = lengths[rows] == offsets + 1
            done = alive & last
            if done.any():
                accepted.append((which[done], positions[rows[done]]))
            branch = alive & ~last & ~self.no_calls[states]
            if branch.any():
                to_walk.append((which[branch], positions[rows[branch]]))
            keep = alive & ~last & ~branch
            returned = (returned | self.may_return[states])[keep]
            rows, states, offsets, which = rows[keep], states[keep], offsets[keep] + 1, which[keep]
            if rows.size:
                states = self.table[states, matrix[rows, offsets]]
        return accepted, to_walk

    def _follow_one(
        self, rows: np.ndarray, offsets: np.ndarray, sources: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_follow` for one frame over the whole-length tier: the positions accepted
        and those left to the walk."""
        tier_arrays = self.index.tier_arrays(0, self.index.max_length)
        which = np.zeros(rows.size, dtype=np.int32)
        accepted, to_walk = self._follow(rows, offsets, sources, tier_arrays, which)
        return _pairs(accepted)[1], _pairs(to_walk)[1]

    def _prepare(self, rows: np.ndarray) -> None:
        """Write the table rows of the frames in ``rows`` (frame + 1) that are still missing,
        expanding those frames in the automaton (which may create new frames)."""
        self._grow(self.automaton.num_frames + 1)  # frames may have appeared since
        missing = rows[~self.filled[rows]]
        if missing.size == 0:
            return
        automaton = self.automaton
        with self._lock:
            for row in np.unique(missing).tolist():
                if self.filled[row]:
                    continue
                frame = row - 1
                calls = automaton.expand(frame)
                targets = automaton.byte_next[frame]
                assert targets is not None
                self._grow(automaton.num_frames + 1)
                if targets:
                    self.table[row, list(targets.keys())] = [t + 1 for t in targets.values()]
                self.no_calls[row] = not calls
                self.may_return[row] = automaton.accepting[frame]
                self.filled[row] = True

    def _grow(self, rows: int) -> None:
        capacity = self.table.shape[0]
        if rows <= capacity:
            return
        while capacity < rows:
            capacity *= 2
        extra = capacity - self.table.shape[0]
        self.table = np.concatenate([self.table, np.zeros((extra, 256), dtype=np.int32)])
        self.filled = np.concatenate([self.filled, np.zeros(extra, dtype=bool)])
        self.no_calls = np.concatenate([self.no_calls, np.ones(extra, dtype=bool)])
        self.may_return = np.concatenate([self.may_return, np.zeros(extra, dtype=bool)])

    def _finish(
        self,
        frame: int,
        accepted_at: np.ndarray,
        walk_at: np.ndarray,
        also_accepted: tuple[np.ndarray, int] | None = None,
    ) -> FrameMask:
        """The frame's classification once the numpy pass has run (the positions it accepted
        and those it left to the walk): walk the branching tokens. ``also_accepted``: more
        accepted tokens (packed bits, count), none of them among those positions."""
        index = self.index
        if walk_at.size == 0:
            accepted_ids = index.ids[accepted_at]
            return FrameMask(
                accepted_bits=_ids_to_bits(accepted_ids, self.width, also_accepted),
                accepted_count=int(accepted_ids.size) + (also_accepted or _NONE)[1],
                uncertain=_NO_POSITIONS,
                rest_start=_ZERO_START,
                rest_ids=_NO_POSITIONS,
                rests=(),
            )
        classes = np.full(index.size, REJECT, dtype=np.int8)
        classes[accepted_at] = ACCEPT
        needs_walk = np.zeros(index.size, dtype=bool)
        needs_walk[walk_at] = True
        returns: dict[int, tuple[int, ...]] = {}
        self._walk(frame, classes, needs_walk, returns)
        accepted_ids = index.ids[classes == ACCEPT]
        uncertain = np.flatnonzero(classes == UNCERTAIN).astype(np.int32)
        rest_index: dict[bytes, int] = {}
        rest_ids: list[int] = []
        rest_start = np.zeros(uncertain.size + 1, dtype=np.int32)
        for i, p in enumerate(uncertain.tolist()):
            data = index.token_bytes[p]
            for k in returns[p]:
                rest_ids.append(rest_index.setdefault(data[k:], len(rest_index)))
            rest_start[i + 1] = len(rest_ids)
        return FrameMask(
            accepted_bits=_ids_to_bits(accepted_ids, self.width, also_accepted),
            accepted_count=int(accepted_ids.size) + (also_accepted or _NONE)[1],
            uncertain=uncertain,
            rest_start=rest_start,
            rest_ids=np.asarray(rest_ids, dtype=np.int32),
            rests=tuple(rest_index),
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
        runtime = self.runtime
        # The positions to walk, sorted: a subtree is entered only if it holds one of them.
        walk_list = np.flatnonzero(needs_walk).tolist()
        walk_count = len(walk_list)
        lo, hi, token_end, child_start, child_byte, child_node, depth = self.index.trie_lists
        next_bytes = runtime.next_bytes
        start: State = (((frame, frozenset((BOTTOM,))),), False)
        follow = self.follow_bytes(frame)
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
            first, last = child_start[node], child_start[node + 1]
            # Without a return on the way, only children whose byte is readable here (or after
            # a return, by a caller) matter: look those up by byte when they are few.
            wanted = allowed | follow if returned else allowed
            if below or 4 * wanted.bit_count() >= last - first:
                children: Iterable[int] = range(first, last)
            else:
                children = _children_with_bytes(wanted, child_byte, first, last)
            for k in children:
                child = child_node[k]
                c_lo = lo[child]
                i = bisect_left(walk_list, c_lo)
                if i == walk_count or walk_list[i] >= hi[child]:
                    continue  # nothing to walk below
                byte = child_byte[k]
                child_below = (*below, depth[node]) if returned and follow >> byte & 1 else below
                if allowed >> byte & 1:
                    stack.append((child, runtime.advance(state, byte), child_below))
                elif child_below:
                    span = slice(c_lo, hi[child])
                    todo = needs_walk[span] & (classes[span] != ACCEPT)
                    classes[span][todo] = UNCERTAIN
                    for p in (np.flatnonzero(todo) + c_lo).tolist():
                        returns[p] = child_below

    def follow_bytes(self, frame: int) -> int:
        """Bitmask of the bytes that can come right after ``frame``'s rule returns, at any of
        its call sites (context expansion: a token that needs anything else there is rejected
        without looking at the stack)."""
        return self.automaton.follow_bytes(self.automaton.frame_rule[frame])

    # -- masks of states ---------------------------------------------------------------------

    def state_mask(self, state: State) -> np.ndarray:
        """uint32 words: the tokens allowed in ``state`` (stop tokens where it is complete)."""
        cached = self._masks.get(state)
        if cached is not None:
            with self._lock:
                if state in self._masks:
                    self._masks.move_to_end(state)
            return cached
        with collection_paused():  # see grammarlib.collector: first visits make many objects
            mask = self._compute_state_mask(state)
        self._bundle_deferred = False  # (the first mask is out: see __init__)
        mask.setflags(write=False)
        with self._lock:
            self._masks[state] = mask
            while len(self._masks) > self._cache_size:
                self._masks.popitem(last=False)
        return mask

    def _uncertain_allowed(self, node, fm: FrameMask) -> np.ndarray:
        """Ids of the uncertain tokens of ``node``'s frame that its stack allows.

        A token is allowed if a parent of ``node`` can read one of its rests (see
        :meth:`_readable`). Cached per node: interned nodes recur across states far more often
        than whole states do.
        """
        cached = self._node_cache.get(node)
        if cached is not None:
            return cached
        ok = np.zeros(len(fm.rests), dtype=bool)
        rests = fm.rests
        for parent in node[1]:
            if parent[0] < 0:  # the bottom of the stack: nothing more can be read
                continue
            accepted, deeper = self._rest_verdicts(parent[0], node[0], fm)
            ok |= accepted
            for j, returns in deeper:
                if not ok[j] and any(self._readable(parent[1], rests[j][k:]) for k in returns):
                    ok[j] = True
        allowed = _NO_IDS
        if ok.any():
            token_ok = np.logical_or.reduceat(ok[fm.rest_ids], fm.rest_start[:-1])
            allowed = self.index.ids[fm.uncertain[token_ok]].astype(np.int64)
        with self._lock:
            self._node_cache[node] = allowed
            if len(self._node_cache) > 4 * self._cache_size:
                self._node_cache.clear()
        return allowed

    def _rest_verdicts(
        self, parent_frame: int, frame: int, fm: FrameMask
    ) -> tuple[np.ndarray, list[tuple[int, tuple[int, ...]]]]:
        """For each rest of ``frame``: read entirely with ``parent_frame`` on top (a bool array),
        and the rests that need the stack below ``parent_frame`` (index, return offsets)."""
        key = (parent_frame, frame)
        cached = self._rest_tables.get(key)
        if cached is None:
            accepted = np.zeros(len(fm.rests), dtype=bool)
            deeper = []
            for j, rest in enumerate(fm.rests):
                ok, returns = self._verdict(parent_frame, rest)
                if ok:
                    accepted[j] = True
                elif returns:
                    deeper.append((j, returns))
            cached = self._rest_tables[key] = (accepted, deeper)
        return cached

    def _readable(self, parents: frozenset, rest: bytes) -> bool:
        """Whether the stacks ``parents`` (nodes below a returning rule) can read ``rest``.

        Each parent frame's verdict on ``rest`` is computed once and shared (see
        :meth:`_verdict`); only where the parent's own rule may return inside ``rest`` does the
        search go one level further down, with what is left. The stacks form a DAG with shared
        parts, so the search visits each (node, remaining bytes) pair once: polynomial even for
        highly ambiguous grammars, and iterative, so deep stacks are fine.
        """
        work = [(parent, rest) for parent in parents]
        seen: set[tuple] = set()
        while work:
            item = work.pop()
            parent, left = item
            if parent[0] < 0 or item in seen:  # the bottom of the stack reads nothing
                continue
            seen.add(item)
            accepted, returns = self._verdict(parent[0], left)
            if accepted:
                return True
            for k in returns:
                rest_k = left[k:]
                work.extend((grandparent, rest_k) for grandparent in parent[1])
        return False

    def _verdict(self, frame: int, rest: bytes) -> tuple[bool, tuple[int, ...]]:
        """How a stack with ``frame`` on top (just returned to) reads ``rest``, without knowing
        what is below ``frame``: (read entirely by ``frame``'s rule and what it calls, the
        offsets at which ``frame``'s rule can return with bytes of ``rest`` still to read)."""
        key = (frame, rest)
        verdict = self._verdicts.get(key)
        if verdict is None:
            runtime = self.runtime
            state = self._returned_to(frame)
            returns = []
            for i, byte in enumerate(rest):
                if state[1]:
                    returns.append(i)
                state = runtime.advance(state, byte)
                if state is None:
                    break
            verdict = (state is not None, tuple(returns))
            with self._lock:
                if len(self._verdicts) > 64 * self._cache_size:
                    self._verdicts.clear()
                self._verdicts[key] = verdict
        return verdict

    def _returned_to(self, frame: int) -> State:
        """The state just after a callee returned to ``frame``, with an unknown stack below
        (the bottom marker stands for it: reaching it means ``frame``'s rule returned)."""
        state = self._returned.get(frame)
        if state is None:
            state = self.runtime._closure({frame: {BOTTOM}})
            assert state is not None, "return frames are co-reachable after trimming"
            self._returned[frame] = state
        return state

    def _compute_state_mask(self, state: State) -> np.ndarray:
        words = np.zeros(self.width, dtype=np.uint32)
        tops = state[0]
        frame_masks = [self.frame_mask(node[0]) for node in tops]
        for fm in frame_masks:
            if fm.accepted_count:
                words |= fm.accepted_bits
        for node, fm in zip(tops, frame_masks, strict=True):
            if fm.uncertain.size:
                ids = self._uncertain_allowed(node, fm)
                if ids.size:
                    np.bitwise_or.at(words, ids >> 5, (1 << (ids & 31)).astype(np.uint32))
        if state[1] and self.stop_ids.size:
            np.bitwise_or.at(
                words, self.stop_ids >> 5, (1 << (self.stop_ids & 31)).astype(np.uint32)
            )
        return words


_BUNDLE_GRAMMAR = "grammar"  # the array holding a bundle's grammar fingerprint (bundle_check)
_BY_FRAME = "frame:"  # bundle keys of classifications by frame identity (not by signature)
_NO_IDS = np.zeros(0, dtype=np.int64)
_NO_POSITIONS = np.zeros(0, dtype=np.int32)
_ZERO_START = np.zeros(1, dtype=np.int32)
_NONE = (None, 0)  # no more accepted tokens (see MaskStore._finish)
_NO_PAIRS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
TRIE_BUDGET = 400
"""Trie nodes a classification by trie walk may visit before the numpy pass takes over."""

NARROW_BYTES = 24
"""Frames that can read at most this many distinct first bytes take the tokens that start with
them from the tiers' first-byte ranges instead of filtering the whole vocabulary."""


def _pairs(chunks: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if not chunks:
        return _NO_PAIRS
    if len(chunks) == 1:
        return chunks[0]
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


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


def _ids_to_bits(
    ids: np.ndarray, width: int, also: tuple[np.ndarray, int] | None = None
) -> np.ndarray:
    """Packed bits of the token ``ids``, or'ed with the bits of ``also`` (bits, count)."""
    allowed = np.zeros(width * 32, dtype=bool)
    allowed[ids] = True
    bits = np.packbits(allowed, bitorder="little").view("<u4").astype(np.uint32)
    if also is not None:
        bits |= also[0]
    return bits


TIER_LIMITS = (4, 8, 16, 32)
"""Token length tiers (bytes): tokens up to 4 bytes, 5 to 8, 9 to 16, 17 to 32, and longer
ones are classified (and cached) separately, each part keyed by what its tokens can read."""


def _tiers(index: VocabIndex) -> list[tuple[int, int]]:
    """The (shortest, longest) token length of each tier that has tokens."""
    bounds = [b for b in TIER_LIMITS if b < index.max_length] + [index.max_length]
    lengths = {length for length, _, _ in index.buckets}
    tiers = []
    low = 0
    for high in bounds:
        if any(low <= n <= high for n in lengths):
            tiers.append((low, high))
        low = high + 1
    return tiers or [(0, index.max_length)]


def _merge(parts: list[FrameMask]) -> FrameMask:
    """One classification from the parts of disjoint token sets."""
    bits = parts[0].accepted_bits.copy()
    for part in parts[1:]:
        bits |= part.accepted_bits
    rest_starts = [parts[0].rest_start]
    rest_ids = []
    offset_ids = 0
    offset_rests = 0
    for part in parts:
        if part is not parts[0]:
            rest_starts.append(part.rest_start[1:] + offset_ids)
        rest_ids.append(part.rest_ids + offset_rests)
        offset_ids += part.rest_ids.size
        offset_rests += len(part.rests)
    return FrameMask(
        accepted_bits=bits,
        accepted_count=sum(p.accepted_count for p in parts),
        uncertain=np.concatenate([p.uncertain for p in parts]).astype(np.int32),
        rest_start=np.concatenate(rest_starts).astype(np.int32),
        rest_ids=np.concatenate(rest_ids).astype(np.int32),
        rests=tuple(r for p in parts for r in p.rests),
    )


def _children_with_bytes(
    bytes_mask: int, child_byte: list[int], first: int, last: int
) -> list[int]:
    """The indices in ``first:last`` (one trie node's children, by increasing byte) whose byte
    is set in ``bytes_mask``, found by binary search, in increasing order."""
    found = []
    for byte in mask_bytes(bytes_mask):
        k = bisect_left(child_byte, byte, first, last)
        if k < last and child_byte[k] == byte:
            found.append(k)
    return found


def _positions(ranges: list[tuple[int, int]]) -> np.ndarray:
    """The positions of ``[start, end)`` ranges, as one int32 array."""
    if not ranges:
        return _NO_POSITIONS
    return np.concatenate([np.arange(a, b, dtype=np.int32) for a, b in ranges])


def _loop_words(loops: np.ndarray) -> np.ndarray | None:
    """The bytes marked in a bool vector of 256, as four uint64 words (see
    ``VocabIndex.byte_words``); None when there are none."""
    if not loops.any():
        return None
    bits = np.packbits(loops, bitorder="little")  # 32 bytes: byte b is bit b % 8 of b // 8
    return bits.view("<u8").astype(np.uint64)


_LIVE_STORES: weakref.WeakSet[MaskStore] = weakref.WeakSet()


@atexit.register
def _save_bundles() -> None:
    """Write the bundles of the stores still alive at exit (see :meth:`MaskStore.save_bundle`)."""
    for store in list(_LIVE_STORES):
        store.save_bundle()
