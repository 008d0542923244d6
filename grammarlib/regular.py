"""Boolean operations on regular languages of characters, and divisibility automata.

The JSON Schema compiler needs the intersection, complement and difference of string languages
(``pattern`` with ``minLength``/``maxLength``, ``not``, ``propertyNames``) and the decimal texts
of the multiples of a number (``multipleOf``). Grammar IR cannot express these directly, so they
are computed on deterministic automata over *characters* and turned back into IR.

:class:`CharDFA` is a complete, minimal DFA over the code points U+0000..U+10FFFF except the
surrogates (which never occur in a string). Its alphabet is partitioned into classes (sets of code
points no transition distinguishes), so a DFA stays small however large its character sets are.
Every DFA is kept in a canonical form (minimal, states numbered breadth first, classes ordered by
their lowest code point), so two DFAs are equal exactly when their languages are.

Character-level expressions are grammar IR (:mod:`grammarlib.ir` ``Seq``/``Alt``/``Repeat``) with
``CharLeaf`` leaves (:mod:`grammarlib.regex`); ``Bytes`` leaves are accepted when all their bytes
are ASCII (number texts), and mean the same characters.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from fractions import Fraction

from .charsets import MAX_CODE_POINT, SURROGATES, CharSet, difference, normalize, utf8_expr
from .errors import GrammarError, GrammarTooLargeError
from .graphs import strongly_connected
from .ir import EMPTY, EPSILON, Alt, Bytes, Expr, Ref, Repeat, Seq, alt, repeat, seq, star
from .regex import CharLeaf
from .thompson import ThompsonNFA

__all__ = ["DEFAULT_MAX_STATES", "CharDFA", "lower_utf8", "multiple_of"]

DEFAULT_MAX_STATES = 50_000
"""Default bound on DFA states (subset construction, products) before GrammarTooLargeError."""

MULTIPLE_OF_MAX_STATES = 10_000
"""Default bound on the states of a :func:`multiple_of` automaton."""

_VALID: CharSet = ((0, SURROGATES[0] - 1), (SURROGATES[1] + 1, MAX_CODE_POINT))
_INLINE_SIZE = 24  # a shared state body at most this big is copied instead of becoming a rule
_MAX_DEPTH = 64  # nesting depth past which a state body becomes a rule (keeps recursion shallow)
_ELIMINATE_STATES = 8  # cycles among at most this many states are turned into stars if small


class CharDFA:
    """A canonical minimal complete DFA over valid characters (code points, no surrogates).

    Build one with :meth:`from_expr`, :meth:`length_between`, :func:`multiple_of` or the boolean
    operations; read it back as IR with :meth:`to_rules`. Instances are immutable; ``==`` is
    language equality.
    """

    __slots__ = ("_accept", "_ascii", "_classes", "_dead", "_hash", "_ids", "_starts", "_trans")

    def __init__(
        self,
        classes: list[CharSet],
        trans: list[list[int]],
        accept: list[bool],
        *,
        start: int = 0,
    ):
        """Internal: any complete DFA (``trans[state][class]``; ``classes`` partition the valid
        characters); it is minimised and put in canonical form."""
        classes, trans, accept = _canonical(classes, trans, accept, start)
        self._classes: tuple[CharSet, ...] = tuple(classes)
        self._trans: tuple[tuple[int, ...], ...] = tuple(tuple(row) for row in trans)
        self._accept: tuple[bool, ...] = tuple(accept)
        self._hash = hash((self._accept, self._classes, self._trans))
        pieces = sorted((lo, c) for c, cs in enumerate(classes) for lo, _ in cs)
        pieces.append((SURROGATES[0], -1))  # never a class: surrogates are not characters
        pieces.sort()
        self._starts: list[int] = [lo for lo, _ in pieces]
        self._ids: list[int] = [c for _, c in pieces]
        self._ascii = [self._ids[bisect_right(self._starts, cp) - 1] for cp in range(128)]
        self._dead: int | None = next(
            (
                s
                for s, row in enumerate(self._trans)
                if not self._accept[s] and all(t == s for t in row)
            ),
            None,
        )

    # -- construction --

    @classmethod
    def from_expr(cls, expr: Expr, *, max_states: int = DEFAULT_MAX_STATES) -> CharDFA:
        """The DFA of a character-level expression (``CharLeaf`` leaves, or ASCII ``Bytes``).

        Raises :class:`GrammarError` for a ``Ref`` or a non-ASCII ``Bytes`` leaf, and
        :class:`GrammarTooLargeError` when the subset construction passes ``max_states``.
        """
        key = (expr, max_states)
        known = _FROM_EXPR.get(key)
        if known is None:
            known = _remember(_FROM_EXPR, key, _from_expr(expr, max_states))
        return known

    @classmethod
    def length_between(
        cls, lo: int, hi: int | None, *, max_states: int = DEFAULT_MAX_STATES
    ) -> CharDFA:
        """All strings of ``lo`` to ``hi`` characters (``hi=None``: no upper bound). It counts
        up to ``hi`` (or ``lo``), so the bound must stay below ``max_states``."""
        if lo < 0 or (hi is not None and hi < lo):
            raise ValueError(f"bad length bounds {lo}..{hi}")
        top = lo if hi is None else hi
        if top + 2 > max_states:
            raise GrammarTooLargeError(
                f"a length bound of {top} characters needs {top + 2} automaton states, more "
                f"than the limit of {max_states}"
            )
        # States 0..top count characters; top + 1 is dead.
        trans = [[i + 1] for i in range(top + 1)] + [[top + 1]]
        if hi is None:
            trans[top] = [top]
        accept = [lo <= i <= top for i in range(top + 1)] + [False]
        return cls([_VALID], trans, accept)

    @classmethod
    def everything(cls) -> CharDFA:
        """All strings of valid characters."""
        return cls.length_between(0, None)

    # -- boolean operations --

    def intersect(self, other: CharDFA, *, max_states: int = DEFAULT_MAX_STATES) -> CharDFA:
        """Strings in both languages."""
        return _product(self, other, "and", max_states)

    def union(self, other: CharDFA, *, max_states: int = DEFAULT_MAX_STATES) -> CharDFA:
        """Strings in either language."""
        return _product(self, other, "or", max_states)

    def difference(self, other: CharDFA, *, max_states: int = DEFAULT_MAX_STATES) -> CharDFA:
        """Strings in this language and not in ``other``."""
        return _product(self, other, "and not", max_states)

    def complement(self) -> CharDFA:
        """All strings of valid characters not in this language."""
        return CharDFA(
            list(self._classes), [list(r) for r in self._trans], [not a for a in self._accept]
        )

    # -- queries --

    @property
    def num_states(self) -> int:
        """Number of states, the dead state included (a complete DFA has one unless it accepts
        every string that starts like some accepted one)."""
        return len(self._accept)

    @property
    def classes(self) -> tuple[CharSet, ...]:
        """The alphabet partition: class ``i`` is the code points (ranges) of column ``i``."""
        return self._classes

    @property
    def transitions(self) -> tuple[tuple[int, ...], ...]:
        """``transitions[state][class]``: the next state."""
        return self._trans

    @property
    def accepting(self) -> tuple[bool, ...]:
        """``accepting[state]``: whether the state accepts."""
        return self._accept

    @property
    def dead(self) -> int | None:
        """The state no string leads out of to acceptance (``None`` if there is none)."""
        return self._dead

    def is_empty(self) -> bool:
        """Whether no string is accepted."""
        return not any(self._accept)

    def is_universal(self) -> bool:
        """Whether every string of valid characters is accepted."""
        return all(self._accept)

    def accepts(self, text: str) -> bool:
        """Whether ``text`` is in the language (a string with a surrogate never is)."""
        state = 0
        for ch in text:
            c = self._class_of(ord(ch))
            if c < 0:
                return False
            state = self._trans[state][c]
            if state == self._dead:
                return False
        return self._accept[state]

    def accepts_prefix(self, text: str) -> bool:
        """Whether ``text`` starts some accepted string (the matcher's notion of viable)."""
        state = 0
        for ch in text:
            c = self._class_of(ord(ch))
            if c < 0:
                return False
            state = self._trans[state][c]
        return state != self._dead

    def shortest(self) -> str | None:
        """The shortest accepted string, the lexicographically least among those (by code
        point), or ``None`` for the empty language."""
        dist = self._distances()
        if dist[0] is None:
            return None
        out: list[str] = []
        state = 0
        while dist[state]:
            d = dist[state]
            best: tuple[int, int] | None = None
            for c, t in enumerate(self._trans[state]):
                if dist[t] == d - 1:
                    low = self._classes[c][0][0]
                    if best is None or low < best[0]:
                        best = (low, t)
            assert best is not None
            out.append(chr(best[0]))
            state = best[1]
        return "".join(out)

    def is_finite(self) -> bool:
        """Whether the language has finitely many strings."""
        live = [s for s in range(self.num_states) if s != self._dead]
        return not any(len(group) > 1 or group[0] in self._targets(group[0]) for group in
                       _sccs(live, self._targets))  # fmt: skip

    def count(self, cap: int) -> int:
        """How many strings the language has, or ``cap`` if that many or more (infinitely many
        included)."""
        if not self.is_finite():
            return cap
        sizes = [sum(hi - lo + 1 for lo, hi in c) for c in self._classes]
        counts: dict[int, int] = {}
        work = [0]
        while work:  # post-order over the (acyclic) live states, without recursion
            state = work[-1]
            if state in counts:
                work.pop()
                continue
            targets = [t for t in self._trans[state] if t != self._dead]
            pending = [t for t in targets if t not in counts]
            if pending:
                work.extend(pending)
                continue
            total = int(self._accept[state])
            for c, t in enumerate(self._trans[state]):
                if t != self._dead:
                    total += sizes[c] * counts[t]
            counts[state] = min(total, cap)
            work.pop()
        return counts[0]

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CharDFA)
            and self._accept == other._accept
            and self._classes == other._classes
            and self._trans == other._trans
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"<CharDFA states={self.num_states} classes={len(self._classes)}>"

    # -- back to IR --

    def to_rules(self, prefix: str) -> tuple[Expr, dict[str, Expr]]:
        """The language as character-level IR: an expression and the rules it references.

        Rule names start with ``prefix``; bodies use ``CharLeaf`` leaves and ``Ref`` s to each
        other (right-linear). Acyclic parts and small cycles come out Ref-free (counted runs of
        one class as ``Repeat``, one-state loops as stars); larger cycles become one rule per
        state, and so do large states reached from several others, so sizes stay linear in the
        DFA. No rule or branch leads to the dead state: every prefix the IR allows can still be
        completed. Nesting depth is kept under about 64 by cutting deep states into rules. The
        empty language gives ``(EMPTY, {})``.
        """
        return _Emitter(self, prefix).run()

    def to_expr(self) -> Expr:
        """The language as one Ref-free character-level expression. Raises
        :class:`GrammarTooLargeError` if that needs rules (use :meth:`to_rules`)."""
        expr, rules = self.to_rules("_")
        if rules:
            raise GrammarTooLargeError(
                f"this language needs {len(rules)} rules (for cycles or shared states) to stay "
                "linear in size; use CharDFA.to_rules"
            )
        return expr

    # -- internals --

    def _class_of(self, cp: int) -> int:
        """The class of code point ``cp``; -1 for a surrogate."""
        return self._ascii[cp] if cp < 128 else self._ids[bisect_right(self._starts, cp) - 1]

    def _targets(self, s: int) -> list[int]:
        return sorted({t for t in self._trans[s] if t != self._dead})

    def _distances(self) -> list[int | None]:
        """Characters from each state to acceptance (``None``: none)."""
        preds: list[set[int]] = [set() for _ in self._accept]
        for s, row in enumerate(self._trans):
            for t in row:
                preds[t].add(s)
        dist: list[int | None] = [0 if a else None for a in self._accept]
        queue = deque(s for s, a in enumerate(self._accept) if a)
        while queue:
            t = queue.popleft()
            for s in preds[t]:
                if dist[s] is None:
                    dist[s] = dist[t] + 1  # type: ignore[operator]
                    queue.append(s)
        return dist


