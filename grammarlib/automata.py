"""Byte-level automata with call edges: a recursive transition network (a pushdown automaton).

Each rule body becomes a minimal DFA whose edges consume a byte or call another rule. All rule DFAs
are numbered into one table of *frames*: a frame is (rule, DFA state) and is what the runtime stack
holds. :class:`Automaton` is that table, immutable and shared by all matchers of a grammar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .errors import GrammarTooLargeError
from .ir import Alt, Bytes, Expr, Ref, Repeat, Seq

DEFAULT_MAX_STATES = 200_000


class ThompsonNFA:
    """Thompson construction over the IR's structure (sequences, alternatives, repeats) with
    epsilon moves. Subclasses say what a leaf adds (:meth:`leaf`), keep per-state edge lists
    (:meth:`_add_state`) and word the error past the state limit (:meth:`too_large`)."""

    __slots__ = ("eps", "limit")

    def __init__(self, limit: int):
        self.eps: list[list[int]] = []
        self.limit = limit

    def new(self) -> int:
        if len(self.eps) >= self.limit:
            raise self.too_large()
        self.eps.append([])
        self._add_state()
        return len(self.eps) - 1

    def _add_state(self) -> None:
        pass

    def too_large(self) -> Exception:
        return GrammarTooLargeError(f"the automaton needs more than {self.limit} states")

    def leaf(self, expr: Expr, src: int, dst: int) -> None:
        raise TypeError(f"not an IR expression: {expr!r}")

    def build(self, expr: Expr, src: int, dst: int) -> None:
        """Add transitions from ``src`` to ``dst`` matching ``expr``."""
        if isinstance(expr, Seq):
            if not expr.items:
                self.eps[src].append(dst)
                return
            cur = src
            for item in expr.items[:-1]:
                nxt = self.new()
                self.build(item, cur, nxt)
                cur = nxt
            self.build(expr.items[-1], cur, dst)
        elif isinstance(expr, Alt):
            for item in expr.items:
                self.build(item, src, dst)
        elif isinstance(expr, Repeat):
            cur = src
            for _ in range(expr.min):
                nxt = self.new()
                self.build(expr.item, cur, nxt)
                cur = nxt
            if expr.max is None:
                loop = self.new()
                self.eps[cur].append(loop)
                back = self.new()
                self.build(expr.item, loop, back)
                self.eps[back].append(loop)
                self.eps[loop].append(dst)
            else:
                for _ in range(expr.max - expr.min):
                    self.eps[cur].append(dst)
                    nxt = self.new()
                    self.build(expr.item, cur, nxt)
                    cur = nxt
                self.eps[cur].append(dst)
        else:
            self.leaf(expr, src, dst)


class _NFA(ThompsonNFA):
    """Thompson NFA of one rule body over byte masks, rule calls and epsilon moves."""

    __slots__ = ("bytes", "calls", "rule")

    def __init__(self, limit: int, rule: str):
        super().__init__(limit)
        self.bytes: list[list[tuple[int, int]]] = []
        self.calls: list[list[tuple[str, int]]] = []
        self.rule = rule

    def _add_state(self) -> None:
        self.bytes.append([])
        self.calls.append([])

    def too_large(self) -> Exception:
        return GrammarTooLargeError(
            f"rule {self.rule!r} needs an automaton of more than {self.limit} states; "
            "simplify it (large counted repetitions multiply states) or raise max_states"
        )

    def leaf(self, expr: Expr, src: int, dst: int) -> None:
        if isinstance(expr, Bytes):
            if expr.mask:
                self.bytes[src].append((expr.mask, dst))
        elif isinstance(expr, Ref):
            self.calls[src].append((expr.name, dst))
        else:
            super().leaf(expr, src, dst)


@dataclass(frozen=True, slots=True)
class RuleDFA:
    """A minimal DFA for one rule. State 0 is the start state.

    ``byte_next[s]`` maps bytes to next states, ``calls[s]`` lists (rule name, return state),
    ``accepting[s]`` says whether the rule may end in ``s``.
    """

    name: str
    byte_next: tuple[dict[int, int], ...]
    calls: tuple[tuple[tuple[str, int], ...], ...]
    accepting: tuple[bool, ...]

    @property
    def num_states(self) -> int:
        return len(self.accepting)


def build_rule_dfa(name: str, body: Expr, max_states: int = DEFAULT_MAX_STATES) -> RuleDFA:
    """Determinise, trim and minimise the automaton of one rule body."""
    nfa = _NFA(max_states * 4, name)
    start, final = nfa.new(), nfa.new()
    nfa.build(body, start, final)
    classes, class_masks = _byte_classes(nfa)
    dfa_next, dfa_calls, dfa_accept = _determinise(nfa, start, final, class_masks, max_states)
    dfa_next, dfa_calls, dfa_accept = _trim(dfa_next, dfa_calls, dfa_accept)
    return _minimise(name, dfa_next, dfa_calls, dfa_accept, classes)


def _byte_classes(nfa: _NFA) -> tuple[list[list[int]], dict[int, list[int]]]:
    """Partition bytes 0..255 into classes no mask of the NFA distinguishes.

    Returns the classes (lists of bytes) and, for each mask, the class ids it covers.
    """
    masks = {mask for edges in nfa.bytes for mask, _ in edges}
    signature: dict[int, list[int]] = {}
    mask_list = sorted(masks)
    for b in range(256):
        key = 0
        for i, mask in enumerate(mask_list):
            if mask >> b & 1:
                key |= 1 << i
        signature.setdefault(key, []).append(b)
    classes = [bs for key, bs in signature.items() if key]
    class_masks: dict[int, list[int]] = {mask: [] for mask in masks}
    for cid, bs in enumerate(classes):
        for mask in masks:
            if mask >> bs[0] & 1:
                class_masks[mask].append(cid)
    return classes, class_masks


def _determinise(
    nfa: _NFA, start: int, final: int, class_masks: dict[int, list[int]], max_states: int
) -> tuple[list[dict[int, int]], list[dict[str, int]], list[bool]]:
    closures: dict[frozenset[int], frozenset[int]] = {}
    eps = nfa.eps

    def close(states: frozenset[int]) -> frozenset[int]:
        cached = closures.get(states)
        if cached is not None:
            return cached
        seen = set(states)
        todo = list(states)
        while todo:
            for t in eps[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        out = frozenset(seen)
        closures[states] = out
        return out

    first = close(frozenset([start]))
    ids = {first: 0}
    order = [first]
    next_by_class: list[dict[int, int]] = []
    calls: list[dict[str, int]] = []
    accepting: list[bool] = []
    i = 0
    while i < len(order):
        current = order[i]
        i += 1
        by_class: dict[int, set[int]] = {}
        by_call: dict[str, set[int]] = {}
        for s in current:
            for mask, t in nfa.bytes[s]:
                for c in class_masks[mask]:
                    by_class.setdefault(c, set()).add(t)
            for rule, t in nfa.calls[s]:
                by_call.setdefault(rule, set()).add(t)
        row: dict[int, int] = {}
        for c, targets in by_class.items():
            row[c] = _state_id(close(frozenset(targets)), ids, order, max_states, nfa.rule)
        call_row: dict[str, int] = {}
        for rule, targets in sorted(by_call.items()):
            call_row[rule] = _state_id(close(frozenset(targets)), ids, order, max_states, nfa.rule)
        next_by_class.append(row)
        calls.append(call_row)
        accepting.append(final in current)
    return next_by_class, calls, accepting


def _state_id(
    states: frozenset[int],
    ids: dict[frozenset[int], int],
    order: list[frozenset[int]],
    max_states: int,
    rule: str,
) -> int:
    sid = ids.get(states)
    if sid is None:
        if len(order) >= max_states:
            raise GrammarTooLargeError(
                f"rule {rule!r} needs a DFA of more than {max_states} states; simplify it "
                "(e.g. bounded repetitions of alternatives) or raise max_states"
            )
        sid = ids[states] = len(order)
        order.append(states)
    return sid


def _trim(
    next_by_class: list[dict[int, int]], calls: list[dict[str, int]], accepting: list[bool]
) -> tuple[list[dict[int, int]], list[dict[str, int]], list[bool]]:
    """Keep only states from which an accepting state can be reached (the start always stays).

    Callees are productive after normalisation, so a call edge can always be taken.
    """
    n = len(accepting)
    preds: list[list[int]] = [[] for _ in range(n)]
    for s in range(n):
        for t in next_by_class[s].values():
            preds[t].append(s)
        for t in calls[s].values():
            preds[t].append(s)
    live = [False] * n
    todo = [s for s in range(n) if accepting[s]]
    for s in todo:
        live[s] = True
    while todo:
        for p in preds[todo.pop()]:
            if not live[p]:
                live[p] = True
                todo.append(p)
    if all(live):
        return next_by_class, calls, accepting
    new_id = {}
    for s in range(n):
        if live[s] or s == 0:
            new_id[s] = len(new_id)
    out_next = []
    out_calls = []
    out_accept = []
    for s in range(n):
        if s not in new_id:
            continue
        out_next.append({c: new_id[t] for c, t in next_by_class[s].items() if live[t]})
        out_calls.append({r: new_id[t] for r, t in calls[s].items() if live[t]})
        out_accept.append(accepting[s])
    return out_next, out_calls, out_accept


_HASH_WEIGHTS = np.random.default_rng(0x6A09E667).integers(
    1, 2**63, size=1024, dtype=np.uint64
) | np.uint64(1)  # odd 64-bit multipliers, one per signature column


def _refine(table: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Moore refinement of the partition ``block`` under the transition ``table`` (column value
    ``n`` = dead). Rounds compare 64-bit hashes of the signatures (a sort of one integer per
    state instead of a row sort); the fixed point is then verified exactly, and the exact row
    sort takes over in the (astronomically unlikely) case of a hash collision."""
    n, width = table.shape
    if n == 0:
        return block
    initial = block
    if width + 1 <= len(_HASH_WEIGHTS):
        weights = _HASH_WEIGHTS[: width + 1]
        count = len(np.unique(block))
        with np.errstate(over="ignore"):
            while True:
                extended = np.append(block, -1).astype(np.uint64)
                hashed = extended[table] * weights[1:]
                keys = hashed.sum(axis=1, dtype=np.uint64) + block.astype(np.uint64) * weights[0]
                _, new_block = np.unique(keys, return_inverse=True)
                new_block = new_block.reshape(-1).astype(np.int64)
                new_count = int(new_block.max()) + 1
                if new_count < count:  # blocks merged: a hash collision; rounds only split
                    return _refine_exact(table, initial)
                block = new_block
                if new_count == count:
                    break
                count = new_count
        if _is_stable(table, block, initial):
            return block
    return _refine_exact(table, initial)


