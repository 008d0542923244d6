"""Byte-level automata with call edges, built on demand: a recursive transition network (a
pushdown automaton) whose states are materialised when a matcher or the mask store reaches them.

A *frame* is what the runtime stack holds: a rule and a position in its body. The position is
a set of *terms* (partial derivatives, as in Antimirov's construction): each term is a tuple of
IR expressions still to be matched in order, normalised so that it starts with a byte set or a
call of a rule, or is empty (the rule may return). Reading a byte keeps the terms whose first
item accepts it and drops that item; a call edge does the same for a rule reference. So a state
is a small set of suffixes of the rule body, nothing is unrolled in advance, and a bounded
repetition ``x{m,n}`` is a counter in the term (``x x{m-1,n-1} ...``): compile costs what the
first steps need, not what the whole language needs.

Non-recursive rules are expanded in place when a term reaches them (lazy inlining); recursive
ones, and large rules used from several places, stay calls. Every expression of a normalised
grammar has a non-empty language, so every frame can still reach a return: no dead ends.

:class:`Automaton` is the table of frames, shared by all matchers of a grammar; it only grows,
under a lock, and a frame's row never changes once written.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping

from .errors import GrammarTooLargeError
from .graphs import strongly_connected
from .ir import (
    EPSILON,
    Alt,
    Bytes,
    Expr,
    Lazy,
    Ref,
    Repeat,
    Seq,
    mask_bytes,
    nullable,
    repeat,
    rule_refs,
)

DEFAULT_MAX_STATES = 200_000


Term = tuple  # tuple[Expr, ...]: expressions to match in order; () = the rule may return
INFINITE = 1 << 62


class Automaton:
    """The frames of a grammar, created and expanded on first use.

    Per frame ``f`` (lists indexed by frame, growing as frames are found):

    - ``accepting[f]``: the frame's rule may return here; ``next_bytes[f]``: bitmask of the bytes
      ``f`` can consume; ``frame_rule[f]``: its rule. Known as soon as the frame exists.
    - ``byte_next[f]`` (byte -> next frame) and ``calls[f]`` ((callee start frame, return frame)
      pairs; return frame -1 for a tail call): ``None`` until :meth:`expand` writes them.

    ``rule_start`` maps the rules called so far to their first frame; ``start`` is the start
    rule's first frame.
    """

    def __init__(
        self,
        rules: Mapping[str, Expr],
        start: str,
        *,
        inline: Iterable[str] = (),
        max_states: int = DEFAULT_MAX_STATES,
    ):
        self.rules = dict(rules)
        self.inlined = frozenset(inline)
        self.start_rule = start
        self.max_states = max_states
        self.byte_next: list[dict[int, int] | None] = []
        self.calls: list[tuple[tuple[int, int], ...] | None] = []
        self.accepting: list[bool] = []
        self.next_bytes: list[int] = []
        self.frame_rule: list[str] = []
        self.frame_terms: list[frozenset[Term]] = []
        self.rule_start: dict[str, int] = {}
        self._ids: dict[tuple[str, frozenset[Term]], int] = {}
        self._closures: dict[Term, frozenset[Term]] = {}
        self._node_closures: dict[Expr, frozenset[Term]] = {}
        self._lock = threading.RLock()
        self._lengths: _MinLengths | None = None
        self._follow: _FollowSets | None = None
        self._digests: _Digests | None = None
        self.start = self.rule_start_frame(start)

    @property
    def num_frames(self) -> int:
        """Frames found so far (more appear as the automaton is explored)."""
        return len(self.accepting)

    # -- construction ---------------------------------------------------------------------------

    def rule_start_frame(self, rule: str) -> int:
        """The first frame of ``rule`` (created on first use)."""
        frame = self.rule_start.get(rule)
        if frame is None:
            with self._lock:
                frame = self.rule_start.get(rule)
                if frame is None:
                    frame = self._frame(rule, self._close((self.rules[rule],)))
                    self.rule_start[rule] = frame
        return frame

    def expand(self, frame: int) -> tuple[tuple[int, int], ...]:
        """Write ``byte_next[frame]`` and ``calls[frame]`` (if not done yet); return the calls."""
        row = self.calls[frame]
        if row is not None:
            return row
        with self._lock:
            row = self.calls[frame]
            if row is not None:
                return row
            rule = self.frame_rule[frame]
            by_mask: dict[int, list[Term]] = {}
            by_call: dict[str, list[Term]] = {}
            for term in self.frame_terms[frame]:
                if not term:
                    continue
                head = term[0]
                if head.__class__ is Bytes:
                    by_mask.setdefault(head.mask, []).append(term[1:])
                else:
                    by_call.setdefault(head.name, []).append(term[1:])
            byte_row: dict[int, int] = {}
            for byte_class, rests in _byte_classes(by_mask):
                target = self._frame(rule, self._close_all(rests))
                for byte in mask_bytes(byte_class):
                    byte_row[byte] = target
            call_row = []
            for callee in sorted(by_call):
                returned = self._close_all(by_call[callee])
                ret = -1 if returned == _ONLY_END else self._frame(rule, returned)
                call_row.append((self.rule_start_frame(callee), ret))
            self.byte_next[frame] = byte_row
            row = self.calls[frame] = tuple(call_row)
            return row

    def explore(self) -> int:
        """Expand every frame reachable from the start (bounded by ``max_states``); returns the
        number of frames. For tools and tests: matchers never need the whole automaton."""
        frame = 0
        while frame < self.num_frames:
            self.expand(frame)
            frame += 1
        return self.num_frames

    def _frame(self, rule: str, terms: frozenset[Term]) -> int:
        key = (rule, terms)
        frame = self._ids.get(key)
        if frame is not None:
            return frame
        if len(self.accepting) >= self.max_states:
            raise GrammarTooLargeError(
                f"rule {rule!r} needs more than {self.max_states} states (automaton frames); "
                "simplify it (e.g. bounded repetitions of alternatives) or raise max_states"
            )
        accepting = False
        mask = 0
        for term in terms:
            if not term:
                accepting = True
            elif term[0].__class__ is Bytes:
                mask |= term[0].mask
        frame = len(self.accepting)
        self._ids[key] = frame
        self.frame_rule.append(rule)
        self.frame_terms.append(terms)
        self.accepting.append(accepting)
        self.next_bytes.append(mask)
        self.byte_next.append(None)
        self.calls.append(None)
        return frame

    def _close_all(self, terms: list[Term]) -> frozenset[Term]:
        if len(terms) == 1:
            return self._close(terms[0])
        out: set[Term] = set()
        for term in terms:
            out |= self._close(term)
        return frozenset(out)

    def _close(self, term: Term) -> frozenset[Term]:
        """The terms ``term`` stands for once expanded until each starts with a byte set or a
        call, or is empty (epsilon closure; memoised).

        The closure of ``(x, *rest)`` is the closure of ``x`` alone (memoised per expression)
        with ``rest`` appended, plus the closure of ``rest`` where ``x`` can be empty: an
        expression's structure is expanded once, whatever follows it."""
        known = self._closures.get(term)
        if known is not None:
            return known
        out: set[Term] = set()
        try:
            current = term
            while current:
                rest = current[1:]
                inner = self._node_closure(current[0])
                if rest:
                    out.update(t + rest for t in inner if t)
                else:
                    out.update(t for t in inner if t)
                if () not in inner:
                    break
                current = rest
            else:
                out.add(())
        except RecursionError:  # expressions nested too deeply for the recursive form
            out = set(self._close_iteratively(term))
        result = frozenset(out)
        if len(self._closures) > 200_000:
            self._closures.clear()
        self._closures[term] = result
        return result

    def _node_closure(self, node: Expr) -> frozenset[Term]:
        """The head-normal terms of ``node`` alone (``()`` if it can be empty), memoised."""
        known = self._node_closures.get(node)
        if known is not None:
            return known
        kind = node.__class__
        if kind is Bytes:
            result = frozenset([(node,)]) if node.mask else frozenset()
        elif kind is Ref:
            if node.name in self.inlined:
                result = self._node_closure(self.rules[node.name])
            else:
                result = frozenset([(node,)])
        elif kind is Seq:
            result = self._close(node.items)
        elif kind is Alt:
            found: set[Term] = set()
            for item in node.items:
                found |= self._node_closure(item)
            result = frozenset(found)
        elif kind is Repeat:
            if node.max == 0:
                result = _ONLY_END
            else:
                item = self._node_closure(node.item)
                if () in item:
                    # x nullable: x{m,n} is x{0,n} = "" | x' x{0,n-1} (x' non-empty x), and
                    # x{0,n-1} is already covered by x' x{0,n-1} and "".
                    more = repeat(node.item, 0, None if node.max is None else node.max - 1)
                    low = 0
                else:
                    low = node.min
                    more = repeat(
                        node.item, max(low - 1, 0), None if node.max is None else node.max - 1
                    )
                suffix = () if more == EPSILON else (more,)
                found = {t + suffix for t in item if t}
                if low == 0:
                    found.add(())
                result = frozenset(found)
        elif kind is Lazy:
            result = self._node_closure(node.machine.step(node.state))
        else:
            raise TypeError(f"not an IR expression: {node!r}")
        if len(self._node_closures) > 200_000:
            self._node_closures.clear()
        self._node_closures[node] = result
        return result

    def _close_iteratively(self, term: Term) -> frozenset[Term]:
        """:meth:`_close` without recursion (a work list of terms), for deep expressions."""
        out: set[Term] = set()
        seen: set[Term] = set()
        work = [term]
        inlined, rules = self.inlined, self.rules
        while work:
            current = work.pop()
            if current in seen:
                continue
            seen.add(current)
            if not current:
                out.add(current)
                continue
            head = current[0]
            kind = head.__class__
            if kind is Bytes:
                if head.mask:
                    out.add(current)
            elif kind is Seq:
                work.append(head.items + current[1:])
            elif kind is Alt:
                rest = current[1:]
                work.extend((item, *rest) for item in head.items)
            elif kind is Repeat:
                rest = current[1:]
                if head.max == 0:
                    work.append(rest)
                    continue
                if head.min == 0:
                    work.append(rest)
                more = repeat(
                    head.item, max(head.min - 1, 0), None if head.max is None else head.max - 1
                )
                work.append((head.item, more, *rest) if more != EPSILON else (head.item, *rest))
            elif kind is Ref:
                if head.name in inlined:
                    work.append((rules[head.name], *current[1:]))
                else:
                    out.add(current)
            elif kind is Lazy:
                work.append((head.machine.step(head.state), *current[1:]))
            else:
                raise TypeError(f"not an IR expression: {head!r}")
        return frozenset(out)

    # -- analyses on demand ---------------------------------------------------------------------

    def finish_length(self, frame: int) -> int:
        """The fewest bytes that take ``frame``'s rule to a return (calls cost their callee's
        shortest string)."""
        if self._lengths is None:
            self._lengths = _MinLengths(self.rules, self.inlined)
        lengths = self._lengths
        return min((lengths.term(t) for t in self.frame_terms[frame]), default=INFINITE)

    def follow_bytes(self, rule: str) -> int:
        """Bitmask of the bytes that can come right after ``rule`` returns, at any call site
        (a superset: it only lets the mask store reject tokens early)."""
        if self._follow is None:
            with self._lock:
                if self._follow is None:
                    self._follow = _FollowSets(self.rules)
        with self._lock:
            return self._follow.of(rule)

    def signature(self, frame: int, horizon: int) -> str:
        """A content hash of what decides how tokens of at most ``horizon - 1`` bytes read from
        ``frame``: its terms, cut where at least ``horizon`` more bytes are needed, with
        repetition counts capped at ``horizon`` (a 1,000-character string has one signature for
        all positions that are far from its end), and the definitions of the called rules it
        can reach (not the whole grammar's). Equal signatures classify every such token the
        same way, in any grammar."""
        return self._made_digests().frame(self.frame_terms[frame], horizon)

    def identity(self, frame: int) -> str:
        """A content hash of ``frame`` within this grammar: its rule and its terms, exactly.
        The same frame of the same grammar has the same identity in every process, so a
        grammar's cached classifications can be found by frame; unlike :meth:`signature` it
        does not cover the called rules, so it only holds within one grammar."""
        digests = self._made_digests()
        parts = sorted(digests.term(t, INFINITE)[0] for t in self.frame_terms[frame])
        return _hash(f"f1;{self.frame_rule[frame]};" + "|".join(parts))

    def _made_digests(self) -> _Digests:
        if self._digests is None:
            with self._lock:
                if self._digests is None:
                    if self._lengths is None:
                        self._lengths = _MinLengths(self.rules, self.inlined)
                    self._digests = _Digests(self.rules, self.inlined, self._lengths)
        return self._digests


