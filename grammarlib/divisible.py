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
import itertools
import math
from collections.abc import Hashable
from fractions import Fraction

from .ir import EPSILON, Expr, Lazy, Machine, alt, byte_set, seq

_NEVER = 1 << 62

# States: ("start",), ("sign",), ("zero", negative), ("int", digits, residue),
# ("dot", residue), ("frac", digits, residue); residue: value * 10^K modulo M (see below).
State = tuple


class _NumberTexts(Machine):
    """What the two machines below share: states made by ``_moves`` (every byte the text can
    go on with), kept where ``_possible`` (an allowed number can still be written), and
    ``shortest`` memoised from ``_fewest``."""

    start: State = ("start",)

    def __init__(self) -> None:
        self._steps: dict[State, Expr] = {}
        self._shortest: dict[State, int] = {}

    def _moves(self, state: State) -> list[tuple[int, State]]:
        raise NotImplementedError

    def _fewest(self, state: State) -> int:
        raise NotImplementedError

    def _possible(self, state: State) -> bool:
        """Whether ``shortest(state)`` is finite; subclasses decide it more cheaply where they
        can: the step of a state asks it of every successor, and the token masks reach a state
        per digit prefix of every number token."""
        return self.shortest(state) < _NEVER

    def step(self, state: Hashable) -> Expr:
        known = self._steps.get(state)  # type: ignore[arg-type]
        if known is not None:
            return known
        by_target: dict[State, list[int]] = {}
        for byte, target in self._moves(state):  # type: ignore[arg-type]
            if self._possible(target):
                by_target.setdefault(target, []).append(byte)
        items = [seq(byte_set(b), Lazy(self, t)) for t, b in by_target.items()]
        if self.accepting(state):
            items.append(EPSILON)
        result = self._steps[state] = alt(*items)  # type: ignore[index]
        return result

    def shortest(self, state: Hashable) -> int:
        """Fewest bytes to a complete allowed number (``_NEVER`` where none can be written)."""
        known = self._shortest.get(state)  # type: ignore[arg-type]
        if known is None:
            known = self._shortest[state] = self._fewest(state)  # type: ignore[index,arg-type]
        return known

    def key(self, state: Hashable, horizon: int) -> str:
        return f"{self.digest}:{state!r}"

    def is_empty(self) -> bool:
        return self.shortest(self.start) >= _NEVER


class MultiplesOf(_NumberTexts):
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
        k = _fraction_digits(m)
        if integer and k:
            raise ValueError("integer multiples need an integral multipleOf (take the lcm with 1)")
        self.k = k  # a multiple has at most k nonzero fraction digits
        self.modulus = p * 10**k // q  # value * 10^k is an integer multiple of this
        self.scale = 10**k % self.modulus
        # meaningful fraction digits: at most k, and at most max_digits
        self.fraction_digits = 0 if integer else min(k, _cap(max_digits))
        text = f"multiples;{m};{integer};{zero_fraction};{max_digits}"
        self.digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        super().__init__()

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

    def accepting(self, state: Hashable) -> bool:
        kind = state[0]  # type: ignore[index]
        if kind == "zero":
            return True
        if kind == "int":
            return state[2] == 0  # type: ignore[index]
        if kind == "frac":
            return state[2] == 0  # type: ignore[index]
        return False

    def _possible(self, state: State) -> bool:
        """Some count of integer digits with every fraction digit that can count admits a
        multiple (the values written with fewer fraction digits are among these)."""
        if state in self._shortest or state[0] != "int":
            return self.shortest(state) < _NEVER
        _, n, r = state
        room = None if self.max_digits is None else self.max_digits - n
        f = self.fraction_digits
        return any(
            self._solvable(r * 10**t % self.modulus, 10 ** (self.k - f), 10 ** (t + f))
            for t in self._digit_counts(room)
        )

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


# -- multiples under bounds, exclusions and non-divisibility ---------------------------------------

# States of MultiplesIn: ("start",), ("sign",), ("zero", negative), ("int", negative, digits, P)
# (P: the integer part so far, > 0), ("dot", negative, P), ("frac", negative, digits, V)
# (V: the magnitude so far times 10^digits).
MAX_AVOIDED = 8
"""The most non-divisors a :class:`MultiplesIn` takes (inclusion-exclusion over their subsets)."""


