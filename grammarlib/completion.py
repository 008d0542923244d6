"""How far a matcher state is from a complete output: shortest completions, in bytes.

For every frame, ``finish(f)`` is the fewest bytes that take the frame's rule from ``f`` to a
state where it may return (calls cost their callee's shortest string). A stack of frames needs
``finish`` of its top plus what its parents need after the return, so the distance of a state is
the least, over its stacks, of those sums (0 when the output is complete). A generator with a
token budget uses it to stop in time: every byte of a shortest completion can be written with at
most one token, so ``distance(state) + 1`` tokens always suffice (the ``+ 1`` is the stop token).

``finish`` comes from the frame's terms and the rules' shortest lengths (see
:meth:`grammarlib.automata.Automaton.finish_length`), on first use per frame; distances are
memoised per stack node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runtime import Node, Runtime, State

INFINITE = 1 << 62
_MAX_MEMO = 1_000_000


class Distances:
    """Shortest completions of the states of one runtime (thread-safe enough: memo writes are
    idempotent)."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._finish: dict[int, int] = {}
        self._nodes: dict[Node, int] = {}

    def finish(self, frame: int) -> int:
        """The fewest bytes that take ``frame``'s rule to a return (memoised)."""
        known = self._finish.get(frame)
        if known is None:
            known = self._finish[frame] = self.runtime.automaton.finish_length(frame)
        return known

    def of_state(self, state: State) -> int:
        """The fewest bytes after which the output can be complete (0 if it is now)."""
        if state[1]:
            return 0
        return min((self.of_node(node) for node in state[0]), default=INFINITE)

    def of_node(self, node: Node) -> int:
        """``finish`` of the node's frame plus the least its parents need after the return."""
        memo = self._nodes
        known = memo.get(node)
        if known is not None:
            return known
        if len(memo) >= _MAX_MEMO:
            memo.clear()
        finish = self.finish
        # iterative post-order over the parent DAG (stacks can be deep)
        work = [node]
        while work:
            current = work[-1]
            if current in memo:
                work.pop()
                continue
            frame, parents = current
            if frame < 0:
                memo[current] = 0
                work.pop()
                continue
            missing = [p for p in parents if p not in memo]
            if missing:
                work.extend(missing)
                continue
            below = min((memo[p] for p in parents), default=INFINITE)
            memo[current] = min(INFINITE, finish(frame) + below)
            work.pop()
        return memo[node]

    def shortest_completion(self, state: State) -> bytes:
        """A shortest byte string that makes the output complete (empty if it is)."""
        runtime = self.runtime
        out = bytearray()
        distance = self.of_state(state)
        while distance > 0:
            mask = runtime.next_bytes(state)
            for byte in range(256):
                if mask >> byte & 1:
                    after = runtime.advance(state, byte)
                    if after is not None and self.of_state(after) == distance - 1:
                        break
            else:  # cannot happen: some byte starts a shortest completion
                raise AssertionError("no byte continues a shortest completion")
            out.append(byte)
            state = after
            distance -= 1
        return bytes(out)