_ONLY_END: frozenset[Term] = frozenset([()])


def _byte_classes(by_mask: dict[int, list[Term]]) -> list[tuple[int, list[Term]]]:
    """Split the bytes of the masks into classes no mask distinguishes; each with the rests of
    the terms whose mask covers it."""
    if not by_mask:
        return []
    if len(by_mask) == 1:
        ((mask, rests),) = by_mask.items()
        return [(mask, rests)]
    classes: list[int] = []
    union = 0
    for mask in by_mask:
        union |= mask
    classes = [union]
    for mask in by_mask:
        split: list[int] = []
        for c in classes:
            inside, outside = c & mask, c & ~mask
            if inside:
                split.append(inside)
            if outside:
                split.append(outside)
        classes = split
    out = []
    for c in classes:
        rests = [r for mask, group in by_mask.items() if mask & c for r in group]
        out.append((c, rests))
    return out


class _MinLengths:
    """Shortest string lengths of expressions and rules, computed when first asked for: a
    rule's length by the strongly connected components of the rules it reaches that are not
    known yet (callees first, a fixed point only inside a recursive component), so a frame of a
    large grammar pays for the rules its terms reach, not for the whole grammar."""

    def __init__(self, rules: Mapping[str, Expr], inlined: frozenset[str]):
        self.rules = rules
        self.inlined = inlined
        self.rule: dict[str, int] = {}  # final lengths
        # Keyed by the node (hashes are cached on IR nodes): an id could be reused by a later
        # node. Only values over final rule lengths are kept here.
        self._memo: dict[Expr, int] = {}

    def rule_length(self, name: str) -> int:
        """The shortest length of rule ``name`` (INFINITE: it derives no string)."""
        known = self.rule.get(name)
        if known is None:
            if name not in self.rules:
                return INFINITE
            self._solve(name)
            known = self.rule[name]
        return known

    def _solve(self, root: str) -> None:
        rules = self.rules
        unknown = _RefsAmong(rules, self.rule)
        for group in strongly_connected(unknown, roots=(root,)):
            if len(group) == 1 and group[0] not in rule_refs(rules[group[0]]):
                (name,) = group
                self.rule[name] = self._length(rules[name], self._memo, None)
                continue
            # A recursive component: least fixed point by a worklist, from "no string".
            members = set(group)
            values = dict.fromkeys(group, INFINITE)
            users: dict[str, list[str]] = {}
            for name in group:
                for ref in rule_refs(rules[name]) & members:
                    users.setdefault(ref, []).append(name)
            todo = list(group)
            queued = set(todo)
            while todo:
                name = todo.pop()
                queued.discard(name)
                value = self._length(rules[name], {}, values)
                if value < values[name]:
                    values[name] = value
                    for user in users.get(name, ()):
                        if user not in queued:
                            queued.add(user)
                            todo.append(user)
            self.rule.update(values)

    def _length(self, expr: Expr, memo: dict[Expr, int], values: dict[str, int] | None) -> int:
        """The shortest length of ``expr``, its references read from the final lengths or, for
        the component being solved, from ``values``."""
        kind = expr.__class__
        if kind is Bytes:
            return 1
        if kind is Ref:
            name = expr.name  # type: ignore[union-attr]
            if values is not None and name in values:
                return values[name]
            found = self.rule.get(name)
            return found if found is not None else self.rule_length(name)
        if kind is Lazy:
            return expr.machine.shortest(expr.state)  # type: ignore[union-attr]
        known = memo.get(expr)
        if known is not None:
            return known
        if kind is Seq:
            value = 0
            for item in expr.items:  # type: ignore[union-attr]
                value += self._length(item, memo, values)
        elif kind is Alt:
            value = INFINITE
            for item in expr.items:  # type: ignore[union-attr]
                length = self._length(item, memo, values)
                if length < value:
                    value = length
        else:
            low = expr.min  # type: ignore[union-attr]
            value = 0 if low == 0 else low * self._length(expr.item, memo, values)  # type: ignore[union-attr]
        value = min(value, INFINITE)
        memo[expr] = value
        return value

    def expr(self, expr: Expr) -> int:
        """The shortest length of ``expr`` (the rules it reaches are solved first)."""
        return self._length(expr, self._memo, None)

    def term(self, term: Term) -> int:
        total = 0
        for item in term:
            total += self._length(item, self._memo, None)
        return min(total, INFINITE)


