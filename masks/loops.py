"""Byte loops of frames (string content, free text): which tokens stay inside, per tokenizer.

The content of a JSON string is the same small automaton in every grammar: one frame that
reads most bytes and stays put, a few frames between the bytes of a UTF-8 character or an
escape, and a way out (the closing quote) into whatever comes after the string. A frame's
*loop* is that part: the call-free, non-returning frames that the frame reaches within a few
bytes and that lead back to it. Which tokens stay inside the loop (never take a way out and
never die) depends only on the loop's transitions, not on what comes after it, so it is
computed once per tokenizer and loop shape (:func:`loop_table`) and shared by every frame and
grammar with that loop; per frame, only the tokens that leave it are followed further.

A frame whose bytes mostly lead *into* a loop (a key being written, where a few bytes still
spell known property names and every other byte goes on as a free string) uses the loop's
*entry table* (:func:`entry_table`): the tokens whose bytes after the first stay in the loop.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grammarlib.automata import Automaton

from .vocab import VocabIndex

EXIT, DEAD = -1, -2
"""Entries of a loop's transition table that are not loop states: a way out, no way at all."""

MAX_DEPTH = 4
"""Bytes from the frame within which the loop's frames must lie (a UTF-8 character's)."""
MAX_FRAMES = 64
"""Frames looked at around a frame when finding its loop."""
MIN_LOOP_BYTES = 64
"""Bytes the frame must read without moving for its loop to be worth a table of its own."""
TABLES_KEPT = 32
"""Loop tables kept per tokenizer (each holds a bitmask of the vocabulary and its exits)."""


@dataclass(frozen=True)
class Loop:
    """A frame's loop: its frames (the frame first) and transitions between them (``table``,
    int16 (frames, 256): the next loop state, :data:`EXIT` or :data:`DEAD`), and the content
    hash of ``table`` (``key``)."""

    frames: tuple[int, ...]
    table: np.ndarray
    key: str


@dataclass(frozen=True)
class LoopTable:
    """For one tokenizer and loop shape: the tokens that stay in the loop from its first state
    (packed bits over token ids, and how many), and those that leave it: their rows in the
    vocabulary's whole-length tier, the offset of the byte that leaves and the loop state it
    leaves from. Tokens that die inside the loop are in neither."""

    stay_bits: np.ndarray
    stay_count: int
    exit_rows: np.ndarray
    exit_offsets: np.ndarray
    exit_states: np.ndarray


@dataclass(frozen=True)
class EntryTable:
    """For one tokenizer and loop shape: the tokens whose bytes after the first stay in the
    loop from its first state (``stay_rows``: rows of the vocabulary's whole-length tier,
    one-byte tokens included), and those that leave it, as in :class:`LoopTable` (offsets of
    at least 1)."""

    stay_rows: np.ndarray
    exit_rows: np.ndarray
    exit_offsets: np.ndarray
    exit_states: np.ndarray


@dataclass(frozen=True)
class Entry:
    """Where most bytes of a frame lead: into ``loop`` (its first frame), on the bytes set in
    ``bytes_mask``."""

    loop: Loop
    bytes_mask: int


def find_entry(automaton: Automaton, frame: int) -> Entry | None:
    """The loop that at least :data:`MIN_LOOP_BYTES` bytes of ``frame`` lead into (all to its
    first frame), or None."""
    row = automaton.byte_next[frame]
    if row is None or len(row) < MIN_LOOP_BYTES:
        return None
    counts: dict[int, int] = {}
    for target in row.values():
        counts[target] = counts.get(target, 0) + 1
    target, count = max(counts.items(), key=lambda item: (item[1], -item[0]))
    if count < MIN_LOOP_BYTES or target == frame:
        return None
    loop = find_loop(automaton, target)
    if loop is None:
        return None
    mask = 0
    for byte, to in row.items():
        if to == target:
            mask |= 1 << byte
    return Entry(loop, mask)


def find_loop(automaton: Automaton, frame: int) -> Loop | None:
    """The loop of ``frame`` (see the module doc), or None where it has none worth a table:
    it must read at least :data:`MIN_LOOP_BYTES` bytes without moving, and none of the loop's
    frames may call a rule or return (so a token that stays inside is simply accepted)."""
    expand = automaton.expand
    if expand(frame) or automaton.accepting[frame]:
        return None
    byte_next = automaton.byte_next
    row = byte_next[frame]
    assert row is not None
    if sum(1 for target in row.values() if target == frame) < MIN_LOOP_BYTES:
        return None
    # Frames within MAX_DEPTH bytes (breadth first), then those of them that lead back.
    depth = {frame: 0}
    order = [frame]
    for current in order:
        if depth[current] == MAX_DEPTH or len(order) >= MAX_FRAMES:
            break
        if current != frame and (expand(current) or automaton.accepting[current]):
            continue  # not a loop frame: not followed
        # (in byte order, so that the loop's states are numbered the same in every grammar)
        for _, target in sorted(byte_next[current].items()):  # type: ignore[union-attr]
            if target not in depth:
                depth[target] = depth[current] + 1
                order.append(target)
    back = {frame}
    changed = True
    while changed:
        changed = False
        for current in order:
            if current in back or automaton.calls[current] or automaton.accepting[current]:
                continue
            targets = byte_next[current]
            if targets is not None and any(t in back for t in targets.values()):
                back.add(current)
                changed = True
    frames = tuple(f for f in order if f in back)
    local = {f: i for i, f in enumerate(frames)}
    table = np.full((len(frames), 256), DEAD, dtype=np.int16)
    for i, f in enumerate(frames):
        for byte, target in byte_next[f].items():  # type: ignore[union-attr]
            table[i, byte] = local.get(target, EXIT)
    key = hashlib.blake2b(table.tobytes(), digest_size=16).hexdigest()
    return Loop(frames, table, key)


