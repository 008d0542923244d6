"""`GrammarMatcher`: one sequence's position in a grammar, advanced byte by byte.

The matcher holds the current state and the history of states before each successful accept call,
so ``rollback(n)`` is a list truncation: states are persistent and never mutated.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import json_keys
from .runtime import Runtime, State

if TYPE_CHECKING:
    from .compiler import CompiledGrammar

MAX_FORCED_BYTES = 1 << 16


class GrammarMatcher:
    """Tracks whether the output so far is a viable prefix of the grammar's language.

    Create with ``compiled.matcher()``. Not thread-safe (one matcher per sequence); the compiled
    grammar behind it is shared and immutable.
    """

    __slots__ = ("_compiled", "_history", "_keys", "_runtime", "_state", "_terminated")

    def __init__(self, compiled: CompiledGrammar):
        self._compiled = compiled
        self._runtime: Runtime = compiled._runtime
        self._state: State = self._runtime.initial
        self._history: list[tuple[State, bool, json_keys.Keys | None]] = []
        self._terminated = False
        # the keys of the open JSON objects, for grammars whose objects never repeat a key
        self._keys = json_keys.START if compiled.grammar.distinct_keys else None

    @property
    def compiled(self) -> CompiledGrammar:
        return self._compiled

    def accept_bytes(self, data: bytes | bytearray | memoryview) -> bool:
        """Consume ``data`` if the output stays a viable prefix; else return False and change
        nothing. Partial UTF-8 sequences are fine: the automata work on bytes."""
        if self._terminated:
            return False
        data = bytes(data)
        state = self._runtime.advance_bytes(self._state, data)
        if state is None:
            return False
        keys = self._keys
        if keys is not None:
            keys = _keys_after(self._compiled, self._state, state, keys, data)
            if keys is None:  # a key the object already has, or one that can only become one
                return False
        self._push(state, False, keys)
        return True

    def accept_string(self, text: str) -> bool:
        """``accept_bytes`` of the UTF-8 encoding of ``text``."""
        return self.accept_bytes(text.encode("utf-8"))

    def accept_token(self, token_id: int) -> bool:
        """Consume a token: its bytes, or, for a stop token, the end of the output (allowed only
        where the output is complete; afterwards the matcher is terminated). Special tokens and
        ids outside the tokenizer are refused. False leaves the state unchanged."""
        self._check_tokenizer("accept_token")
        step = self._step(self._state, self._terminated, self._keys, token_id)
        if step is None:
            return False
        self._push(*step)
        return True

    def validate_tokens(self, token_ids: Iterable[int]) -> int:
        """The length of the longest prefix of ``token_ids`` (a draft, e.g. from speculative
        decoding) that ``accept_token`` would accept one token after the other. Stop tokens count
        like ``accept_token`` counts them: valid only where the output is complete, and nothing
        is valid after one. The matcher's state is unchanged; to keep the valid part, accept
        those tokens (or accept all and ``rollback`` the rest)."""
        self._check_tokenizer("validate_tokens")
        state, terminated, keys = self._state, self._terminated, self._keys
        n = 0
        for token_id in token_ids:
            step = self._step(state, terminated, keys, operator.index(token_id))
            if step is None:
                break
            state, terminated, keys = step
            n += 1
        return n

    def fill_next_token_bitmask(self, bitmask, index: int = 0) -> None:
        """Write the allowed next tokens into row ``index`` of ``bitmask`` (see
        :func:`grammarlib.allocate_token_bitmask`; numpy or torch CPU). A terminated matcher
        allows nothing; ids past the tokenizer's vocabulary are never allowed."""
        store = self._compiled.mask_store
        if store is None:
            raise RuntimeError("fill_next_token_bitmask needs a grammar compiled with a tokenizer")
        _fill_row(_row(bitmask, index), self._compiled, self._state, self._terminated, self._keys)

    def fill_next_token_bitmasks(
        self, bitmask, draft_token_ids: Sequence[int], index: int = 0
    ) -> int:
        """Fill the bitmask rows that verifying a draft (speculative decoding) needs, in one call.

        Row ``index + i`` gets the allowed next tokens after the first ``i`` tokens of
        ``draft_token_ids``, for ``i = 0 .. n``, where ``n = validate_tokens(draft_token_ids)``
        is the number of draft tokens the grammar accepts (so row ``index + n`` is the mask at the
        first invalid draft token, or the bonus-token mask when the whole draft is valid; the
        row after a valid stop token allows nothing). Rows past ``index + n`` are not touched.
        Returns ``n``. ``bitmask`` needs ``len(draft_token_ids) + 1`` rows from ``index``; the
        matcher's state is unchanged.
        """
        store = self._compiled.mask_store
        if store is None:
            raise RuntimeError("fill_next_token_bitmasks needs a grammar compiled with a tokenizer")
        draft = [operator.index(t) for t in draft_token_ids]  # ints (numpy or torch scalars too)
        array = _array(bitmask)
        if array.ndim != 2 or not 0 <= index <= array.shape[0] - len(draft) - 1:
            raise ValueError(
                f"a draft of {len(draft)} tokens needs {len(draft) + 1} bitmask rows from row "
                f"{index}; the bitmask has shape {array.shape}"
            )
        state, terminated, keys = self._state, self._terminated, self._keys
        n = 0
        while True:
            _fill_row(array[index + n], self._compiled, state, terminated, keys)
            if n == len(draft):
                break
            step = self._step(state, terminated, keys, draft[n])
            if step is None:
                break
            state, terminated, keys = step
            n += 1
        return n

    def can_terminate(self) -> bool:
        """Whether the output so far is a complete string of the language."""
        return self._state[1] and not self._terminated

    def is_terminated(self) -> bool:
        """Whether a stop token has been accepted (see ``accept_token``)."""
        return self._terminated

    def rollback(self, n: int = 1) -> None:
        """Undo the last ``n`` successful ``accept_*`` calls."""
        if n < 0 or n > len(self._history):
            raise ValueError(f"cannot roll back {n} steps; {len(self._history)} are recorded")
        if n == 0:
            return
        self._state, self._terminated, self._keys = self._history[-n]
        del self._history[-n:]

    def reset(self) -> None:
        """Back to the start of the grammar, with no history."""
        self._state = self._runtime.initial
        self._history.clear()
        self._terminated = False
        self._keys = json_keys.START if self._keys is not None else None

    def copy(self) -> GrammarMatcher:
        """An independent matcher at the same position, with the same history."""
        other = GrammarMatcher.__new__(GrammarMatcher)
        other._compiled = self._compiled
        other._runtime = self._runtime
        other._state = self._state
        other._history = list(self._history)
        other._terminated = self._terminated
        other._keys = self._keys
        return other

    def fork(self) -> GrammarMatcher:
        """Alias of :meth:`copy`: an independent matcher at the same position (a beam, a
        speculative branch)."""
        return self.copy()

    def forced_bytes(self) -> bytes:
        """The bytes every valid continuation must start with (empty where there is a choice,
        including the choice to stop). A generator can emit them without asking the model.
        (Only the automaton decides: a key that would repeat is refused when it is accepted.)"""
        if self._terminated:
            return b""
        runtime = self._runtime
        state = self._state
        out = bytearray()
        while not state[1] and len(out) < MAX_FORCED_BYTES:
            mask = runtime.next_bytes(state)
            if mask & (mask - 1):
                break
            byte = mask.bit_length() - 1
            nxt = runtime.advance(state, byte)
            assert nxt is not None
            out.append(byte)
            state = nxt
        return bytes(out)

    def min_completion_bytes(self) -> int:
        """The fewest bytes after which the output can be complete (0 if it is now). Every byte
        can be written as one token of a byte-level vocabulary, so ``min_completion_bytes() + 1``
        tokens (the stop token included) always suffice to finish: what a generator with a
        token budget must keep in hand (see :meth:`completion_token`)."""
        if self._terminated:
            return 0
        return self._compiled.distances.of_state(self._state)

    def shortest_completion(self) -> bytes:
        """A shortest byte string that makes the output complete (empty if it is already)."""
        if self._terminated:
            return b""
        return self._compiled.distances.shortest_completion(self._state)

    def completion_token(self) -> int | None:
        """The longest token that starts a shortest completion and that the matcher accepts
        (a stop token where the output is complete), or None if there is none. Taking it never
        moves the output further from complete, so a generator whose budget runs short can
        finish with these tokens alone, within ``min_completion_bytes() + 1`` tokens."""
        self._check_tokenizer("completion_token")
        if self._terminated:
            return None
        tokenizer = self._compiled.tokenizer_info
        if self._state[1]:
            stops = sorted(tokenizer.stop_token_ids)
            return stops[0] if stops else None
        tables = json_keys.vocabulary_tables(tokenizer.fingerprint, tokenizer.token_bytes)
        completion = self.shortest_completion()
        for end in range(len(completion), 0, -1):
            for token in tables.ids_with_bytes(completion[:end]):
                if token not in tokenizer.special_ids and self.copy().accept_token(token):
                    return token
        return None

    def fits_budget(self, token_id: int, tokens_left: int) -> bool:
        """Whether accepting ``token_id`` now keeps a complete output reachable when
        ``tokens_left`` tokens (this one and the stop token included) may still be generated,
        counting one token per byte of a shortest completion. A generator that replaces a
        token that does not fit by :meth:`completion_token` always ends with a complete output
        if it starts with ``min_completion_bytes() + 1`` tokens or more."""
        self._check_tokenizer("fits_budget")
        step = self._step(self._state, self._terminated, self._keys, operator.index(token_id))
        if step is None:
            return False
        state, terminated, _ = step
        if terminated:
            return tokens_left >= 1
        return self._compiled.distances.of_state(state) + 1 <= tokens_left - 1

    def next_bytes(self) -> frozenset[int]:
        """The set of bytes that can come next."""
        if self._terminated:
            return frozenset()
        mask = self._runtime.next_bytes(self._state)
        return frozenset(b for b in range(256) if mask >> b & 1)

    @property
    def state(self) -> Any:
        """The current state: an immutable, hashable value (equal states accept the same
        continuations): the automaton's state, paired with the written JSON keys
        (:mod:`grammarlib.json_keys`) for grammars whose objects never repeat a key."""
        return self._state if self._keys is None else (self._state, self._keys)

    def _check_tokenizer(self, what: str) -> None:
        if self._compiled.tokenizer_info is None:
            raise RuntimeError(f"{what} needs a grammar compiled with a tokenizer")

    def _step(
        self, state: State, terminated: bool, keys: json_keys.Keys | None, token_id: int
    ) -> tuple[State, bool, json_keys.Keys | None] | None:
        """The (state, terminated, keys) after ``token_id``, or None where it is not allowed."""
        if terminated:
            return None
        tokenizer = self._compiled.tokenizer_info
        if token_id in tokenizer.stop_token_ids:
            return (state, True, keys) if state[1] else None
        if token_id in tokenizer.special_ids or not 0 <= token_id < len(tokenizer.token_bytes):
            return None
        data = tokenizer.token_bytes[token_id]
        if not data:
            return None
        after = self._runtime.advance_bytes(state, data)
        if after is None:
            return None
        if keys is not None:
            keys = _keys_after(self._compiled, state, after, keys, data)
            if keys is None:
                return None
        return (after, False, keys)

    def _push(self, state: State, terminated: bool, keys: json_keys.Keys | None) -> None:
        self._history.append((self._state, self._terminated, self._keys))
        self._state = state
        self._terminated = terminated
        self._keys = keys

    def __repr__(self) -> str:
        return (
            f"<GrammarMatcher tops={len(self._state[0])} can_terminate={self.can_terminate()} "
            f"history={len(self._history)}>"
        )