class _RefsAmong(Mapping[str, frozenset[str]]):
    """The reference graph of the rules whose lengths are not known yet (a view for
    :func:`strongly_connected`, which only walks what it reaches)."""

    def __init__(self, rules: Mapping[str, Expr], known: Mapping[str, int]):
        self.rules = rules
        self.known = known

    def __getitem__(self, name: str) -> frozenset[str]:
        return rule_refs(self.rules[name])

    def __contains__(self, name: object) -> bool:
        return name in self.rules and name not in self.known

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (name for name in self.rules if name not in self.known)

    def __len__(self) -> int:
        return sum(1 for _ in self)


# Normalised rules reference no rule that derives the empty string (only the start rule may,
# and nothing references it then): FOLLOW sets need no fixed point over the whole grammar
# (tens of ms on large schemas) before the first mask.
_NO_NULLABLE_REFS: frozenset[str] = frozenset()


class _FollowSets:
    """FOLLOW sets (byte bitmasks) of the rules of a context-free grammar over regular bodies:
    FOLLOW(X) holds FIRST of what comes after each reference to X, and FOLLOW(A) where that can
    be empty inside A's body. Over-approximations are safe (they only keep tokens uncertain).
    Computed per rule when first asked for: only the bodies that reference the rule are read
    (and, where it can end them, those that reference their rules, transitively), so a large
    grammar pays for the rules the mask store meets, not for all of them."""

    def __init__(self, rules: Mapping[str, Expr]):
        self.rules = rules
        self._first_memo: dict[int, int] = {}
        self._rule_first: dict[str, int] = {}
        self._users: dict[str, list[str]] | None = None
        self._direct: dict[str, int] = {}  # FIRST of what follows a reference, by rule
        self._inherits: dict[str, set[str]] = {}  # rules whose end a rule's reference can be
        self._read: set[str] = set()  # rules whose bodies were read
        self._seen: set[tuple[str, int, int, bool]] = set()
        self._known: dict[str, int] = {}

    def of(self, rule: str) -> int:
        """The FOLLOW set of ``rule``."""
        known = self._known.get(rule)
        if known is not None:
            return known
        if self._users is None:
            users: dict[str, list[str]] = {}
            for name, body in self.rules.items():
                for ref in rule_refs(body):
                    users.setdefault(ref, []).append(name)
            self._users = users
        # The rules whose FOLLOW flows into this one's: it and the rules it can end.
        group = [rule]
        queued = {rule}
        for current in group:
            for user in self._users.get(current, ()):
                if user not in self._read:
                    self._read.add(user)
                    self._visit(self.rules[user], user)
            for owner in self._inherits.get(current, ()):
                if owner not in queued and owner not in self._known:
                    queued.add(owner)
                    group.append(owner)
        values = {name: self._direct.get(name, 0) for name in group}
        heirs: dict[str, list[str]] = {}
        for name in group:
            for owner in self._inherits.get(name, ()):
                if owner in values:
                    heirs.setdefault(owner, []).append(name)
                else:
                    values[name] |= self._known[owner]
        # a work list, so a long chain of such rules costs one pass along it
        todo = [name for name in heirs if values[name]]
        while todo:
            owner = todo.pop()
            value = values[owner]
            for heir in heirs.get(owner, ()):
                have = values[heir]
                if value | have != have:
                    values[heir] = value | have
                    todo.append(heir)
        self._known.update(values)
        return values[rule]

    def _first(self, expr: Expr) -> int:
        kind = expr.__class__
        if kind is Bytes:
            return expr.mask  # type: ignore[union-attr]
        if kind is Ref:
            name = expr.name  # type: ignore[union-attr]
            known = self._rule_first.get(name)
            if known is None:
                self._rule_first[name] = 0  # no left recursion remains: cycles only add nothing
                known = self._rule_first[name] = self._first(self.rules[name])
            return known
        if kind is Lazy:  # (a machine returns the same step expression for a state)
            return self._first(expr.machine.step(expr.state))  # type: ignore[union-attr]
        known = self._first_memo.get(id(expr))
        if known is not None:
            return known
        value = 0
        if kind is Seq:
            for item in expr.items:  # type: ignore[union-attr]
                value |= self._first(item)
                if not nullable(item, _NO_NULLABLE_REFS):
                    break
        elif kind is Alt:
            for item in expr.items:  # type: ignore[union-attr]
                value |= self._first(item)
        else:
            value = self._first(expr.item)  # type: ignore[union-attr]
        self._first_memo[id(expr)] = value
        return value

    def _visit(self, body: Expr, owner: str) -> None:
        """Record what follows each reference in ``owner``'s ``body``."""
        direct, inherits, seen, first = self._direct, self._inherits, self._seen, self._first
        work = [(body, 0, True)]
        while work:
            node, after, may_end = work.pop()
            kind = node.__class__
            if kind is Ref:
                name = node.name  # type: ignore[union-attr]
                direct[name] = direct.get(name, 0) | after
                if may_end:
                    inherits.setdefault(name, set()).add(owner)
                continue
            if kind is Bytes or not rule_refs(node):
                continue
            key = (owner, id(node), after, may_end)
            if key in seen:
                continue
            seen.add(key)
            if kind is Seq:
                for item in reversed(node.items):  # type: ignore[union-attr]
                    work.append((item, after, may_end))
                    if nullable(item, _NO_NULLABLE_REFS):
                        after |= first(item)
                    else:
                        after, may_end = first(item), False
            elif kind is Alt:
                work.extend((item, after, may_end) for item in node.items)  # type: ignore[union-attr]
            else:
                again = node.max is None or node.max > 1  # type: ignore[union-attr]
                work.append((node.item, after | (first(node.item) if again else 0), may_end))  # type: ignore[union-attr]


