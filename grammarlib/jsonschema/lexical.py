"""Lexical JSON as grammar IR: the syntax options (whitespace, escapes), numbers and integer or
decimal ranges, string characters and their encodings, ECMA-262 patterns."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

from ..charsets import MAX_CODE_POINT, SURROGATES, CharSet, difference, intersection, utf8_expr
from ..errors import GrammarError, GrammarTooLargeError, SchemaError
from ..ir import (
    EMPTY,
    EPSILON,
    Alt,
    Bytes,
    Expr,
    Repeat,
    Seq,
    alt,
    byte_range,
    byte_set,
    literal,
    optional,
    repeat,
    seq,
    star,
)
from ..regex import CharConverter, CharLeaf, LookaroundError, char_leaf, ecma_alternatives

__all__ = [
    "ALL_CHARS",
    "ESCAPE_POLICIES",
    "FLEXIBLE_MAX",
    "NUMBER_DIGITS",
    "WHITESPACE_POLICIES",
    "ZERO_FRACTION",
    "Syntax",
    "char_literal",
    "decimal_range",
    "ecma_pattern",
    "ecma_pattern_dfa",
    "integer_range",
    "json_char",
    "json_number",
    "json_string_except",
    "json_string_literal",
    "lower_chars",
    "string_except",
]

WHITESPACE_POLICIES = ("dumps", "compact", "default", "flexible")
"""``dumps``: optional single space after ``,`` and ``:`` (both json.dumps styles, the default);
``compact``: none; ``default``: exactly ``", "`` and ``": "``; ``flexible``: up to
:data:`FLEXIBLE_MAX` of ``[ \\t\\n\\r]`` between any two tokens (pass an int for another bound)."""
FLEXIBLE_MAX = 4
NUMBER_DIGITS = 20
"""Default ``number_digits``: int64 and uint64 need at most 20 digits, and ``json.dumps`` writes
a double with at most 17 significant digits (an exponent from 1e16 and below 1e-4)."""
EXPONENT_DIGITS = 3
"""Exponent digits when numbers are bounded (doubles reach e308 and e-324)."""
ESCAPE_POLICIES = ("dumps", "any")
"""``dumps``: escapes only where ``json.dumps`` may write them (the default); ``any``: every JSON
escape for every character."""

ALL_CHARS: CharSet = ((0, MAX_CODE_POINT),)


@dataclass(frozen=True)
class Syntax:
    """The surface syntax options of a schema's JSON texts: the whitespace policy (one of
    :data:`WHITESPACE_POLICIES`, or an int: ``flexible`` with that bound), the escape policy
    (one of :data:`ESCAPE_POLICIES`) and ``number_digits``, the most digits an unbounded side of
    a number may have in its integer part and its fraction (exponents: 3 digits; ``None``: no
    limit). The default, :data:`NUMBER_DIGITS`, covers every int64 and uint64 and every double
    as ``json.dumps`` writes it, and stops a model that will not end a number. Raises
    :class:`SchemaError` for an unknown whitespace policy and ``ValueError`` for an unknown
    escape policy."""

    whitespace: str | int = "dumps"
    escapes: str = "dumps"
    number_digits: int | None = NUMBER_DIGITS
    integer_fraction: bool = True
    """Whether an integer may be written with a zero fraction (``2.0``): yes from draft-06 on
    (integers are values); draft-04 defines an integer as a number without a fraction part."""
    after: Expr = field(init=False, repr=False, compare=False)  # after ',' and ':'
    inner: Expr = field(init=False, repr=False, compare=False)  # elsewhere between tokens

    def __post_init__(self) -> None:
        policy = self.whitespace
        blank = byte_set(b" \t\n\r")
        if isinstance(policy, int) and not isinstance(policy, bool) and policy >= 0:
            policy, bound = "flexible", policy
        else:
            bound = FLEXIBLE_MAX
        space = literal(" ")
        table = {
            "dumps": (optional(space), EPSILON),
            "compact": (EPSILON, EPSILON),
            "default": (space, EPSILON),
            "flexible": (repeat(blank, 0, bound), repeat(blank, 0, bound)),
        }
        if policy not in table:
            raise SchemaError(
                f"unknown whitespace policy {policy!r}; use one of {WHITESPACE_POLICIES} or an int"
            )
        digits = self.number_digits
        if digits is not None and (not isinstance(digits, int) or digits < 1):
            raise ValueError(f"number_digits must be a positive int or None, not {digits!r}")
        if self.escapes not in ESCAPE_POLICIES:
            raise ValueError(f"escapes must be one of {ESCAPE_POLICIES}, not {self.escapes!r}")
        after, inner = table[policy]
        object.__setattr__(self, "after", after)
        object.__setattr__(self, "inner", inner)

    def comma(self) -> Expr:
        return seq(self.inner, literal(","), self.after)

    def colon(self) -> Expr:
        return seq(self.inner, literal(":"), self.after)

    def bracket(self, open_: str, body: Expr, close: str) -> Expr:
        return seq(literal(open_), self.inner, body, self.inner, literal(close))

    def lower(self, expr: Expr) -> Expr:
        """A character-level expression as JSON string content with these escapes."""
        return lower_chars(expr, self.escapes)


_SHORT_ESCAPES = {0x22: '"', 0x5C: "\\", 0x2F: "/", 8: "b", 12: "f", 10: "n", 13: "r", 9: "t"}
_DUMPS_SHORT_ESCAPES = {k: v for k, v in _SHORT_ESCAPES.items() if k != 0x2F}
# json.dumps writes \uXXXX for the controls without a short escape and, with ensure_ascii, DEL
# and every non-ASCII character.
_DUMPS_U_ESCAPED: CharSet = ((0, 7), (0x0B, 0x0B), (0x0E, 0x1F), (0x7F, MAX_CODE_POINT))
_DEC = byte_range(0x30, 0x39)
# An integer may be written as json.dumps writes an integral float ("4.0"), but no longer run of
# zeros: "4.000..." would let a model spin on zeros forever (as bounded blanks do for spacing).
ZERO_FRACTION = optional(literal(".0"))


@functools.lru_cache(maxsize=512)
def _hex_digit(lo: int, hi: int) -> Expr:
    return byte_set(b for v in range(lo, hi + 1) for b in {ord(f"{v:x}"), ord(f"{v:X}")})


def _dec_digit(lo: int, hi: int) -> Expr:
    return byte_range(0x30 + lo, 0x30 + hi)


@functools.lru_cache(maxsize=4096)  # \u escapes and numerals recur; the results are immutable
def _fixed_range(
    lo: int, hi: int, width: int, base: int, digit: Callable[[int, int], Expr]
) -> Expr:
    """Exactly the ``width``-digit base-``base`` numerals (leading zeros kept) of ``lo..hi``."""
    if width == 0:
        return EPSILON
    p = base ** (width - 1)
    (a, ra), (b, rb) = divmod(lo, p), divmod(hi, p)
    rest = width - 1
    if a == b:
        return seq(digit(a, a), _fixed_range(ra, rb, rest, base, digit))
    parts = []
    first, last = a, b
    if ra != 0:
        parts.append(seq(digit(a, a), _fixed_range(ra, p - 1, rest, base, digit)))
        first = a + 1
    if rb != p - 1:
        last = b - 1
    if first <= last:
        parts.append(seq(digit(first, last), repeat(digit(0, base - 1), rest, rest)))
    if rb != p - 1:
        parts.append(seq(digit(b, b), _fixed_range(0, rb, rest, base, digit)))
    return alt(*parts)


def _naturals(lo: int, hi: int | None, max_digits: int | None = None) -> Expr:
    """Decimal numerals without leading zeros of the integers in ``lo..hi`` (``None``: no bound;
    with ``max_digits``, an open end stops at that many digits, or at ``lo``'s width)."""
    if hi is None and max_digits is not None:
        hi = 10 ** max(max_digits, len(str(lo))) - 1
    if hi is not None and lo > hi:
        return EMPTY
    parts = []
    top = len(str(hi)) if hi is not None else len(str(lo))
    for width in range(len(str(lo)), top + 1):
        a = max(lo, 10 ** (width - 1) if width > 1 else 0)
        b = 10**width - 1 if hi is None else min(hi, 10**width - 1)
        if a <= b:
            parts.append(_fixed_range(a, b, width, 10, _dec_digit))
    if hi is None:
        parts.append(seq(_dec_digit(1, 9), repeat(_DEC, len(str(lo)), None)))
    return alt(*parts)


@functools.lru_cache(maxsize=256)  # the same bounds recur (no bounds most of all); immutable
def integer_range(lo: int | None, hi: int | None, max_digits: int | None = None) -> Expr:
    """JSON integers in ``lo..hi`` (``None``: unbounded, or up to ``max_digits`` digits), no
    leading zeros, never ``-0``."""
    parts = []
    if hi is None or hi >= 0:
        parts.append(_naturals(max(lo, 0) if lo is not None else 0, hi, max_digits))
    if lo is None or lo < 0:
        top = -1 if hi is None else min(hi, -1)
        neg = _naturals(-top, None if lo is None else -lo, max_digits)
        parts.append(seq(literal("-"), neg))
    return alt(*parts)


def _fraction(
    lo: str | None, ls: bool, hi: str | None, hs: bool, nonempty: bool, most: int | None = None
) -> Expr:
    """Digit strings ``f`` with ``0.lo <= 0.f <= 0.hi`` (``<`` where strict; ``None``: no bound;
    bounds without trailing zeros), nonempty ones only if ``nonempty``; free runs of digits
    have at most ``most`` digits."""
    free = repeat(_DEC, 0, most)
    if lo in ("", None) and hi in ("", None):
        if hi == "":
            return EMPTY if hs or (lo == "" and ls) else repeat(literal("0"), int(nonempty), most)
        if lo == "" and ls:  # some digit is not 0; split at the first one (deterministic)
            return seq(repeat(literal("0"), 0, most), _dec_digit(1, 9), free)
        return repeat(_DEC, int(nonempty), most)
    parts = []
    if not nonempty and (lo is None or (lo == "" and not ls)) and (hi != "" or not hs):
        parts.append(EPSILON)
    lf = -1 if lo is None else int(lo[0]) if lo else 0
    hf = 10 if hi is None else int(hi[0]) if hi else 0
    if lf + 1 <= hf - 1:
        parts.append(seq(_dec_digit(max(lf + 1, 0), min(hf - 1, 9)), free))
    if lf >= 0 and lf <= hf:
        nlo = lo[1:] if lo else ""
        nhi = None if hf > lf else (hi[1:] if hi else "")
        parts.append(seq(_dec_digit(lf, lf), _fraction(nlo, ls, nhi, hs, False, most)))
    if hf <= 9 and hf > lf:
        rest = _fraction(None, ls, hi[1:] if hi else "", hs, False, most)
        parts.append(seq(_dec_digit(hf, hf), rest))
    return alt(*parts)


def _magnitudes(
    a: Decimal, a_strict: bool, b: Decimal | None, b_strict: bool, most: int | None = None
) -> Expr:
    """Unsigned decimal texts (no exponent) with value in the interval ``a..b``, ``a >= 0``;
    free runs of digits have at most ``most`` digits."""
    if b is not None and (b < a or (b == a and (a_strict or b_strict))):
        return EMPTY

    def split(d: Decimal) -> tuple[int, str]:
        whole = int(d)  # d >= 0: truncation is floor
        digits = format(d - whole, "f").partition(".")[2].rstrip("0")
        return whole, digits

    def frac(lo: str | None, ls: bool, hi: str | None, hs: bool) -> Expr:
        empty = _fraction(lo, ls, hi, hs, False, most)
        tail = _fraction(lo, ls, hi, hs, True, most)
        with_dot = seq(literal("."), tail)
        zero_ok = (lo is None or (lo == "" and not ls)) and (hi != "" or not hs)
        return alt(EPSILON, with_dot) if zero_ok and empty != EMPTY else with_dot

    ai, af = split(a)
    anything = optional(seq(literal("."), repeat(_DEC, 1, most)))
    if b is None:
        return alt(
            seq(_naturals(ai, ai), frac(af, a_strict, None, False)),
            seq(_naturals(ai + 1, None, most), anything),
        )
    bi, bf = split(b)
    if ai == bi:
        return seq(_naturals(ai, ai), frac(af, a_strict, bf, b_strict))
    return alt(
        seq(_naturals(ai, ai), frac(af, a_strict, None, False)),
        seq(_naturals(ai + 1, bi - 1), anything) if bi - ai > 1 else EMPTY,
        seq(_naturals(bi, bi), frac(None, False, bf, b_strict)),
    )


def decimal_range(
    lo: Decimal | None, ls: bool, hi: Decimal | None, hs: bool, max_digits: int | None = None
) -> Expr:
    """JSON numbers without exponent whose exact decimal value lies between ``lo`` and ``hi``
    (``None``: unbounded; ``ls``/``hs``: exclusive). ``-0`` forms count as zero. With
    ``max_digits``, free runs of digits (an open end, a fraction past the bounds' digits) have
    at most that many."""
    zero = Decimal(0)
    if lo is None or lo < 0:
        pos = _magnitudes(zero, False, hi, hs, max_digits) if hi is None or hi >= 0 else EMPTY
    else:
        pos = _magnitudes(lo, ls, hi, hs, max_digits)
    if hi is None or hi > 0:
        nlo, nls = zero, False
    else:
        nlo, nls = -hi, hs
    neg = (
        EMPTY
        if lo is not None and lo > 0
        else _magnitudes(nlo, nls, None if lo is None else -lo, ls, max_digits)
    )
    return alt(pos, seq(literal("-"), neg))


def json_char(chars: CharSet, escapes: str = "dumps") -> Expr:
    """All JSON string encodings of one character of ``chars`` under the escape policy
    ``escapes``: raw UTF-8 where allowed, short escapes, ``\\uXXXX`` and surrogate-pair
    escapes."""
    known = _CHAR_CACHE.get((escapes, chars))
    if known is not None:
        return known
    ascii_part, wide = (
        intersection(chars, ((0, 0x7F),)),
        intersection(chars, ((0x80, MAX_CODE_POINT),)),
    )
    if ascii_part and wide:
        # Two parts, each cached: sets such as "any character but these letters" (key tries,
        # string_except) share their large non-ASCII part, the expensive one to encode.
        result = alt(json_char(ascii_part, escapes), json_char(wide, escapes))
        _remember(_CHAR_CACHE, (escapes, chars), result, _MAX_CHARS)
        return result
    parts = []
    raw = difference(chars, ((0, 0x1F), (0x22, 0x22), (0x5C, 0x5C), SURROGATES))
    if raw:
        parts.append(utf8_expr(raw))
    short = _SHORT_ESCAPES if escapes == "any" else _DUMPS_SHORT_ESCAPES
    for cp, letter in short.items():
        if intersection(chars, ((cp, cp),)):
            parts.append(literal("\\" + letter))
    u = literal("\\u")
    escapable = chars if escapes == "any" else intersection(chars, _DUMPS_U_ESCAPED)
    for lo, hi in difference(intersection(escapable, ((0, 0xFFFF),)), (SURROGATES,)):
        parts.append(seq(u, _fixed_range(lo, hi, 4, 16, _hex_digit)))
    for lo, hi in intersection(chars, ((0x10000, MAX_CODE_POINT),)):
        (ha, la), (hb, lb) = divmod(lo - 0x10000, 0x400), divmod(hi - 0x10000, 0x400)
        spans = [(ha, ha, la, lb)] if ha == hb else [(ha, ha, la, 0x3FF), (hb, hb, 0, lb)]
        if hb - ha > 1:
            spans.append((ha + 1, hb - 1, 0, 0x3FF))
        for h1, h2, l1, l2 in spans:
            high = _fixed_range(0xD800 + h1, 0xD800 + h2, 4, 16, _hex_digit)
            low = _fixed_range(0xDC00 + l1, 0xDC00 + l2, 4, 16, _hex_digit)
            parts.append(seq(u, high, u, low))
    result = alt(*parts)
    _remember(_CHAR_CACHE, (escapes, chars), result, _MAX_CHARS)
    return result


_CHAR_CACHE: dict[tuple[str, CharSet], Expr] = {}


def lower_chars(expr: Expr, escapes: str = "dumps") -> Expr:
    """A character-level expression (``CharLeaf`` leaves) as JSON string content bytes, with the
    escape policy ``escapes``. Memoised by expression (IR values are immutable and hash once):
    the same formats, patterns and key sets come back in schema after schema."""
    if isinstance(expr, CharLeaf):
        return json_char(expr.chars, escapes)
    if not isinstance(expr, (Seq, Alt, Repeat)):
        return expr
    key = (expr, escapes)
    known = _LOWERED.get(key)
    if known is not None:
        return known
    if isinstance(expr, Seq):
        result = seq(*(lower_chars(i, escapes) for i in expr.items))
    elif isinstance(expr, Alt):
        result = alt(*(lower_chars(i, escapes) for i in expr.items))
    else:
        result = repeat(lower_chars(expr.item, escapes), expr.min, expr.max)
    _remember(_LOWERED, key, result, _MAX_LOWERED)
    return result


def _remember(cache: dict[Any, Expr], key: Any, value: Expr, most: int) -> None:
    """Store ``value`` in a memo that is emptied when it holds ``most`` entries. The bounds are
    small on purpose: cached expressions stay alive, and every object a process holds makes
    each full garbage collection longer (0.3-0.5 s for the 1.7 M objects these memos and the
    grammar caches held after 400 schemas)."""
    if len(cache) >= most:
        cache.clear()
    cache[key] = value


_LOWERED: dict[tuple[Expr, str], Expr] = {}
_MAX_LOWERED = 20_000
_MAX_CHARS = 2_000  # character sets (_CHAR_CACHE)
_MAX_EXCEPT = 256  # key complements (_EXCEPT_CACHE): a trie of the keys each, ~350 objects


def char_literal(text: str) -> Expr:
    """Character level: exactly the string ``text``."""
    return seq(*(char_leaf(((ord(c), ord(c)),)) for c in text))


def json_string_literal(text: str, escapes: str = "dumps") -> Expr:
    """The JSON spellings of the string ``text``, quotes included, with the escape policy
    ``escapes`` (a property's key, a string ``enum`` value). A text that ``json.dumps`` writes
    as it is, under ``"dumps"``, is its own bytes; others are memoised (keys recur)."""
    if escapes == "dumps" and _PLAIN.issuperset(text):
        return literal(f'"{text}"')
    return _json_string_literal(text, escapes)


# the characters json.dumps writes as they are: printable ASCII but the quote and the backslash
_PLAIN_RANGES: CharSet = difference(((0x20, 0x7E),), ((0x22, 0x22), (0x5C, 0x5C)))
_PLAIN = frozenset(chr(c) for lo, hi in _PLAIN_RANGES for c in range(lo, hi + 1))
_PLAIN_MASK = sum(1 << ord(c) for c in _PLAIN)


@functools.lru_cache(maxsize=1024)  # (each is a few IR nodes, kept alive: bounded)
def _json_string_literal(text: str, escapes: str) -> Expr:
    return seq(literal('"'), lower_chars(char_literal(text), escapes), literal('"'))


def string_except(excluded: list[str]) -> Expr:
    """Character level: every string not in ``excluded`` (the complement of their trie)."""
    return _trie_complement(excluded, char_leaf)


def json_string_except(excluded: list[str], escapes: str = "dumps") -> Expr:
    """``lower_chars(string_except(excluded), escapes)`` built directly at the byte level and
    memoised (the key strings of objects: every other key of an object with named properties;
    each trie node's "any other character" shares the encodings cached by :func:`json_char`)."""
    key = (tuple(sorted(set(excluded))), escapes)
    known = _EXCEPT_CACHE.get(key)
    if known is not None:
        return known
    other = None
    if escapes == "dumps" and all(_PLAIN.issuperset(word) for word in key[0]):
        # Plain keys: a plain character has one spelling, its byte, so "any character but these
        # plain ones" is the other plain bytes beside the spellings of every character that is
        # not plain (the same at every trie node), and no character set is encoded per node.
        not_plain = json_char(difference(ALL_CHARS, _PLAIN_RANGES), escapes)
        # alt() would merge the byte sets and flatten the rest again at every node
        assert isinstance(not_plain, Alt) and isinstance(not_plain.items[0], Bytes)
        first, *rest = not_plain.items

        def other(kids: list[str]) -> Expr:
            mask = _PLAIN_MASK & ~sum(1 << ord(c) for c in kids)
            return Alt((Bytes(mask | first.mask), *rest))

    one = functools.partial(_lowered_char, escapes=escapes)
    result = _trie_complement(key[0], one, other)
    _remember(_EXCEPT_CACHE, key, result, _MAX_EXCEPT)
    return result


def _lowered_char(chars: CharSet, escapes: str) -> Expr:
    return lower_chars(char_leaf(chars), escapes)


def _trie_complement(
    excluded: Iterable[str],
    one: Callable[[CharSet], Expr],
    other: Callable[[list[str]], Expr] | None = None,
) -> Expr:
    """Every string not in ``excluded``, each character written by ``one`` (one character of a
    set: ``char_leaf``, or its JSON-escaped bytes); ``other(kids)``, where given, writes one
    character not in ``kids`` (else ``one`` of their complement)."""
    trie: dict[str, Any] = {}
    for word in excluded:
        node = trie
        for c in word:
            node = node.setdefault(c, {})
        node[""] = {}
    anything = star(one(ALL_CHARS))

    def walk(node: dict[str, Any]) -> Expr:
        kids = sorted(c for c in node if c)
        if other is None:
            different = one(difference(ALL_CHARS, tuple((ord(c), ord(c)) for c in kids)))
        else:
            different = other(kids)
        parts = [] if "" in node else [EPSILON]
        parts.append(seq(different, anything))
        parts.extend(seq(one(((ord(c), ord(c)),)), walk(node[c])) for c in kids)
        return alt(*parts)

    return walk(trie)


_EXCEPT_CACHE: dict[tuple[tuple[str, ...], str], Expr] = {}


def ecma_pattern_dfa(pattern: str) -> Any:
    """:func:`ecma_pattern` as a character DFA (a :class:`~grammarlib.regular.CharDFA`); the
    form for patterns with a lookahead after ``^``, whose language may need several rules."""
    return _ecma(pattern, as_dfa=True)


def ecma_pattern(pattern: str) -> Expr:
    """Character level: strings in which ``pattern`` matches somewhere (ECMA-262 ``test``).

    The pattern is ECMA-262 with the ``u`` flag (Unicode semantics, as JSON Schema reads it):
    :func:`~grammarlib.regex.ecma_alternatives` rewrites each top-level alternative into a ``re``
    pattern with the same language (``\\d``/``\\w`` ASCII, ``\\s`` ECMA's white space, ``.``
    without line terminators, ``\\p{...}`` property escapes, ``\\uXXXX``, ``\\cX``, ...),
    which the regex converter then reads. Each alternative is unanchored unless it starts with
    ``^`` / ends with ``$``; anchors elsewhere are refused. Raises :class:`SchemaError` naming
    the pattern for what ECMA-262 rejects (an unknown ``\\p{...}`` name, ``\\Z``) or
    grammarlib cannot enforce. Lookaheads right after ``^`` (``^(?!-)[a-z-]+$``) are read
    exactly (see :func:`ecma_pattern_dfa` where the result needs several rules); lookaround
    anywhere else is refused."""
    return _ecma(pattern, as_dfa=False)


@functools.lru_cache(maxsize=4096)  # schemas repeat their patterns; the results are immutable
def _ecma(pattern: str, as_dfa: bool) -> Any:
    from ..regular import CharDFA

    try:
        alternatives = ecma_alternatives(pattern)
    except GrammarError as e:
        raise SchemaError(e.message) from None
    anything = star(char_leaf(ALL_CHARS))
    out = []
    dfas = []  # alternatives with lookaheads, as DFAs (as_dfa)
    for text in alternatives:
        try:
            parsed = _parser.parse(text, C.SRE_FLAG_ASCII)
        except Exception as e:  # re.error's position would be one in the translation
            msg = getattr(e, "msg", e)
            if len(alternatives) > 1:  # an unbalanced group: report it on the whole pattern
                try:
                    _parser.parse("|".join(alternatives), C.SRE_FLAG_ASCII)
                except Exception as whole:
                    msg = getattr(whole, "msg", whole)
            raise SchemaError(f"invalid ECMA-262 pattern {pattern!r}: {msg}") from e
        converter = CharConverter(pattern, parsed.state)
        flags = parsed.state.flags | C.SRE_FLAG_ASCII
        branch = list(parsed)
        start = bool(branch) and branch[0] == (C.AT, C.AT_BEGINNING)
        end = bool(branch) and branch[-1] == (C.AT, C.AT_END)
        lookaheads = []
        while start and len(branch) > 1 and branch[1][0] in (C.ASSERT, C.ASSERT_NOT):
            direction, inner = branch[1][1]
            if direction != 1:  # a lookbehind right after ^ is empty or vacuous: not seen
                break
            lookaheads.append((branch[1][0] is C.ASSERT, list(inner)))
            branch = [branch[0], *branch[2:]]
        try:
            body = converter.convert_sequence(branch, flags, start, end)
            whole: Any = seq(EPSILON if start else anything, body, EPSILON if end else anything)
            if lookaheads:
                restricted = _with_lookaheads(converter, whole, lookaheads, flags, anything)
                if as_dfa:
                    dfas.append(restricted)
                    continue
                whole = restricted.to_expr()
        except LookaroundError:
            raise GrammarError(f"lookaround in pattern {pattern!r} is not supported") from None
        except GrammarTooLargeError:
            raise GrammarError(
                f"pattern {pattern!r}: its lookahead needs several rules (ecma_pattern_dfa)"
            ) from None
        out.append(whole)
    if not as_dfa:
        return alt(*out)
    result = CharDFA.from_expr(alt(*out))  # the alternatives without lookaheads: one DFA
    for dfa in dfas:
        result = result.union(dfa)
    return result


def _with_lookaheads(
    converter: CharConverter,
    whole: Expr,
    lookaheads: list[tuple[bool, list[Any]]],
    flags: int,
    anything: Expr,
) -> Any:
    """``whole`` (the strings an anchored alternative matches) restricted by the lookaheads
    right after its ``^``: ``(?=X)`` keeps the strings that start with a match of ``X``,
    ``(?!X)`` the others (``X`` ending in ``$`` must match the whole string). Regular, so the
    character DFAs compute it exactly; lookaround anywhere else is refused."""
    from ..regular import CharDFA

    result = CharDFA.from_expr(whole)
    for positive, items in lookaheads:
        anchored = bool(items) and items[-1] == (C.AT, C.AT_END)
        inner = converter.convert_sequence(items, flags, True, anchored)
        lang = CharDFA.from_expr(seq(inner, EPSILON if anchored else anything))
        result = result.intersect(lang) if positive else result.difference(lang)
    return result


@functools.lru_cache(maxsize=16)
def json_number(max_digits: int | None = None) -> Expr:
    """RFC 8259 numbers; with ``max_digits``, at most that many digits before and after the
    point and at most :data:`EXPONENT_DIGITS` in the exponent."""
    digits = repeat(_DEC, 1, max_digits)
    lead = repeat(_DEC, 0, None if max_digits is None else max_digits - 1)
    exponent = repeat(_DEC, 1, None if max_digits is None else EXPONENT_DIGITS)
    return seq(
        optional(literal("-")),
        alt(literal("0"), seq(_dec_digit(1, 9), lead)),
        optional(seq(literal("."), digits)),
        optional(seq(byte_set(b"eE"), optional(byte_set(b"+-")), exponent)),
    )
