"""JSON Schema (draft 2020-12) to grammar IR, enforcing every keyword it accepts exactly.

The language of a schema is the JSON texts (UTF-8) whose value is valid under the schema, within
a fixed surface syntax:

* **Whitespace** follows a policy (see :data:`WHITESPACE_POLICIES`): by default exactly what
  ``json.dumps(v)`` and ``json.dumps(v, separators=(",", ":"))`` produce, i.e. an optional single
  space after ``,`` and ``:`` and nothing else; no whitespace before or after the value.
* **Strings** follow an escape policy (see :data:`ESCAPE_POLICIES`). By default (``"dumps"``)
  they are written as ``json.dumps`` writes them, with ``ensure_ascii`` on or off: raw UTF-8 for
  every character except ``"``, ``\\`` and controls below U+0020, which are escaped (``\\"``,
  ``\\\\``, ``\\b\\f\\n\\r\\t``, else ``\\u00XX``), and non-ASCII characters may also be
  ``\\uXXXX`` escapes (surrogate pairs for astral ones); hex digits in either case. So an ASCII
  key is spelled one way only, and the grammar forces it (jump-forward) instead of letting a
  model write ``"\\u0061ge"``. ``escapes="any"`` allows every JSON escape for every character
  (``\\/``, ``\\u0041``, ...). Lone surrogates are never accepted. Every string constraint
  (``minLength``, ``pattern``, property names, ``const``) is applied to the *decoded* string, so
  ``"\\u00e9"`` and ``"é"`` are treated alike: strings are built at the character level (one
  leaf per decoded character) and then lowered, each character to its allowed JSON encodings.
* **Numbers** follow RFC 8259. An integer is written without leading zeros and never as ``-0``
  (``json.dumps`` never writes it); ``type: integer`` also accepts integral numbers written with a
  zero fraction as ``json.dumps`` writes integral floats (``1.0``, which ``jsonschema`` counts
  as an integer; not ``1.00``, so a model cannot spin on zeros) and not with an exponent.
* **Numbers** under ``minimum``/``maximum``/``exclusive*`` or ``multipleOf`` are written without
  an exponent (their exact decimal value decides); unconstrained numbers may use one.
* **Objects** (``property_order="schema"``, the default) list the declared ``properties`` in the
  schema's order (``allOf`` branches merged in order); optional ones may be left out. Other named
  keys (in ``required``, ``dependentRequired``, ...) follow. Extra keys (where
  ``additionalProperties``/``patternProperties``/``unevaluatedProperties`` allow them) come after
  all named ones and are exactly the strings that, decoded, differ from every named key.
  ``property_order="any"`` allows the members in any order (each key at most once), for objects
  with at most 10 named keys.
* ``const``/``enum`` values are rendered like ``json.dumps`` (object keys in the value's order;
  with ``property_order="any"`` in every order, up to 5 keys), with the whitespace policy between
  tokens and any string escapes.
* ``format`` is enforced (draft 2020-12's format-assertion vocabulary; the formats of
  :mod:`grammarlib.formats`, an unknown one is refused) unless ``formats=False``, which treats it
  as the annotation the draft makes it by default.

How: a schema is brought into a disjunctive normal form over JSON types (see "the schema walk"
below). ``allOf`` and ``$ref`` merge, ``anyOf``/``oneOf``/``if``/``dependent*`` distribute
(``oneOf`` as branch-and-not-the-others where branches can overlap), ``not`` is pushed down
keyword by keyword; string languages (``pattern``, ``format``, lengths, property names, excluded
values) are combined exactly as character DFAs and numbers with ``multipleOf`` as digit DFAs
(:mod:`grammarlib.regular`). Which properties/items each case evaluated is tracked, so
``unevaluatedProperties``/``unevaluatedItems`` become plain constraints. References resolve with
the ``referencing`` library as ``jsonschema`` resolves them (``$id`` base URIs, ``$anchor``,
``$dynamicRef`` against the dynamic scope of the path that reaches it).

Keywords that cannot be enforced exactly raise :class:`SchemaError` naming the keyword and its
JSON pointer (or, with ``strict=False``, are dropped with a warning): ``uniqueItems`` unless the
items come from a finite set (at most 10 values, or 4096 arrays next to ``contains``), ``not``
around ``uniqueItems`` or around more than 3 object-wide keywords at once, a recursive ``$ref``
next to other keywords, ``anyOf`` with more than 4 branches under ``unevaluated*``, schemas whose
normal form passes 256 cases, other ``$schema`` dialects, unknown keywords and formats, patterns
with lookaround, ``multipleOf`` needing more than 10 000 automaton states, ``hostname`` without a
``maxLength`` of at most 64. Unsatisfiable schemas raise
:class:`SchemaError` saying why.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

from .charsets import MAX_CODE_POINT, SURROGATES, CharSet, difference, intersection, utf8_expr
from .errors import GrammarError, SchemaError
from .grammar import Grammar
from .ir import (
    EMPTY,
    EPSILON,
    Alt,
    Expr,
    Ref,
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
from .regex import _Chars, _chars, _Converter, _HasLookaround, ecma_alternatives
from .schema_dialects import (
    ANNOTATION_KEYWORDS,
    DRAFT202012,
    DRAFTS,
    check_shape,
    detect_draft,
    known_keywords,
    to_draft202012,
    translated_metaschemas,
)

__all__ = [
    "ESCAPE_POLICIES",
    "WHITESPACE_POLICIES",
    "SchemaError",
    "exact_number",
    "exact_validator",
    "schema_to_grammar",
]

JSON_TYPES = ("null", "boolean", "object", "array", "string", "number", "integer")
WHITESPACE_POLICIES = ("dumps", "compact", "default", "flexible")
"""``dumps``: optional single space after ``,`` and ``:`` (both json.dumps styles, the default);
``compact``: none; ``default``: exactly ``", "`` and ``": "``; ``flexible``: up to
:data:`FLEXIBLE_MAX` of ``[ \\t\\n\\r]`` between any two tokens (pass an int for another bound)."""
FLEXIBLE_MAX = 4
ESCAPE_POLICIES = ("dumps", "any")
"""``dumps``: escapes only where ``json.dumps`` may write them (the default); ``any``: every JSON
escape for every character."""
_ESCAPES: contextvars.ContextVar[str] = contextvars.ContextVar("escapes", default="dumps")

_FULL: CharSet = ((0, MAX_CODE_POINT),)


def schema_to_grammar(
    schema: Any,
    *,
    whitespace: str | int = "dumps",
    strict: bool = True,
    formats: bool = True,
    registry: Any = None,
    property_order: str = "schema",
    escapes: str = "dumps",
    draft: str | None = None,
) -> Grammar:
    """The grammar of the JSON texts valid under ``schema`` (a dict, bool or JSON text).

    ``draft``: the draft to read a schema that has no ``$schema`` in (a meta-schema URI or a
    name: ``"draft-04"``, ``"draft-06"``, ``"draft-07"``, ``"2019-09"``, ``"2020-12"``); by
    default 2020-12 unless the schema uses forms only older drafts have (see
    :func:`grammarlib.schema_dialects.detect_draft`).

    ``formats``: enforce ``format`` (an assertion; with False it is the annotation that draft
    2020-12 makes it by default, and ignored). ``registry``: a ``referencing.Registry`` of the
    other schemas that ``$ref`` may name (the JSON Schema meta-schemas are always there).
    ``property_order``: ``"schema"`` (declared properties in schema order, then the others) or
    ``"any"`` (members in any order; objects with more than 10 named properties are refused).
    ``escapes``: which string escapes are allowed (:data:`ESCAPE_POLICIES`)."""
    if isinstance(schema, (str, bytes)):
        try:
            schema = json.loads(schema)
        except ValueError as e:
            raise SchemaError(f"schema is not valid JSON: {e}") from e
    draft = detect_draft(schema, default=draft)
    check_shape(schema, draft)
    schema = to_draft202012(schema, draft)
    ws = _Whitespace(whitespace)
    if escapes not in ESCAPE_POLICIES:
        raise ValueError(f"escapes must be one of {ESCAPE_POLICIES}, not {escapes!r}")
    token = _ESCAPES.set(escapes)
    try:
        return _Compiler(schema, ws, strict, formats, registry, property_order).grammar()
    finally:
        _ESCAPES.reset(token)


# -- lexical level ------------------------------------------------------------------------------


class _Whitespace:
    """Where whitespace may go: after ``,`` / ``:`` and inside brackets and around separators."""

    def __init__(self, policy: str | int):
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
        self.after, self.inner = table[policy]  # after ',' and ':'; everywhere else between tokens

    def comma(self) -> Expr:
        return seq(self.inner, literal(","), self.after)

    def colon(self) -> Expr:
        return seq(self.inner, literal(":"), self.after)

    def bracket(self, open_: str, body: Expr, close: str) -> Expr:
        return seq(literal(open_), self.inner, body, self.inner, literal(close))


_SHORT_ESCAPES = {0x22: '"', 0x5C: "\\", 0x2F: "/", 8: "b", 12: "f", 10: "n", 13: "r", 9: "t"}
_DUMPS_SHORT_ESCAPES = {k: v for k, v in _SHORT_ESCAPES.items() if k != 0x2F}
# json.dumps writes \uXXXX for the controls without a short escape and, with ensure_ascii, DEL
# and every non-ASCII character.
_DUMPS_U_ESCAPED: CharSet = ((0, 7), (0x0B, 0x0B), (0x0E, 0x1F), (0x7F, MAX_CODE_POINT))
_DEC = byte_range(0x30, 0x39)
# An integer may be written as json.dumps writes an integral float ("4.0"), but no longer run of
# zeros: "4.000..." would let a model spin on zeros forever (as bounded blanks do for spacing).
_ZERO_FRACTION = optional(literal(".0"))


def _hex_digit(lo: int, hi: int) -> Expr:
    return byte_set(b for v in range(lo, hi + 1) for b in {ord(f"{v:x}"), ord(f"{v:X}")})


def _dec_digit(lo: int, hi: int) -> Expr:
    return byte_range(0x30 + lo, 0x30 + hi)


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


def _naturals(lo: int, hi: int | None) -> Expr:
    """Decimal numerals without leading zeros of the integers in ``lo..hi`` (``None``: no bound)."""
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


def integer_range(lo: int | None, hi: int | None) -> Expr:
    """JSON integers in ``lo..hi`` (``None``: unbounded), no leading zeros, never ``-0``."""
    parts = []
    if hi is None or hi >= 0:
        parts.append(_naturals(max(lo, 0) if lo is not None else 0, hi))
    if lo is None or lo < 0:
        top = -1 if hi is None else min(hi, -1)
        neg = _naturals(-top, None if lo is None else -lo)
        parts.append(seq(literal("-"), neg))
    return alt(*parts)


def _fraction(lo: str | None, ls: bool, hi: str | None, hs: bool, nonempty: bool) -> Expr:
    """Digit strings ``f`` with ``0.lo <= 0.f <= 0.hi`` (``<`` where strict; ``None``: no bound;
    bounds without trailing zeros), nonempty ones only if ``nonempty``."""
    if lo in ("", None) and hi in ("", None):
        if hi == "":
            return EMPTY if hs or (lo == "" and ls) else repeat(literal("0"), int(nonempty), None)
        if lo == "" and ls:
            return seq(star(_DEC), _dec_digit(1, 9), star(_DEC))
        return repeat(_DEC, int(nonempty), None)
    parts = []
    if not nonempty and (lo is None or (lo == "" and not ls)) and (hi != "" or not hs):
        parts.append(EPSILON)
    lf = -1 if lo is None else int(lo[0]) if lo else 0
    hf = 10 if hi is None else int(hi[0]) if hi else 0
    if lf + 1 <= hf - 1:
        parts.append(seq(_dec_digit(max(lf + 1, 0), min(hf - 1, 9)), star(_DEC)))
    if lf >= 0 and lf <= hf:
        nlo = lo[1:] if lo else ""
        nhi = None if hf > lf else (hi[1:] if hi else "")
        parts.append(seq(_dec_digit(lf, lf), _fraction(nlo, ls, nhi, hs, False)))
    if hf <= 9 and hf > lf:
        parts.append(seq(_dec_digit(hf, hf), _fraction(None, ls, hi[1:] if hi else "", hs, False)))
    return alt(*parts)


def _magnitudes(a: Decimal, a_strict: bool, b: Decimal | None, b_strict: bool) -> Expr:
    """Unsigned decimal texts (no exponent) with value in the interval ``a..b``, ``a >= 0``."""
    if b is not None and (b < a or (b == a and (a_strict or b_strict))):
        return EMPTY

    def split(d: Decimal) -> tuple[int, str]:
        whole = int(d)  # d >= 0: truncation is floor
        digits = format(d - whole, "f").partition(".")[2].rstrip("0")
        return whole, digits

    def frac(lo: str | None, ls: bool, hi: str | None, hs: bool) -> Expr:
        empty = _fraction(lo, ls, hi, hs, False)
        tail = _fraction(lo, ls, hi, hs, True)
        with_dot = seq(literal("."), tail)
        zero_ok = (lo is None or (lo == "" and not ls)) and (hi != "" or not hs)
        return alt(EPSILON, with_dot) if zero_ok and empty != EMPTY else with_dot

    ai, af = split(a)
    anything = optional(seq(literal("."), repeat(_DEC, 1, None)))
    if b is None:
        return alt(
            seq(_naturals(ai, ai), frac(af, a_strict, None, False)),
            seq(_naturals(ai + 1, None), anything),
        )
    bi, bf = split(b)
    if ai == bi:
        return seq(_naturals(ai, ai), frac(af, a_strict, bf, b_strict))
    return alt(
        seq(_naturals(ai, ai), frac(af, a_strict, None, False)),
        seq(_naturals(ai + 1, bi - 1), anything) if bi - ai > 1 else EMPTY,
        seq(_naturals(bi, bi), frac(None, False, bf, b_strict)),
    )


def decimal_range(lo: Decimal | None, ls: bool, hi: Decimal | None, hs: bool) -> Expr:
    """JSON numbers without exponent whose exact decimal value lies between ``lo`` and ``hi``
    (``None``: unbounded; ``ls``/``hs``: exclusive). ``-0`` forms count as zero."""
    zero = Decimal(0)
    if lo is None or lo < 0:
        pos = _magnitudes(zero, False, hi, hs) if hi is None or hi >= 0 else EMPTY
    else:
        pos = _magnitudes(lo, ls, hi, hs)
    if hi is None or hi > 0:
        nlo, nls = zero, False
    else:
        nlo, nls = -hi, hs
    neg = (
        EMPTY
        if lo is not None and lo > 0
        else _magnitudes(nlo, nls, None if lo is None else -lo, ls)
    )
    return alt(pos, seq(literal("-"), neg))


def _json_char(chars: CharSet) -> Expr:
    """All JSON string encodings of one character of ``chars``: raw UTF-8 where allowed, short
    escapes, ``\\uXXXX`` and surrogate-pair escapes."""
    policy = _ESCAPES.get()
    known = _CHAR_CACHE.get((policy, chars))
    if known is not None:
        return known
    parts = []
    raw = difference(chars, ((0, 0x1F), (0x22, 0x22), (0x5C, 0x5C), SURROGATES))
    if raw:
        parts.append(utf8_expr(raw))
    short = _SHORT_ESCAPES if policy == "any" else _DUMPS_SHORT_ESCAPES
    for cp, letter in short.items():
        if intersection(chars, ((cp, cp),)):
            parts.append(literal("\\" + letter))
    u = literal("\\u")
    escapable = chars if policy == "any" else intersection(chars, _DUMPS_U_ESCAPED)
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
    _CHAR_CACHE[policy, chars] = result
    return result


_CHAR_CACHE: dict[tuple[str, CharSet], Expr] = {}


def lower_chars(expr: Expr) -> Expr:
    """A character-level expression (``_Chars`` leaves) as JSON string content bytes."""
    if isinstance(expr, _Chars):
        return _json_char(expr.chars)
    if isinstance(expr, Seq):
        return seq(*(lower_chars(i) for i in expr.items))
    if isinstance(expr, Alt):
        return alt(*(lower_chars(i) for i in expr.items))
    if isinstance(expr, Repeat):
        return repeat(lower_chars(expr.item), expr.min, expr.max)
    return expr


def _char_literal(text: str) -> Expr:
    return seq(*(_chars(((ord(c), ord(c)),)) for c in text))


def _string_except(excluded: list[str]) -> Expr:
    """Character level: every string not in ``excluded`` (the complement of their trie)."""
    trie: dict[str, Any] = {}
    for word in excluded:
        node = trie
        for c in word:
            node = node.setdefault(c, {})
        node[""] = {}
    anything = star(_chars(_FULL))

    def walk(node: dict[str, Any]) -> Expr:
        kids = sorted(c for c in node if c)
        others = difference(_FULL, tuple((ord(c), ord(c)) for c in kids))
        parts = [] if "" in node else [EPSILON]
        parts.append(seq(_chars(others), anything))
        parts.extend(seq(_chars(((ord(c), ord(c)),)), walk(node[c])) for c in kids)
        return alt(*parts)

    return walk(trie)


class _CharConverter(_Converter):
    """The regex converter with every character as a ``_Chars`` leaf (no byte lowering)."""

    def _chars(self, chars: CharSet) -> Expr:
        return _chars(chars)

    def _node(self, op: Any, av: Any, flags: int, at_start: bool, at_end: bool) -> Expr:
        if op is C.LITERAL and not flags & C.SRE_FLAG_IGNORECASE:
            return _chars(((av, av),))
        return super()._node(op, av, flags, at_start, at_end)


def ecma_pattern(pattern: str) -> Expr:
    """Character level: strings in which ``pattern`` matches somewhere (ECMA-262 ``test``).

    The pattern is ECMA-262 with the ``u`` flag (Unicode semantics, as JSON Schema reads it):
    :func:`~grammarlib.regex.ecma_alternatives` rewrites each top-level alternative into a ``re``
    pattern with the same language (``\\d``/``\\w`` ASCII, ``\\s`` ECMA's white space, ``.``
    without line terminators, ``\\p{...}`` property escapes, ``\\uXXXX``, ``\\cX``, ...),
    which the regex converter then reads. Each alternative is unanchored unless it starts with
    ``^`` / ends with ``$``; anchors elsewhere are refused. Raises :class:`SchemaError` naming
    the pattern for what ECMA-262 rejects (an unknown ``\\p{...}`` name, ``\\Z``) or
    grammarlib cannot enforce."""
    try:
        alternatives = ecma_alternatives(pattern)
    except GrammarError as e:
        raise SchemaError(e.message) from None
    anything = star(_chars(_FULL))
    out = []
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
        conv = _CharConverter(pattern, parsed.state)
        flags = parsed.state.flags | C.SRE_FLAG_ASCII
        branch = list(parsed)
        start = bool(branch) and branch[0] == (C.AT, C.AT_BEGINNING)
        end = bool(branch) and branch[-1] == (C.AT, C.AT_END)
        try:
            body = conv._seq(branch, flags, start, end)
        except _HasLookaround:
            raise GrammarError(f"lookaround in pattern {pattern!r} is not supported") from None
        out.append(seq(EPSILON if start else anything, body, EPSILON if end else anything))
    return alt(*out)


# -- the schema walk ----------------------------------------------------------------------------
#
# A schema is brought into a disjunctive normal form: a list of `_Flat` conjunctions, each a set
# of per-type constraints with no combinators left. `allOf` merges, `anyOf`/`oneOf`/`if`/
# `dependent*` distribute, `not` is pushed inwards keyword by keyword (each keyword's negation is
# again a per-type constraint). Subschemas of properties and items stay as terms (`_Sub`, `_Not`,
# `_All`) and are compiled on their own. Annotations (which properties/items a successful schema
# evaluated) travel with each conjunction, so `unevaluated*` becomes an ordinary constraint.


def _ptr(base: str, *parts: object) -> str:
    for p in parts:
        base += "/" + str(p).replace("~", "~0").replace("/", "~1")
    return base


def _json_key(v: Any) -> str:
    """Equality key for JSON values as jsonschema compares them (1 == 1.0, True != 1)."""
    return json.dumps(_canon(v), sort_keys=True)


def _canon(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return ["#num", repr(Fraction(v))]
    if isinstance(v, list):
        return [_canon(x) for x in v]
    return {k: _canon(x) for k, x in v.items()}


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


_ALL_TYPES = frozenset({"null", "boolean", "number", "string", "object", "array"})
_MAX_BRANCHES = 256


@dataclass(frozen=True, eq=False)
class _Sub:
    """A subschema in its context: the reference resolver (base URI, dynamic scope) and pointer."""

    schema: Any
    resolver: Any
    where: str


@dataclass(frozen=True, eq=False)
class _Not:
    item: Any
    where: str


@dataclass(frozen=True, eq=False)
class _All:
    items: tuple[Any, ...]
    where: str


_Term = Any  # bool | _Sub | _Not | _All


@dataclass
class _Flat:
    """One conjunction of per-type constraints (plus the annotations it produces)."""

    where: str
    types: frozenset[str] = _ALL_TYPES
    values: list[Any] | None = None  # the value is one of these
    excluded: list[Any] = field(default_factory=list)  # ... and none of these
    conj: list[_Term] = field(default_factory=list)  # terms whose conjunction holds (for values)
    lo: tuple[Decimal, bool] | None = None  # number bounds (value, exclusive)
    hi: tuple[Decimal, bool] | None = None
    mults: list[Decimal] = field(default_factory=list)
    notmults: list[Decimal] = field(default_factory=list)
    min_len: int = 0
    max_len: int | None = None
    langs: list[tuple[str, str, bool, str]] = field(default_factory=list)  # kind, v, neg, where
    props: dict[str, list[_Term]] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    regions: list[tuple[frozenset[str], tuple[str, ...], _Term]] = field(default_factory=list)
    pprops: list[tuple[str, _Term]] = field(default_factory=list)
    pnames: list[_Term] = field(default_factory=list)
    # some member has a key of the class and a value of the term: ("region", names, patterns)
    # (a key outside both), ("pattern", p) (a key matching p), ("names", terms) (a key that
    # fails the propertyNames terms; the term is then True)
    witnesses: list[tuple[tuple[Any, ...], _Term]] = field(default_factory=list)
    min_props: int = 0
    max_props: int | None = None
    pos: list[list[_Term]] = field(default_factory=list)
    rest: list[_Term] = field(default_factory=list)
    min_items: int = 0
    max_items: int | None = None
    contains: list[tuple[_Term, int, int | None, int]] = field(default_factory=list)
    unique: bool = False
    eval_names: frozenset[str] = frozenset()
    eval_patterns: frozenset[str] = frozenset()
    eval_all: bool = False
    eval_prefix: int = 0
    eval_all_items: bool = False
    eval_contains: tuple[_Term, ...] = ()

    def item_terms(self, i: int) -> list[_Term]:
        return self.pos[i] if i < len(self.pos) else self.rest

    def padded(self, n: int) -> list[list[_Term]]:
        return [self.item_terms(i) for i in range(max(n, len(self.pos)))]

    def merge(self, o: _Flat) -> _Flat:
        values = self.values
        if o.values is not None:
            if values is None:
                values = o.values
            else:
                keys = {_json_key(x) for x in o.values}
                values = [x for x in values if _json_key(x) in keys]
        n = max(len(self.pos), len(o.pos))
        props = {k: list(v) for k, v in self.props.items()}
        for k, v in o.props.items():
            props[k] = props.get(k, []) + v
        return _Flat(
            where=self.where or o.where,
            types=self.types & o.types,
            values=values,
            excluded=self.excluded + o.excluded,
            conj=self.conj + o.conj,
            lo=_tighter(self.lo, o.lo, 1),
            hi=_tighter(self.hi, o.hi, -1),
            mults=self.mults + o.mults,
            notmults=self.notmults + o.notmults,
            min_len=max(self.min_len, o.min_len),
            max_len=_min_opt(self.max_len, o.max_len),
            langs=self.langs + o.langs,
            props=props,
            required=list(dict.fromkeys(self.required + o.required)),
            regions=self.regions + o.regions,
            pprops=self.pprops + o.pprops,
            pnames=self.pnames + o.pnames,
            witnesses=self.witnesses + o.witnesses,
            min_props=max(self.min_props, o.min_props),
            max_props=_min_opt(self.max_props, o.max_props),
            pos=[a + b for a, b in zip(self.padded(n), o.padded(n), strict=True)],
            rest=self.rest + o.rest,
            min_items=max(self.min_items, o.min_items),
            max_items=_min_opt(self.max_items, o.max_items),
            contains=self.contains + o.contains,
            unique=self.unique or o.unique,
            eval_names=self.eval_names | o.eval_names,
            eval_patterns=self.eval_patterns | o.eval_patterns,
            eval_all=self.eval_all or o.eval_all,
            eval_prefix=max(self.eval_prefix, o.eval_prefix),
            eval_all_items=self.eval_all_items or o.eval_all_items,
            eval_contains=self.eval_contains + o.eval_contains,
        )

    def trivially_empty(self) -> bool:
        return self.why_empty() is not None

    def why_empty(self) -> str | None:
        """Why no value can satisfy this conjunction, when that is evident; else None."""
        w = self.where
        if not self.types:
            return f"the allowed types exclude each other at {w}"
        if self.values is not None:
            keys = {_json_key(x) for x in self.excluded}
            if not any(
                _json_type(v) in self.types and _json_key(v) not in keys for v in self.values
            ):
                return f"no 'enum'/'const' value has an allowed type at {w}"
        if self.types == {"number"} and self.lo and self.hi:
            (a, sa), (b, sb) = self.lo, self.hi
            if a > b or (a == b and (sa or sb)):
                return f"no number between the bounds at {w} ({a} {'>=' if a == b else '>'} {b})"
        if self.types == {"string"} and self.max_len is not None and self.min_len > self.max_len:
            return f"minLength {self.min_len} > maxLength {self.max_len} at {w}"
        if self.types == {"object"}:
            for r in self.required:
                if any(_impossible(t) for t in self.props.get(r, [])):
                    return f"required property {r!r} can have no value at {w}"
            if self.max_props is not None and self.min_props > self.max_props:
                return f"minProperties {self.min_props} > maxProperties {self.max_props} at {w}"
        lo, hi = self.min_items, self.max_items
        if self.types == {"array"} and hi is not None and lo > hi:
            return f"no array length fits the bounds at {w} ({lo} > {hi})"
        return None


def _min_opt(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _tighter(
    a: tuple[Decimal, bool] | None, b: tuple[Decimal, bool] | None, sign: int
) -> tuple[Decimal, bool] | None:
    if a is None or b is None:
        return a or b
    if a[0] == b[0]:
        return (a[0], a[1] or b[1])
    return a if (a[0] - b[0]) * sign > 0 else b


def _decimal(v: Any, key: str, where: str) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SchemaError(f"{key!r} at {where} must be a finite number")
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)


def _count(s: dict[str, Any], key: str, where: str) -> int | None:
    """A non-negative integer keyword (``2.0`` counts as ``2``), or ``None`` when absent."""
    v = s.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != int(v):
        raise SchemaError(f"{key!r} at {where} must be a non-negative integer, not {v!r}")
    return int(v)


def _product(groups: list[list[_Flat]], reasons: list[str]) -> list[_Flat]:
    """The conjunction of disjunctions, as a disjunction (evidently empty parts dropped, with
    the reason added to ``reasons``)."""
    out = [_Flat(where="")]
    for g in groups:
        out = [x.merge(y) for x in out for y in g]
        kept = []
        for f in out:
            why = f.why_empty()
            if why is None:
                kept.append(f)
            else:
                reasons.append(why)
        out = kept
        if len(out) > _MAX_BRANCHES:
            raise SchemaError(
                f"the combinators ('anyOf', 'oneOf', 'not', 'if', 'dependent*') at "
                f"{g[0].where or '#'} expand to more than {_MAX_BRANCHES} cases"
            )
    return out


def _dnf_conj(flats: list[_Flat], term: _Term) -> list[_Flat]:
    for f in flats:
        f.conj = [term]
    return flats


@dataclass(frozen=True, eq=False)
class _Any:
    items: tuple[Any, ...]
    where: str


_IGNORED = frozenset(
    {"title", "description", "$schema", "$id", "$comment", "default", "examples", "$defs",
     "definitions", "deprecated", "readOnly", "writeOnly", "$anchor", "$dynamicAnchor",
     "contentMediaType", "contentEncoding", "contentSchema", "$vocabulary", "minContains",
     "maxContains", "then", "else", "discriminator"}
)  # fmt: skip
"""Annotations (``discriminator``: OpenAPI's, as pydantic writes it next to the ``oneOf`` that
enforces it), and keywords that only matter next to another one (read there)."""
_ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "default", "examples", "deprecated", "readOnly",
     "writeOnly"}
)  # fmt: skip
_SUPPORTED = frozenset(
    {"type", "enum", "const", "properties", "required", "additionalProperties", "items",
     "prefixItems", "minItems", "maxItems", "minLength", "maxLength", "pattern", "minimum",
     "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf", "$ref",
     "$dynamicRef", "not", "if", "format", "multipleOf", "patternProperties", "propertyNames",
     "minProperties", "maxProperties", "dependentRequired", "dependentSchemas",
     "unevaluatedProperties", "unevaluatedItems", "contains", "uniqueItems"}
)  # fmt: skip
_ALL_KEYWORDS = sorted(  # what a typo may have meant: keywords that assert something
    (set().union(*(known_keywords(d) for d in DRAFTS)) | _SUPPORTED) - ANNOTATION_KEYWORDS
)
_NUMERIC = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_MAX_UNIQUE_ARRAYS = 4096  # uniqueItems with contains: arrays listed one by one
_MAX_UNIQUE_STATES = 1024  # ... otherwise one state per subset of the (at most 10) values
_LIMIT_LENGTH = 64  # longest maxLength with which a length-limited format (hostname) is built
_MAX_ANY_ORDER = 10  # property_order="any": objects track which of these they have written
_MAX_ANY_ORDER_CONST = 5  # ... and const/enum objects list every order of their keys


def _pure_ref(s: Any) -> str | None:
    """``$ref``/``$dynamicRef`` when it is the only assertion of ``s``, else None."""
    if not isinstance(s, dict):
        return None
    keys = [k for k in s if k in _SUPPORTED or k in ("then", "else")]
    if keys == ["$ref"] or keys == ["$dynamicRef"]:
        return keys[0]
    return None


def _unknown_keyword(key: str, where: str) -> None:
    """An unknown keyword is an annotation (the specification says so); one that is a single
    edit away from a keyword is probably a typo, which deserves a warning (vendor prefixes such
    as ``x-`` and ``_`` are deliberate)."""
    if key.startswith(("x-", "_")):
        return
    close = [k for k in _ALL_KEYWORDS if _one_edit(key, k)]
    if close:
        warnings.warn(
            f"unknown keyword {key!r} at {where} is ignored (an annotation); "
            f"did you mean {close[0]!r}?",
            stacklevel=4,
        )


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one insertion, deletion, substitution or swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


class _TooMany(Exception):
    """Internal: an enumeration passed its limit."""


class _Compiler:
    def __init__(
        self, root: Any, ws: _Whitespace, strict: bool, formats: bool, registry: Any, order: str
    ):
        from jsonschema import Draft202012Validator
        from jsonschema_specifications import REGISTRY as SPECIFICATIONS
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012 as SPEC_202012

        self.root = root
        self.ws = ws
        self.strict = strict
        self.formats = formats
        if order not in ("schema", "any"):
            raise SchemaError(f"unknown property_order {order!r}; use 'schema' or 'any'")
        self.any_order = order == "any"
        self.rules: dict[str, Expr] = {}
        self.rule_names: dict[Any, str] = {}
        self.reasons: list[str] = []
        self.spec = SPEC_202012
        registry = (registry if registry is not None else Registry()).combine(SPECIFICATIONS)
        registry = registry.with_resources(  # older meta-schemas as their 2020-12 translations
            (uri, SPEC_202012.create_resource(contents))
            for uri, contents in translated_metaschemas()
        )
        root_schema = root if isinstance(root, (dict, bool)) else {}
        resource = SPEC_202012.create_resource(root_schema)
        registry = registry.with_resource(resource.id() or "", resource).crawl()
        self.resolver = registry.resolver_with_root(resource)
        checker = Draft202012Validator.FORMAT_CHECKER if formats else None
        self.validator = Draft202012Validator(
            root_schema, registry=registry, format_checker=checker
        )
        self.inlining: list[int] = []
        self.pattern_dfas: dict[str, Any] = {}
        self.synthetic: list[Any] = []

    def grammar(self) -> Grammar:
        body = self.schema(_Sub(self.root, self.resolver, "#"))
        if body == EMPTY:
            why = "; ".join(dict.fromkeys(self.reasons)) or "no JSON value satisfies it"
            raise SchemaError(f"schema is unsatisfiable: {why}")
        self.rules["start"] = body
        return Grammar(self.rules, "start", distinct_keys=True)

    # -- errors and helpers --

    def unsupported(self, keyword: str, where: str, why: str = "") -> None:
        msg = f"unsupported keyword {keyword!r} at {where}" + (f" ({why})" if why else "")
        if self.strict:
            raise SchemaError(msg)
        warnings.warn(msg + "; dropped (strict=False)", stacklevel=4)

    def share(self, expr: Expr) -> Expr:
        """``expr`` as a reference to a fresh helper rule (the normalizer inlines small ones)."""
        if isinstance(expr, Ref) or expr in (EMPTY, EPSILON):
            return expr
        name = f"helper:{len(self.rules)}"
        self.rules[name] = expr
        return Ref(name)

    def empty(self, why: str) -> Expr:
        self.reasons.append(why)
        return EMPTY

    def child(self, parent: _Sub, schema: Any, *parts: object) -> _Sub:
        """A subschema of ``parent``, entered as jsonschema enters it (a nested ``$id`` moves
        the base URI and joins the dynamic scope)."""
        resolver = parent.resolver
        if isinstance(schema, dict):
            resolver = resolver.in_subresource(self.spec.create_resource(schema))
        return _Sub(schema, resolver, _ptr(parent.where, *parts))

    def holds(self, term: _Term, v: Any) -> bool:
        """Whether the JSON value ``v`` satisfies ``term`` (jsonschema decides)."""
        if isinstance(term, bool):
            return term
        if isinstance(term, _All):
            return all(self.holds(t, v) for t in term.items)
        if isinstance(term, _Any):
            return any(self.holds(t, v) for t in term.items)
        if isinstance(term, _Not):
            return not self.holds(term.item, v)
        return self.validator.evolve(schema=term.schema, _resolver=term.resolver).is_valid(v)

    # -- references --

    def lookup(self, sub: _Sub, key: str) -> _Sub:
        ref = sub.schema[key]
        where = _ptr(sub.where, key)
        if not isinstance(ref, str):
            raise SchemaError(f"{key!r} at {where} must be a string")
        try:
            resolved = sub.resolver.lookup(ref)
        except Exception as e:  # referencing.exceptions.Unresolvable and its kind
            raise SchemaError(f"{key!r} {ref!r} at {where} does not resolve ({e})") from None
        target = ref if ref.startswith("#") else f"{resolved.resolver._base_uri}"
        return _Sub(resolved.contents, resolved.resolver, target)

    def term_key(self, t: _Term) -> Any:
        """Identity of a term's meaning, for sharing one rule between its uses (and recursion):
        the subschema object, its base URI and the dynamic scope (resources by first entry),
        which a ``$dynamicRef`` below may depend on."""
        if isinstance(t, bool):
            return t
        if isinstance(t, _Sub):
            entered = [uri for uri, _ in t.resolver.dynamic_scope()][::-1]  # oldest first
            return ("s", id(t.schema), t.resolver._base_uri, tuple(dict.fromkeys(entered)))
        if isinstance(t, _Not):
            return ("not", self.term_key(t.item))
        kind = "all" if isinstance(t, _All) else "any"
        return (kind, tuple(self.term_key(x) for x in t.items))

    def schema(self, term: _Term) -> Expr:
        """The JSON texts of ``term``, as a rule shared by every use of the same term."""
        while isinstance(term, _Sub) and _pure_ref(term.schema):
            term = self.lookup(term, _pure_ref(term.schema))  # type: ignore[arg-type]
        key = self.term_key(term)
        name = self.rule_names.get(key)
        if name is None:
            where = getattr(term, "where", "#")
            name = self.rule_names[key] = (
                where if where not in self.rules else (f"{where}@{len(self.rules)}")
            )
            self.rules[name] = EPSILON  # placeholder while compiling (recursion)
            self.rules[name] = self.compile_term(term)
        if self.rules[name] == EMPTY:
            return EMPTY  # not recursive (a placeholder is EPSILON): say why at the top
        return Ref(name)

    def compile_term(self, term: _Term) -> Expr:
        if isinstance(term, _Sub) and term.schema is False:
            return self.empty(f"false schema at {term.where}")
        flats = self.flatten(term)
        if not flats:
            where = getattr(term, "where", "#")
            return self.empty(f"no value satisfies the schema at {where}")
        return alt(*(self.flat_expr(f) for f in flats))

    # -- normal form --

    def flatten(self, t: _Term, ann: bool = False) -> list[_Flat]:
        """``t`` as a disjunction of conjunctions; ``ann``: the annotations will be read (an
        enclosing ``unevaluated*``), so ``anyOf`` must list which branches hold."""
        if t is True:
            return [_Flat(where="#")]
        if t is False:
            return []
        if isinstance(t, _All):
            return _dnf_conj(_product([self.flatten(x, ann) for x in t.items], self.reasons), t)
        if isinstance(t, _Any):
            return _dnf_conj([f for x in t.items for f in self.flatten(x, ann)], t)
        if isinstance(t, _Not):
            return _dnf_conj(self.negate(self.flatten(t.item), t.where), t)
        s = t.schema
        if isinstance(s, bool):
            return self.flatten(s, ann)
        if not isinstance(s, dict):
            raise SchemaError(f"a schema must be an object or a boolean at {t.where}")
        return _dnf_conj(self.flatten_dict(t, ann), t)

    def flatten_dict(self, sub: _Sub, ann: bool) -> list[_Flat]:
        s, where = sub.schema, sub.where
        embedded = s.get("$schema") if where != "#" else None
        if isinstance(embedded, str) and detect_draft({"$schema": embedded}) != DRAFT202012:
            self.unsupported("$schema", where, "an embedded resource of another draft")
        for k in s:
            if k not in _SUPPORTED and k not in _IGNORED:
                _unknown_keyword(k, where)
        ann = ann or "unevaluatedProperties" in s or "unevaluatedItems" in s
        groups: list[list[_Flat]] = [[self.own(sub)]]
        for key in ("$ref", "$dynamicRef"):
            if key in s:
                target = self.lookup(sub, key)
                ident = id(target.schema)
                if ident in self.inlining:
                    raise SchemaError(
                        f"recursive {key!r} at {where} next to other keywords cannot be enforced"
                    )
                self.inlining.append(ident)
                try:
                    groups.append(self.flatten(target, ann))
                finally:
                    self.inlining.pop()
        for i, x in enumerate(_list(s, "allOf", where)):
            groups.append(self.flatten(self.child(sub, x, "allOf", i), ann))
        if "anyOf" in s:
            branches = [
                self.child(sub, x, "anyOf", i) for i, x in enumerate(_list(s, "anyOf", where))
            ]
            groups.append(self.any_of(branches, ann, _ptr(where, "anyOf")))
        if "oneOf" in s:
            branches = [
                self.child(sub, x, "oneOf", i) for i, x in enumerate(_list(s, "oneOf", where))
            ]
            groups.append(self.one_of(branches, ann, _ptr(where, "oneOf")))
        if "not" in s:
            groups.append(self.flatten(_Not(self.child(sub, s["not"], "not"), _ptr(where, "not"))))
        if "if" in s:
            cond = self.child(sub, s["if"], "if")
            then = self.child(sub, s.get("then", True), "then")
            else_ = self.child(sub, s.get("else", True), "else")
            no = _Not(cond, _ptr(where, "if"))
            if ann:  # the annotations of 'if' count where it holds
                yes_case = self.flatten(_All((cond, then), where), ann)
                groups.append(yes_case + self.flatten(_All((no, else_), where), ann))
            elif "then" in s and "else" in s:
                yes_case = self.flatten(_All((cond, then), where))
                groups.append(yes_case + self.flatten(_All((no, else_), where)))
            elif "then" in s:  # not if, or (if and then): not if, or then
                groups.append(self.flatten(no) + self.flatten(then))
            elif "else" in s:  # (if) or (not if and else): if, or else
                groups.append(self.flatten(cond) + self.flatten(else_))
        for name, x in _dict(s, "dependentSchemas", where).items():
            dep = self.child(sub, x, "dependentSchemas", name)
            objects = frozenset({"object"})  # (a non-object is in ``absent``: no annotations)
            present = _Flat(where=where, types=objects, required=[name])
            absent = _Flat(where=where, props={name: [False]})
            groups.append([f.merge(present) for f in self.flatten(dep, ann)] + [absent])
        for name, deps in _dict(s, "dependentRequired", where).items():
            if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
                raise SchemaError(f"'dependentRequired' at {where} must list property names")
            present = _Flat(where=where, types=frozenset({"object"}), required=[name, *deps])
            groups.append([present, _Flat(where=where, props={name: [False]})])
        flats = _product(groups, self.reasons)
        if "unevaluatedProperties" in s:
            x = self.child(sub, s["unevaluatedProperties"], "unevaluatedProperties")
            for f in flats:
                if not f.eval_all:
                    f.regions = [*f.regions, (f.eval_names, tuple(sorted(f.eval_patterns)), x)]
                    f.eval_all = True
        if "unevaluatedItems" in s:
            x = self.child(sub, s["unevaluatedItems"], "unevaluatedItems")
            for f in flats:
                if not f.eval_all_items:
                    term = _Any((x, *f.eval_contains), x.where) if f.eval_contains else x
                    pos = f.padded(f.eval_prefix)
                    f.pos = [[*p, term] if i >= f.eval_prefix else p for i, p in enumerate(pos)]
                    f.rest = [*f.rest, term]
                    f.eval_all_items = True
        return flats

    def any_of(self, branches: list[_Sub], ann: bool, where: str) -> list[_Flat]:
        if not branches:
            raise SchemaError(f"'anyOf' at {where} must not be empty")
        if not ann or len(branches) == 1:
            return [f for b in branches for f in self.flatten(b)]
        if len(branches) > 4:
            self.unsupported("anyOf", where, "more than 4 branches under 'unevaluated*'")
        # Which branches hold decides the annotations: one case per nonempty subset.
        out: list[_Flat] = []
        for mask in range(1, 1 << len(branches)):
            parts = [b if mask >> i & 1 else _Not(b, b.where) for i, b in enumerate(branches)]
            out += self.flatten(_All(tuple(parts), where), True)
        return out

    def one_of(self, branches: list[_Sub], ann: bool, where: str) -> list[_Flat]:
        if not branches:
            raise SchemaError(f"'oneOf' at {where} must not be empty")
        flats = [self.flatten(b, ann) for b in branches]
        disjoint = all(
            self.exclusive(x.merge(y))
            for i in range(len(flats))
            for j in range(i)
            for x in flats[i]
            for y in flats[j]
        )
        if disjoint:
            return [f for fs in flats for f in fs]
        out: list[_Flat] = []
        for i, b in enumerate(branches):
            others = tuple(_Not(c, c.where) for j, c in enumerate(branches) if j != i)
            out += self.flatten(_All((b, *others), where), ann)
        return out

    def exclusive(self, both: _Flat) -> bool:
        """Whether a conjunction of two branches evidently has no value: a contradiction at the
        top, or between the schemas of a property both require (``const`` tags, say)."""
        if both.trivially_empty():
            return True
        if both.types != {"object"}:
            return False
        for name in both.required:
            terms = both.props.get(name, [])
            if len(terms) > 1:
                try:
                    if not self.flatten(_All(tuple(terms), both.where)):
                        return True
                except SchemaError:
                    pass
        return False

    def own(self, sub: _Sub) -> _Flat:
        """The constraints of the keywords of ``sub`` itself (no applicators)."""
        s, where = sub.schema, sub.where
        f = _Flat(where=where)
        if "type" in s:
            t = s["type"]
            ts = {t} if isinstance(t, str) else set(t) if isinstance(t, list) else {None}
            if not ts <= set(JSON_TYPES):
                raise SchemaError(f"bad 'type' {t!r} at {where}")
            if "integer" in ts and "number" not in ts:
                f.mults = [Decimal(1)]
            f.types = frozenset("number" if x == "integer" else x for x in ts)
        if "const" in s:
            f.values = [s["const"]]
        if "enum" in s:
            if not isinstance(s["enum"], list):
                raise SchemaError(f"'enum' at {where} must be an array")
            keys = {_json_key(x) for x in f.values} if f.values is not None else None
            f.values = [x for x in s["enum"] if keys is None or _json_key(x) in keys]
        for k in _NUMERIC:
            if k in s:
                bound = (_decimal(s[k], k, where), k.startswith("exclusive"))
                if k.endswith("inimum"):
                    f.lo = _tighter(f.lo, bound, 1)
                else:
                    f.hi = _tighter(f.hi, bound, -1)
        if "multipleOf" in s:
            m = _decimal(s["multipleOf"], "multipleOf", where)
            if m <= 0:
                raise SchemaError(f"'multipleOf' at {where} must be positive")
            f.mults = [*f.mults, m]
        f.min_len = _count(s, "minLength", where) or 0
        f.max_len = _count(s, "maxLength", where)
        if "pattern" in s:
            if not isinstance(s["pattern"], str):
                raise SchemaError(f"'pattern' at {where} must be a string")
            f.langs.append(("pattern", s["pattern"], False, _ptr(where, "pattern")))
        if "format" in s and self.formats:
            from .formats import FORMATS

            if s["format"] in FORMATS:
                f.langs.append(("format", s["format"], False, _ptr(where, "format")))
            else:
                warnings.warn(
                    f"unknown format {s['format']!r} at {_ptr(where, 'format')} is an annotation "
                    f"(not enforced); known formats: {', '.join(sorted(FORMATS))}",
                    stacklevel=2,
                )
        props = _dict(s, "properties", where)
        f.props = {n: [self.child(sub, x, "properties", n)] for n, x in props.items()}
        f.eval_names = frozenset(props)
        pprops = _dict(s, "patternProperties", where)
        f.pprops = [(p, self.child(sub, x, "patternProperties", p)) for p, x in pprops.items()]
        f.eval_patterns = frozenset(pprops)
        if "additionalProperties" in s:
            x = self.child(sub, s["additionalProperties"], "additionalProperties")
            f.regions = [(frozenset(props), tuple(pprops), x)]
            f.eval_all = True
        req = s.get("required", [])
        if not isinstance(req, list) or not all(isinstance(r, str) for r in req):
            raise SchemaError(f"'required' at {where} must list property names")
        f.required = list(dict.fromkeys(req))
        if "propertyNames" in s:
            f.pnames = [self.child(sub, s["propertyNames"], "propertyNames")]
        f.min_props = _count(s, "minProperties", where) or 0
        f.max_props = _count(s, "maxProperties", where)
        prefix = _list(s, "prefixItems", where)
        f.pos = [[self.child(sub, x, "prefixItems", i)] for i, x in enumerate(prefix)]
        f.eval_prefix = len(prefix)
        if "items" in s:
            f.rest = [self.child(sub, s["items"], "items")]
            f.eval_all_items = True
        f.min_items = _count(s, "minItems", where) or 0
        f.max_items = _count(s, "maxItems", where)
        if "contains" in s:
            c = self.child(sub, s["contains"], "contains")
            lo = _count(s, "minContains", where)
            f.contains = [(c, 1 if lo is None else lo, _count(s, "maxContains", where), 0)]
            f.eval_contains = (c,)
        if s.get("uniqueItems", False) is True:
            f.unique = True
        return f

    def negate(self, flats: list[_Flat], where: str) -> list[_Flat]:
        """The complement of a disjunction, as a disjunction."""
        return _product([self.negate_flat(f, where) for f in flats], self.reasons)

    def negate_flat(self, f: _Flat, where: str) -> list[_Flat]:
        out = []
        if _ALL_TYPES - f.types:
            out.append(_Flat(where=where, types=_ALL_TYPES - f.types))
        ts = f.types
        if f.values is not None:
            out.append(_Flat(where=where, types=ts, excluded=list(f.values)))
        if f.excluded:
            out.append(_Flat(where=where, types=ts, values=list(f.excluded)))
        if "number" in ts:
            n = frozenset({"number"})
            if f.lo:
                out.append(_Flat(where=where, types=n, hi=(f.lo[0], not f.lo[1])))
            if f.hi:
                out.append(_Flat(where=where, types=n, lo=(f.hi[0], not f.hi[1])))
            out += [_Flat(where=where, types=n, notmults=[m]) for m in f.mults]
            out += [_Flat(where=where, types=n, mults=[m]) for m in f.notmults]
        if "string" in ts:
            st_ = frozenset({"string"})
            if f.min_len:
                out.append(_Flat(where=where, types=st_, max_len=f.min_len - 1))
            if f.max_len is not None:
                out.append(_Flat(where=where, types=st_, min_len=f.max_len + 1))
            for kind, v, neg, w in f.langs:
                out.append(_Flat(where=where, types=st_, langs=[(kind, v, not neg, w)]))
        if "object" in ts:
            o = frozenset({"object"})
            for name, terms in f.props.items():
                if all(_vacuous(t) for t in terms):
                    continue
                bad = _Not(_All(tuple(terms), where), where)
                out.append(_Flat(where=where, types=o, required=[name], props={name: [bad]}))
            for name in f.required:
                out.append(_Flat(where=where, types=o, props={name: [False]}))
            for ns, pats, x in f.regions:  # some key outside both has a value outside x
                if not _vacuous(x):
                    w = (("region", ns, pats), _Not(x, where))
                    out.append(_Flat(where=where, types=o, witnesses=[w]))
            for pat, x in f.pprops:
                if not _vacuous(x):
                    w = (("pattern", pat), _Not(x, where))
                    out.append(_Flat(where=where, types=o, witnesses=[w]))
            if f.pnames and not all(_vacuous(x) for x in f.pnames):
                w = (("names", tuple(f.pnames)), True)
                out.append(_Flat(where=where, types=o, witnesses=[w]))
            for cls, x in f.witnesses:  # every key of the class has a value outside x
                if cls[0] == "region":
                    nf = _Flat(where=where, types=o, regions=[(cls[1], cls[2], _Not(x, where))])
                elif cls[0] == "pattern":
                    nf = _Flat(where=where, types=o, pprops=[(cls[1], _Not(x, where))])
                else:
                    nf = _Flat(where=where, types=o, pnames=[_All(cls[1], where)])
                out.append(nf)
            if f.min_props:
                out.append(_Flat(where=where, types=o, max_props=f.min_props - 1))
            if f.max_props is not None:
                out.append(_Flat(where=where, types=o, min_props=f.max_props + 1))
        if "array" in ts:
            a = frozenset({"array"})
            for i, terms in enumerate(f.pos):
                if terms:
                    pos: list[list[_Term]] = [[] for _ in range(i)]
                    pos.append([_Not(_All(tuple(terms), where), where)])
                    out.append(_Flat(where=where, types=a, min_items=i + 1, pos=pos))
            if f.rest:
                bad = _Not(_All(tuple(f.rest), where), where)
                out.append(_Flat(where=where, types=a, contains=[(bad, 1, None, len(f.pos))]))
            if f.min_items:
                out.append(_Flat(where=where, types=a, max_items=f.min_items - 1))
            if f.max_items is not None:
                out.append(_Flat(where=where, types=a, min_items=f.max_items + 1))
            for c, lo, hi, start in f.contains:
                if lo:
                    out.append(_Flat(where=where, types=a, contains=[(c, 0, lo - 1, start)]))
                if hi is not None:
                    out.append(_Flat(where=where, types=a, contains=[(c, hi + 1, None, start)]))
            if f.unique:
                self.unsupported("not", where, "negating uniqueItems")
        return [x for x in out if not x.trivially_empty()]

    # -- conjunctions to expressions --

    def flat_expr(self, f: _Flat) -> Expr:
        if f.values is not None:
            return self.values(f)
        out = []
        for t in sorted(f.types):
            if t == "null":
                if not any(v is None for v in f.excluded):
                    out.append(literal("null"))
            elif t == "boolean":
                gone = {v for v in f.excluded if isinstance(v, bool)}
                out += [literal(json.dumps(b)) for b in (True, False) if b not in gone]
            elif t == "number":
                out.append(self.number(f))
            elif t == "string":
                out.append(self.string(f))
            elif t in ("object", "array"):
                gone = [v for v in f.excluded if _json_type(v) == t]
                if not gone:
                    out.append(self.object(f) if t == "object" else self.array(f))
                    continue
                # not equal to any of them: a disjunction of ways to differ from each
                rest = [v for v in f.excluded if _json_type(v) != t]
                base = replace(f, types=frozenset({t}), excluded=rest)
                groups = [[base], *(self.differs(v, f.where) for v in gone)]
                for g in _product(groups, self.reasons):
                    g.conj = f.conj
                    out.append(self.flat_expr(g))
        result = alt(*out)
        if result == EMPTY:
            return self.empty(f"no value satisfies the schema at {f.where}")
        return result

    def differs(self, v: Any, where: str) -> list[_Flat]:
        """The objects or arrays (as ``v`` is one) that differ from ``v``, as ``jsonschema``
        compares them: another key set or length, or some member unequal."""

        def const(x: Any) -> _Sub:
            schema = {"const": x}
            self.synthetic.append(schema)  # alive, so its id() keys no other rule
            return _Sub(schema, self.resolver, where)

        if isinstance(v, dict):
            names = frozenset(v)
            o = frozenset({"object"})
            out = [_Flat(where=where, types=o, witnesses=[(("region", names, ()), True)])]
            for k, x in v.items():
                out.append(_Flat(where=where, types=o, props={k: [False]}))
                bad = _Not(const(x), where)
                out.append(_Flat(where=where, types=o, required=[k], props={k: [bad]}))
            return out
        a = frozenset({"array"})
        out = [_Flat(where=where, types=a, min_items=len(v) + 1)]
        if v:
            out.append(_Flat(where=where, types=a, max_items=len(v) - 1))
        for i, x in enumerate(v):
            pos: list[list[_Term]] = [[] for _ in range(i)]
            pos.append([_Not(const(x), where)])
            out.append(_Flat(where=where, types=a, min_items=i + 1, pos=pos))
        return out

    def values(self, f: _Flat) -> Expr:
        """``enum``/``const``: the listed values that satisfy the rest of the schema."""
        gone = {_json_key(v) for v in f.excluded}
        kept = [
            v
            for v in f.values or []
            if _json_type(v) in f.types
            and _json_key(v) not in gone
            and all(self.holds(c, v) for c in f.conj)
        ]
        if not kept:
            return self.empty(f"no 'enum'/'const' value satisfies the other keywords at {f.where}")
        return alt(*(self.render(v) for v in kept))

    def render(self, v: Any) -> Expr:
        """A JSON value as text: json.dumps tokens with the whitespace policy and any escapes."""
        if v is None:
            return literal("null")
        if v is True or v is False:
            return literal("true" if v else "false")
        if isinstance(v, float) and not math.isfinite(v):
            raise SchemaError(f"non-finite number {v!r} in a schema")
        if isinstance(v, int) or (isinstance(v, float) and v.is_integer()):
            n = int(v)
            return seq(integer_range(n, n), _ZERO_FRACTION)
        if isinstance(v, float):
            return literal(json.dumps(v))
        if isinstance(v, str):
            return seq(literal('"'), lower_chars(_char_literal(v)), literal('"'))
        if isinstance(v, list):
            items = [self.render(x) for x in v]
            body = seq(*(seq(self.ws.comma(), x) if i else x for i, x in enumerate(items)))
            return self.ws.bracket("[", body, "]")
        if isinstance(v, dict):
            members = [seq(self.render(k), self.ws.colon(), self.render(x)) for k, x in v.items()]
            orders = [members]
            if self.any_order and 1 < len(v) <= _MAX_ANY_ORDER_CONST:
                orders = [list(p) for p in itertools.permutations(members)]
            bodies = [
                seq(*(seq(self.ws.comma(), m) if i else m for i, m in enumerate(ms)))
                for ms in orders
            ]
            return self.ws.bracket("{", alt(*bodies), "}")
        raise SchemaError(f"not a JSON value: {v!r}")

    # -- the generic JSON value --

    def any_value(self) -> Expr:
        if "json:value" not in self.rules:
            value = Ref("json:value")
            string = seq(literal('"'), star(_json_char(_FULL)), literal('"'))
            member = seq(string, self.ws.colon(), value)
            obj = self.ws.bracket(
                "{", optional(seq(member, star(seq(self.ws.comma(), member)))), "}"
            )
            arr = self.ws.bracket("[", optional(seq(value, star(seq(self.ws.comma(), value)))), "]")
            self.rules["json:value"] = alt(
                literal("null"), literal("true"), literal("false"), _number(), string,
                Ref("json:object"), Ref("json:array"),
            )  # fmt: skip
            self.rules["json:object"] = obj
            self.rules["json:array"] = arr
        return Ref("json:value")

    def terms_expr(self, terms: list[_Term], where: str) -> Expr:
        """The conjunction of ``terms`` (a property's or an item's schemas)."""
        terms = [t for t in terms if not _vacuous(t)]
        if not terms:
            return self.any_value()
        if len(terms) == 1:
            return self.schema(terms[0])
        return self.schema(_All(tuple(terms), where))

    # -- numbers --

    def number(self, f: _Flat) -> Expr:
        """Numbers in the bounds, of the ``multipleOf``s, minus the excluded values."""
        mults = sorted({m for m in f.mults if m != 1})
        ints = len(mults) < len(set(f.mults))  # multipleOf 1: integers
        base = self.number_ranges(f, ints, exponent=not f.notmults)
        if (not mults and not f.notmults) or base == EMPTY:
            return base
        from .regular import CharDFA, lower_utf8, multiple_of

        try:
            dfa = CharDFA.from_expr(base)
            for m in mults:
                dfa = dfa.intersect(multiple_of(m, integer=ints))
            for m in sorted(set(f.notmults)):
                dfa = dfa.difference(multiple_of(m, integer=False))
        except GrammarError as e:
            self.unsupported("multipleOf", f.where, e.message)
            return base
        if dfa.is_empty():
            return self.empty(f"no number of the 'multipleOf' in the bounds at {f.where}")
        return self.dfa_expr(dfa, lower_utf8)

    def dfa_expr(self, dfa: Any, lower: Callable[[Expr], Expr]) -> Expr:
        """A character DFA as rules of this grammar, each leaf lowered by ``lower``."""
        expr, rules = dfa.to_rules(f"dfa{len(self.rules)}:")
        for name, body in rules.items():
            self.rules[name] = lower(body)
        return lower(expr)

    def number_ranges(self, f: _Flat, ints: bool, exponent: bool = True) -> Expr:
        points = sorted(
            {_decimal(v, "enum", f.where) for v in f.excluded if _json_type(v) == "number"}
        )
        intervals: list[tuple[tuple[Decimal, bool] | None, tuple[Decimal, bool] | None]] = []
        lo = f.lo
        for p in points:
            if (lo is None or p > lo[0] or (p == lo[0] and not lo[1])) and (
                f.hi is None or p < f.hi[0] or (p == f.hi[0] and not f.hi[1])
            ):
                intervals.append((lo, (p, True)))
                lo = (p, True)
        intervals.append((lo, f.hi))
        parts = []
        for a, b in intervals:
            if ints:
                ilo = None if a is None else math.floor(a[0]) + 1 if a[1] else math.ceil(a[0])
                ihi = None if b is None else math.ceil(b[0]) - 1 if b[1] else math.floor(b[0])
                if ilo is not None and ihi is not None and ilo > ihi:
                    continue
                parts.append(seq(integer_range(ilo, ihi), _ZERO_FRACTION))
            elif a is None and b is None and exponent:
                parts.append(_number())
            else:
                parts.append(
                    decimal_range(
                        None if a is None else a[0], bool(a and a[1]),
                        None if b is None else b[0], bool(b and b[1]),
                    )
                )  # fmt: skip
        result = alt(*parts)
        if result == EMPTY:
            return self.empty(f"no number between the bounds at {f.where}")
        return result

    # -- strings --

    def string(self, f: _Flat) -> Expr:
        lo, hi = f.min_len, f.max_len
        if hi is not None and lo > hi:
            return self.empty(f"minLength {lo} > maxLength {hi} at {f.where}")
        gone = [v for v in f.excluded if isinstance(v, str)]
        simple = lo == 0 and hi is None and not gone
        if not f.langs and not gone:
            body = repeat(_chars(_FULL), lo, hi)
        elif not f.langs and lo == 0 and hi is None:
            body = _string_except(gone)
        elif simple and len(f.langs) == 1 and not f.langs[0][2] and not _limited(f.langs[0]):
            kind, v, _, w = f.langs[0]
            body = self.lang(kind, v, w) or star(_chars(_FULL))
        else:
            dfa = self.string_dfa(f)
            if dfa is None:
                body = repeat(_chars(_FULL), lo, hi)
            else:
                if dfa.is_empty():
                    return self.empty(f"no string satisfies the constraints at {f.where}")
                return seq(literal('"'), self.dfa_expr(dfa, lower_chars), literal('"'))
        return seq(literal('"'), lower_chars(body), literal('"'))

    def string_dfa(self, f: _Flat) -> Any:
        """The decoded strings allowed by ``f`` as a character DFA (None: dropped)."""
        from .regular import CharDFA

        kind, where = "minLength", f.where
        try:
            dfa = CharDFA.length_between(f.min_len, f.max_len)
            for kind, v, neg, where in f.langs:
                if _limited((kind, v, neg, where)) and (f.max_len or 1 << 30) > _LIMIT_LENGTH:
                    from .formats import MAX_LENGTH

                    self.unsupported(
                        "format",
                        where,
                        f"{v!r} has a {MAX_LENGTH[v]}-character limit, too many automaton "
                        f"states; add a maxLength of at most {_LIMIT_LENGTH}",
                    )
                    continue
                expr = self.lang(kind, v, where)
                if expr is None:
                    continue
                lang = CharDFA.from_expr(expr)  # (a format's length limit is above max_len)
                dfa = dfa.difference(lang) if neg else dfa.intersect(lang)
            kind = "enum"
            for v in f.excluded:
                if isinstance(v, str):
                    dfa = dfa.difference(CharDFA.from_expr(_char_literal(v)))
        except GrammarError as e:
            self.unsupported(kind, where, e.message)
            return None
        return dfa

    def lang(self, kind: str, v: str, where: str) -> Expr | None:
        """The character-level language of a ``pattern`` or ``format``; None if dropped."""
        if kind == "pattern":
            try:
                return ecma_pattern(v)
            except GrammarError as e:
                self.unsupported("pattern", where, e.message)
                return None
        from .formats import FORMATS, format_expr

        if v not in FORMATS:  # (a negated unknown format: an annotation, no value is excluded)
            return None
        return format_expr(v)

    # -- objects --

    def object(self, f: _Flat) -> Expr:
        names = list(f.props)
        names += [r for r in f.required if r not in f.props]
        named = {n for ns, _, _ in f.regions for n in ns}
        named |= {n for (kind, *rest), _ in f.witnesses if kind == "region" for n in rest[0]}
        names += sorted(named - set(names))
        if len(f.witnesses) > 3:
            self.unsupported("not", f.where, "more than 3 negated object keywords at once")
        colon = self.ws.colon()
        members: list[tuple[bool, list[tuple[int, Expr]]]] = []
        for name in names:
            terms = list(f.props.get(name, []))
            terms += [
                x for ns, pats, x in f.regions if name not in ns and not self.search(pats, name)
            ]
            terms += [x for p, x in f.pprops if self.search((p,), name)]
            if not all(self.holds(t, name) for t in f.pnames):
                terms = [False]
            ptr = _ptr(f.where, "properties", name)
            req = name in f.required
            key = seq(literal('"'), lower_chars(_char_literal(name)), literal('"'))
            claims = [j for j, (cls, _) in enumerate(f.witnesses) if self.key_in(cls, name)]
            alts = []
            for mask in _submasks(claims):
                extra_terms = [f.witnesses[j][1] for j in claims if mask >> j & 1]
                value = EMPTY if False in terms else self.terms_expr(terms + extra_terms, ptr)
                if value != EMPTY:
                    alts.append((mask, self.share(seq(key, colon, value))))
            if not alts:
                if not req:
                    continue
                banned = [
                    t.where.rsplit("/", 1)[-1]
                    for t in terms
                    if isinstance(t, _Sub) and t.schema is False
                    and t.where.endswith(("/additionalProperties", "/unevaluatedProperties"))
                ]  # fmt: skip
                if banned:
                    return self.empty(
                        f"required property {name!r} is forbidden by {banned[0]!r} at {f.where}"
                    )
                return self.empty(f"required property {name!r} can have no value at {f.where}")
            members.append((req, alts))
        extra = self.extra_members(f, names)
        need = (1 << len(f.witnesses)) - 1
        lo, hi = f.min_props, f.max_props
        if self.any_order:
            if len(members) > _MAX_ANY_ORDER:
                self.unsupported("properties", f.where, f"more than {_MAX_ANY_ORDER} in any order")
            else:
                body = self.members_any(members, extra, lo, hi, need)
                return self.ws.bracket("{", body, "}")
        return self.ws.bracket("{", self.members(members, extra, lo, hi, need), "}")

    def key_in(self, cls: tuple[Any, ...], name: str) -> bool:
        """Whether a key belongs to a witness class (see ``_Flat.witnesses``)."""
        if cls[0] == "region":
            return name not in cls[1] and not self.search(cls[2], name)
        if cls[0] == "pattern":
            return self.search((cls[1],), name)
        return not all(self.holds(t, name) for t in cls[1])

    def extra_members(self, f: _Flat, names: list[str]) -> list[tuple[int, Expr]]:
        """The members whose key is none of ``names``, with the witnesses each one is: one
        per class of keys that the patterns (and witnessed name languages) tell apart."""
        patterns = sorted({p for p, _ in f.pprops} | {p for _, ps, _ in f.regions for p in ps})
        for cls, _ in f.witnesses:
            if cls[0] != "names":
                more = cls[2] if cls[0] == "region" else (cls[1],)
                patterns += sorted(set(more) - set(patterns))
        names_ok = self.names_dfa(f.pnames, f.where)
        if not patterns and names_ok is None and not f.witnesses:
            terms = [x for _, _, x in f.regions]
            if False in terms:
                return []
            value = self.terms_expr(terms, _ptr(f.where, "additionalProperties"))
            if value == EMPTY:
                return []
            key = seq(literal('"'), lower_chars(_string_except(names)), literal('"'))
            return [(0, self.share(seq(key, self.ws.colon(), value)))]
        from .regular import CharDFA

        if len(patterns) > 6:
            self.unsupported("patternProperties", f.where, "more than 6 patterns")
        try:
            keys = CharDFA.from_expr(_string_except(names))
            if names_ok is not None:
                keys = keys.intersect(names_ok)
            atoms = {p: CharDFA.from_expr(ecma_pattern(p)) for p in patterns}
            langs = [
                self.names_dfa(list(cls[1]), f.where) if cls[0] == "names" else None
                for cls, _ in f.witnesses
            ]
        except GrammarError as e:
            self.unsupported("patternProperties", f.where, e.message)
            return []
        out = []
        for mask in range(1 << len(patterns)):
            inside = {p for i, p in enumerate(patterns) if mask >> i & 1}
            cls = keys
            for p in patterns:
                cls = cls.intersect(atoms[p]) if p in inside else cls.difference(atoms[p])
            if cls.is_empty():
                continue
            terms = [x for p, x in f.pprops if p in inside]
            terms += [x for _, ps, x in f.regions if not inside & set(ps)]
            if False in terms:
                continue
            # witness classes: region and pattern ones are decided by ``inside``; a names one
            # splits the class once more
            for part, claims in self.split_names(cls, f, inside, langs):
                for sub in _submasks(claims):
                    extra = [f.witnesses[j][1] for j in claims if sub >> j & 1]
                    value = self.terms_expr(terms + extra, _ptr(f.where, "additionalProperties"))
                    if value == EMPTY:
                        continue
                    key = seq(literal('"'), self.dfa_expr(part, lower_chars), literal('"'))
                    out.append((sub, self.share(seq(key, self.ws.colon(), value))))
        return out

    def split_names(
        self, cls: Any, f: _Flat, inside: set[str], langs: list[Any]
    ) -> list[tuple[Any, list[int]]]:
        """``cls`` split by the witnessed name languages, with the witnesses each part can be."""
        fixed = [
            j
            for j, (w, _) in enumerate(f.witnesses)
            if (w[0] == "region" and not inside & set(w[2]))
            or (w[0] == "pattern" and w[1] in inside)
        ]
        parts = [(cls, fixed)]
        for j, lang in enumerate(langs):
            if lang is None:
                continue
            nxt = []
            for part, claims in parts:
                outside = part.difference(lang)  # a key the name schemas reject: a witness
                if not outside.is_empty():
                    nxt.append((outside, [*claims, j]))
                rest = part.intersect(lang)
                if not rest.is_empty():
                    nxt.append((rest, claims))
            parts = nxt
        return parts

    def search(self, patterns: tuple[str, ...], name: str) -> bool:
        """Whether one of ``patterns`` matches somewhere in ``name`` (read as the key grammar
        reads it)."""
        from .regular import CharDFA

        for p in patterns:
            if p not in self.pattern_dfas:
                try:
                    self.pattern_dfas[p] = CharDFA.from_expr(ecma_pattern(p))
                except GrammarError as e:
                    self.unsupported("patternProperties", p, e.message)
                    self.pattern_dfas[p] = CharDFA.from_expr(EMPTY)
            if self.pattern_dfas[p].accepts(name):
                return True
        return False

    def names_dfa(self, pnames: list[_Term], where: str) -> Any:
        """The key strings the ``propertyNames`` schemas allow, as a DFA (None: none given)."""
        if not pnames:
            return None
        from .regular import CharDFA

        result = None
        for fl in self.flatten(_All(tuple(pnames), where)):
            if "string" not in fl.types:
                continue
            if fl.values is not None:
                gone = {_json_key(v) for v in fl.excluded}
                lits = [
                    v for v in fl.values
                    if isinstance(v, str) and _json_key(v) not in gone
                    and all(self.holds(c, v) for c in fl.conj)
                ]  # fmt: skip
                dfa = CharDFA.from_expr(alt(*(_char_literal(v) for v in lits)))
            else:
                dfa = self.string_dfa(fl)
                if dfa is None:
                    continue
            result = dfa if result is None else result.union(dfa)
        if result is None:
            return CharDFA.from_expr(EMPTY)
        return result

    def members(
        self,
        members: list[tuple[bool, list[tuple[int, Expr]]]],
        extra: list[tuple[int, Expr]],
        lo: int,
        hi: int | None,
        need: int,
    ) -> Expr:
        """Object bodies: ``members`` in order (the required ones always), then extra members,
        with between ``lo`` and ``hi`` members in all; each member alternative names the
        witnesses it is, and all of ``need`` must be met."""
        comma = self.ws.comma()
        n = len(members)
        cap = hi if hi is not None else lo
        memo: dict[tuple[int, int, bool, int], Expr] = {}
        plain = [e for w, e in extra if w == 0]
        if need == 0 and len(plain) == len(extra):
            one = alt(*plain)

            def extras(c: int, started: bool, got: int) -> Expr:
                k_lo = max(lo - c, 0)
                k_hi = None if hi is None else hi - c
                if one == EMPTY or k_hi == 0:
                    return EPSILON if k_lo == 0 else EMPTY
                if started:
                    return repeat(seq(comma, one), k_lo, k_hi)
                more = repeat(seq(comma, one), max(k_lo - 1, 0), None if k_hi is None else k_hi - 1)
                body = seq(one, more)
                return body if k_lo else optional(body)

        else:

            def extras(c: int, started: bool, got: int) -> Expr:
                return self.members_any([], extra, lo, hi, need, (c, started, got))

        def body(i: int, c: int, started: bool, got: int) -> Expr:
            key = (i, c, started, got)
            if key in memo:
                return memo[key]
            if i == n:
                result = extras(c, started, got)
            else:
                req, alts = members[i]
                nxt = c + 1 if hi is not None else min(c + 1, cap)
                parts = []
                if hi is None or nxt <= hi:
                    for w, m in alts:
                        after = body(i + 1, nxt, True, got | w)
                        parts.append(seq(comma if started else EPSILON, m, after))
                if not req:
                    parts.append(body(i + 1, c, started, got))
                result = alt(*parts)
            memo[key] = result = self.share(result)
            return result

        return body(0, 0, False, 0)

    def members_any(
        self,
        members: list[tuple[bool, list[tuple[int, Expr]]]],
        extra: list[tuple[int, Expr]],
        lo: int,
        hi: int | None,
        need: int,
        start: tuple[int, bool, int] = (0, False, 0),
    ) -> Expr:
        """Object bodies: ``members`` (the required ones always) and extra members in any
        order, with between ``lo`` and ``hi`` members in all and every witness of ``need``
        (``start``: members counted, whether one was written, witnesses met so far)."""
        comma = self.ws.comma()
        cap = hi if hi is not None else lo
        req = sum(1 << i for i, (r, _) in enumerate(members) if r)
        memo: dict[tuple[int, int, bool, int], Expr] = {}

        def state(mask: int, c: int, started: bool, got: int) -> Expr:
            key = (mask, c, started, got)
            if key in memo:
                return memo[key]
            name = f"object:{len(self.rules)}"
            self.rules[name] = EPSILON
            memo[key] = Ref(name)
            done = mask & req == req and c >= lo and got & need == need
            parts = [EPSILON] if done else []
            nc = c + 1 if hi is not None else min(c + 1, cap)
            sep = comma if started else EPSILON
            if hi is None or nc <= hi:
                for i, (_, alts) in enumerate(members):
                    if not mask >> i & 1:
                        for w, m in alts:
                            parts.append(seq(sep, m, state(mask | 1 << i, nc, True, got | w)))
                for w, m in extra:
                    parts.append(seq(sep, m, state(mask, nc, True, (got | w) & need)))
            self.rules[name] = alt(*parts)
            return memo[key]

        c0, started0, got0 = start
        return state(0, c0, started0, got0)

    # -- arrays --

    def array(self, f: _Flat) -> Expr:
        start = max([0, *(c[3] for c in f.contains)])
        pos = f.padded(start)
        k = len(pos)
        lo, hi = f.min_items, f.max_items
        rest_expr = None if False in f.rest else self.terms_expr(f.rest, _ptr(f.where, "items"))
        if rest_expr is None or rest_expr == EMPTY:
            hi = k if hi is None else min(hi, k)
        if hi is not None and lo > hi:
            return self.empty(f"no array length fits the bounds at {f.where} ({lo} > {hi})")
        if f.unique:
            sets = [self.finite(p, f.where) for p in [*pos, f.rest]]
            if all(x is not None for x in sets):
                result = self.unique_array(f, sets, lo, hi)
                if result is not None:
                    return result
        pos = pos[:hi] if hi is not None else pos
        k = len(pos)
        comma = self.ws.comma()
        if not f.contains:
            elems = [self.terms_expr(p, _ptr(f.where, "prefixItems", i)) for i, p in enumerate(pos)]
            for i, e in enumerate(elems):
                if e == EMPTY:  # no array reaches past position i
                    hi = i if hi is None else min(hi, i)
                    elems = elems[:i]
                    break
            if hi is not None and lo > hi:
                return self.empty(f"no array length fits the bounds at {f.where}")
            item = rest_expr if rest_expr is not None else EMPTY
            k = len(elems)

            def rest(j: int) -> Expr:
                """Elements ``j..`` (each after a comma) once ``j`` elements are written."""
                if j >= k:
                    if item == EMPTY:
                        return EPSILON if j >= lo else EMPTY
                    return repeat(seq(comma, item), max(lo - j, 0), None if hi is None else hi - j)
                step = seq(comma, elems[j], rest(j + 1))
                return step if j < lo else optional(step)

            if hi == 0:
                body = EPSILON
            elif k:
                body = seq(elems[0], rest(1))
            else:
                body = EMPTY if item == EMPTY else seq(item, rest(1))
            if lo == 0:
                body = optional(body)
            return self.ws.bracket("[", body, "]")
        return self.ws.bracket("[", self.counted_items(f, pos, lo, hi), "]")

    def counted_items(self, f: _Flat, pos: list[list[_Term]], lo: int, hi: int | None) -> Expr:
        """Array bodies counting the items that match each ``contains``."""
        comma = self.ws.comma()
        cs = f.contains
        k = max(len(pos), 1)
        caps = [mn if mx is None else mx + 1 for _, mn, mx, _ in cs]
        icap = hi if hi is not None else max(k, lo)
        item_cache: dict[tuple[int, tuple[bool, ...]], Expr] = {}
        memo: dict[tuple[int, tuple[int, ...]], Expr] = {}

        def item(i: int, bits: tuple[bool, ...]) -> Expr:
            cls = min(i, len(pos))
            key = (cls, bits)
            if key not in item_cache:
                terms = list(f.item_terms(i))
                for (c, _, _, start), b in zip(cs, bits, strict=True):
                    if i >= start:  # (before its start an item neither counts nor must miss)
                        terms.append(c if b else _Not(c, f.where))
                item_cache[key] = self.share(self.terms_expr(terms, _ptr(f.where, "items", i)))
            return item_cache[key]

        def state(i: int, counts: tuple[int, ...]) -> Expr:
            key = (i, counts)
            if key in memo:
                return memo[key]
            name = f"array:{len(self.rules)}"
            self.rules[name] = EPSILON
            memo[key] = Ref(name)
            end_ok = i >= lo and all(
                mn <= n and (mx is None or n <= mx)
                for (_, mn, mx, _), n in zip(cs, counts, strict=True)
            )
            parts = [EPSILON] if end_ok else []
            if hi is None or i < hi:
                for mask in range(1 << len(cs)):
                    bits = tuple(bool(mask >> j & 1) for j in range(len(cs)))
                    new = tuple(
                        min(n + (b and i >= c[3]), cap)
                        for n, b, c, cap in zip(counts, bits, cs, caps, strict=True)
                    )
                    if any(c[2] is not None and n > c[2] for n, c in zip(new, cs, strict=True)):
                        continue
                    if any(b and i < c[3] for b, c in zip(bits, cs, strict=True)):
                        continue
                    e = item(i, bits)
                    if e == EMPTY:
                        continue
                    nxt = i + 1 if hi is not None else min(i + 1, icap)
                    parts.append(seq(comma if i else EPSILON, e, state(nxt, new)))
            self.rules[name] = alt(*parts)
            return memo[key]

        return state(0, tuple(0 for _ in cs))

    def unique_array(self, f: _Flat, sets: list[Any], lo: int, hi: int | None) -> Expr | None:
        """``uniqueItems`` where every item comes from a finite set: all arrays, listed
        (None: too many, dropped)."""
        npos = len(sets) - 1
        if hi is None:
            hi = npos + len(sets[-1])
        universe: dict[str, Any] = {}
        for values in sets:
            for v in values:
                universe.setdefault(_json_key(v), v)
        if not f.contains and 1 << len(universe) <= _MAX_UNIQUE_STATES:
            return self.unique_subsets(f, sets, lo, hi, universe)
        arrays: list[list[Any]] = []

        def walk(prefix: list[Any], keys: set[str]) -> None:
            if len(arrays) > _MAX_UNIQUE_ARRAYS:
                raise _TooMany
            if len(prefix) >= lo and all(
                mn <= sum(self.holds(c, v) for v in prefix[st:])
                and (mx is None or sum(self.holds(c, v) for v in prefix[st:]) <= mx)
                for c, mn, mx, st in f.contains
            ):
                arrays.append(list(prefix))
            if len(prefix) >= hi:
                return
            for v in sets[min(len(prefix), npos)]:
                key = _json_key(v)
                if key not in keys:
                    walk([*prefix, v], keys | {key})

        try:
            walk([], set())
        except _TooMany:
            self.unsupported("uniqueItems", f.where, "too many distinct arrays")
            return None
        if not arrays:
            return self.empty(f"no array of distinct items fits at {f.where}")
        return alt(*(self.render(a) for a in arrays))

    def unique_subsets(
        self, f: _Flat, sets: list[Any], lo: int, hi: int, universe: dict[str, Any]
    ) -> Expr:
        """Arrays of distinct items from finite sets, one state per set of items written."""
        npos = len(sets) - 1
        bit = {k: 1 << i for i, k in enumerate(universe)}
        rendered = {k: self.share(self.render(v)) for k, v in universe.items()}
        comma = self.ws.comma()
        memo: dict[int, Expr] = {}

        def state(used: int) -> Expr:
            if used in memo:
                return memo[used]
            n = used.bit_count()
            parts = [EPSILON] if n >= lo else []
            if n < hi:
                for v in sets[min(n, npos)]:
                    k = _json_key(v)
                    if not used & bit[k]:
                        nxt = state(used | bit[k])
                        parts.append(seq(comma if n else EPSILON, rendered[k], nxt))
            memo[used] = result = self.share(alt(*parts))
            return result

        body = state(0)
        if body == EMPTY:
            return self.empty(f"no array of distinct items fits at {f.where}")
        return self.ws.bracket("[", body, "]")

    def finite(self, terms: list[_Term], where: str) -> list[Any] | None:
        """The values allowed by ``terms`` when they are finitely many (else refuse: None)."""
        out: dict[str, Any] = {}
        for fl in self.flatten(_All(tuple(terms), where)):
            cands = fl.values
            if cands is None:
                if fl.types - {"null", "boolean"}:
                    self.unsupported("uniqueItems", where, "items are not from a finite set")
                    return None
                cands = [None, True, False]
            gone = {_json_key(v) for v in fl.excluded}
            for v in cands:
                if (
                    _json_type(v) in fl.types
                    and _json_key(v) not in gone
                    and all(self.holds(c, v) for c in fl.conj)
                ):
                    out.setdefault(_json_key(v), v)
        return list(out.values())


def _submasks(bits: list[int]) -> list[int]:
    """Every mask over the given bit positions (0 first)."""
    out = [0]
    for b in bits:
        out += [m | 1 << b for m in out]
    return out


def _vacuous(t: _Term) -> bool:
    """Whether ``t`` evidently allows every value (``true``, ``{}`` or only annotations)."""
    if isinstance(t, _Not):
        return _impossible(t.item)
    if isinstance(t, _All):
        return all(_vacuous(x) for x in t.items)
    if isinstance(t, _Sub):
        t = t.schema
    return t is True or (isinstance(t, dict) and all(k in _ANNOTATIONS for k in t))


def _impossible(t: _Term) -> bool:
    """Whether ``t`` evidently allows no value."""
    if isinstance(t, _Not):
        return _vacuous(t.item)
    if isinstance(t, _All):
        return any(_impossible(x) for x in t.items)
    if isinstance(t, _Sub):
        t = t.schema
    return t is False


def _limited(lang: tuple[str, str, bool, str]) -> bool:
    """Whether a ``format`` has a length limit its expression leaves out."""
    from .formats import MAX_LENGTH

    return lang[0] == "format" and lang[1] in MAX_LENGTH


def _list(s: dict[str, Any], key: str, where: str) -> list[Any]:
    v = s.get(key, [])
    if not isinstance(v, list):
        raise SchemaError(f"{key!r} at {_ptr(where, key)} must be an array")
    return v


def _dict(s: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    v = s.get(key, {})
    if not isinstance(v, dict):
        raise SchemaError(f"{key!r} at {_ptr(where, key)} must be an object")
    return v


def _number() -> Expr:
    """RFC 8259 numbers."""
    digits = repeat(_DEC, 1, None)
    return seq(
        optional(literal("-")),
        alt(literal("0"), seq(_dec_digit(1, 9), star(_DEC))),
        optional(seq(literal("."), digits)),
        optional(seq(byte_set(b"eE"), optional(byte_set(b"+-")), digits)),
    )


def exact_validator(schema: Any, *, registry: Any = None) -> Any:
    """A ``jsonschema`` validator (the schema's draft as grammarlib reads it, format checking on
    for the formats grammarlib enforces; others are annotations) for values parsed with
    ``json.loads(text, parse_float=exact_number)``: numbers are then judged by their exact
    decimal value, as grammarlib does. (With Python floats, a long number text such as
    ``670966873035357577.028`` rounds to an integral float and would count as an integer.)"""
    import jsonschema

    from .formats import FORMATS

    text = schema if isinstance(schema, str) else json.dumps(schema)
    root = json.loads(text, parse_float=exact_number)
    cls = jsonschema.validators.validator_for({"$schema": detect_draft(root)})
    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = {k: v for k, v in cls.FORMAT_CHECKER.checkers.items() if k in FORMATS}
    extra = {} if registry is None else {"registry": registry}
    return cls(root, format_checker=checker, **extra)


def exact_number(text: str) -> int | Decimal:
    """A JSON number with a fraction or exponent, exactly: an ``int`` when its value is integral
    (``jsonschema`` counts ``1.0`` as an integer too) below ``1e1000``, else a ``Decimal``."""
    value = Decimal(text)
    if value.adjusted() < 1000 and value == value.to_integral_value():
        return int(value)
    return value  # huge exponents stay Decimal (only "number" schemas allow exponents)