_TABLES: weakref.WeakKeyDictionary[VocabIndex, OrderedDict[str, LoopTable | EntryTable]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def loop_table(index: VocabIndex, loop: Loop, width: int) -> LoopTable:
    """The :class:`LoopTable` of ``loop`` for the vocabulary of ``index`` (``width``: words of
    a packed bitmask), computed on first use and kept per tokenizer."""
    return _kept(index, loop.key, lambda: _compute(index, loop.table, width))  # type: ignore[return-value]


def entry_table(index: VocabIndex, loop: Loop) -> EntryTable:
    """The :class:`EntryTable` of ``loop`` for the vocabulary of ``index``, computed on first
    use and kept per tokenizer."""
    return _kept(index, "entry:" + loop.key, lambda: _compute_entry(index, loop.table))  # type: ignore[return-value]


def _kept(
    index: VocabIndex, key: str, compute: Callable[[], LoopTable | EntryTable]
) -> LoopTable | EntryTable:
    """The table of ``index`` under ``key``, computed by ``compute`` on first use (the last
    :data:`TABLES_KEPT` used are kept per tokenizer)."""
    with _LOCK:
        tables = _TABLES.setdefault(index, OrderedDict())
        found = tables.get(key)
        if found is not None:
            tables.move_to_end(key)
            return found
    found = compute()
    with _LOCK:
        tables[key] = found
        while len(tables) > TABLES_KEPT:
            tables.popitem(last=False)
    return found


def _compute_entry(index: VocabIndex, table: np.ndarray) -> EntryTable:
    _, lengths, matrix, _ = index.tier_arrays(0, index.max_length)
    rows = np.arange(lengths.size)
    single = lengths == 1  # (nothing after the first byte: they stay)
    stay, exits = _run(table, rows[~single], 1, lengths, matrix)
    return EntryTable(np.sort(np.concatenate([rows[single], *stay])), *exits)


def _run(
    table: np.ndarray, rows: np.ndarray, start: int, lengths: np.ndarray, matrix: np.ndarray
) -> tuple[list[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Run the tokens at ``rows`` (of the whole-length tier) through the loop's ``table`` from
    its first state, reading from byte ``start`` on: the rows that end inside the loop, and
    the rows, byte offsets and loop states where the others leave it."""
    states = np.zeros(rows.size, dtype=np.int16)
    stay: list[np.ndarray] = []
    exit_rows, exit_offsets, exit_states = [], [], []
    for i in range(start, matrix.shape[1]):
        if rows.size == 0:
            break
        after = table[states, matrix[rows, i]]
        leaving = after == EXIT
        if leaving.any():
            exit_rows.append(rows[leaving])
            exit_offsets.append(np.full(int(leaving.sum()), i, dtype=np.int32))
            exit_states.append(states[leaving])
        last = lengths[rows] == i + 1
        alive = after >= 0
        stay.append(rows[alive & last])
        keep = alive & ~last
        rows, states = rows[keep], after[keep]
    exits = (
        _joined(exit_rows, np.int64),
        _joined(exit_offsets, np.int32),
        _joined(exit_states, np.int32),
    )
    return stay, exits


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


def _compute(index: VocabIndex, table: np.ndarray, width: int) -> LoopTable:
    positions, lengths, matrix, _ = index.tier_arrays(0, index.max_length)
    rows = np.arange(positions.size)
    # Tokens made only of bytes that the first state reads without moving stay at once.
    still = table[0] == 0
    used = index.byte_words[positions]
    words = np.packbits(still, bitorder="little").view("<u8").astype(np.uint64)
    inside = ~(used & ~words).any(axis=1)
    stay_rows, exits = _run(table, rows[~inside], 0, lengths, matrix)
    stay = [positions[inside], *(positions[r] for r in stay_rows)]
    stayed = np.concatenate(stay)
    ids = index.ids[stayed].astype(np.int64)
    bits = np.zeros(width, dtype=np.uint32)
    np.bitwise_or.at(bits, ids >> 5, (1 << (ids & 31)).astype(np.uint32))
    bits.setflags(write=False)
    return LoopTable(bits, int(stayed.size), *exits)