def lower_utf8(expr: Expr) -> Expr:
    """A character-level expression with each ``CharLeaf`` leaf replaced by its UTF-8 bytes (for
    byte-level grammars such as number texts; JSON strings use ``jsonschema.lower_chars``)."""
    if isinstance(expr, CharLeaf):
        return utf8_expr(expr.chars)
    if isinstance(expr, Seq):
        return seq(*(lower_utf8(i) for i in expr.items))
    if isinstance(expr, Alt):
        return alt(*(lower_utf8(i) for i in expr.items))
    if isinstance(expr, Repeat):
        return repeat(lower_utf8(expr.item), expr.min, expr.max)
    return expr


# -- canonical minimal form ------------------------------------------------------------------------


def _canonical(
    classes: list[CharSet], trans: list[list[int]], accept: list[bool], start: int
) -> tuple[list[CharSet], list[list[int]], list[bool]]:
    """Trim unreachable states, minimise (Hopcroft), merge identical columns, order classes by
    lowest code point and number states breadth first from the start (state 0)."""
    # Reachable states only.
    seen = {start: 0}
    order = [start]
    for s in order:
        for t in trans[s]:
            if t not in seen:
                seen[t] = len(order)
                order.append(t)
    trans = [[seen[t] for t in trans[s]] for s in order]
    accept = [accept[s] for s in order]
    block = _hopcroft(trans, accept, len(classes))
    nb = max(block) + 1
    rep = [-1] * nb
    for s, b in enumerate(block):
        if rep[b] < 0:
            rep[b] = s
    btrans = [[block[t] for t in trans[rep[b]]] for b in range(nb)]
    baccept = [accept[rep[b]] for b in range(nb)]
    # Merge classes with identical columns.
    columns: dict[tuple[int, ...], list[int]] = {}
    for c in range(len(classes)):
        columns.setdefault(tuple(row[c] for row in btrans), []).append(c)
    merged = [(normalize(r for c in cs for r in classes[c]), cs[0]) for cs in columns.values()]
    merged = [m for m in merged if m[0]]
    merged.sort(key=lambda m: m[0][0][0])
    new_classes = [m[0] for m in merged]
    # Breadth-first numbering from the start block, classes in order.
    num = {block[0]: 0}
    bfs = [block[0]]
    for b in bfs:
        for _, c in merged:
            t = btrans[b][c]
            if t not in num:
                num[t] = len(bfs)
                bfs.append(t)
    out_trans = [[num[btrans[b][c]] for _, c in merged] for b in bfs]
    return new_classes, out_trans, [baccept[b] for b in bfs]


