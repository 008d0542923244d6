"""JSON Schema (draft 2020-12) to grammar IR, enforcing every keyword it accepts exactly.

The language of a schema is the JSON texts (UTF-8) whose value is valid under the schema, within
a fixed surface syntax:

* **Whitespace** follows a policy (see :data:`WHITESPACE_POLICIES`): by default exactly what
  ``json.dumps(v)`` and ``json.dumps(v, separators=(",", ":"))`` produce, i.e. an optional single
  space after ``,`` and ``:`` and nothing else; no whitespace before or after the value.
* **Strings** may use every JSON escape (``\\"``, ``\\\\``, ``\\/``, ``\\b\\f\\n\\r\\t``,
  ``\\uXXXX`` in either hex case, surrogate pairs for astral characters) for any character, and raw
  UTF-8 for any character except ``"``, ``\\`` and controls below U+0020. Lone surrogates are not
  accepted. Every string constraint (``minLength``, ``pattern``, property names, ``const``) is
  applied to the *decoded* string, so ``"\\u00e9"`` and ``"é"`` are treated alike: strings are built
  at the character level (one leaf per decoded character) and then lowered, each character to all
  its JSON encodings.
* **Numbers** follow RFC 8259. An integer is written without leading zeros and never as ``-0``
  (``json.dumps`` never writes it); ``type: integer`` also accepts integral numbers written with a
  zero fraction (``1.0``, which ``jsonschema`` counts as an integer) but not with an exponent.
* **Objects** list the declared ``properties`` in the schema's order; optional ones may be left
  out. Properties named only in ``required`` follow, in ``required`` order. Extra keys (where
  ``additionalProperties`` allows them) come after all declared ones and are exactly the strings
  that, decoded, differ from every declared name (a trie complement at the character level).
* ``const``/``enum`` values are rendered like ``json.dumps`` (object keys in the value's order),
  with the whitespace policy between tokens and any string escapes.

Keywords that cannot yet be enforced raise :class:`SchemaError` naming the keyword and its JSON
pointer (or, with ``strict=False``, are dropped with a warning). Unsatisfiable schemas raise
:class:`SchemaError` saying why.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import unquote

from .charsets import MAX_CODE_POINT, SURROGATES, CharSet, difference, intersection, utf8_expr
from .errors import GrammarError
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
from .regex import _Chars, _chars, _Converter, _HasLookaround

__all__ = ["WHITESPACE_POLICIES", "SchemaError", "schema_to_grammar"]

JSON_TYPES = ("null", "boolean", "object", "array", "string", "number", "integer")
WHITESPACE_POLICIES = ("dumps", "compact", "default", "flexible")
"""``dumps``: optional single space after ``,`` and ``:`` (both json.dumps styles, the default);
``compact``: none; ``default``: exactly ``", "`` and ``": "``; ``flexible``: up to
:data:`FLEXIBLE_MAX` of ``[ \\t\\n\\r]`` between any two tokens (pass an int for another bound)."""
FLEXIBLE_MAX = 4

_IGNORED = frozenset(
    {"title", "description", "$schema", "$id", "$comment", "default", "examples", "$defs",
     "definitions", "deprecated", "readOnly", "writeOnly"}
)  # fmt: skip
_SUPPORTED = frozenset(
    {"type", "enum", "const", "properties", "required", "additionalProperties", "items",
     "prefixItems", "minItems", "maxItems", "minLength", "maxLength", "pattern", "minimum",
     "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf", "$ref"}
)  # fmt: skip
_NUMERIC = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_BY_TYPE = {
    "string": ("minLength", "maxLength", "pattern"),
    "object": ("properties", "required", "additionalProperties"),
    "array": ("items", "prefixItems", "minItems", "maxItems"),
}
_FULL: CharSet = ((0, MAX_CODE_POINT),)
_MAX_DEREF = 64
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


class SchemaError(GrammarError):
    """A JSON Schema that cannot be compiled: an unsupported keyword, a malformed or
    unsatisfiable schema. The message names the keyword and the JSON pointer where it applies."""


def schema_to_grammar(
    schema: Any, *, whitespace: str | int = "dumps", strict: bool = True
) -> Grammar:
    """The grammar of the JSON texts valid under ``schema`` (a dict, bool or JSON text)."""
    if isinstance(schema, (str, bytes)):
        try:
            schema = json.loads(schema)
        except ValueError as e:
            raise SchemaError(f"schema is not valid JSON: {e}") from e
    return _Compiler(schema, _Whitespace(whitespace), strict).grammar()


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
_DEC = byte_range(0x30, 0x39)


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
    known = _CHAR_CACHE.get(chars)
    if known is not None:
        return known
    parts = []
    raw = difference(chars, ((0, 0x1F), (0x22, 0x22), (0x5C, 0x5C), SURROGATES))
    if raw:
        parts.append(utf8_expr(raw))
    for cp, letter in _SHORT_ESCAPES.items():
        if intersection(chars, ((cp, cp),)):
            parts.append(literal("\\" + letter))
    u = literal("\\u")
    for lo, hi in difference(intersection(chars, ((0, 0xFFFF),)), (SURROGATES,)):
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
    _CHAR_CACHE[chars] = result
    return result


_CHAR_CACHE: dict[CharSet, Expr] = {}


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

    The pattern is read with Python ``re`` syntax in ASCII mode (``\\d``, ``\\w`` ASCII as in
    ECMA-262; note ``\\s`` is then ASCII too). Each top-level branch is unanchored unless it
    starts with ``^`` / ends with ``$``; anchors elsewhere are refused."""
    try:
        parsed = _parser.parse(pattern, C.SRE_FLAG_ASCII)
    except Exception as e:
        raise GrammarError(f"invalid pattern {pattern!r}: {e}") from e
    conv = _CharConverter(pattern, parsed.state)
    flags = parsed.state.flags | C.SRE_FLAG_ASCII
    items = list(parsed)
    branches = items[0][1][1] if len(items) == 1 and items[0][0] is C.BRANCH else [items]
    anything = star(_chars(_FULL))
    out = []
    for branch in branches:
        branch = list(branch)
        start = bool(branch) and branch[0] == (C.AT, C.AT_BEGINNING)
        end = bool(branch) and branch[-1] == (C.AT, C.AT_END)
        try:
            body = conv._seq(branch, flags, start, end)
        except _HasLookaround:
            raise GrammarError(f"lookaround in pattern {pattern!r} is not supported") from None
        out.append(seq(EPSILON if start else anything, body, EPSILON if end else anything))
    return alt(*out)


