"""JSON Schema ``format`` values as exact character-level regular languages.

:func:`format_expr` gives, for each supported ``format``, an IR expression over characters
(``CharLeaf`` leaves from :mod:`grammarlib.regex`, no ``Ref``) matching exactly the *decoded* string
values valid for that format. The JSON Schema compiler lowers it to JSON string content with
``lower_chars``; being Ref-free, it can also be intersected with length limits as a DFA.

Each language follows the format's RFC grammar, the JSON-Schema-Test-Suite (draft 2020-12
optional/format tests) and is narrowed wherever ``jsonschema``'s draft 2020-12 format checker
(``Draft202012Validator.FORMAT_CHECKER`` with rfc3339-validator, fqdn, rfc3987, isoduration,
jsonpointer installed) is stricter than the RFC, so that every generated string also passes it:

* ``date``, ``date-time``: years ``0001``-``9999`` (the checkers reject year 0), real month lengths,
  February 29 only in leap years.
* ``time``, ``date-time``: the time offset is required; ``T``/``Z`` in either case. Leap seconds
  (``:60`` at 23:59 UTC, any offset) are valid per RFC 3339 and the suite but rejected by
  rfc3339-validator, so they are only included with ``leap_seconds=True``.
* ``duration``: RFC 3339 Appendix A exactly (contiguous units ``Y M D`` / ``H M S``, weeks alone),
  upper-case designators only (isoduration rejects lower case).
* ``email``: RFC 5321 ``Mailbox`` syntax (dot-atom or quoted local part; domain or address literal
  ``[IPv4]`` / ``[IPv6:...]``); the size limits of RFC 5321 4.5.3.1 and the unregistered
  General-address-literal are left out.
* ``hostname``: RFC 1123 labels of 1-63 letters, digits and hyphens, not starting or ending with a
  hyphen, no trailing dot. The total length limit (253, enforced by the checker) is *not* in the
  expression: its minimal DFA has about 24,000 states. :data:`MAX_LENGTH` lists such
  limits; the caller must intersect with them.
* ``ipv4`` / ``ipv6``: dotted quads without leading zeros; all RFC 4291 text forms (``::``, IPv4
  tail), no zone id.
* ``uri``, ``uri-reference``, ``iri``, ``iri-reference``: RFC 3986 / RFC 3987 ABNF (``v`` of an
  IPvFuture literal in lower case, as rfc3987 requires).
* ``uuid``, ``json-pointer``, ``relative-json-pointer`` (without index manipulation, which the
  checker rejects; the checker also rejects a ``0`` followed by a digit anywhere in the prefix
  number, e.g. ``101/a``, so those are left out too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from .charsets import CharSet, from_chars, normalize, union
from .ir import EPSILON, Expr, alt, optional, plus, repeat, seq, star
from .regex import char_leaf

__all__ = ["FORMATS", "MAX_LENGTH", "format_expr"]


# -- character classes --------------------------------------------------------------------------


def _set(text: str = "", *ranges: tuple[str, str]) -> CharSet:
    return normalize([*from_chars(text), *((ord(a), ord(b)) for a, b in ranges)])


def _c(text: str = "", *ranges: tuple[str, str]) -> Expr:
    """One character: any of ``text`` or of the ``(lo, hi)`` ranges."""
    return char_leaf(_set(text, *ranges))


def _lit(text: str) -> Expr:
    return seq(*(_c(ch) for ch in text))


def _ci(text: str) -> Expr:
    """``text`` with ASCII letters in either case."""
    return seq(*(_c(ch.lower() + ch.upper()) for ch in text))


_DIGIT = _c("", ("0", "9"))
_HEXDIG = _c("", ("0", "9"), ("a", "f"), ("A", "F"))
_ALPHA = _c("", ("a", "z"), ("A", "Z"))
_ALNUM = _c("", ("a", "z"), ("A", "Z"), ("0", "9"))
_LDH = _c("-", ("a", "z"), ("A", "Z"), ("0", "9"))


def _digits(lo: int, hi: int) -> Expr:
    return _c("", (str(lo), str(hi)))


def _padded(lo: int, hi: int, width: int) -> Expr:
    """Exactly ``width`` decimal digits with value in ``lo..hi`` (leading zeros as padding)."""
    if width == 0:
        return EPSILON
    p = 10 ** (width - 1)
    (ld, lr), (hd, hr) = divmod(lo, p), divmod(hi, p)
    if ld == hd:
        return seq(_digits(ld, ld), _padded(lr, hr, width - 1))
    parts = [seq(_digits(ld, ld), _padded(lr, p - 1, width - 1))]
    if ld + 1 <= hd - 1:
        parts.append(seq(_digits(ld + 1, hd - 1), repeat(_DIGIT, width - 1, width - 1)))
    parts.append(seq(_digits(hd, hd), _padded(0, hr, width - 1)))
    return alt(*parts)


def _joined(item: Expr, sep: Expr, lo: int, hi: int) -> Expr:
    """``lo`` to ``hi`` copies of ``item`` separated by ``sep`` (zero copies: the empty string)."""
    if hi < lo:
        return alt()
    if hi == 0:
        return EPSILON
    some = seq(item, repeat(seq(sep, item), max(lo, 1) - 1, hi - 1))
    return alt(EPSILON, some) if lo == 0 else some


# -- dates and times (RFC 3339) -----------------------------------------------------------------

_YEAR = _padded(1, 9999, 4)
_MULT4 = alt(seq(_c("0"), _c("48")), seq(_c("2468"), _c("048")), seq(_c("13579"), _c("26")))
# Leap years 0001-9999: YY a non-zero multiple of 4, or YY = 00 and CC a non-zero multiple of 4.
_LEAP_YEAR = alt(seq(_DIGIT, _DIGIT, _MULT4), seq(_MULT4, _lit("00")))
_MONTH_DAY = alt(
    seq(
        alt(*(_lit(m) for m in ("01", "03", "05", "07", "08", "10", "12"))),
        _c("-"),
        _padded(1, 31, 2),
    ),
    seq(alt(*(_lit(m) for m in ("04", "06", "09", "11"))), _c("-"), _padded(1, 30, 2)),
    seq(_lit("02-"), _padded(1, 28, 2)),
)
_DATE = alt(seq(_YEAR, _c("-"), _MONTH_DAY), seq(_LEAP_YEAR, _lit("-02-29")))
_FRAC = optional(seq(_c("."), plus(_DIGIT)))
_HOUR, _MINUTE = _padded(0, 23, 2), _padded(0, 59, 2)
_OFFSET = alt(_c("Zz"), seq(_c("+-"), _HOUR, _c(":"), _MINUTE))
_TIME = seq(_HOUR, _c(":"), _MINUTE, _c(":"), _MINUTE, _FRAC, _OFFSET)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _leap_second_times() -> Expr:
    """``HH:MM:60[.frac]offset`` where ``HH:MM`` minus the offset is 23:59 UTC.

    Each of the 2,880 numeric offsets determines one local ``HH:MM`` (local = 23:59 + offset), so
    every local minute has exactly one ``+`` and one ``-`` offset, and 23:59 also ``Z``/``z``.
    The offset follows the fraction, so the automaton must remember the local minute across it:
    the minimal DFA has about 11,000 states (six per local minute: after ``HH:MM``, ``:``, ``6``,
    ``0``, ``.`` and the fraction digits, then the offset texts), which no rewriting can shrink.
    The expression is a trie over the local time (hours, then tens and units of minutes), so
    building it and its DFA does not go through 1,440 parallel branches."""
    one = {ch: _c(ch) for ch in "0123456789:+-"}

    def lit(text: str) -> Expr:
        return seq(*(one[ch] for ch in text))

    leap, zulu = lit(":60"), _c("Zz")
    hours = []
    for hour in range(24):
        tens = []
        for ten in range(6):
            units = []
            for unit in range(10):
                local = hour * 60 + ten * 10 + unit
                east, west = (local - 1439) % 1440, (1439 - local) % 1440
                offsets = [lit("+" + _hhmm(east)), lit("-" + _hhmm(west))]
                if local == 1439:
                    offsets.append(zulu)
                units.append(seq(one[str(unit)], leap, _FRAC, alt(*offsets)))
            tens.append(seq(one[str(ten)], alt(*units)))
        hours.append(seq(lit(f"{hour:02d}:"), alt(*tens)))
    return alt(*hours)


# -- durations (RFC 3339 Appendix A) -------------------------------------------------------------


def _duration() -> Expr:
    def unit(letter: str, rest: Expr = EPSILON) -> Expr:
        return seq(plus(_DIGIT), _c(letter), optional(rest))

    second = unit("S")
    minute = unit("M", second)
    hour = unit("H", minute)
    dur_time = seq(_c("T"), alt(hour, minute, second))
    day = unit("D")
    month = unit("M", day)
    year = unit("Y", month)
    dur_date = seq(alt(day, month, year), optional(dur_time))
    return seq(_c("P"), alt(dur_date, dur_time, unit("W")))


# -- IP addresses ------------------------------------------------------------------------------

_DEC_OCTET = alt(
    _DIGIT,
    seq(_digits(1, 9), _DIGIT),
    seq(_c("1"), _DIGIT, _DIGIT),
    seq(_c("2"), _digits(0, 4), _DIGIT),
    seq(_lit("25"), _digits(0, 5)),
)
_IPV4 = _joined(_DEC_OCTET, _c("."), 4, 4)


def _ipv6() -> Expr:
    """RFC 3986 ``IPv6address`` (the RFC 4291 text forms)."""
    h16 = repeat(_HEXDIG, 1, 4)
    h16c = seq(h16, _c(":"))
    ls32 = alt(seq(h16, _c(":"), h16), _IPV4)
    dc = _lit("::")

    def before(n: int) -> Expr:  # [ *n( h16 ":" ) h16 ]
        return optional(seq(repeat(h16c, 0, n), h16))

    return alt(
        seq(repeat(h16c, 6, 6), ls32),
        seq(dc, repeat(h16c, 5, 5), ls32),
        seq(before(0), dc, repeat(h16c, 4, 4), ls32),
        seq(before(1), dc, repeat(h16c, 3, 3), ls32),
        seq(before(2), dc, repeat(h16c, 2, 2), ls32),
        seq(before(3), dc, h16c, ls32),
        seq(before(4), dc, ls32),
        seq(before(5), dc, h16),
        seq(before(6), dc),
    )


# -- email (RFC 5321 Mailbox) ------------------------------------------------------------------


def _email() -> Expr:
    atext = _c("!#$%&'*+-/=?^_`{|}~", ("a", "z"), ("A", "Z"), ("0", "9"))
    atom = plus(atext)
    dot_string = seq(atom, star(seq(_c("."), atom)))
    qtext = _c("", (" ", "!"), ("#", "["), ("]", "~"))
    quoted_pair = seq(_c("\\"), _c("", (" ", "~")))
    quoted = seq(_c('"'), star(alt(qtext, quoted_pair)), _c('"'))
    sub_domain = seq(_ALNUM, optional(seq(star(_LDH), _ALNUM)))
    domain = seq(sub_domain, star(seq(_c("."), sub_domain)))
    snum = alt(_padded(0, 9, 1), _padded(0, 99, 2), _padded(0, 255, 3))
    ipv4 = _joined(snum, _c("."), 4, 4)
    hexes = repeat(_HEXDIG, 1, 4)

    def groups(lo: int, hi: int) -> Expr:
        return _joined(hexes, _c(":"), lo, hi)

    dc = _lit("::")
    ipv6 = alt(
        groups(8, 8),
        *(seq(groups(i, i), dc, groups(0, 6 - i)) for i in range(7)),
        seq(groups(6, 6), _c(":"), ipv4),
        *(seq(groups(i, i), dc, optional(seq(groups(1, 4 - i), _c(":"))), ipv4) for i in range(5)),
    )
    literal = seq(_c("["), alt(ipv4, seq(_ci("IPv6:"), ipv6)), _c("]"))
    return seq(alt(dot_string, quoted), _c("@"), alt(domain, literal))


# -- hostnames (RFC 1123) ----------------------------------------------------------------------

_LABEL = seq(_ALNUM, optional(seq(repeat(_LDH, 0, 61), _ALNUM)))
_HOSTNAME = seq(_LABEL, star(seq(_c("."), _LABEL)))


# -- URIs and IRIs (RFC 3986, RFC 3987) --------------------------------------------------------

_UCSCHAR = normalize(
    [(0xA0, 0xD7FF), (0xF900, 0xFDCF), (0xFDF0, 0xFFEF), (0xE1000, 0xEFFFD)]
    + [(p << 16, (p << 16) | 0xFFFD) for p in range(1, 14)]
)
_IPRIVATE = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))


def _uri(iri: bool, reference: bool) -> Expr:
    """RFC 3986 ``URI`` / ``URI-reference`` (``iri``: RFC 3987 ``IRI`` / ``IRI-reference``).

    Character alternatives are merged into one set per position (``pchar`` is one leaf plus
    ``%XX``), which keeps the JSON-escaped automaton small."""
    unreserved_ascii = _set("-._~", ("a", "z"), ("A", "Z"), ("0", "9"))
    unreserved = union(unreserved_ascii, _UCSCHAR) if iri else unreserved_ascii
    sub_delims = _set("!$&'()*+,;=")
    pct = seq(_c("%"), _HEXDIG, _HEXDIG)

    def chars(*sets: CharSet) -> Expr:  # one character of the union of ``sets``, or %XX
        return alt(char_leaf(union(*sets)), pct)

    pchar_set = union(unreserved, sub_delims, _set(":@"))
    pchar = chars(pchar_set)
    rest = star(seq(_c("/"), star(pchar)))
    path_absolute = seq(_c("/"), optional(seq(plus(pchar), rest)))
    path_rootless = seq(plus(pchar), rest)
    path_noscheme = seq(plus(chars(unreserved, sub_delims, _set("@"))), rest)
    query = star(chars(pchar_set, _set("/?"), _IPRIVATE if iri else ()))
    fragment = star(chars(pchar_set, _set("/?")))
    ip_future = seq(
        _c("v"),
        plus(_HEXDIG),
        _c("."),
        plus(char_leaf(union(unreserved_ascii, sub_delims, _set(":")))),
    )
    host = alt(
        seq(_c("["), alt(_ipv6(), ip_future), _c("]")),
        _IPV4,
        star(chars(unreserved, sub_delims)),
    )
    userinfo = star(chars(unreserved, sub_delims, _set(":")))
    authority = seq(optional(seq(userinfo, _c("@"))), host, optional(seq(_c(":"), star(_DIGIT))))
    net_path = seq(_lit("//"), authority, rest)
    scheme = seq(_ALPHA, star(_c("+-.", ("a", "z"), ("A", "Z"), ("0", "9"))))
    tail = seq(optional(seq(_c("?"), query)), optional(seq(_c("#"), fragment)))
    absolute = seq(scheme, _c(":"), alt(net_path, path_absolute, path_rootless, EPSILON), tail)
    if not reference:
        return absolute
    relative = seq(alt(net_path, path_absolute, path_noscheme, EPSILON), tail)
    return alt(absolute, relative)


# -- JSON pointers (RFC 6901, draft-bhutton-relative-json-pointer) ------------------------------

_JSON_POINTER = star(
    seq(
        _c("/"),
        star(alt(char_leaf(((0, 0x2E), (0x30, 0x7D), (0x7F, 0x10FFFF))), seq(_c("~"), _c("01")))),
    )
)
# jsonschema's relative-json-pointer check rejects a 0 followed by any digit anywhere in the number
# ("101"), so the prefix is narrowed to: 0, or non-zero digits with at most one final 0.
_NON_NEGATIVE = alt(_c("0"), seq(plus(_digits(1, 9)), optional(_c("0"))))


# -- the table ---------------------------------------------------------------------------------

_BUILDERS: dict[str, Callable[[], Expr]] = {
    "date": lambda: _DATE,
    "time": lambda: _TIME,
    "date-time": lambda: seq(_DATE, _c("Tt"), _TIME),
    "duration": _duration,
    "email": _email,
    "hostname": lambda: _HOSTNAME,
    "ipv4": lambda: _IPV4,
    "ipv6": _ipv6,
    "uuid": lambda: seq(*_uuid_parts()),
    "uri": lambda: _uri(iri=False, reference=False),
    "uri-reference": lambda: _uri(iri=False, reference=True),
    "iri": lambda: _uri(iri=True, reference=False),
    "iri-reference": lambda: _uri(iri=True, reference=True),
    "json-pointer": lambda: _JSON_POINTER,
    "relative-json-pointer": lambda: seq(_NON_NEGATIVE, alt(_c("#"), _JSON_POINTER)),
}


def _uuid_parts() -> list[Expr]:
    out: list[Expr] = []
    for i, n in enumerate((8, 4, 4, 4, 12)):
        if i:
            out.append(_c("-"))
        out.append(repeat(_HEXDIG, n, n))
    return out


FORMATS: frozenset[str] = frozenset(_BUILDERS)
"""The ``format`` names :func:`format_expr` supports."""

MAX_LENGTH: Mapping[str, int] = MappingProxyType({"hostname": 253})
"""Length limits (in characters) that a format has but its expression does not enforce; a caller
that must be exact intersects the language with ``maxLength`` of this value."""

_cache: dict[tuple[str, bool], Expr] = {}


def format_expr(name: str, *, leap_seconds: bool = False) -> Expr:
    """The character-level expression of the strings valid for JSON Schema ``format`` ``name``.

    ``leap_seconds`` adds RFC 3339 leap seconds to ``time`` and ``date-time`` (valid per the RFC
    and the test suite, rejected by ``jsonschema``'s checker). Raises ``KeyError`` naming the
    supported formats for an unknown ``name``."""
    key = (name, leap_seconds and name in ("time", "date-time"))
    expr = _cache.get(key)
    if expr is not None:
        return expr
    builder = _BUILDERS.get(name)
    if builder is None:
        raise KeyError(f"unsupported format {name!r}; supported: {', '.join(sorted(FORMATS))}")
    expr = builder()
    if key[1]:
        time = alt(_TIME, _leap_second_times())
        expr = time if name == "time" else seq(_DATE, _c("Tt"), time)
    _cache[key] = expr
    return expr