def _hopcroft(trans: list[list[int]], accept: list[bool], k: int) -> list[int]:
    """Hopcroft's partition refinement: the block (equivalence class) of each state. A
    splitter's predecessors are found through each state's incoming edges (not by asking
    every class about every member), so a round costs the edges into the splitter."""
    n = len(trans)
    incoming: list[list[tuple[int, int]]] = [[] for _ in range(n)]  # (class, source)
    for s, row in enumerate(trans):
        for c, t in enumerate(row):
            incoming[t].append((c, s))
    acc = {s for s in range(n) if accept[s]}
    rej = set(range(n)) - acc
    blocks: list[set[int]] = [b for b in (acc, rej) if b]
    block = [0] * n
    for i, b in enumerate(blocks):
        for s in b:
            block[s] = i
    work = set(range(len(blocks)))
    while work:
        sources_by_class: dict[int, list[int]] = {}
        for t in blocks[work.pop()]:
            for c, s in incoming[t]:
                sources_by_class.setdefault(c, []).append(s)
        for sources in sources_by_class.values():
            touched: dict[int, list[int]] = {}
            for s in sources:
                touched.setdefault(block[s], []).append(s)
            for b, members in touched.items():
                if len(members) == len(blocks[b]):
                    continue
                new = len(blocks)
                moved = set(members)
                blocks[b] -= moved
                blocks.append(moved)
                for s in members:
                    block[s] = new
                if b in work or len(moved) <= len(blocks[b]):
                    work.add(new)
                else:
                    work.add(b)
    return block


