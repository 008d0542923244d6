"""The JSON number texts of the multiples of a number, as an automaton made on demand.

``multipleOf: 0.123456789`` needs the value read so far modulo 123456789 in its states: a
divisibility automaton of more than a hundred million states, far too many to build whole
(:func:`grammarlib.regular.multiple_of` builds small ones). :class:`MultiplesOf` is that
automaton as an IR :class:`~grammarlib.ir.Machine`: a state is a phase of the number text with
its digit count and residue, made when an output reaches it. Whether a multiple can still be
written from a state is decided exactly by arithmetic: the digits still allowed add any
multiple of a power of ten below a bound, so it is one linear congruence per number of digits.

The texts are those of :func:`grammarlib.jsonschema.lexical.json_number` (or, for integers,
``integer_range`` with an optional ``.0``) without exponent, with at most ``max_digits`` digits
before and after the point (``None``: no limit).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable
from fractions import Fraction

from .ir import EPSILON, Expr, Lazy, Machine, alt, byte_set, seq

_NEVER = 1 << 62

# States: ("start",), ("sign",), ("zero", negative), ("int", digits, residue),
# ("dot", residue), ("frac", digits, residue); residue: value * 10^K modulo M (see below).
State = tuple


class MultiplesOf(Machine):
    """The number texts whose value is a multiple of ``m > 0`` (a ``Fraction``). ``integer``:
    integers only (no ``-0``; a fraction only as ``.0`` where ``zero_fraction``, as the
    ``integer`` type is written). ``max_digits``: digits before and after the point."""

    def __init__(self, m: Fraction, *, integer: bool, zero_fraction: bool, max_digits: int | None):
        if m <= 0:
            raise ValueError(f"multipleOf must be > 0, not {m}")
        self.m, self.integer, self.zero_fraction, self.max_digits = (
            m,
            integer,
            zero_fraction,
            max_digits,
        )
        p, q = m.numerator, m.denominator
        k = 0
        while 10**k % q:
            k += 1
        if integer and k:
            raise ValueError("integer multiples need an integral multipleOf (take the lcm with 1)")
        self.k = k  # a multiple has at most k nonzero fraction digits
        self.modulus = p * 10**k // q  # value * 10^k is an integer multiple of this
        self.scale = 10**k % self.modulus
        # meaningful fraction digits: at most k, and at most max_digits
        self.fraction_digits = 0 if integer else min(k, _cap(max_digits))
        text = f"multiples;{m};{integer};{zero_fraction};{max_digits}"
        self.digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        self.start: State = ("start",)
        self._steps: dict[State, Expr] = {}
        self._shortest: dict[State, int] = {}

    def __reduce__(self) -> tuple:
        return (_rebuild, (self.m, self.integer, self.zero_fraction, self.max_digits))

    def __repr__(self) -> str:
        return f"<MultiplesOf {self.m} integer={self.integer} digits={self.max_digits}>"

    # -- transitions ------------------------------------------------------------------------------

    def _moves(self, state: State) -> list[tuple[int, State]]:
        """``(byte, next state)`` for every byte the text can go on with (dead ends included)."""
        kind = state[0]
        digits = range(0x30, 0x3A)
        out: list[tuple[int, State]] = []
        if kind in ("start", "sign"):
            if kind == "start":
                out.append((0x2D, ("sign",)))
            if kind == "start" or not self.integer:
                out.append((0x30, ("zero", kind == "sign")))
            if self.max_digits is None or self.max_digits >= 1:
                out += [(b, ("int", 1, (b - 0x30) * self.scale % self.modulus)) for b in digits[1:]]
        elif kind == "zero":
            if not self.integer or self.zero_fraction:
                out.append((0x2E, ("dot", 0)))
        elif kind == "int":
            _, n, r = state
            if self.max_digits is None or n < self.max_digits:
                out += [
                    (b, ("int", n + 1, (10 * r + (b - 0x30) * self.scale) % self.modulus))
                    for b in digits
                ]
            if not self.integer or self.zero_fraction:
                out.append((0x2E, ("dot", r)))
        elif kind in ("dot", "frac"):
            n, r = (0, state[1]) if kind == "dot" else (state[1], state[2])
            if self.integer:
                if kind == "dot":
                    out.append((0x30, ("frac", 1, r)))  # only ".0"
            elif self.max_digits is None or n < self.max_digits:
                for b in digits:
                    add = (b - 0x30) * 10 ** (self.k - n - 1) if n < self.k else 0
                    if n >= self.k and b != 0x30:
                        continue  # past the multiple's last fraction digit: zeros only
                    out.append((b, ("frac", n + 1, (r + add) % self.modulus)))
        return out

    # -- the Machine interface --------------------------------------------------------------------

    def step(self, state: Hashable) -> Expr:
        known = self._steps.get(state)  # type: ignore[arg-type]
        if known is not None:
            return known
        by_target: dict[State, list[int]] = {}
        for byte, target in self._moves(state):  # type: ignore[arg-type]
            if self.shortest(target) < _NEVER:
                by_target.setdefault(target, []).append(byte)
        items = [seq(byte_set(b), Lazy(self, t)) for t, b in by_target.items()]
        if self.accepting(state):
            items.append(EPSILON)
        result = self._steps[state] = alt(*items)  # type: ignore[index]
        return result

    def accepting(self, state: Hashable) -> bool:
        kind = state[0]  # type: ignore[index]
        if kind == "zero":
            return True
        if kind == "int":
            return state[2] == 0  # type: ignore[index]
        if kind == "frac":
            return state[2] == 0  # type: ignore[index]
        return False

    def shortest(self, state: Hashable) -> int:
        """Fewest bytes to a complete multiple (``_NEVER`` where none can be written)."""
        known = self._shortest.get(state)  # type: ignore[arg-type]
        if known is None:
            known = self._shortest[state] = self._fewest(state)  # type: ignore[index,arg-type]
        return known

    def key(self, state: Hashable, horizon: int) -> str:
        return f"{self.digest}:{state!r}"

    def is_empty(self) -> bool:
        return self.shortest(self.start) >= _NEVER

    # -- arithmetic -------------------------------------------------------------------------------

    def _fewest(self, state: State) -> int:
        kind = state[0]
        if kind == "zero":
            return 0  # zero is a multiple
        if kind in ("start", "sign"):
            return min((1 + self.shortest(t) for _, t in self._moves(state)), default=_NEVER)
        if kind == "int":
            _, n, r = state
            room = None if self.max_digits is None else self.max_digits - n
            best = _NEVER
            for t in self._digit_counts(room):
                shifted = r * 10**t % self.modulus
                # t more integer digits X (any, leading zeros fine): X * 10^k
                if self._solvable(shifted, 10**self.k, 10**t):
                    best = min(best, t)
                    break  # more digits only cost more
            for t in self._digit_counts(room):
                if t >= best:
                    break
                shifted = r * 10**t % self.modulus
                for f in range(1, self.fraction_digits + 1):
                    if t + 1 + f >= best:
                        break
                    # t digits X and f fraction digits F: X * 10^k + F * 10^(k - f)
                    if self._solvable(shifted, 10 ** (self.k - f), 10 ** (t + f)):
                        best = t + 1 + f
                        break
            return best  # (".0" after an integer adds nothing to its value)
        if kind == "dot":
            r = state[1]
            if self.integer:
                return 1 if r == 0 else _NEVER
            for f in range(1, max(self.fraction_digits, 1) + 1):
                if f > self.fraction_digits:  # only zeros may follow (k = 0)
                    return 1 if r == 0 and self._more_fraction(0) else _NEVER
                if self._solvable(r, 10 ** (self.k - f), 10**f):
                    return f
            return _NEVER
        _, n, r = state  # "frac"
        if r == 0:
            return 0
        for f in range(1, self.fraction_digits - n + 1):
            if self._solvable(r, 10 ** (self.k - n - f), 10**f):
                return f
        return _NEVER

    def _more_fraction(self, n: int) -> bool:
        return self.max_digits is None or n < self.max_digits

    def _digit_counts(self, room: int | None) -> range:
        """How many more integer digits to try: all up to ``room``, or (no limit) enough that
        every multiple of the step is within reach and divisibility alone decides."""
        enough = len(str(self.modulus)) + self.k + 2
        return range(0, (enough if room is None else min(room, enough)) + 1)

    def _solvable(self, residue: int, step: int, below: int) -> bool:
        """Whether ``residue + step * z`` is 0 modulo M for some ``0 <= z < below``."""
        modulus = self.modulus
        need = -residue % modulus
        g = math.gcd(step, modulus)
        if need % g:
            return False
        reduced = modulus // g
        if reduced == 1:
            return True
        z = need // g * pow(step // g, -1, reduced) % reduced
        return z < below


def _cap(max_digits: int | None) -> int:
    return 1 << 30 if max_digits is None else max_digits


def _rebuild(
    m: Fraction, integer: bool, zero_fraction: bool, max_digits: int | None
) -> MultiplesOf:
    return MultiplesOf(m, integer=integer, zero_fraction=zero_fraction, max_digits=max_digits)