class MultiplesIn(_NumberTexts):
    """The number texts of :class:`MultiplesOf` (no exponent; ``max_digits`` before and after
    the point) whose value ``v`` is a multiple of ``m`` (``None``: any number), lies within
    ``low`` and ``high`` (``(value, exclusive)``; ``None``: unbounded), is a multiple of none of
    ``avoid`` and is none of ``excluded`` (all ``Fraction``).

    The bounds make the residue of :class:`MultiplesOf` not enough: a state holds the exact
    value read so far. What the text can still become from a state is every multiple of
    ``10^-f`` in a half-open interval, for each count ``t`` of integer digits and ``f`` of
    fraction digits still to come, so whether an allowed value can still be written is a count
    of multiples in an interval (with inclusion-exclusion for ``avoid`` and the excluded points
    subtracted), made only for the states an output reaches."""

    def __init__(
        self,
        m: Fraction | None,
        *,
        low: tuple[Fraction, bool] | None,
        high: tuple[Fraction, bool] | None,
        avoid: tuple[Fraction, ...] = (),
        excluded: tuple[Fraction, ...] = (),
        integer: bool,
        zero_fraction: bool,
        max_digits: int | None,
    ):
        if integer and (m is None or m.denominator != 1):
            raise ValueError("integer multiples need an integral multipleOf (take the lcm with 1)")
        if (m is not None and m <= 0) or any(n <= 0 for n in avoid):
            raise ValueError("multipleOf must be > 0")
        if len(avoid) > MAX_AVOIDED:
            raise ValueError(f"more than {MAX_AVOIDED} 'not' multipleOf values")
        self.m, self.low, self.high = m, low, high
        self.avoid, self.excluded = tuple(sorted(set(avoid))), tuple(sorted(set(excluded)))
        self.integer, self.zero_fraction, self.max_digits = integer, zero_fraction, max_digits
        values = [x for x in (m, *self.avoid, *self.excluded) if x is not None]
        values += [b[0] for b in (low, high) if b is not None]
        # fraction digits that can matter: past these, more digits only add trailing zeros
        # (with m) or nothing a bound, an excluded value or a non-divisor can tell apart
        if m is not None:  # a multiple of m has at most m's fraction digits
            self.k = _fraction_digits(m)
        else:  # one more than any value here has, and enough to step over the excluded ones
            finest = max((_fraction_digits(x) for x in values), default=0)
            self.k = finest + len(str(len(self.excluded))) + 1
        # integer digits past which an interval of values lies beyond every bound and point and
        # holds whole periods of the divisibility conditions
        period = m or Fraction(1, 10**self.k)
        for n in self.avoid:
            period = fraction_lcm(period, n)
        self.enough = max((len(str(abs(int(x)))) for x in values), default=1)
        self.enough += len(str(period.numerator)) + len(self.excluded) + 2
        text = f"multiples-in;{m};{low};{high};{self.avoid};{self.excluded};{integer};"
        text += f"{zero_fraction};{max_digits}"
        self.digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        super().__init__()
        self._multiples: dict[int, list[tuple[int, Fraction]]] = {}

    def __reduce__(self) -> tuple:
        options = (self.low, self.high, self.avoid, self.excluded)
        return (_rebuild_in, (self.m, *options, self.integer, self.zero_fraction, self.max_digits))

    def __repr__(self) -> str:
        return (
            f"<MultiplesIn {self.m} low={self.low} high={self.high} avoid={self.avoid} "
            f"excluded={self.excluded} integer={self.integer} digits={self.max_digits}>"
        )

    # -- transitions ------------------------------------------------------------------------------

    def _moves(self, state: State) -> list[tuple[int, State]]:
        """``(byte, next state)`` for every byte the text can go on with (dead ends included)."""
        kind = state[0]
        digits = range(0x30, 0x3A)
        out: list[tuple[int, State]] = []
        if kind in ("start", "sign"):
            negative = kind == "sign"
            if kind == "start":
                out.append((0x2D, ("sign",)))
            if kind == "start" or not self.integer:
                out.append((0x30, ("zero", negative)))
            if self.max_digits is None or self.max_digits >= 1:
                out += [(b, ("int", negative, 1, b - 0x30)) for b in digits[1:]]
        elif kind == "zero":
            if not self.integer or self.zero_fraction:
                out.append((0x2E, ("dot", state[1], 0)))
        elif kind == "int":
            _, negative, n, p = state
            if self.max_digits is None or n < self.max_digits:
                out += [(b, ("int", negative, n + 1, 10 * p + b - 0x30)) for b in digits]
            if not self.integer or self.zero_fraction:
                out.append((0x2E, ("dot", negative, p)))
        elif kind == "dot":
            _, negative, p = state
            if self.integer:
                out.append((0x30, ("frac", negative, 1, 10 * p)))  # only ".0"
            elif self.max_digits is None or self.max_digits >= 1:
                out += [(b, ("frac", negative, 1, 10 * p + b - 0x30)) for b in digits]
        elif kind == "frac" and not self.integer:
            _, negative, n, v = state
            if self.max_digits is None or n < self.max_digits:
                out += [(b, ("frac", negative, n + 1, 10 * v + b - 0x30)) for b in digits]
        return out

    # -- the Machine interface --------------------------------------------------------------------

    def accepting(self, state: Hashable) -> bool:
        kind = state[0]  # type: ignore[index]
        if kind == "zero":
            return self._allowed(Fraction(0))
        if kind == "int":
            _, negative, _, p = state  # type: ignore[misc]
            return self._allowed(Fraction(-p if negative else p))
        if kind == "frac":
            _, negative, n, v = state  # type: ignore[misc]
            return self._allowed(Fraction(-v if negative else v, 10**n))
        return False

    def _possible(self, state: State) -> bool:
        """Some count of integer digits with the most fraction digits that can count admits an
        allowed value."""
        if state in self._shortest or state[0] != "int":
            return self.shortest(state) < _NEVER
        _, negative, n, p = state
        places = 0 if self.integer else self._fraction_digits(0)[-1]
        return any(
            self._any(negative, Fraction(p * 10**t), Fraction((p + 1) * 10**t), places)
            for t in self._integer_digits(n)
        )

    # -- arithmetic -------------------------------------------------------------------------------

    def _fewest(self, state: State) -> int:
        kind = state[0]
        if kind in ("start", "sign"):
            return min((1 + self.shortest(t) for _, t in self._moves(state)), default=_NEVER)
        if self.integer:  # (".0" adds nothing to a value: never part of a shortest text)
            if kind == "zero":
                return 0 if self.accepting(state) else _NEVER
            if kind == "int":
                _, negative, n, p = state
                for t in self._integer_digits(n):
                    if self._any(negative, p * 10**t, (p + 1) * 10**t, 0):
                        return t
                return _NEVER
            if kind == "dot":
                return 1 if self._allowed(Fraction(-state[2] if state[1] else state[2])) else _NEVER
            return 0 if self.accepting(state) else _NEVER
        negative = state[1]
        if kind == "zero":
            shapes = [(0, f) for f in self._fraction_digits(0)]
            low, high, scale = 0, 1, 0
        elif kind == "int":
            _, _, n, p = state
            shapes = [(t, f) for t in self._integer_digits(n) for f in self._fraction_digits(0)]
            low, high, scale = p, p + 1, 0
        elif kind == "dot":
            shapes = [(0, f) for f in self._fraction_digits(0, least=1) if f]
            low, high, scale = state[2], state[2] + 1, 0
        else:  # "frac"
            _, _, n, v = state
            shapes = [(0, f) for f in self._fraction_digits(n)]
            low, high, scale = v, v + 1, n
        # The values with f fraction digits are among those with more (finer grain), so a count
        # of integer digits t is possible at all if it is with the most fraction digits; the
        # fewest fraction digits are only looked for then.
        best = _NEVER
        for t in sorted({t for t, _ in shapes}):
            if t >= best:
                break
            counts = [f for u, f in shapes if u == t]
            lo = Fraction(low * 10**t, 10**scale)
            hi = Fraction(high * 10**t, 10**scale)
            if not self._any(negative, lo, hi, scale + counts[-1]):
                continue
            for f in counts:
                # "." and f digits when f > 0 (a "dot" or "frac" state already has its point)
                cost = t + (f if kind in ("dot", "frac") else (1 + f if f else 0))
                if cost >= best:
                    break
                if f == counts[-1] or self._any(negative, lo, hi, scale + f):
                    best = cost
                    break
        return best

    def _integer_digits(self, n: int) -> range:
        room = self.enough if self.max_digits is None else min(self.max_digits - n, self.enough)
        return range(0, max(room, 0) + 1)

    def _fraction_digits(self, n: int, least: int = 0) -> range:
        """Counts of fraction digits still to write after ``n`` (0 included): up to the digits
        that can change which values are allowed (``least`` at least), and the digit limit."""
        most = max(self.k - n, least)
        if self.max_digits is not None:
            most = min(most, self.max_digits - n)
        return range(0, max(most, 0) + 1)

    def _allowed(self, value: Fraction) -> bool:
        if self.m is not None and value % self.m:
            return False
        if any(value % n == 0 for n in self.avoid) or value in self.excluded:
            return False
        return _within(value, self.low, self.high)

    def _any(self, negative: bool, lo: Fraction, hi: Fraction, places: int) -> bool:
        """Whether some allowed value ``v`` has ``|v|`` in ``[lo, hi)``, a multiple of
        ``10^-places``, with the sign ``negative`` (0 counts for both signs)."""
        multiples = self._multiples.get(places)
        if multiples is None:  # (signed, for inclusion-exclusion over the non-divisors)
            grain = Fraction(1, 10**places)
            step = grain if self.m is None else fraction_lcm(self.m, grain)
            multiples = [(1, step)]
            for size in range(1, len(self.avoid) + 1):
                for subset in itertools.combinations(self.avoid, size):
                    multiple = step
                    for n in subset:
                        multiple = fraction_lcm(multiple, n)
                    multiples.append(((-1) ** size, multiple))
            self._multiples[places] = multiples
        step = multiples[0][1]
        # the values as an interval with the sign applied, then cut by the bounds
        if negative:
            a, a_open, b, b_open = -hi, True, -lo, False
        else:
            a, a_open, b, b_open = lo, False, hi, True
        if self.low is not None and (self.low[0] > a or (self.low[0] == a and self.low[1])):
            a, a_open = self.low
        if self.high is not None and (self.high[0] < b or (self.high[0] == b and self.high[1])):
            b, b_open = self.high
        if a > b or (a == b and (a_open or b_open)):
            return False
        count = 0
        for sign, multiple in multiples:
            count += sign * _count_multiples(multiple, a, a_open, b, b_open)
        for x in self.excluded:
            inside = (a < x or (a == x and not a_open)) and (x < b or (x == b and not b_open))
            if inside and x % step == 0 and not any(x % n == 0 for n in self.avoid):
                count -= 1
        return count > 0