def _is_stable(table: np.ndarray, block: np.ndarray, initial: np.ndarray) -> bool:
    """Whether ``block`` refines ``initial`` and every state's successor blocks equal its block
    representative's (then it is the coarsest such partition: Moore rounds only split)."""
    _, first = np.unique(block, return_index=True)
    rep = first[block]
    if not np.array_equal(initial, initial[rep]):
        return False
    extended = np.append(block, -1)
    signature = extended[table]
    return bool(np.array_equal(signature, signature[rep]))


def _refine_exact(table: np.ndarray, block: np.ndarray) -> np.ndarray:
    count = len(np.unique(block))
    while True:
        extended = np.append(block, -1)
        signature = np.concatenate([block[:, None], extended[table]], axis=1)
        _, new_block = np.unique(signature, axis=0, return_inverse=True)
        new_block = new_block.reshape(-1)
        new_count = int(new_block.max()) + 1
        block = new_block
        if new_count == count:
            return block
        count = new_count


def _minimise(
    name: str,
    next_by_class: list[dict[int, int]],
    calls: list[dict[str, int]],
    accepting: list[bool],
    classes: list[list[int]],
) -> RuleDFA:
    """Moore partition refinement, vectorised: states are equivalent when their acceptance and the
    blocks of their successors agree for every byte class and every callee."""
    n = len(accepting)
    callees = sorted({r for row in calls for r in row})
    callee_col = {r: len(classes) + i for i, r in enumerate(callees)}
    width = len(classes) + len(callees)
    table = np.full((n, width), n, dtype=np.int64)  # column value n = the dead state
    for s in range(n):
        for c, t in next_by_class[s].items():
            table[s, c] = t
        for r, t in calls[s].items():
            table[s, callee_col[r]] = t
    block = _refine(table, np.asarray(accepting, dtype=np.int64))
    # Renumber blocks so the start state's block is 0, others in order of first appearance.
    renum: dict[int, int] = {int(block[0]): 0}
    for s in range(n):
        renum.setdefault(int(block[s]), len(renum))
    rep: dict[int, int] = {}
    for s in range(n):
        rep.setdefault(renum[int(block[s])], s)
    out_next: list[dict[int, int]] = []
    out_calls: list[tuple[tuple[str, int], ...]] = []
    out_accept: list[bool] = []
    for b in range(len(renum)):
        s = rep[b]
        row: dict[int, int] = {}
        for c, t in next_by_class[s].items():
            target = renum[int(block[t])]
            for byte in classes[c]:
                row[byte] = target
        out_next.append(dict(sorted(row.items())))
        out_calls.append(tuple((r, renum[int(block[t])]) for r, t in sorted(calls[s].items())))
        out_accept.append(accepting[s])
    return RuleDFA(name, tuple(out_next), tuple(out_calls), tuple(out_accept))


