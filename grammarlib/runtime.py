"""The persistent stack and its transitions, shared by all matchers of one automaton.

A *node* is an interned tuple ``(frame, parents)``: the frame on top and a frozenset of the nodes
below it. Several stacks that end in the same frame share one node whose parents are the union of
theirs, so a node is a graph-structured stack (as in GLR/GLL parsing): ambiguous grammars make
many stacks but few nodes. Interning makes equal stacks the same object, so hashing and comparing
are cheap and exact.

A *state* is ``(tops, complete)``: the nodes whose top frame can consume a byte, sorted by frame,
and whether the input so far is a complete string of the language. States are plain tuples:
immutable, hashable, and the key of every cache (next state, token masks).
"""

from __future__ import annotations

from collections.abc import Iterable

from .automata import Automaton
from .errors import GrammarError

Node = tuple  # (frame: int, parents: frozenset[Node])
State = tuple  # (tops: tuple[Node, ...], complete: bool)

BOTTOM: Node = (-1, frozenset())

MAX_CLOSURE_STEPS = 1_000_000
_MAX_INTERNED = 2_000_000
_MAX_CACHED_STEPS = 500_000


class Runtime:
    """Transition function over states of one automaton, with interning and memoisation."""

    __slots__ = ("_nodes", "_steps", "automaton", "initial")

    def __init__(self, automaton: Automaton):
        self.automaton = automaton
        self._nodes: dict[Node, Node] = {BOTTOM: BOTTOM}
        self._steps: dict[tuple[State, int], State | None] = {}
        initial = self._closure({automaton.start: {BOTTOM}})
        assert initial is not None, "normalisation guarantees a non-empty language"
        self.initial: State = initial

    def advance(self, state: State, byte: int) -> State | None:
        """The state after ``byte``, or None if no stack can consume it."""
        key = (state, byte)
        steps = self._steps
        try:
            return steps[key]
        except KeyError:
            pass
        byte_next = self.automaton.byte_next
        seeds: dict[int, set[Node]] = {}
        for frame, parents in state[0]:
            nxt = byte_next[frame].get(byte)
            if nxt is not None:
                have = seeds.get(nxt)
                if have is None:
                    seeds[nxt] = set(parents)
                else:
                    have |= parents
        result = self._closure(seeds) if seeds else None
        if len(steps) >= _MAX_CACHED_STEPS:
            steps.clear()
        steps[key] = result
        return result

    def advance_bytes(self, state: State, data: Iterable[int]) -> State | None:
        """The state after all of ``data``, or None as soon as a byte is refused."""
        for byte in data:
            state = self.advance(state, byte)
            if state is None:
                return None
        return state

    def next_bytes(self, state: State) -> int:
        """Bitmask of the bytes that can come next."""
        mask = 0
        next_bytes = self.automaton.next_bytes
        for frame, _ in state[0]:
            mask |= next_bytes[frame]
        return mask

    def _intern(self, node: Node) -> Node:
        nodes = self._nodes
        if len(nodes) >= _MAX_INTERNED:
            # Equality stays structural, so dropping the table only costs sharing, not correctness.
            nodes.clear()
            nodes[BOTTOM] = BOTTOM
        return nodes.setdefault(node, node)

    def _closure(self, seeds: dict[int, set[Node]]) -> State | None:
        """Expand calls and returns from the seed frames until every top can consume a byte.

        Within one closure (one input position) a call edge ``caller -> ret`` pushes a single
        *pending* return node, written as the int ``-2 - k``: its parents are those of
        ``caller``, which may still grow. Pending nodes are materialised once the fixed point
        is reached, so each call edge has one node per position, as in a graph-structured
        stack. When a callee completes at the same position (it is nullable), the pending node
        is popped, and parents its caller gains later are passed on to ``ret`` as they arrive.
        Keying by the call edge, not by ``ret`` alone, matters: two call edges may return to
        the same DFA state from different depths, and merging them would invent stacks.
        """
        automaton = self.automaton
        calls, accepting, next_bytes = automaton.calls, automaton.accepting, automaton.next_bytes
        tops: dict[int, set] = {}
        pending_ids: dict[tuple[int, int], int] = {}
        pending_edge: list[tuple[int, int]] = []  # k -> (caller, ret)
        popped: list[bool] = []
        work: list[tuple[int, set | frozenset]] = list(seeds.items())
        complete = False
        steps = 0
        while work:
            frame, parents = work.pop()
            have = tops.get(frame)
            first_visit = have is None
            if first_visit:
                delta = set(parents)
                tops[frame] = set(delta)
            else:
                delta = parents - have
                if not delta:
                    continue
                have |= delta
            steps += 1
            if steps > MAX_CLOSURE_STEPS:
                raise GrammarError("grammar closure did not converge (unremoved left recursion?)")
            frame_calls = calls[frame]
            if frame_calls is None:  # first visit of this frame: build its edges
                frame_calls = automaton.expand(frame)
            for callee, ret in frame_calls:
                if ret < 0:  # tail call: the callee returns straight to our parents
                    work.append((callee, delta))
                    continue
                if first_visit:
                    # Several callees may share the edge's return node; push each of them once.
                    k = pending_ids.get((frame, ret))
                    if k is None:
                        k = pending_ids[(frame, ret)] = len(pending_edge)
                        pending_edge.append((frame, ret))
                        popped.append(False)
                    work.append((callee, frozenset((-2 - k,))))
                else:
                    k = pending_ids[(frame, ret)]
                    if popped[k]:
                        work.append((ret, delta))
            if accepting[frame]:
                for parent in delta:
                    if parent.__class__ is int:  # a pending return node of this position
                        k = -2 - parent
                        popped[k] = True
                        caller, ret = pending_edge[k]
                        work.append((ret, tops[caller]))
                    elif parent[0] < 0:
                        complete = True
                    else:
                        work.append(parent)
        live = sorted(f for f in tops if next_bytes[f])
        if not live and not complete:
            return None
        if not pending_edge:
            return (tuple(self._intern((f, frozenset(tops[f]))) for f in live), complete)
        resolved: dict[int, Node] = {}

        def parents_of(frame: int) -> frozenset:
            return frozenset(p if p.__class__ is not int else pending(-2 - p) for p in tops[frame])

        def pending(k: int) -> Node:
            node = resolved.get(k)
            if node is None:
                caller, ret = pending_edge[k]
                node = resolved[k] = self._intern((ret, parents_of(caller)))
            return node

        return (tuple(self._intern((f, parents_of(f))) for f in live), complete)