# -- subset construction ---------------------------------------------------------------------


def _leaf_chars(expr: Expr) -> CharSet:
    if isinstance(expr, CharLeaf):
        return normalize((max(lo, a), min(hi, b)) for lo, hi in expr.chars for a, b in _VALID)
    assert isinstance(expr, Bytes)
    if expr.mask >> 128:
        raise GrammarError(
            f"a byte-level expression with non-ASCII bytes ({expr!r}) has no character meaning"
        )
    return normalize((b, b) for b in range(128) if expr.mask >> b & 1)


class _NFA(ThompsonNFA):
    """Thompson NFA over leaf character sets (numbered) and epsilon moves."""

    __slots__ = ("edges", "leaves")

    def __init__(self, limit: int):
        super().__init__(limit)
        self.edges: list[list[tuple[int, int]]] = []
        self.leaves: dict[CharSet, int] = {}

    def _add_state(self) -> None:
        self.edges.append([])

    def too_large(self) -> Exception:
        return GrammarTooLargeError(
            f"the character automaton needs more than {self.limit} NFA states; "
            "simplify the expression (large counted repetitions multiply states)"
        )

    def leaf(self, expr: Expr, src: int, dst: int) -> None:
        if isinstance(expr, (CharLeaf, Bytes)):
            chars = _leaf_chars(expr)
            if chars:
                leaf = self.leaves.setdefault(chars, len(self.leaves))
                self.edges[src].append((leaf, dst))
        elif isinstance(expr, Ref):
            raise GrammarError(
                f"rule reference {expr.name!r} in a character-level expression: "
                "only regular expressions (no rules) can be turned into a CharDFA"
            )
        else:
            raise GrammarError(f"cannot build a character automaton from {expr!r}")


def _atoms(leaves: list[CharSet]) -> tuple[list[CharSet], list[int]]:
    """Partition the valid characters into atoms no leaf set splits; return the atoms and, for
    each leaf, the bit mask of the atoms it covers."""
    bounds = {0, SURROGATES[0], SURROGATES[1] + 1}
    for cs in leaves:
        for lo, hi in cs:
            bounds.add(lo)
            if hi < MAX_CODE_POINT:
                bounds.add(hi + 1)
    starts = sorted(bounds)
    sig = [0] * len(starts)
    for i, cs in enumerate(leaves):
        for lo, hi in cs:
            a = bisect_right(starts, lo) - 1
            b = bisect_right(starts, hi) - 1
            for j in range(a, b + 1):
                sig[j] |= 1 << i
    atom_of_sig: dict[int, int] = {}
    ranges: list[list[tuple[int, int]]] = []
    interval_atom = []
    for j, lo in enumerate(starts):
        hi = starts[j + 1] - 1 if j + 1 < len(starts) else MAX_CODE_POINT
        if lo == SURROGATES[0]:
            interval_atom.append(-1)
            continue
        a = atom_of_sig.setdefault(sig[j], len(ranges))
        if a == len(ranges):
            ranges.append([])
        ranges[a].append((lo, hi))
        interval_atom.append(a)
    masks = [0] * len(leaves)
    for j, s in enumerate(sig):
        a = interval_atom[j]
        if a < 0:
            continue
        bits = s
        while bits:
            low = bits & -bits
            masks[low.bit_length() - 1] |= 1 << a
            bits ^= low
    return [normalize(r) for r in ranges], masks


