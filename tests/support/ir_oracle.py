"""A slow, obviously correct membership oracle for IR expressions: Brzozowski derivatives.

``matches(expr, data)`` decides whether the bytes ``data`` are in the language of ``expr`` (an IR
expression without :class:`~grammarlib.ir.Ref`) by taking the derivative of ``expr`` by each byte in
turn and asking whether the result matches the empty string. It shares nothing with the automaton
builder except the IR itself and its smart constructors (which keep derivatives small), so it can
cross-check front-ends and automata.
"""

from __future__ import annotations

import functools

from grammarlib.ir import EMPTY, EPSILON, Alt, Bytes, Expr, Ref, Repeat, Seq, alt, repeat, seq


def matches(expr: Expr, data: bytes) -> bool:
    """Whether ``data`` is in the language of ``expr``."""
    return nullable(derivative(expr, data))


def is_prefix(expr: Expr, data: bytes) -> bool:
    """Whether some extension of ``data`` is in the language of ``expr`` (a viable prefix)."""
    return not is_empty(derivative(expr, data))


def derivative(expr: Expr, data: bytes) -> Expr:
    """The expression for ``{w : data + w in L(expr)}``."""
    for byte in data:
        if expr == EMPTY:
            break
        expr = derive(expr, byte)
    return expr


@functools.cache
def derive(expr: Expr, byte: int) -> Expr:
    """The derivative of ``expr`` by one byte: ``{w : bytes([byte]) + w in L(expr)}``."""
    if isinstance(expr, Bytes):
        return EPSILON if expr.mask >> byte & 1 else EMPTY
    if isinstance(expr, Alt):
        return alt(*(derive(item, byte) for item in expr.items))
    if isinstance(expr, Seq):
        if not expr.items:
            return EMPTY
        first, rest = expr.items[0], seq(*expr.items[1:])
        head = seq(derive(first, byte), rest)
        return alt(head, derive(rest, byte)) if nullable(first) else head
    if isinstance(expr, Repeat):
        if expr.max == 0:
            return EMPTY
        rest_max = None if expr.max is None else expr.max - 1
        remaining = repeat(expr.item, max(expr.min - 1, 0), rest_max)
        return seq(derive(expr.item, byte), remaining)
    if isinstance(expr, Ref):
        raise TypeError(f"the IR oracle does not follow rule references ({expr.name!r})")
    raise TypeError(f"not an IR expression: {expr!r}")


@functools.cache
def nullable(expr: Expr) -> bool:
    """Whether ``expr`` matches the empty string."""
    if isinstance(expr, Bytes):
        return False
    if isinstance(expr, Seq):
        return all(nullable(item) for item in expr.items)
    if isinstance(expr, Alt):
        return any(nullable(item) for item in expr.items)
    if isinstance(expr, Repeat):
        return expr.min == 0 or nullable(expr.item)
    if isinstance(expr, Ref):
        raise TypeError(f"the IR oracle does not follow rule references ({expr.name!r})")
    raise TypeError(f"not an IR expression: {expr!r}")


@functools.cache
def is_empty(expr: Expr) -> bool:
    """Whether ``expr`` matches no string at all."""
    if isinstance(expr, Bytes):
        return expr.mask == 0
    if isinstance(expr, Seq):
        return any(is_empty(item) for item in expr.items)
    if isinstance(expr, Alt):
        return all(is_empty(item) for item in expr.items)
    if isinstance(expr, Repeat):
        return expr.min > 0 and is_empty(expr.item)
    if isinstance(expr, Ref):
        raise TypeError(f"the IR oracle does not follow rule references ({expr.name!r})")
    raise TypeError(f"not an IR expression: {expr!r}")