def fill_bitmasks(
    matchers: Sequence[GrammarMatcher], bitmask: Any, indices: Sequence[int] | None = None
) -> None:
    """``fill_next_token_bitmask`` for many matchers in one call: matcher ``k`` fills row
    ``indices[k]`` (row ``k`` by default) of ``bitmask`` (numpy or CPU torch int32).

    Each distinct (grammar, state) is looked up once, and its mask is copied into all its rows
    by one numpy assignment (numpy releases the GIL for the copies), so a serving batch whose
    rows share states (the same schema, many requests at the same point) pays for its distinct
    states, not for its rows. The matchers may belong to different grammars of the same
    vocabulary; terminated matchers get empty rows.
    """
    array = _array(bitmask)
    if array.ndim == 1:
        array = array[None]
    matchers = list(matchers)
    if indices is None:
        rows: list[int] = list(range(len(matchers)))
    else:
        rows = [int(i) for i in indices]
        if len(rows) != len(matchers):
            raise ValueError(f"{len(matchers)} matchers but {len(rows)} indices")
    height = array.shape[0]
    if len(matchers) == 1:  # nothing to share
        m, r = matchers[0], rows[0]
        if m._compiled.mask_store is None:
            raise RuntimeError("fill_bitmasks needs grammars compiled with a tokenizer")
        if not -height <= r < height:
            raise IndexError(f"row {r} is outside a bitmask of {height} rows")
        _fill_row(array[r], m._compiled, m._state, m._terminated, m._keys)
        return
    for r in rows:
        if not -height <= r < height:
            raise IndexError(f"row {r} is outside a bitmask of {height} rows")
    groups: dict[Any, list[int]] = {}
    for m, r in zip(matchers, rows, strict=True):
        store = m._compiled.mask_store
        if store is None:
            raise RuntimeError("fill_bitmasks needs grammars compiled with a tokenizer")
        keys = m._keys if m._keys is not None and _may_refuse(m._compiled, m._keys) else None
        key = None if m._terminated else (m._compiled, m._state, keys)
        group = groups.get(key)
        if group is None:
            groups[key] = [r]
        else:
            group.append(r)
    width = array.shape[1]
    for key, group in groups.items():
        target: Any = group[0] if len(group) == 1 else np.asarray(group, dtype=np.intp)
        if key is None:
            array[target] = 0
            continue
        compiled, state, keys = key
        words = compiled.mask_store.state_mask(state).view(np.int32)
        if keys is not None:
            words = _without_repeated_keys(compiled, words, state, keys)
        n = min(len(words), width)
        array[target, :n] = words[:n]
        if n < width:
            array[target, n:] = 0


