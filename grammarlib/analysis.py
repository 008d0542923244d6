"""Static analysis of grammars: shortest derivations and shortest strings (witnesses).

Every expression and rule gets a *cost* ``(length, height)``: the length of its shortest string
and, among derivations of that length, the least derivation height (rule nesting). Costs are the
least fixed point of the rule equations (Knuth's generalisation of Dijkstra's algorithm to
grammars, computed here by iterating to the fixed point). Heights make witness construction
terminate on recursive and ambiguous grammars: following least-cost choices, every rule referenced
has a strictly smaller height than the rule being expanded, so ``A: A | "x"`` cannot loop.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import EmptyLanguageError
from .ir import Alt, Bytes, Expr, GrammarIR, Lazy, Ref, Repeat, Seq
from .normalize import normalize

#: Cost of an expression with no finite derivation.
INFINITE: tuple[float, float] = (float("inf"), float("inf"))

Cost = tuple[float, float]

#: Byte preference when any byte of a set will do: readable ASCII first, then by value.
_PREFERRED = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def byte_order(mask: int) -> tuple[int, ...]:
    """The bytes of ``mask``, readable ones first: letters, digits, other printable ASCII, then
    the rest by value. Used to pick (and shrink toward) a pleasant byte."""

    def key(b: int) -> tuple[int, int]:
        i = _PREFERRED.find(bytes([b]))
        if i >= 0:
            return (0, i)
        return (1, b) if 0x20 <= b < 0x7F else (2, b)

    return tuple(sorted((b for b in range(256) if mask >> b & 1), key=key))


def rule_costs(rules: Mapping[str, Expr]) -> dict[str, Cost]:
    """``(length, height)`` of a least-cost derivation of every rule; :data:`INFINITE` for rules
    with no finite derivation (unproductive)."""
    costs: dict[str, Cost] = dict.fromkeys(rules, INFINITE)
    changed = True
    while changed:
        changed = False
        for name, body in rules.items():
            length, height = expr_cost(body, costs)
            new = (length, height + 1)
            if new < costs[name]:
                costs[name] = new
                changed = True
    return costs


def expr_cost(expr: Expr, costs: Mapping[str, Cost]) -> Cost:
    """``(length, height)`` of a least-cost derivation of ``expr``, given the rules' costs."""
    if isinstance(expr, Bytes):
        return (1, 0) if expr.mask else INFINITE
    if isinstance(expr, Ref):
        return costs.get(expr.name, INFINITE)
    if isinstance(expr, Seq):
        length, height = 0.0, 0.0
        for item in expr.items:
            item_length, item_height = expr_cost(item, costs)
            length += item_length
            height = max(height, item_height)
        return (length, height)
    if isinstance(expr, Alt):
        return min((expr_cost(i, costs) for i in expr.items), default=INFINITE)
    if isinstance(expr, Repeat):
        if expr.min == 0:
            return (0, 0)
        length, height = expr_cost(expr.item, costs)
        return (length * expr.min, height)
    if isinstance(expr, Lazy):
        return (expr.machine.shortest(expr.state), 0)
    raise TypeError(f"not an IR expression: {expr!r}")


def shortest(grammar: GrammarIR) -> bytes:
    """A shortest string of ``grammar``'s language (deterministic; readable bytes preferred).
    ``grammar``: a :class:`~grammarlib.ir.GrammarIR` or a :class:`~grammarlib.Grammar` (its
    ``rules``, ``start`` and ``positions`` are read).

    Raises :class:`~grammarlib.EmptyLanguageError` when the language is empty, with the
    explanation ``compile`` gives (which rules cannot finish).
    """
    rules = grammar.rules
    costs = rule_costs(rules)
    if costs[grammar.start] == INFINITE:
        # the compiler's first step: raises EmptyLanguageError saying which rules cannot finish
        normalize(rules, grammar.start, positions=grammar.positions)
        raise EmptyLanguageError(f"the grammar accepts no string (start rule {grammar.start!r})")
    out = bytearray()
    # An explicit stack (no recursion): items are expressions still to be written, in order.
    todo: list[Expr] = [Ref(grammar.start)]
    while todo:
        expr = todo.pop()
        if isinstance(expr, Bytes):
            out.append(byte_order(expr.mask)[0])
        elif isinstance(expr, Ref):
            todo.append(rules[expr.name])
        elif isinstance(expr, Seq):
            todo.extend(reversed(expr.items))
        elif isinstance(expr, Alt):
            todo.append(min(expr.items, key=lambda i: expr_cost(i, costs)))
        elif isinstance(expr, Repeat):
            todo.extend([expr.item] * expr.min)
        elif isinstance(expr, Lazy):
            todo.append(expr.machine.step(expr.state))
        else:
            raise TypeError(f"not an IR expression: {expr!r}")
    return bytes(out)