class _Digests:
    """Deterministic content hashes of expressions (repetition counts capped at a horizon) and
    of frames (their terms cut at the horizon)."""

    def __init__(self, rules: Mapping[str, Expr], inlined: frozenset[str], lengths: _MinLengths):
        self.rules = rules
        self.inlined = inlined
        self.lengths = lengths
        self._memo: dict[tuple[int, int], str] = {}
        self._keep: list[Expr] = []  # derived nodes hashed by id stay alive
        self._rule_called: dict[str, frozenset[str]] = {}
        self._terms: dict[tuple[Term, int], tuple[str, frozenset[str]]] = {}
        self._closures: dict[str, str] = {}  # called rule -> closure hash

    def called_refs(self, expr: Expr) -> frozenset[str]:
        """The rules that stay calls which ``expr`` references, directly or through inlined
        rules."""
        out: set[str] = set()
        for name in rule_refs(expr):
            if name not in self.inlined:
                out.add(name)
                continue
            known = self._rule_called.get(name)
            if known is None:
                self._rule_called[name] = frozenset()  # (inlined rules do not recurse)
                known = self._rule_called[name] = self.called_refs(self.rules[name])
            out |= known
        return frozenset(out)

    def closure(self, name: str) -> str:
        """A hash of the called rule ``name`` and of every called rule it reaches: their names
        and exact bodies (a Merkle hash over the components of the call graph, computed for
        the rules reached, not for the whole grammar)."""
        known = self._closures.get(name)
        if known is not None:
            return known
        graph = _CallsAmong(self, self._closures)
        for group in strongly_connected(graph, roots=(name,)):
            members = set(group)
            bodies = sorted(f"{m}={self.expr(self.rules[m], 0)}" for m in group)
            below = sorted({self._closures[c] for m in group for c in graph[m] if c not in members})
            digest = _hash("k;" + ";".join(bodies) + "|" + ",".join(below))
            for m in group:
                self._closures[m] = digest
        return self._closures[name]

    def expr(self, expr: Expr, horizon: int) -> str:
        """The hash of ``expr``; ``horizon`` > 0 caps repetition counts (0: exact)."""
        key = (id(expr), horizon)
        known = self._memo.get(key)
        if known is not None:
            return known
        # Post-order without recursion: inlined rules can nest deeply.
        stack: list[tuple[Expr, bool]] = [(expr, False)]
        memo = self._memo
        while stack:
            node, ready = stack.pop()
            node_key = (id(node), horizon)
            if node_key in memo:
                continue
            kind = node.__class__
            if kind is Ref and node.name in self.inlined:
                children: tuple = (self.rules[node.name],)
            elif kind in (Seq, Alt):
                children = node.items
            elif kind is Repeat:
                children = (node.item,)
            else:
                children = ()
            if not ready and children:
                stack.append((node, True))
                stack.extend((c, False) for c in children if (id(c), horizon) not in memo)
                continue
            if kind is Bytes:
                text = f"b{node.mask:x}"
            elif kind is Lazy:
                text = "l" + node.machine.key(node.state, horizon)
            elif kind is Ref:
                if node.name in self.inlined:
                    text = memo[(id(children[0]), horizon)]
                else:
                    text = "c" + node.name  # the called rules are hashed as a whole
            elif kind is Repeat:
                low, high = node.min, node.max
                if horizon:
                    # Past this many iterations a token cannot tell counts apart: they need
                    # at least ``horizon`` bytes.
                    cap = -(-horizon // max(self.lengths.expr(node.item), 1))
                    low = min(low, cap)
                    high = cap if high is None else min(high, cap)
                inner = memo[(id(node.item), horizon)]
                text = _hash(f"r{low},{high}({inner})")
            else:
                tag = "s" if kind is Seq else "a"
                text = _hash(tag + "(" + ",".join(memo[(id(c), horizon)] for c in children) + ")")
            memo[node_key] = text
            self._keep.append(node)
        return memo[key]

    def item(self, item: Expr, horizon: int) -> str:
        """The hash of a term's item: exact, except that the counts of a repetition (a counter,
        such as the rest of a bounded string) are capped at what ``horizon`` can tell apart.
        Everything inside is hashed exactly, once per grammar for every horizon."""
        if item.__class__ is Lazy:
            return "l" + item.machine.key(item.state, horizon)
        if item.__class__ is not Repeat:
            return self.expr(item, 0)
        cap = -(-horizon // max(self.lengths.expr(item.item), 1))
        low = min(item.min, cap)
        high = cap if item.max is None else min(item.max, cap)
        return _hash(f"r{low},{high}({self.expr(item.item, 0)})")

    def frame(self, terms: frozenset[Term], horizon: int) -> str:
        """The signature of a frame with ``terms`` (see :meth:`Automaton.signature`)."""
        parts = []
        called: set[str] = set()
        for term in terms:
            digest, calls = self.term(term, horizon)
            parts.append(digest)
            called |= calls
        text = "|".join(sorted(parts))
        if called:  # the called rules it can reach, and those they reach
            text += "@" + ",".join(sorted({self.closure(name) for name in called}))
        return _hash(f"v7;{horizon};{text}")

    def term(self, term: Term, horizon: int) -> tuple[str, frozenset[str]]:
        """The hash of ``term`` cut at ``horizon`` (memoised: frames share their terms' tails)
        and the called rules that what it covers references."""
        key = (term, horizon)
        known = self._terms.get(key)
        if known is not None:
            return known
        need = 0
        items = []
        called: frozenset[str] = frozenset()
        for item in term:
            if need >= horizon:
                items.append("...")
                break
            items.append(self.item(item, horizon))
            called |= self.called_refs(item)
            need += self.lengths.expr(item)
        found = (_hash(",".join(items)), called)
        if len(self._terms) > 500_000:
            self._terms.clear()
        self._terms[key] = found
        return found


class _CallsAmong(Mapping[str, frozenset[str]]):
    """The call graph (called rule -> the called rules its body reaches) of the rules whose
    closure hash is not known yet (a view for :func:`strongly_connected`)."""

    def __init__(self, digests: _Digests, known: Mapping[str, str]):
        self.digests = digests
        self.known = known

    def __getitem__(self, name: str) -> frozenset[str]:
        return self.digests.called_refs(self.digests.rules[name])

    def __contains__(self, name: object) -> bool:
        return name in self.digests.rules and name not in self.known

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (name for name in self.digests.rules if name not in self.known)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