def _fill_row(
    row: np.ndarray,
    compiled: CompiledGrammar,
    state: State,
    terminated: bool,
    keys: json_keys.Keys | None,
) -> None:
    """Write the mask of ``state`` (nothing if ``terminated``) into the numpy ``row``."""
    if terminated:
        row[:] = 0
        return
    words = compiled.mask_store.state_mask(state).view(np.int32)
    if keys is not None and _may_refuse(compiled, keys):
        words = _without_repeated_keys(compiled, words, state, keys)
    n = min(len(words), len(row))
    row[:n] = words[:n]
    if n < len(row):
        row[n:] = 0


def _may_refuse(compiled: CompiledGrammar, keys: json_keys.Keys) -> bool:
    """Whether a token can be refused for the keys or items it writes."""
    return _key_checker(compiled).may_refuse(keys)


def _without_repeated_keys(
    compiled: CompiledGrammar, words: np.ndarray, state: State, keys: json_keys.Keys
) -> np.ndarray:
    """The mask ``words`` without the tokens that would repeat a key of an open object or lead
    to a key position where only written keys can come (see :mod:`grammarlib.json_keys`)."""
    return _key_checker(compiled).filter(words, state, keys)


def _key_checker(compiled: CompiledGrammar) -> json_keys.KeyChecker:
    checker = compiled._key_tables
    if checker is None:
        info = compiled.tokenizer_info
        tables = (
            json_keys.vocabulary_tables(info.fingerprint, info.token_bytes)
            if info is not None
            else json_keys.VocabularyTables([])
        )
        checker = compiled._key_tables = json_keys.KeyChecker(
            compiled._runtime,
            tables,
            compiled.grammar.unique_arrays,
            compiled.grammar.fixed_keys,
        )
    return checker