def _from_expr(expr: Expr, max_states: int) -> CharDFA:
    nfa = _NFA(max_states * 4)
    start, final = nfa.new(), nfa.new()
    nfa.build(expr, start, final)
    leaves = sorted(nfa.leaves, key=nfa.leaves.__getitem__)
    atoms, leaf_mask = _atoms(leaves)
    n_atoms = len(atoms)
    full = (1 << n_atoms) - 1

    closure_memo: dict[int, frozenset[int]] = {}

    def closure(s: int) -> frozenset[int]:
        """Epsilon closure restricted to states with character edges, and the final state."""
        known = closure_memo.get(s)
        if known is not None:
            return known
        seen = {s}
        stack = [s]
        out = set()
        while stack:
            u = stack.pop()
            if nfa.edges[u] or u == final:
                out.add(u)
            for v in nfa.eps[u]:
                if v not in seen:
                    seen.add(v)
                    stack.append(v)
        result = frozenset(out)
        closure_memo[s] = result
        return result

    ids: dict[frozenset[int], int] = {}
    order: list[frozenset[int]] = []

    def state_id(states: frozenset[int]) -> int:
        sid = ids.get(states)
        if sid is None:
            if len(order) >= max_states:
                raise GrammarTooLargeError(
                    f"the character automaton needs more than {max_states} DFA states; "
                    "simplify the expression (e.g. bounded repetitions of alternatives) "
                    "or raise max_states"
                )
            sid = ids[states] = len(order)
            order.append(states)
        return sid

    state_id(closure(start))
    dead = state_id(frozenset())
    trans: list[list[int]] = []
    for states in order:  # grows while we iterate
        by_mask: dict[int, set[int]] = {}
        for u in states:
            for leaf, v in nfa.edges[u]:
                by_mask.setdefault(leaf_mask[leaf], set()).add(v)
        blocks: list[tuple[int, frozenset[int]]] = [(full, frozenset())]
        for mask, targets in by_mask.items():
            refined = []
            for bm, tg in blocks:
                inside = bm & mask
                if inside:
                    refined.append((inside, tg | targets))
                    if bm ^ inside:
                        refined.append((bm ^ inside, tg))
                else:
                    refined.append((bm, tg))
            blocks = refined
        row = [dead] * n_atoms
        for bm, tg in blocks:
            if not tg:
                continue
            nxt: set[int] = set()
            for v in tg:
                nxt |= closure(v)
            t = state_id(frozenset(nxt))
            while bm:
                low = bm & -bm
                row[low.bit_length() - 1] = t
                bm ^= low
        trans.append(row)
    accept = [final in states for states in order]
    return CharDFA(atoms, trans, accept)


# -- products ------------------------------------------------------------------------------------


_OPERATIONS: dict[str, tuple[Callable[[bool, bool], bool], bool]] = {
    "and": (lambda x, y: x and y, True),
    "or": (lambda x, y: x or y, False),
    "and not": (lambda x, y: x and not y, True),
}
_MEMO_SIZE = 4096
# Schemas repeat their patterns, formats and key sets (every object of a schema with the same
# patternProperties, schema after schema in a server), and DFAs are immutable values.
_FROM_EXPR: dict[tuple[Expr, int], CharDFA] = {}
_PRODUCTS: dict[tuple[CharDFA, CharDFA, str, int], CharDFA] = {}


def _remember(memo: dict, key: object, value: CharDFA) -> CharDFA:
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[key] = value
    return value


def _product(a: CharDFA, b: CharDFA, operation: str, max_states: int) -> CharDFA:
    """The product automaton for ``operation`` (``"and"``, ``"or"``, ``"and not"``),
    memoised."""
    key = (a, b, operation, max_states)
    known = _PRODUCTS.get(key)
    if known is None:
        op, needs_left = _OPERATIONS[operation]
        known = _remember(_PRODUCTS, key, _build_product(a, b, op, needs_left, max_states))
    return known


