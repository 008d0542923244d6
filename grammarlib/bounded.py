"""Character languages under a length bound, as automata whose states are made on demand.

A string schema such as ``{"format": "uri", "maxLength": 2083}`` is the product of the format's
character DFA and a counter of characters: built whole it has the bound times the DFA's states
(hundreds of thousands) and takes seconds. :class:`BoundedChars` is that product as an IR
:class:`~grammarlib.ir.Machine`: a state is (DFA state, characters read so far), and its
one-character step is written when an automaton, a witness search or a string generator first
reaches it. Only states from which an allowed length can still be reached are handed out, so it
stays exact with no dead ends.

Whether an allowed length remains is decided exactly from the DFA's *length profile*: the
lengths of the accepted completions from a state form an ultimately periodic set (the DFA read
as an automaton over a one-letter alphabet), found by iterating the set of states reachable in
``i`` characters until it repeats.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable

import numpy as np

from .analysis import expr_cost
from .charsets import CharSet, normalize
from .errors import GrammarTooLargeError
from .ir import EPSILON, Expr, Lazy, Machine, alt, seq
from .regular import CharDFA

MAX_PROFILE = 100_000
"""Longest length profile (pre-period plus period, summed over the DFA's states) computed."""

MAX_TABLE = 4_000_000
"""Largest table (lengths times DFA states) of shortest completions under a minimum length."""

_NEVER = 1 << 40  # no completion (in byte distances)

State = tuple[int, int]  # (DFA state, characters read; capped at the minimum without a maximum)


class BoundedChars(Machine):
    """The strings of ``dfa`` with between ``lo`` and ``hi`` characters (``hi=None``: no upper
    bound), each character written as bytes by ``lower`` (a character set to a byte-level
    expression, such as JSON string content or UTF-8). ``lower_key`` names ``lower`` in the
    machine's digest. The start state is :attr:`start`; check :meth:`is_empty` first."""

    def __init__(
        self,
        dfa: CharDFA,
        lo: int,
        hi: int | None,
        lower: Callable[[CharSet], Expr],
        lower_key: str,
    ):
        if lo < 0 or (hi is not None and hi < lo):
            raise ValueError(f"bad length bounds {lo}..{hi}")
        self.dfa, self.lo, self.hi = dfa, lo, hi
        self.lower, self.lower_key = lower, lower_key
        trans, dead = dfa.transitions, dfa.dead
        self._accept_mask = sum(1 << s for s, a in enumerate(dfa.accepting) if a)
        self._successors = [
            sum(1 << t for t in set(row) if t != dead) for row in trans
        ]  # bitsets of states one character on
        text = repr((dfa.classes, trans, dfa.accepting, lower_key))
        self._dfa_digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        self.digest = f"{self._dfa_digest}:{lo}:{hi}"
        self.start: State = (0, 0)
        self._profiles: dict[int, tuple[list[int | None], int, int]] = {}
        self._profile_total = 0
        self._steps: dict[State, Expr] = {}
        self._edges: list[dict[int, tuple[Expr, int]] | None] = [None] * dfa.num_states
        self._free: np.ndarray | None = None  # fewest bytes to acceptance, lengths unbounded
        self._layers: list[np.ndarray] = []  # fewest bytes to acceptance in exactly i chars
        self._weights: np.ndarray | None = None

    def __reduce__(self) -> tuple:
        return (BoundedChars, (self.dfa, self.lo, self.hi, self.lower, self.lower_key))

    def __repr__(self) -> str:
        return f"<BoundedChars {self.dfa!r} {self.lo}..{self.hi}>"

    # -- the Machine interface --------------------------------------------------------------------

    def is_empty(self) -> bool:
        """Whether no string of the DFA has an allowed length."""
        return not self._live(0, 0)

    def step(self, state: Hashable) -> Expr:
        known = self._steps.get(state)  # type: ignore[arg-type]
        if known is not None:
            return known
        q, n = state  # type: ignore[misc]
        after = n + 1 if self.hi is not None else min(n + 1, self.lo)
        items = [
            seq(chars, Lazy(self, (t, after)))
            for t, (chars, _) in sorted(self._edges_of(q).items())
            if self._live(t, after)
        ]
        if self.accepting(state):
            items.append(EPSILON)
        result = self._steps[state] = alt(*items)  # type: ignore[index]
        return result

    def accepting(self, state: Hashable) -> bool:
        q, n = state  # type: ignore[misc]
        return self.dfa.accepting[q] and self.lo <= n and (self.hi is None or n <= self.hi)

    def shortest(self, state: Hashable) -> int:
        q, n = state  # type: ignore[misc]
        low = max(self.lo - n, 0)
        high = None if self.hi is None else self.hi - n
        size = self.dfa.num_states
        if low == 0 and (high is None or high >= size):
            # A shortest path is simple, so it has fewer characters than the DFA has states.
            return int(self._free_distances()[q])
        # A shortest completion with at least `low` characters has at most `low + size` (past
        # that it repeats a state after the first `low` characters, and the cycle can go).
        top = low + size if high is None else min(high, low + size)
        layers = self._exact_layers(top)
        return int(min(layers[i][q] for i in range(low, top + 1)))

    def key(self, state: Hashable, horizon: int) -> str:
        q, n = state  # type: ignore[misc]
        if horizon and n >= self.lo:
            if self.hi is None:
                return f"{self._dfa_digest}:{q}:free"
            if self.hi - n >= horizon + self.dfa.num_states:
                # Within `horizon` characters every state keeps room for its shortest completion
                # and the minimum is behind: the exact count cannot matter.
                return f"{self._dfa_digest}:{q}:far"
        return f"{self.digest}:{q}:{n}"

    # -- liveness ---------------------------------------------------------------------------------

    def _live(self, q: int, n: int) -> bool:
        """Whether some completion from DFA state ``q`` brings the length ``n`` into bounds."""
        if q == self.dfa.dead or (self.hi is not None and n > self.hi):
            return False
        low = max(self.lo - n, 0)
        first = self._next_accepted_length(q, low)
        return first is not None and (self.hi is None or first <= self.hi - n)

    def _next_accepted_length(self, q: int, at_least: int) -> int | None:
        """The least ``i >= at_least`` such that some string of ``i`` characters takes ``q``
        to acceptance."""
        nxt, pre, period = self._profile(q)
        if at_least >= pre + period:
            shift = (at_least - pre) // period * period
            found = nxt[at_least - shift]
            return None if found is None else found + shift
        return nxt[at_least]

    def _profile(self, q: int) -> tuple[list[int | None], int, int]:
        """``(next, pre, period)``: the sets of states reachable from ``q`` in exactly ``i``
        characters repeat from ``pre`` on with ``period``; ``next[i]`` (``i < pre + period``) is
        the least accepted length at least ``i`` (``None``: none)."""
        known = self._profiles.get(q)
        if known is not None:
            return known
        seen: dict[int, int] = {}
        accepted: list[bool] = []
        reach = 1 << q
        successors = self._successors
        while reach not in seen:
            seen[reach] = len(accepted)
            accepted.append(bool(reach & self._accept_mask))
            following = 0
            rest = reach
            while rest:
                low = rest & -rest
                following |= successors[low.bit_length() - 1]
                rest ^= low
            reach = following
            self._profile_total += 1
            if self._profile_total > MAX_PROFILE:
                raise GrammarTooLargeError(
                    f"the lengths of a {self.dfa.num_states}-state character automaton repeat "
                    f"only after more than {MAX_PROFILE} steps; use a smaller length bound"
                )
        pre = seen[reach]
        period = len(accepted) - pre
        # Two turns of the period, read backwards, give the next accepted length for each index.
        doubled = accepted + accepted[pre:]
        nxt: list[int | None] = [None] * len(doubled)
        following_hit: int | None = None
        for i in range(len(doubled) - 1, -1, -1):
            if doubled[i]:
                following_hit = i
            nxt[i] = following_hit
        result = (nxt[: pre + period], pre, period)
        self._profiles[q] = result
        return result

    # -- shortest completions in bytes ------------------------------------------------------------

    def _edges_of(self, q: int) -> dict[int, tuple[Expr, int]]:
        """Per target state: the characters leading there from ``q``, lowered, and the fewest
        bytes they take."""
        known = self._edges[q]
        if known is not None:
            return known
        dfa = self.dfa
        by_target: dict[int, list[tuple[int, int]]] = {}
        for c, t in enumerate(dfa.transitions[q]):
            if t != dfa.dead:
                by_target.setdefault(t, []).extend(dfa.classes[c])
        edges = {}
        for t, ranges in by_target.items():
            chars = self.lower(normalize(ranges))
            edges[t] = (chars, int(expr_cost(chars, {})[0]))
        self._edges[q] = edges
        return edges

    def _weight_matrix(self) -> np.ndarray:
        if self._weights is None:
            size = self.dfa.num_states
            weights = np.full((size, size), _NEVER, dtype=np.int64)
            for q in range(size):
                for t, (_, cost) in self._edges_of(q).items():
                    weights[q, t] = cost
            self._weights = weights
        return self._weights

    def _free_distances(self) -> np.ndarray:
        """Fewest bytes from each state to acceptance, whatever the number of characters."""
        if self._free is None:
            weights = self._weight_matrix()
            dist = np.where(np.array(self.dfa.accepting), 0, _NEVER).astype(np.int64)
            for _ in range(self.dfa.num_states):  # Bellman-Ford: paths of at most that many
                better = np.minimum(dist, (weights + dist[None, :]).min(axis=1))
                if np.array_equal(better, dist):
                    break
                dist = better
            self._free = np.minimum(dist, _NEVER)
        return self._free

    def _exact_layers(self, top: int) -> list[np.ndarray]:
        """``layers[i][q]``: fewest bytes from ``q`` to acceptance in exactly ``i`` characters,
        for ``i <= top``."""
        size = self.dfa.num_states
        if (top + 1) * size > MAX_TABLE:
            raise GrammarTooLargeError(
                f"a minimum length of {self.lo} characters over a {size}-state character "
                f"automaton needs a table of more than {MAX_TABLE} entries"
            )
        layers = self._layers
        if not layers:
            layers.append(np.where(np.array(self.dfa.accepting), 0, _NEVER).astype(np.int64))
        weights = self._weight_matrix()
        while len(layers) <= top:
            layers.append(np.minimum((weights + layers[-1][None, :]).min(axis=1), _NEVER))
        return layers