def _keys_after(
    compiled: CompiledGrammar, before: State, after: State, keys: json_keys.Keys, data: bytes
) -> json_keys.Keys | None:
    """The key scanner after ``data`` (the automaton goes from ``before`` to ``after`` on it),
    or None where ``data`` repeats a key or an item of a unique array, or leads to a key or
    item position with no fresh one left."""
    return _key_checker(compiled).allows(before, after, keys, data)


def _array(bitmask: Any) -> np.ndarray:
    """A numpy or (CPU) torch int32 bitmask as a writable numpy array (sharing its memory)."""
    if not isinstance(bitmask, np.ndarray):
        device = getattr(bitmask, "device", None)
        if device is not None and getattr(device, "type", "cpu") != "cpu":
            raise ValueError(
                "grammarlib writes a CPU bitmask; fill a CPU one and move it to "
                f"{device} (apply_token_bitmask does that)"
            )
        bitmask = bitmask.numpy()
    if bitmask.dtype != np.int32:
        raise TypeError(f"the bitmask must be int32, got {bitmask.dtype}")
    return bitmask


def _row(bitmask: Any, index: int) -> np.ndarray:
    """Row ``index`` of a numpy or (CPU) torch int32 bitmask, as a writable numpy view."""
    bitmask = _array(bitmask)
    return bitmask[index] if bitmask.ndim == 2 else bitmask