def _build_product(
    a: CharDFA,
    b: CharDFA,
    op: Callable[[bool, bool], bool],
    needs_left: bool,
    max_states: int,
) -> CharDFA:
    """The product automaton with acceptance ``op``; with ``needs_left``, a pair whose left
    state is dead is dead (conjunctive operations), which keeps the product small."""
    # Refine the two class partitions into pairs.
    pieces_a = sorted((lo, hi, c) for c, cs in enumerate(a._classes) for lo, hi in cs)
    pieces_b = sorted((lo, hi, c) for c, cs in enumerate(b._classes) for lo, hi in cs)
    pair_id: dict[tuple[int, int], int] = {}
    ranges: list[list[tuple[int, int]]] = []
    i = j = 0
    while i < len(pieces_a) and j < len(pieces_b):
        lo = max(pieces_a[i][0], pieces_b[j][0])
        hi = min(pieces_a[i][1], pieces_b[j][1])
        if lo <= hi:
            key = (pieces_a[i][2], pieces_b[j][2])
            p = pair_id.setdefault(key, len(ranges))
            if p == len(ranges):
                ranges.append([])
            ranges[p].append((lo, hi))
        if pieces_a[i][1] < pieces_b[j][1]:
            i += 1
        else:
            j += 1
    pairs = list(pair_id)
    ids: dict[tuple[int, int], int] = {}
    order: list[tuple[int, int]] = []
    dead_a = a._dead

    def state_id(sa: int, sb: int) -> int:
        key = (sa, -1) if needs_left and sa == dead_a else (sa, sb)
        sid = ids.get(key)
        if sid is None:
            if len(order) >= max_states:
                raise GrammarTooLargeError(
                    f"the product of two character automata ({a.num_states} and "
                    f"{b.num_states} states) needs more than {max_states} states"
                )
            sid = ids[key] = len(order)
            order.append(key)
        return sid

    state_id(0, 0)
    trans: list[list[int]] = []
    accept: list[bool] = []
    for n, (sa, sb) in enumerate(order):
        if sb < 0:  # left side dead: so is the pair
            trans.append([n] * len(pairs))
            accept.append(False)
            continue
        ra, rb = a._trans[sa], b._trans[sb]
        trans.append([state_id(ra[ca], rb[cb]) for ca, cb in pairs])
        accept.append(op(a._accept[sa], b._accept[sb]))
    return CharDFA([normalize(r) for r in ranges], trans, accept)


# -- back to IR ----------------------------------------------------------------------------------


def _sccs(nodes: list[int], succ: Callable[[int], Iterable[int]]) -> list[list[int]]:
    """Strongly connected components of the graph on ``nodes`` (edges to other nodes ignored),
    callees first, each sorted."""
    valid = set(nodes)
    graph = {n: [t for t in succ(n) if t in valid] for n in nodes}
    return [sorted(group) for group in strongly_connected(graph)]


def _counted(expr: Expr) -> tuple[Expr, int, int | None] | None:
    """``expr`` as ``(leaf, min, max)`` when it is a run of one ``CharLeaf`` leaf."""
    if isinstance(expr, CharLeaf):
        return expr, 1, 1
    if isinstance(expr, Repeat) and isinstance(expr.item, CharLeaf):
        return expr.item, expr.min, expr.max
    return None


def _prefixed(leaf: Expr, rest: Expr) -> Expr:
    """``seq(leaf, rest)``, merging ``leaf`` into a leading run of the same leaf."""
    head = rest.items[0] if isinstance(rest, Seq) and rest.items else rest
    run = _counted(head)
    if run is not None and run[0] == leaf:
        _, lo, hi = run
        merged = repeat(leaf, lo + 1, None if hi is None else hi + 1)
        return seq(merged, *rest.items[1:]) if isinstance(rest, Seq) else merged
    return seq(leaf, rest)


def _or_empty(expr: Expr) -> Expr:
    """``alt(EPSILON, expr)``, as a run with minimum 0 where ``expr`` is a run from 1."""
    run = _counted(expr)
    if run is not None and run[1] <= 1:
        return repeat(run[0], 0, run[2])
    return alt(EPSILON, expr)


