"""Thompson's construction: an epsilon-NFA with the structure of an IR expression.

Shared by the automata that need one (:mod:`grammarlib.regular`'s character DFAs); it knows only
the IR, so it sits below both the front-ends and the runtime.
"""

from __future__ import annotations

from .errors import GrammarTooLargeError
from .ir import Alt, Expr, Repeat, Seq


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
