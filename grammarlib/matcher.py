"""`GrammarMatcher`: one sequence's position in a grammar, advanced byte by byte.

The matcher holds the current state and the history of states before each successful accept call,
so ``rollback(n)`` is a list truncation: states are persistent and never mutated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .runtime import Runtime, State

if TYPE_CHECKING:
    from .compiler import CompiledGrammar

MAX_FORCED_BYTES = 1 << 16


class GrammarMatcher:
    """Tracks whether the output so far is a viable prefix of the grammar's language.

    Create with ``compiled.matcher()``. Not thread-safe (one matcher per sequence); the compiled
    grammar behind it is shared and immutable.
    """

    __slots__ = ("_compiled", "_history", "_runtime", "_state", "_terminated")

    def __init__(self, compiled: CompiledGrammar):
        self._compiled = compiled
        self._runtime: Runtime = compiled._runtime
        self._state: State = self._runtime.initial
        self._history: list[tuple[State, bool]] = []
        self._terminated = False

    @property
    def compiled(self) -> CompiledGrammar:
        return self._compiled

    def accept_bytes(self, data: bytes | bytearray | memoryview) -> bool:
        """Consume ``data`` if the output stays a viable prefix; else return False and change
        nothing. Partial UTF-8 sequences are fine: the automata work on bytes."""
        if self._terminated:
            return False
        state = self._runtime.advance_bytes(self._state, bytes(data))
        if state is None:
            return False
        self._push(state, False)
        return True

    def accept_string(self, text: str) -> bool:
        """``accept_bytes`` of the UTF-8 encoding of ``text``."""
        return self.accept_bytes(text.encode("utf-8"))

    def accept_token(self, token_id: int) -> bool:
        """Consume a token: its bytes, or, for a stop token, the end of the output (allowed only
        where the output is complete; afterwards the matcher is terminated). Special tokens and
        ids outside the tokenizer are refused. False leaves the state unchanged."""
        tokenizer = self._compiled.tokenizer_info
        if tokenizer is None:
            raise RuntimeError("accept_token needs a grammar compiled with a tokenizer")
        if self._terminated:
            return False
        if token_id in tokenizer.stop_token_ids:
            if not self._state[1]:
                return False
            self._push(self._state, True)
            return True
        if token_id in tokenizer.special_ids or not 0 <= token_id < len(tokenizer.token_bytes):
            return False
        data = tokenizer.token_bytes[token_id]
        if not data:
            return False
        state = self._runtime.advance_bytes(self._state, data)
        if state is None:
            return False
        self._push(state, False)
        return True

    def fill_next_token_bitmask(self, bitmask, index: int = 0) -> None:
        """Write the allowed next tokens into row ``index`` of ``bitmask`` (see
        :func:`grammarlib.allocate_token_bitmask`; numpy or torch CPU). A terminated matcher
        allows nothing; ids past the tokenizer's vocabulary are never allowed."""
        store = self._compiled.mask_store
        if store is None:
            raise RuntimeError("fill_next_token_bitmask needs a grammar compiled with a tokenizer")
        row = _row(bitmask, index)
        row[:] = 0
        if self._terminated:
            return
        words = store.state_mask(self._state).view(np.int32)
        n = min(len(words), len(row))
        row[:n] = words[:n]

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
        self._state, self._terminated = self._history[-n]
        del self._history[-n:]

    def reset(self) -> None:
        """Back to the start of the grammar, with no history."""
        self._state = self._runtime.initial
        self._history.clear()
        self._terminated = False

    def copy(self) -> GrammarMatcher:
        """An independent matcher at the same position, with the same history."""
        other = GrammarMatcher.__new__(GrammarMatcher)
        other._compiled = self._compiled
        other._runtime = self._runtime
        other._state = self._state
        other._history = list(self._history)
        other._terminated = self._terminated
        return other

    def forced_bytes(self) -> bytes:
        """The bytes every valid continuation must start with (empty where there is a choice,
        including the choice to stop). A generator can emit them without asking the model."""
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

    def next_bytes(self) -> frozenset[int]:
        """The set of bytes that can come next."""
        if self._terminated:
            return frozenset()
        mask = self._runtime.next_bytes(self._state)
        return frozenset(b for b in range(256) if mask >> b & 1)

    @property
    def state(self) -> State:
        """The current state: an immutable, hashable value (equal states accept the same
        continuations)."""
        return self._state

    def _push(self, state: State, terminated: bool) -> None:
        self._history.append((self._state, self._terminated))
        self._state = state
        self._terminated = terminated

    def __repr__(self) -> str:
        return (
            f"<GrammarMatcher tops={len(self._state[0])} can_terminate={self.can_terminate()} "
            f"history={len(self._history)}>"
        )


def _row(bitmask: Any, index: int) -> np.ndarray:
    """Row ``index`` of a numpy or (CPU) torch int32 bitmask, as a writable numpy view."""
    if not isinstance(bitmask, np.ndarray):
        device = getattr(bitmask, "device", None)
        if device is not None and getattr(device, "type", "cpu") != "cpu":
            raise ValueError(
                "fill_next_token_bitmask writes a CPU bitmask; fill a CPU one and move it to "
                f"{device} (apply_token_bitmask does that)"
            )
        bitmask = bitmask.numpy()
    if bitmask.dtype != np.int32:
        raise TypeError(f"the bitmask must be int32, got {bitmask.dtype}")
    return bitmask[index] if bitmask.ndim == 2 else bitmask