class _Emitter:
    """Builds the right-linear IR of a CharDFA: for each live state, an expression for the
    strings that lead from it to acceptance, inlined into its users where that stays small."""

    def __init__(self, dfa: CharDFA, prefix: str):
        self.dfa = dfa
        self.prefix = prefix
        self.rules: dict[str, Expr] = {}
        self.use: dict[int, Expr] = {}  # state -> expression standing for it at a use site
        self.measure_memo: dict[int, tuple[int, int]] = {}
        self.keep: list[Expr] = []  # keeps measured objects alive (memo is keyed by id)
        dead = dfa._dead
        self.edges: dict[int, list[tuple[Expr, int]]] = {}
        indeg: dict[int, int] = {}
        for s, row in enumerate(dfa._trans):
            if s == dead:
                continue
            groups: dict[int, list[int]] = {}
            for c, t in enumerate(row):
                if t != dead:
                    groups.setdefault(t, []).append(c)
            out = []
            for t, cs in groups.items():
                chars = normalize(r for c in cs for r in dfa._classes[c])
                out.append((CharLeaf(chars), t))
                indeg[t] = indeg.get(t, 0) + 1
            out.sort(key=lambda e: e[0].chars[0][0])  # type: ignore[attr-defined]
            self.edges[s] = out
        self.indeg = indeg

    def run(self) -> tuple[Expr, dict[str, Expr]]:
        dfa = self.dfa
        if dfa._dead == 0:
            return EMPTY, {}
        live = [s for s in range(dfa.num_states) if s != dfa._dead]
        for group in _sccs(live, lambda s: [t for _, t in self.edges[s]]):
            if len(group) == 1 and all(t != group[0] for _, t in self.edges[group[0]]):
                s = group[0]
                self.settle(s, self.body(s, loop=None))
            elif len(group) == 1:
                s = group[0]
                loop = next(leaf for leaf, t in self.edges[s] if t == s)
                self.settle(s, self.body(s, loop=loop))
            elif not self.eliminate(group):
                for s in group:
                    self.use[s] = Ref(self.name(s))
                for s in group:
                    self.rules[self.name(s)] = self.body(s, loop=None)
        return self.use[0], self.rules

    def name(self, s: int) -> str:
        return f"{self.prefix}{s}"

    def body(self, s: int, loop: Expr | None) -> Expr:
        """The expression of state ``s`` from its edges; ``loop`` is its self-loop leaf."""
        branches = [_prefixed(leaf, self.use[t]) for leaf, t in self.edges[s] if t != s or
                    loop is None]  # fmt: skip
        if loop is None:
            if not branches:
                return EPSILON
            if len(branches) == 1 and self.dfa._accept[s]:
                return _or_empty(branches[0])
            return alt(EPSILON if self.dfa._accept[s] else EMPTY, *branches)
        tail = alt(EPSILON if self.dfa._accept[s] else EMPTY, *branches)
        return seq(star(loop), tail)

    def settle(self, s: int, body: Expr) -> None:
        """Record how users refer to ``s``: the body itself, or a rule when it is shared and
        large, or nested too deeply."""
        size, depth = self.measure(body)
        shared = self.indeg.get(s, 0) > 1
        if s != 0 and ((shared and size > _INLINE_SIZE) or depth > _MAX_DEPTH):
            self.rules[self.name(s)] = body
            self.use[s] = Ref(self.name(s))
        else:
            self.use[s] = body

    def measure(self, expr: Expr) -> tuple[int, int]:
        """(tree size, nesting depth) of ``expr``, memoised on shared nodes."""
        known = self.measure_memo.get(id(expr))
        if known is not None:
            return known
        if isinstance(expr, (Seq, Alt)):
            parts = [self.measure(i) for i in expr.items]
            result = (1 + sum(p[0] for p in parts), 1 + max((p[1] for p in parts), default=0))
        elif isinstance(expr, Repeat):
            inner = self.measure(expr.item)
            result = (1 + inner[0], 1 + inner[1])
        else:
            result = (1, 1)
        self.measure_memo[id(expr)] = result
        self.keep.append(expr)
        return result

    def eliminate(self, group: list[int]) -> bool:
        """Solve a small cycle group by Arden's rule (``X = A X | B`` gives ``X = A* B``) for
        each state entered from outside; False when it is too big or the result too large."""
        if len(group) > _ELIMINATE_STATES:
            return False
        members = set(group)
        inside = sum(1 for s in group for _, t in self.edges[s] if t in members)
        exits = sum(
            self.measure(self.use[t])[0]
            for s in group
            for _, t in self.edges[s]
            if t not in members
        )
        budget = 16 * (inside + len(group)) + exits  # each exit once, loops may grow 16-fold
        entries = [s for s in group if s == 0 or self.indeg.get(s, 0) > sum(
            1 for u in group for _, t in self.edges[u] if t == s)]  # fmt: skip
        results: dict[int, Expr] = {}
        for e in entries:
            solved = self.solve(group, e, budget)
            if solved is None:
                return False
            results[e] = solved
        for e, expr in results.items():
            self.settle(e, expr)
        return True

    def solve(self, group: list[int], entry: int, budget: int) -> Expr | None:
        members = set(group)
        # a[s][t]: leaf expression from s to t inside the group; b[s]: exits and acceptance.
        a: dict[int, dict[int, Expr]] = {s: {} for s in group}
        b: dict[int, Expr] = {}
        for s in group:
            exits = []
            for leaf, t in self.edges[s]:
                if t in members:
                    a[s][t] = leaf
                else:
                    exits.append(_prefixed(leaf, self.use[t]))
            b[s] = alt(EPSILON if self.dfa._accept[s] else EMPTY, *exits)
        remaining = list(group)
        while len(remaining) > 1:
            # Eliminate the non-entry state with the fewest in*out neighbours.
            def cost(r: int) -> int:
                ins = sum(1 for s in remaining if s != r and r in a[s])
                outs = sum(1 for t in a[r] if t != r)
                return ins * outs

            r = min((s for s in remaining if s != entry), key=cost)
            remaining.remove(r)
            loop = a[r].pop(r, None)
            head = star(loop) if loop is not None else EPSILON
            for s in remaining:
                into = a[s].pop(r, None)
                if into is None:
                    continue
                via = seq(into, head)
                for t, out in a[r].items():
                    a[s][t] = alt(a[s][t], seq(via, out)) if t in a[s] else seq(via, out)
                b[s] = alt(b[s], seq(via, b[r]))
                if self.measure(b[s])[0] > budget or any(
                    self.measure(x)[0] > budget for x in a[s].values()
                ):
                    return None
        loop = a[entry].get(entry)
        result = seq(star(loop), b[entry]) if loop is not None else b[entry]
        size, depth = self.measure(result)
        return result if size <= budget and depth <= _MAX_DEPTH else None


# -- multipleOf ----------------------------------------------------------------------------------

_MINUS, _DOT = 10, 11  # class numbers for "-" and "."; digits are classes 0..9, 12 is the rest