# -- the schema walk ----------------------------------------------------------------------------


def _ptr(base: str, *parts: object) -> str:
    for p in parts:
        base += "/" + str(p).replace("~", "~0").replace("/", "~1")
    return base


def _types(schema: dict[str, Any], where: str) -> set[str]:
    t = schema.get("type", list(JSON_TYPES))
    ts = {t} if isinstance(t, str) else set(t)
    if not ts <= set(JSON_TYPES):
        raise SchemaError(f"bad 'type' {t!r} at {where}")
    if "number" in ts:
        ts.discard("integer")
    return ts


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


class _Compiler:
    def __init__(self, root: Any, ws: _Whitespace, strict: bool):
        from jsonschema import Draft202012Validator

        self.root = root
        self.ws = ws
        self.strict = strict
        self.rules: dict[str, Expr] = {}
        self.reasons: list[str] = []
        self.validator = Draft202012Validator(root if isinstance(root, (dict, bool)) else {})

    def grammar(self) -> Grammar:
        self.rules["#"] = EPSILON
        body = self.schema(self.root, "#")
        if body == EMPTY:
            why = "; ".join(dict.fromkeys(self.reasons)) or "no JSON value satisfies it"
            raise SchemaError(f"schema is unsatisfiable: {why}")
        self.rules["#"] = body
        return Grammar(self.rules, "#")

    # -- errors --

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

    # -- references --

    def resolve(self, ref: str, where: str) -> tuple[str, Any]:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise SchemaError(f"only local '$ref's ('#...') are supported: {ref!r} at {where}")
        node = self.root
        pointer = unquote(ref[1:])
        if pointer:
            if not pointer.startswith("/"):
                raise SchemaError(f"unsupported '$ref' {ref!r} at {where} (anchors not yet)")
            for raw in pointer[1:].split("/"):
                part = raw.replace("~1", "/").replace("~0", "~")
                try:
                    node = node[int(part) if isinstance(node, list) else part]
                except (KeyError, IndexError, ValueError, TypeError):
                    raise SchemaError(f"'$ref' {ref!r} at {where} does not resolve") from None
        return "#" + pointer, node

    def ref(self, ref: str, where: str) -> Expr:
        target, node = self.resolve(ref, where)
        if target not in self.rules:
            self.rules[target] = EPSILON  # placeholder while compiling (recursion)
            self.rules[target] = self.schema(node, target)
        if self.rules[target] == EMPTY:
            return EMPTY  # not recursive (a placeholder is EPSILON): say why at the top
        return Ref(target)

    def deref(self, schema: Any, where: str) -> Any:
        """``schema`` with a top-level ``$ref`` merged in (for ``allOf`` merging)."""
        for _ in range(_MAX_DEREF):
            if not isinstance(schema, dict) or "$ref" not in schema:
                return schema
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            _, target = self.resolve(schema["$ref"], where)
            schema = self.merge(target, rest, where)
        raise SchemaError(f"'$ref' chain too long or cyclic at {where}")

    # -- merging (allOf) --

    def merge(self, a: Any, b: Any, where: str) -> Any:
        if a is False or b is False:
            return False
        if a is True or a == {}:
            return b
        if b is True or b == {}:
            return a
        a, b = self.deref(a, where), self.deref(b, where)
        if isinstance(a, bool) or isinstance(b, bool):
            return self.merge(a, b, where)
        if not isinstance(a, dict) or not isinstance(b, dict):
            raise SchemaError(f"a schema must be an object or a boolean at {where}")
        out = dict(a)
        for k, v in b.items():
            if k in _IGNORED:
                continue
            if k not in out or out[k] == v:
                out[k] = v
            elif k == "type":
                out[k] = sorted(_types(a, where) & _types(b, where) | _int_meet(a, b, where))
            elif k == "required":
                out[k] = list(dict.fromkeys([*out[k], *v]))
            elif k in ("properties",):
                props = dict(out[k])
                for name, sub in v.items():
                    props[name] = {"allOf": [props[name], sub]} if name in props else sub
                out[k] = props
            elif k == "items":
                out[k] = {"allOf": [out[k], v]}
            elif k == "allOf":
                out[k] = [*out[k], *v]
            elif k in ("minimum", "exclusiveMinimum", "minLength", "minItems"):
                out[k] = max(out[k], v)
            elif k in ("maximum", "exclusiveMaximum", "maxLength", "maxItems"):
                out[k] = min(out[k], v)
            elif k == "enum":
                keys = {_json_key(x) for x in v}
                out[k] = [x for x in out[k] if _json_key(x) in keys]
            else:
                raise SchemaError(f"cannot merge keyword {k!r} in 'allOf' at {where} (yet)")
        if _items_clash(a, b) or _items_clash(b, a):
            raise SchemaError(
                f"cannot merge 'prefixItems' with other 'items'/'prefixItems' in 'allOf' at "
                f"{where} (yet)"
            )
        for x, y in ((a, b), (b, a)):
            own, other = set(x.get("properties", {})), set(y.get("properties", {}))
            if x.get("additionalProperties", True) is not True and other - own:
                raise SchemaError(
                    f"cannot merge 'additionalProperties' with other 'properties' in 'allOf' at "
                    f"{where} (yet)"
                )
        return out

    # -- schemas --

    def schema(self, s: Any, where: str) -> Expr:
        if s is True:
            return self.any_value()
        if s is False:
            return self.empty(f"false schema at {where}")
        if not isinstance(s, dict):
            raise SchemaError(f"a schema must be an object or a boolean at {where}")
        s = dict(s)
        if s.get("$schema", _DRAFT).rstrip("#") != _DRAFT:
            self.unsupported("$schema", where, f"only {_DRAFT} is supported")
            del s["$schema"]
        if "$id" in s and where != "#":
            # A nested $id changes the base URI of the '#...' references under it.
            self.unsupported("$id", where, "only on the root schema for now")
            del s["$id"]
        for k in list(s):
            if k not in _SUPPORTED and k not in _IGNORED:
                self.unsupported(k, where)
                del s[k]
        if "$ref" in s:
            rest = {k: v for k, v in s.items() if k not in _IGNORED and k != "$ref"}
            if not rest:
                return self.ref(s["$ref"], where)
            return self.schema(self.deref(s, where), where)
        if "allOf" in s:
            rest = {k: v for k, v in s.items() if k != "allOf"}
            merged: Any = rest
            for i, branch in enumerate(s["allOf"]):
                merged = self.merge(merged, branch, _ptr(where, "allOf", i))
            return self.schema(merged, where)
        for key in ("anyOf", "oneOf"):
            if key in s:
                rest = {k: v for k, v in s.items() if k != key}
                branches = [self.merge(rest, b, _ptr(where, key, i)) for i, b in enumerate(s[key])]
                if key == "oneOf":
                    self.check_disjoint(branches, where)
                return alt(*(self.schema(b, _ptr(where, key, i)) for i, b in enumerate(branches)))
        if "enum" in s or "const" in s:
            return self.values(s, where)
        types = _types(s, where)
        parts: list[Expr] = []
        for t in sorted(types):
            if t == "null":
                parts.append(literal("null"))
            elif t == "boolean":
                parts.append(alt(literal("true"), literal("false")))
            elif t == "integer":
                parts.append(self.integer(s, where))
            elif t == "number":
                parts.append(self.number(s, where))
            elif t == "string":
                parts.append(self.string(s, where))
            elif t == "object":
                parts.append(self.object(s, where))
            elif t == "array":
                parts.append(self.array(s, where))
        if not types:
            return self.empty(f"no type allowed at {where}")
        return alt(*parts)

    def check_disjoint(self, branches: list[Any], where: str) -> None:
        seen: set[str] = set()
        for b in branches:
            if b is False:
                continue
            if not isinstance(b, dict) or "type" not in b or {"anyOf", "oneOf", "allOf"} & set(b):
                raise SchemaError(
                    f"'oneOf' at {where} needs branches with disjoint 'type's (for now)"
                )
            ts = _types(b, where)
            if "number" in ts:
                ts.add("integer")
            if ts & seen:
                raise SchemaError(
                    f"'oneOf' at {where}: branches overlap in type {sorted(ts & seen)}"
                )
            seen |= ts

    def values(self, s: dict[str, Any], where: str) -> Expr:
        """``enum``/``const``: the listed values that satisfy the rest of the schema."""
        candidates = [s["const"]] if "const" in s else list(s["enum"])
        if "const" in s and "enum" in s:
            keys = {_json_key(x) for x in s["enum"]}
            candidates = [x for x in candidates if _json_key(x) in keys]
        rest = {k: v for k, v in s.items() if k not in ("enum", "const")}
        check = self.validator.evolve(schema=rest)
        kept = [v for v in candidates if check.is_valid(v)]
        if not kept:
            return self.empty(f"no 'enum'/'const' value satisfies the other keywords at {where}")
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
            return seq(
                integer_range(n, n), optional(seq(literal("."), repeat(literal("0"), 1, None)))
            )
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
            body = seq(*(seq(self.ws.comma(), m) if i else m for i, m in enumerate(members)))
            return self.ws.bracket("{", body, "}")
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

    # -- per type --

    def bounds(self, s: dict[str, Any], where: str) -> tuple[int | None, int | None]:
        lo = hi = None
        for k in _NUMERIC:
            if k in s:
                v = s[k]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise SchemaError(f"{k!r} at {where} must be a finite number")
                f = Fraction(v)
                if k == "minimum":
                    c = math.ceil(f)
                elif k == "exclusiveMinimum":
                    c = math.floor(f) + 1
                elif k == "maximum":
                    c = math.floor(f)
                else:
                    c = math.ceil(f) - 1
                if k in ("minimum", "exclusiveMinimum"):
                    lo = c if lo is None else max(lo, c)
                else:
                    hi = c if hi is None else min(hi, c)
        return lo, hi

    def integer(self, s: dict[str, Any], where: str) -> Expr:
        lo, hi = self.bounds(s, where)
        if lo is not None and hi is not None and lo > hi:
            return self.empty(f"no integer between the bounds at {where} ({lo} > {hi})")
        zero_fraction = optional(seq(literal("."), repeat(literal("0"), 1, None)))
        return seq(integer_range(lo, hi), zero_fraction)

    def number(self, s: dict[str, Any], where: str) -> Expr:
        """Numbers; under bounds, exactly the decimal texts (no exponent) in the interval."""
        lo = hi = None
        lo_strict = hi_strict = False
        for k in _NUMERIC:
            if k not in s:
                continue
            v = s[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise SchemaError(f"{k!r} at {where} must be a finite number")
            d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
            strict = k.startswith("exclusive")
            if k.endswith("inimum") and (lo is None or d > lo or (d == lo and strict)):
                lo, lo_strict = d, strict
            if k.endswith("aximum") and (hi is None or d < hi or (d == hi and strict)):
                hi, hi_strict = d, strict
        if lo is None and hi is None:
            return _number()
        result = decimal_range(lo, lo_strict, hi, hi_strict)
        if result == EMPTY:
            return self.empty(f"no number between the bounds at {where}")
        return result

    def string(self, s: dict[str, Any], where: str) -> Expr:
        lo, hi = _count(s, "minLength", where) or 0, _count(s, "maxLength", where)
        if hi is not None and lo > hi:
            return self.empty(f"minLength {lo} > maxLength {hi} at {where}")
        if "pattern" in s:
            if lo or hi is not None:
                self.unsupported("minLength/maxLength", where, "together with 'pattern' not yet")
            try:
                body = ecma_pattern(s["pattern"])
            except GrammarError as e:
                self.unsupported("pattern", where, e.message)
                body = star(_chars(_FULL))
        else:
            body = repeat(_chars(_FULL), lo, hi)
        return seq(literal('"'), lower_chars(body), literal('"'))

    def object(self, s: dict[str, Any], where: str) -> Expr:
        props: dict[str, Any] = dict(s.get("properties", {}))
        required = list(dict.fromkeys(s.get("required", [])))
        extra = s.get("additionalProperties", True)
        for name in required:
            if name not in props:
                if extra is False:
                    return self.empty(
                        f"required property {name!r} is forbidden by 'additionalProperties' "
                        f"at {where}"
                    )
                props[name] = extra
        comma, colon = self.ws.comma(), self.ws.colon()
        members = []
        for name, sub in props.items():
            ptr = _ptr(where, "properties", name)
            if name in s.get("properties", {}):
                value = self.schema(sub, ptr)
            else:
                value = self.schema(sub, _ptr(where, "additionalProperties"))
            key = seq(literal('"'), lower_chars(_char_literal(name)), literal('"'))
            if value == EMPTY and name in required:
                return self.empty(f"required property {name!r} can have no value at {where}")
            members.append((name in required, seq(key, colon, value)))
        if extra is False:
            extra_member = EMPTY
        else:
            value = self.schema(extra, _ptr(where, "additionalProperties"))
            key = seq(literal('"'), lower_chars(_string_except(list(props))), literal('"'))
            extra_member = self.share(seq(key, colon, value))
        # after: members from here on when one was already written; first: when none was.
        after = star(seq(comma, extra_member))
        first = optional(seq(extra_member, after))
        for req, member in reversed(members):
            if member == EMPTY:
                continue  # an optional property that cannot have a value: never written
            after = self.share(after)  # used twice below: a rule keeps the size linear
            if req:
                first = seq(member, after)
                after = seq(comma, member, after)
            else:
                first = alt(seq(member, after), first)
                after = seq(optional(seq(comma, member)), after)
        return self.ws.bracket("{", first, "}")

    def array(self, s: dict[str, Any], where: str) -> Expr:
        prefix = list(s.get("prefixItems", []))
        items = s.get("items", True)
        lo, hi = _count(s, "minItems", where) or 0, _count(s, "maxItems", where)
        if items is False:
            hi = len(prefix) if hi is None else min(hi, len(prefix))
        if hi is not None and lo > hi:
            return self.empty(f"no array length fits the bounds at {where} ({lo} > {hi})")
        if hi is not None:
            prefix = prefix[:hi]
        elems = [self.schema(p, _ptr(where, "prefixItems", i)) for i, p in enumerate(prefix)]
        item = self.schema(items, _ptr(where, "items")) if items is not False else EMPTY
        comma, k = self.ws.comma(), len(elems)

        def rest(j: int) -> Expr:
            """Elements ``j..`` (each after a comma) once ``j`` elements are written."""
            if j >= k:
                return repeat(seq(comma, item), max(lo - j, 0), None if hi is None else hi - j)
            step = seq(comma, elems[j], rest(j + 1))
            return step if j < lo else optional(step)

        body = EPSILON if hi == 0 else seq(elems[0] if k else item, rest(1))
        if lo == 0:
            body = optional(body)
        return self.ws.bracket("[", body, "]")


def _count(s: dict[str, Any], key: str, where: str) -> int | None:
    """A non-negative integer keyword (``2.0`` counts as ``2``), or ``None`` when absent."""
    v = s.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != int(v):
        raise SchemaError(f"{key!r} at {where} must be a non-negative integer, not {v!r}")
    return int(v)


def _number() -> Expr:
    """RFC 8259 numbers."""
    digits = repeat(_DEC, 1, None)
    return seq(
        optional(literal("-")),
        alt(literal("0"), seq(_dec_digit(1, 9), star(_DEC))),
        optional(seq(literal("."), digits)),
        optional(seq(byte_set(b"eE"), optional(byte_set(b"+-")), digits)),
    )


def _items_clash(x: dict[str, Any], y: dict[str, Any]) -> bool:
    """Whether ``y``'s ``items``/``prefixItems`` would change meaning next to ``x``'s
    ``prefixItems`` (``items`` only covers the positions after its own ``prefixItems``)."""
    if "prefixItems" not in x:
        return False
    return ("items" in y or "prefixItems" in y) and y.get("prefixItems") != x["prefixItems"]


def _int_meet(a: dict[str, Any], b: dict[str, Any], where: str) -> set[str]:
    """``integer`` survives intersecting ``number`` with ``integer``."""
    ta, tb = _types(a, where), _types(b, where)
    if ("integer" in ta and "number" in tb) or ("number" in ta and "integer" in tb):
        return {"integer"}
    return set()
