"""Sets of Unicode code points and their UTF-8 byte automata.

A character set is a tuple of disjoint, sorted, inclusive ``(lo, hi)`` code point ranges. Automata
work on bytes, so :func:`utf8_expr` turns a set into an IR expression matching exactly the UTF-8
encodings of its members (surrogates ``U+D800..U+DFFF`` have no UTF-8 encoding and are dropped),
splitting each range into byte-range sequences the way RE2 does.
"""

from __future__ import annotations

from collections.abc import Iterable

from .ir import EMPTY, Expr, alt, byte_range, seq

MAX_CODE_POINT = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)

CharSet = tuple[tuple[int, int], ...]


def normalize(ranges: Iterable[tuple[int, int]]) -> CharSet:
    """Sort and merge overlapping or adjacent ranges."""
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if lo > hi:
            continue
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def from_chars(chars: Iterable[str]) -> CharSet:
    """The set of the given single characters."""
    return normalize((ord(c), ord(c)) for c in chars)


def complement(ranges: CharSet) -> CharSet:
    """All code points not in ``ranges``."""
    out: list[tuple[int, int]] = []
    nxt = 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CODE_POINT:
        out.append((nxt, MAX_CODE_POINT))
    return tuple(out)


def union(*sets: CharSet) -> CharSet:
    return normalize(r for s in sets for r in s)


def difference(a: CharSet, b: CharSet) -> CharSet:
    return intersection(a, complement(b))


def intersection(a: CharSet, b: CharSet) -> CharSet:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def contains(ranges: CharSet, code_point: int) -> bool:
    return any(lo <= code_point <= hi for lo, hi in ranges)


# UTF-8 encoding boundaries: (max code point, number of bytes).
_LENGTH_LIMITS = ((0x7F, 1), (0x7FF, 2), (0xFFFF, 3), (MAX_CODE_POINT, 4))


def _split_by_length(lo: int, hi: int) -> Iterable[tuple[int, int]]:
    start = 0
    for limit, _ in _LENGTH_LIMITS:
        a, b = max(lo, start), min(hi, limit)
        if a <= b:
            yield a, b
        start = limit + 1


def _byte_sequences(lo: int, hi: int) -> Iterable[list[tuple[int, int]]]:
    """Byte-range sequences whose concatenations are exactly the UTF-8 encodings of lo..hi.

    ``lo`` and ``hi`` must encode to the same length. Splits until each byte position is a full
    range independent of the others.
    """
    lo_b = chr(lo).encode("utf-8", "surrogatepass")
    hi_b = chr(hi).encode("utf-8", "surrogatepass")
    n = len(lo_b)
    if n == 1:
        yield [(lo_b[0], hi_b[0])]
        return
    # Find the longest suffix where lo is all-minimum (0x80) and hi all-maximum (0xBF) continuation
    # bytes; the prefix before it must then be split.
    for i in range(n - 1, 0, -1):
        # Number of low-order bits carried by the last (n - i) bytes.
        bits = 6 * (n - i)
        mask = (1 << bits) - 1
        if lo & ~mask != hi & ~mask:
            # lo and hi differ above these bits: split so the tail is full.
            if lo & mask != 0:
                split = (lo | mask) + 1
                yield from _byte_sequences(lo, split - 1)
                yield from _byte_sequences(split, hi)
                return
            if hi & mask != mask:
                split = (hi & ~mask) - 1
                yield from _byte_sequences(lo, split)
                yield from _byte_sequences(split + 1, hi)
                return
    yield [(a, b) for a, b in zip(lo_b, hi_b, strict=True)]


def utf8_sequences(ranges: CharSet) -> list[list[tuple[int, int]]]:
    """All byte-range sequences for the UTF-8 encodings of ``ranges`` (surrogates removed)."""
    out: list[list[tuple[int, int]]] = []
    for lo, hi in difference(normalize(ranges), (SURROGATES,)):
        for a, b in _split_by_length(lo, hi):
            out.extend(_byte_sequences(a, b))
    return out


_utf8_cache: dict[CharSet, Expr] = {}


def utf8_expr(ranges: CharSet) -> Expr:
    """IR expression matching the UTF-8 encoding of any one code point in ``ranges``.

    Sequences sharing a leading byte range are factored into a prefix tree, which keeps the
    automata of large classes such as ``\\w`` small before minimisation.
    """
    key = normalize(ranges)
    cached = _utf8_cache.get(key)
    if cached is not None:
        return cached
    sequences = utf8_sequences(key)
    expr = _factor(sequences) if sequences else EMPTY
    if len(_utf8_cache) < 4096:
        _utf8_cache[key] = expr
    return expr


def _factor(sequences: list[list[tuple[int, int]]]) -> Expr:
    groups: dict[tuple[int, int], list[list[tuple[int, int]]]] = {}
    ends: list[tuple[int, int]] = []
    for s in sequences:
        if len(s) == 1:
            ends.append(s[0])
        else:
            groups.setdefault(s[0], []).append(s[1:])
    branches: list[Expr] = [byte_range(lo, hi) for lo, hi in ends]
    for (lo, hi), tails in groups.items():
        branches.append(seq(byte_range(lo, hi), _factor(tails)))
    return alt(*branches)