def multiple_of(
    m: int | float | Decimal,
    *,
    integer: bool,
    max_states: int = MULTIPLE_OF_MAX_STATES,
) -> CharDFA:
    """The JSON number texts without exponent (RFC 8259: ``-?(0|[1-9][0-9]*)(\\.[0-9]+)?``)
    whose value is a multiple of ``m > 0`` (a float is read as ``Decimal(repr(m))``).

    With ``integer``, only integers: no fraction except an all-zero one (``4.0``), and no
    ``-0`` in any form, as ``jsonschema.integer_range`` and the ``integer`` type write them.
    Otherwise ``-0`` forms are allowed, as in ``_number()`` (they are zero, a multiple).

    For ``m = p/q`` in lowest terms (``q = 2^a 5^b``, ``K = max(a, b)``) a multiple has at most
    ``K`` nonzero fraction digits, and the automaton tracks ``value * 10^K`` modulo
    ``M = m * 10^K``. Raises :class:`GrammarTooLargeError` naming ``multipleOf`` when that needs
    more than ``max_states`` states (e.g. ``multipleOf: 0.123456789``).
    """
    if isinstance(m, bool) or not isinstance(m, (int, float, Decimal)):
        raise GrammarError(f"multipleOf must be a number, not {m!r}")
    d = Decimal(repr(m)) if isinstance(m, float) else Decimal(m)
    if not d.is_finite() or d <= 0:
        raise GrammarError(f"multipleOf must be a finite number > 0, not {m!r}")
    f = Fraction(d)
    p, q = f.numerator, f.denominator
    k = 0
    while 10**k % q:
        k += 1
    big_m = p * 10**k // q
    # Integer part: at most p residues (see below); "." and fraction position j < K: at most
    # M / gcd(M, 10^(K-j)); where only zeros may follow, just whether the residue is 0.
    zeros_only = integer or k == 0
    estimate = p + (2 if zeros_only else p) + 10
    if not integer:
        estimate += sum(big_m // math.gcd(big_m, 10 ** (k - j)) for j in range(1, k))
    if estimate > max_states:
        raise GrammarTooLargeError(
            f"multipleOf {m}: the texts of its multiples need an automaton of about "
            f"{estimate} states, more than the limit of {max_states}"
        )
    scale = 10**k % big_m
    # States: ("start",), ("sign",), ("zero",), ("int", s), ("dot", s), ("frac", j, s), ("dead",)
    # with s = (value read so far) * 10^K mod M, as if the text ended here (an integer part only
    # matters modulo p: N * 10^K mod M = (10^K / q) * (N * q mod p)); j = fraction digits read.
    # Once only zeros may follow, s is reduced to whether it is 0 (then 0, else 1).
    ids: dict[tuple[int | str, ...], int] = {}
    order: list[tuple[int | str, ...]] = []

    def sid(key: tuple[int | str, ...]) -> int:
        n = ids.get(key)
        if n is None:
            if len(order) >= max_states:
                raise GrammarTooLargeError(
                    f"multipleOf {m}: the texts of its multiples need an automaton of more "
                    f"than {max_states} states"
                )
            n = ids[key] = len(order)
            order.append(key)
        return n

    sid(("start",))
    dead = sid(("dead",))
    trans: list[list[int]] = []
    accept: list[bool] = []
    for key in order:
        row = [dead] * 13
        kind = key[0]
        ok = False
        if kind in ("start", "sign"):
            if kind == "start":
                row[_MINUS] = sid(("sign",))
            if kind == "start" or not integer:
                row[0] = sid(("zero",))
            for digit in range(1, 10):
                row[digit] = sid(("int", digit * scale % big_m))
        elif kind == "zero":
            ok = True
            row[_DOT] = sid(("dot", 0))
        elif kind == "int":
            s = key[1]
            assert isinstance(s, int)
            ok = s == 0
            for digit in range(10):
                row[digit] = sid(("int", (10 * s + digit * scale) % big_m))
            row[_DOT] = sid(("dot", min(s, 1) if zeros_only else s))
        elif kind in ("dot", "frac"):
            j, s = (0, key[1]) if kind == "dot" else (key[1], key[2])
            assert isinstance(j, int) and isinstance(s, int)
            ok = kind == "frac" and s == 0
            for digit in range(1 if integer or j >= k else 10):
                step = digit * 10 ** (k - j - 1) if j < k else 0
                nxt = (s + step) % big_m
                if integer or j + 1 >= k:
                    row[digit] = sid(("frac", k, min(nxt, 1)))
                else:
                    row[digit] = sid(("frac", j + 1, nxt))
        trans.append(row)
        accept.append(ok)
    classes: list[CharSet] = [((0x30 + i, 0x30 + i),) for i in range(10)]
    classes += [((0x2D, 0x2D),), ((0x2E, 0x2E),)]
    classes.append(difference(_VALID, ((0x2D, 0x2E), (0x30, 0x39))))
    return CharDFA(classes, trans, accept)
