"""`GrammarMatcher`: one sequence's position in a grammar, advanced byte by byte.

The matcher holds the current state and the history of states before each successful accept call,
so ``rollback(n)`` is a list truncation: states are persistent and never mutated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