@dataclass(frozen=True, slots=True)
class Automaton:
    """All rule DFAs numbered into global frames.

    ``byte_next[f]``: byte -> next frame. ``calls[f]``: (callee start frame, return frame) pairs;
    the return frame is -1 for a tail call (the caller has nothing left to do after it).
    ``accepting[f]``: the frame's rule may return here. ``next_bytes[f]``: bitmask of bytes that
    ``f`` can consume. ``start`` is the start rule's first frame.
    """

    byte_next: tuple[dict[int, int], ...]
    calls: tuple[tuple[tuple[int, int], ...], ...]
    accepting: tuple[bool, ...]
    next_bytes: tuple[int, ...]
    frame_rule: tuple[str, ...]
    frame_state: tuple[int, ...]
    rule_start: Mapping[str, int]
    start: int

    @property
    def num_frames(self) -> int:
        return len(self.accepting)


def build_automaton(
    rules: Mapping[str, Expr], start: str, max_states: int = DEFAULT_MAX_STATES
) -> Automaton:
    """Build and number the DFAs of normalised ``rules`` (see :mod:`grammarlib.normalize`)."""
    dfas = {name: build_rule_dfa(name, body, max_states) for name, body in rules.items()}
    total = sum(d.num_states for d in dfas.values())
    if total > max_states:
        raise GrammarTooLargeError(
            f"the grammar needs {total} automaton states, more than the limit of {max_states}"
        )
    offset: dict[str, int] = {}
    running = 0
    for name, dfa in dfas.items():
        offset[name] = running
        running += dfa.num_states
    byte_next: list[dict[int, int]] = []
    calls: list[tuple[tuple[int, int], ...]] = []
    accepting: list[bool] = []
    frame_rule: list[str] = []
    frame_state: list[int] = []
    for name, dfa in dfas.items():
        base = offset[name]
        for s in range(dfa.num_states):
            byte_next.append({b: base + t for b, t in dfa.byte_next[s].items()})
            frame_rule.append(name)
            frame_state.append(s)
            accepting.append(dfa.accepting[s])
    for name, dfa in dfas.items():
        base = offset[name]
        for s in range(dfa.num_states):
            row = []
            for callee, ret in dfa.calls[s]:
                ret_frame = base + ret
                is_tail = dfa.accepting[ret] and not dfa.byte_next[ret] and not dfa.calls[ret]
                row.append((offset[callee], -1 if is_tail else ret_frame))
            calls.append(tuple(row))
    next_bytes = tuple(sum(1 << b for b in row) for row in byte_next)
    return Automaton(
        byte_next=tuple(byte_next),
        calls=tuple(calls),
        accepting=tuple(accepting),
        next_bytes=next_bytes,
        frame_rule=tuple(frame_rule),
        frame_state=tuple(frame_state),
        rule_start=dict(offset),
        start=offset[start],
    )
