"""Grammar normalisation before automata are built.

1. Drop rules the start rule cannot reach; find rules with no finite derivation (unproductive)
   and remove every use of them. An unproductive start rule is an empty language: a compile
   error.
2. Remove left recursion, direct and indirect, also when hidden behind nullable prefixes. A rule
   body is a regex over symbols, so ``A: A x | y`` becomes ``A: y x*``; indirect recursion is
   removed by substitution in rule order (Paull's algorithm). The runtime pushes a frame for
   every call, so a rule that could call itself without consuming a byte would loop: afterwards
   no rule can.
3. Choose the rules to inline (:func:`inline_candidates`): those that are not recursive, so only
   genuine recursion (and large shared rules) keep call edges. Nothing is substituted here: the
   automaton expands an inlined reference when a state first reaches it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from .errors import EmptyLanguageError, GrammarError, GrammarTooLargeError
from .graphs import strongly_connected as _strongly_connected
from .ir import (
    EMPTY,
    EPSILON,
    Alt,
    Bytes,
    Expr,
    Lazy,
    Ref,
    Repeat,
    Seq,
    alt,
    least_fixed_point,
    nullable,
    nullable_rules,
    refs,
    repeat,
    rule_refs,
    seq,
    size,
    star,
    substitute,
)

MAX_LEFT_RECURSION_ROUNDS = 32
MAX_RULE_SIZE = 200_000


class Deadline:
    """A time budget for the passes over a grammar: :meth:`check` raises
    :class:`GrammarTooLargeError` naming the budget and where the work was once it has passed.

    The budget is CPU time of the calling thread, not wall time, so that whether a grammar is
    refused depends on the work it needs, not on how busy the machine is (a server under load,
    a CI runner sharing its cores)."""

    def __init__(self, seconds: float | None, what: str = "compiling the grammar"):
        self.seconds = seconds
        self.what = what
        self.at = None if seconds is None else time.thread_time() + seconds

    def check(self, where: str) -> None:
        if self.at is not None and time.thread_time() > self.at:
            raise GrammarTooLargeError(
                f"{self.what} took more than time_limit_s={self.seconds} s (stopped at {where})"
            )


NO_DEADLINE = Deadline(None)


def normalize(
    rules: Mapping[str, Expr],
    start: str,
    *,
    positions: Mapping[str, tuple[int, int]] | None = None,
    deadline: Deadline = NO_DEADLINE,
) -> dict[str, Expr]:
    """Rules ready for automaton construction: trimmed, free of left recursion, no nullable
    references (see :func:`inline_candidates` for the rules the automaton expands in place).
    ``deadline`` is checked between steps and rules."""
    positions = positions or {}
    rules = _reachable(dict(rules), start)
    deadline.check("removing unproductive rules")
    rules = _trim_unproductive(rules, start, positions)
    deadline.check("removing nullable references")
    rules = eliminate_nullable_references(rules, start, deadline)
    deadline.check("removing left recursion")
    rules = eliminate_left_recursion(rules, positions, deadline)
    return _reachable(rules, start)


def productive_rules(rules: Mapping[str, Expr]) -> set[str]:
    """Rules that derive at least one finite string (least fixed point)."""
    return least_fixed_point(rules, _productive)


def _productive(expr: Expr, productive: set[str]) -> bool:
    if isinstance(expr, Bytes):
        return expr.mask != 0
    if isinstance(expr, Seq):
        return all(_productive(i, productive) for i in expr.items)
    if isinstance(expr, Alt):
        return any(_productive(i, productive) for i in expr.items)
    if isinstance(expr, Repeat):
        return expr.min == 0 or _productive(expr.item, productive)
    if isinstance(expr, Ref):
        return expr.name in productive
    if isinstance(expr, Lazy):
        return True  # a machine hands out live states only
    raise TypeError(f"not an IR expression: {expr!r}")


def _reachable(rules: dict[str, Expr], start: str) -> dict[str, Expr]:
    seen = {start}
    todo = [start]
    while todo:
        for ref in rule_refs(rules[todo.pop()]):
            if ref not in seen:
                seen.add(ref)
                todo.append(ref)
    return {name: body for name, body in rules.items() if name in seen}


def _trim_unproductive(
    rules: dict[str, Expr], start: str, positions: Mapping[str, tuple[int, int]]
) -> dict[str, Expr]:
    productive = productive_rules(rules)
    if start not in productive:
        dead = sorted(n for n in rules if n not in productive)
        causes = _root_causes(rules, productive) or dead

        def named(name: str) -> str:
            pos = positions.get(name)
            return f"{name!r} (line {pos[0]})" if pos else repr(name)

        message = (
            "the grammar accepts no string: "
            + ", ".join(named(n) for n in causes)
            + (" has" if len(causes) == 1 else " have")
            + " no finite derivation (every alternative needs a rule that cannot finish)"
        )
        others = [n for n in dead if n not in causes]
        if others:
            message += f", so {', '.join(named(n) for n in others)} cannot finish either"
        raise EmptyLanguageError(message)
    dead = {name: EMPTY for name in rules if name not in productive}
    if not dead:
        return rules
    return {n: substitute(b, dead) for n, b in rules.items() if n in productive}


def _root_causes(rules: Mapping[str, Expr], productive: set[str]) -> list[str]:
    """Unproductive rules whose every alternative needs an unproductive rule from their own
    recursive cycle (or has no alternative at all), as opposed to those merely using them."""
    out = []
    for name, body in rules.items():
        if name in productive:
            continue
        used = set(refs(body)) - productive
        if not used or name in used or _reaches(rules, used, name):
            out.append(name)
    return sorted(out)


def _reaches(rules: Mapping[str, Expr], sources: set[str], target: str) -> bool:
    seen = set(sources)
    todo = list(sources)
    while todo:
        name = todo.pop()
        if name == target:
            return True
        for ref in rule_refs(rules[name]):
            if ref not in seen:
                seen.add(ref)
                todo.append(ref)
    return False


# -- nullable rules -------------------------------------------------------------------------------


def eliminate_nullable_references(
    rules: dict[str, Expr], start: str, deadline: Deadline = NO_DEADLINE
) -> dict[str, Expr]:
    """Equivalent rules in which no referenced rule derives the empty string.

    Each nullable rule ``N`` gets a twin ``N__nonempty`` for its non-empty strings, and every
    reference to ``N`` becomes ``(N__nonempty | "")``. Only the start rule may stay nullable. A
    called rule then always consumes a byte before it returns, so the runtime never pushes and
    pops at the same position, and left recursion cannot hide behind nullable prefixes.
    """
    null = nullable_rules(rules)
    if not null:
        return rules
    optional = {name: alt(Ref(f"{name}__nonempty"), EPSILON) for name in null}
    out: dict[str, Expr] = {}
    for name, body in rules.items():
        deadline.check(f"rule {name!r}")
        body = substitute(body, optional)
        if name in null:
            # No reference in `body` is nullable any more, so no new rule is needed here.
            out[f"{name}__nonempty"] = _non_empty(body, set(), {})
            if name == start:
                out[name] = optional[name]
        else:
            out[name] = body
    return out


# -- left recursion -------------------------------------------------------------------------------


def leading_refs(expr: Expr, null: set[str] | frozenset[str]) -> set[str]:
    """Rules that ``expr`` can call before consuming any byte."""
    if isinstance(expr, Ref):
        return {expr.name}
    if isinstance(expr, Seq):
        out: set[str] = set()
        for item in expr.items:
            out |= leading_refs(item, null)
            if not nullable(item, null):
                break
        return out
    if isinstance(expr, Alt):
        out = set()
        for item in expr.items:
            out |= leading_refs(item, null)
        return out
    if isinstance(expr, Repeat):
        return leading_refs(expr.item, null)
    return set()


def left_recursive_groups(rules: Mapping[str, Expr]) -> list[list[str]]:
    """Groups of rules that call each other (or themselves) without consuming input."""
    null = nullable_rules(dict(rules))
    graph = {name: sorted(leading_refs(body, null) & rules.keys()) for name, body in rules.items()}
    return [g for g in _strongly_connected(graph) if len(g) > 1 or g[0] in graph[g[0]]]


def eliminate_left_recursion(
    rules: dict[str, Expr],
    positions: Mapping[str, tuple[int, int]] | None = None,
    deadline: Deadline = NO_DEADLINE,
) -> dict[str, Expr]:
    """Equivalent rules in which no rule can call itself without consuming a byte."""
    rules = dict(rules)
    order = {name: i for i, name in enumerate(rules)}
    for _ in range(MAX_LEFT_RECURSION_ROUNDS):
        groups = left_recursive_groups(rules)
        if not groups:
            return rules
        for group in groups:
            deadline.check(f"rule {group[0]!r}")
            _paull(sorted(group, key=lambda n: order.get(n, len(order))), rules)
            for name in group:
                if size(rules[name]) > MAX_RULE_SIZE:
                    raise GrammarError(
                        f"removing the left recursion of rule {name!r} made it too large; "
                        "rewrite the rule without left recursion"
                    )
        for name in rules:
            order.setdefault(name, len(order))
    name = left_recursive_groups(rules)[0][0]
    pos = (positions or {}).get(name)
    raise GrammarError(
        f"could not remove the left recursion through rule {name!r}",
        line=pos[0] if pos else None,
        column=pos[1] if pos else None,
    )


def _paull(group: list[str], rules: dict[str, Expr]) -> None:
    for i, name in enumerate(group):
        for earlier in group[:i]:
            null = nullable_rules(rules)
            x, y = _split(rules[name], earlier, null, rules)
            # y alone is the body rewritten so that no hidden call of `earlier` leads it.
            rules[name] = alt(seq(rules[earlier], x), y)
        null = nullable_rules(rules)
        x, y = _split(rules[name], name, null, rules)
        rules[name] = seq(y, star(x))


def _split(expr: Expr, target: str, null: set[str], rules: dict[str, Expr]) -> tuple[Expr, Expr]:
    """(X, Y) with ``expr = target X | Y`` where Y cannot call ``target`` before a byte."""
    if target not in leading_refs(expr, null):
        return EMPTY, expr
    if isinstance(expr, Ref):
        return EPSILON, EMPTY
    if isinstance(expr, Alt):
        parts = [_split(i, target, null, rules) for i in expr.items]
        return alt(*(p[0] for p in parts)), alt(*(p[1] for p in parts))
    if isinstance(expr, Seq):
        head, rest = expr.items[0], seq(*expr.items[1:])
        x_head, y_head = _split(head, target, null, rules)
        if not nullable(head, null):
            return seq(x_head, rest), seq(y_head, rest)
        x_rest, y_rest = _split(rest, target, null, rules)
        if x_rest == EMPTY:
            # y_rest is rest rewritten so that no hidden call of target leads it.
            return seq(x_head, rest), seq(y_head, y_rest)
        # head is nullable and rest starts with target: head rest = head' rest | rest.
        return (
            alt(seq(x_head, rest), x_rest),
            alt(seq(_non_empty(y_head, null, rules), rest), y_rest),
        )
    if isinstance(expr, Repeat):
        item, low = expr.item, expr.min
        if nullable(item, null):
            item, low = _non_empty(item, null, rules), 0
        rest = repeat(item, max(low - 1, 0), None if expr.max is None else expr.max - 1)
        x_item, y_item = _split(item, target, null, rules)
        x, y = seq(x_item, rest), seq(y_item, rest)
        return x, (alt(EPSILON, y) if low == 0 else y)
    raise AssertionError(f"unexpected expression {expr!r}")


def _non_empty(expr: Expr, null: set[str], rules: dict[str, Expr]) -> Expr:
    """``expr`` without the empty string. A nullable rule reference becomes a new rule."""
    if isinstance(expr, Bytes):
        return expr
    if isinstance(expr, Ref):
        if expr.name not in null:
            return expr
        name = f"{expr.name}__nonempty"
        if name not in rules:
            rules[name] = EMPTY  # placeholder while the body is built (it may refer to itself)
            rules[name] = _non_empty(rules[expr.name], null, rules)
        return Ref(name)
    if isinstance(expr, Seq):
        if not expr.items:
            return EMPTY
        head, rest = expr.items[0], seq(*expr.items[1:])
        if not nullable(head, null):
            return expr
        return alt(seq(_non_empty(head, null, rules), rest), _non_empty(rest, null, rules))
    if isinstance(expr, Alt):
        return alt(*(_non_empty(i, null, rules) for i in expr.items))
    if isinstance(expr, Repeat):
        if nullable(expr.item, null):
            return repeat(_non_empty(expr.item, null, rules), 1, expr.max)
        return repeat(expr.item, 1, expr.max) if expr.min == 0 else expr
    if isinstance(expr, Lazy):
        if not expr.machine.accepting(expr.state):
            return expr
        return _non_empty(expr.machine.step(expr.state), null, rules)  # one step, without ""
    raise TypeError(f"not an IR expression: {expr!r}")


# -- inlining -------------------------------------------------------------------------------------


def recursive_rules(rules: Mapping[str, Expr]) -> set[str]:
    """Rules that can reach themselves through references."""
    graph = {name: sorted(rule_refs(body)) for name, body in rules.items()}
    out: set[str] = set()
    for group in _strongly_connected(graph):
        if len(group) > 1 or group[0] in graph[group[0]]:
            out.update(group)
    return out


def inline_candidates(
    rules: Mapping[str, Expr],
    start: str,
    limit: int = 512,
    *,
    keep: Iterable[str] = (),
    deadline: Deadline = NO_DEADLINE,
) -> set[str]:
    """The rules the automaton expands in place where they are referenced: those that are not
    recursive and are used once or small (at most ``limit`` nodes with what they inline), and
    not in ``keep`` (rules whose frames must stay recognisable, such as unique arrays). The
    others stay calls, so a large shared rule has one set of frames (and masks) for all uses.
    Nothing is substituted here: the automaton inlines lazily, when a state reaches the
    reference."""
    recursive = recursive_rules(rules) | set(keep)
    uses: dict[str, int] = {}
    for body in rules.values():
        for ref in rule_refs(body):
            uses[ref] = uses.get(ref, 0) + 1
    graph = {name: sorted(rule_refs(body)) for name, body in rules.items()}
    # Sizes matter only for rules used more than once and for what they would inline: a rule
    # used once is inlined whatever its size, and a recursive one never is.
    never = recursive | {start}
    sized: set[str] = set()
    todo = [name for name, count in uses.items() if count > 1 and name not in never]
    while todo:
        name = todo.pop()
        if name in sized or name not in rules:
            continue
        sized.add(name)
        todo.extend(ref for ref in graph[name] if ref not in sized and ref not in never)
    inlined: set[str] = set()
    sizes: dict[str, int] = {}
    plain: dict[int, int] = {}  # sizes of subtrees without references, valid for every rule
    # Strongly connected components come out callees first, so callee sizes are known.
    for group in _strongly_connected(graph):
        deadline.check(f"rule {group[0]!r}")
        for name in group:
            if name in never:
                continue
            if name in sized:
                sizes[name] = _inlined_size(rules[name], inlined, sizes, plain, {}, limit + 1)
                if uses.get(name, 0) > 1 and sizes[name] > limit:
                    continue
            inlined.add(name)
    return inlined


def _inlined_size(
    expr: Expr,
    inlined: set[str],
    sizes: dict[str, int],
    plain: dict[int, int],
    memo: dict[int, int],
    cap: int,
) -> int:
    """:func:`~grammarlib.ir.size` of ``expr`` with inlined rules counted at their size, or
    ``cap`` when it is at least that (only sizes below the cap are compared, and a tree is at
    least as large as any part of it, so the walk stops there)."""
    if isinstance(expr, Ref):
        return min(sizes.get(expr.name, 1), cap) if expr.name in inlined else 1
    table = memo if rule_refs(expr) else plain
    known = table.get(id(expr))
    if known is not None:
        return known
    if isinstance(expr, (Seq, Alt)):
        value = 1
        for item in expr.items:
            value += _inlined_size(item, inlined, sizes, plain, memo, cap)
            if value >= cap:
                break
    elif isinstance(expr, Repeat):
        copies = expr.max if expr.max is not None else max(expr.min, 1)
        value = 1 + _inlined_size(expr.item, inlined, sizes, plain, memo, cap) * max(copies, 1)
    else:
        value = 1
    table[id(expr)] = min(value, cap)
    return table[id(expr)]