def _within(
    value: Fraction, low: tuple[Fraction, bool] | None, high: tuple[Fraction, bool] | None
) -> bool:
    """Whether ``value`` meets the bounds ``(bound, exclusive)`` (``None``: unbounded)."""
    if low is not None and (value < low[0] or (low[1] and value == low[0])):
        return False
    return high is None or value < high[0] or (not high[1] and value == high[0])


def _count_multiples(step: Fraction, a: Fraction, a_open: bool, b: Fraction, b_open: bool) -> int:
    """How many multiples of ``step`` lie between ``a`` and ``b`` (ends excluded where open)."""
    # a / step and b / step as integer quotients (Fraction division is slow here)
    lo_n, lo_d = a.numerator * step.denominator, a.denominator * step.numerator
    hi_n, hi_d = b.numerator * step.denominator, b.denominator * step.numerator
    first = lo_n // lo_d + 1 if a_open else -(-lo_n // lo_d)
    last = -(-hi_n // hi_d) - 1 if b_open else hi_n // hi_d
    return max(0, last - first + 1)


def fraction_lcm(a: Fraction, b: Fraction) -> Fraction:
    """The least common multiple of two positive fractions (the step of numbers that are
    multiples of both)."""
    return Fraction(math.lcm(a.numerator, b.numerator), math.gcd(a.denominator, b.denominator))


def _fraction_digits(x: Fraction) -> int:
    """Digits after the point of ``x`` written in decimal (it must terminate)."""
    k = 0
    while (x * 10**k).denominator != 1:
        k += 1
    return k


def _rebuild_in(
    m: Fraction | None,
    low: tuple[Fraction, bool] | None,
    high: tuple[Fraction, bool] | None,
    avoid: tuple[Fraction, ...],
    excluded: tuple[Fraction, ...],
    integer: bool,
    zero_fraction: bool,
    max_digits: int | None,
) -> MultiplesIn:
    return MultiplesIn(
        m,
        low=low,
        high=high,
        avoid=avoid,
        excluded=excluded,
        integer=integer,
        zero_fraction=zero_fraction,
        max_digits=max_digits,
    )
