"""Python regular expressions to grammar IR, with exactly the semantics of ``re.fullmatch``.

The language of a pattern is the UTF-8 encodings of all strings ``s`` with
``re.fullmatch(pattern, s)``. The pattern is parsed by CPython's own parser (``re._parser``), so the
syntax, escapes, verbose mode and flags are those of ``re``. Character classes become code point
sets; where ``re``'s meaning depends on Unicode tables (``\\w``, ``\\d``, ``\\s``, case-insensitive
matching) the sets are computed by running ``re`` itself over all code points once and caching the
result, so they agree with ``re`` exactly rather than approximately.

Constructs that a regular language cannot express with the same meaning (lookaround, backreferences,
conditionals, word boundaries, atomic groups, possessive quantifiers, anchors inside the pattern)
raise :class:`~grammarlib.errors.GrammarError` naming the construct.
"""

from __future__ import annotations

import array
import functools
import re
import sys
from collections.abc import Sequence
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any, NoReturn

from .charsets import (
    MAX_CODE_POINT,
    SURROGATES,
    CharSet,
    complement,
    from_chars,
    normalize,
    union,
    utf8_expr,
)
from .errors import GrammarError, line_column
from .ir import EPSILON, Expr, alt, literal, repeat, seq

__all__ = ["regex_to_expr"]

_TYPE_FLAGS = C.SRE_FLAG_ASCII | C.SRE_FLAG_LOCALE | C.SRE_FLAG_UNICODE
_BEGIN_ANCHORS = {C.AT_BEGINNING, C.AT_BEGINNING_STRING, C.AT_BEGINNING_LINE}
_END_ANCHORS = {C.AT_END, C.AT_END_STRING, C.AT_END_LINE}
_ANCHOR_TEXT = {
    C.AT_BEGINNING: ("^", ("^",)),
    C.AT_BEGINNING_LINE: ("^", ("^",)),
    C.AT_BEGINNING_STRING: ("\\A", ("\\A",)),
    C.AT_END: ("$", ("$",)),
    C.AT_END_LINE: ("$", ("$",)),
    C.AT_END_STRING: ("\\Z", ("\\Z",)),
}
_CATEGORY_ESCAPES = {
    C.CATEGORY_DIGIT: "\\d",
    C.CATEGORY_NOT_DIGIT: "\\D",
    C.CATEGORY_SPACE: "\\s",
    C.CATEGORY_NOT_SPACE: "\\S",
    C.CATEGORY_WORD: "\\w",
    C.CATEGORY_NOT_WORD: "\\W",
}
_NEGATED_CATEGORY = {
    C.CATEGORY_NOT_DIGIT: C.CATEGORY_DIGIT,
    C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE,
    C.CATEGORY_NOT_WORD: C.CATEGORY_WORD,
}
_FULL: CharSet = ((0, MAX_CODE_POINT),)


def regex_to_expr(pattern: str) -> Expr:
    """The IR for the strings ``s`` (as UTF-8 bytes) such that ``re.fullmatch(pattern, s)``.

    Raises :class:`GrammarError` for an invalid pattern (with ``re``'s message and the column) or a
    construct that has no exact regular equivalent (named in the message).
    """
    if not isinstance(pattern, str):
        raise TypeError(f"regex pattern must be str, not {type(pattern).__name__}")
    shown = _show(pattern)
    try:
        parsed = _parser.parse(pattern)
    except re.error as e:
        line = e.lineno if e.pos is not None else None
        column = e.colno if e.pos is not None else None
        raise GrammarError(f"invalid regex {shown}: {e.msg}", line=line, column=column) from e
    except (ValueError, OverflowError) as e:  # bad flag combinations, huge repeat counts
        raise GrammarError(f"invalid regex {shown}: {e}") from e
    except RecursionError as e:
        raise GrammarError(f"regex {shown} is nested too deeply") from e
    try:
        return _Converter(pattern, parsed.state).convert(parsed)
    except RecursionError as e:
        raise GrammarError(f"regex {shown} is nested too deeply") from e


def _show(pattern: str, limit: int = 60) -> str:
    """``pattern`` for an error message, shortened if long."""
    return repr(pattern) if len(pattern) <= limit else repr(pattern[: limit - 3]) + "..."


# -- the parse tree walk -------------------------------------------------------------------------


class _Converter:
    def __init__(self, pattern: str, state: Any):
        self.pattern = pattern
        self.flags: int = state.flags
        self.group_names: dict[int, str] = {gid: name for name, gid in state.groupdict.items()}
        self.seen: dict[str, int] = {}  # construct kind -> occurrences visited (for error columns)

    def convert(self, parsed: Sequence[tuple[Any, Any]]) -> Expr:
        return self._seq(parsed, self.flags, True, True)

    def _seq(
        self, items: Sequence[tuple[Any, Any]], flags: int, at_start: bool, at_end: bool
    ) -> Expr:
        items = list(items)
        zero = [_anchors_only(op, av) for op, av in items]
        out: list[Expr] = []
        for i, (op, av) in enumerate(items):
            first = at_start and all(zero[:i])
            last = at_end and all(zero[i + 1 :])
            out.append(self._node(op, av, flags, first, last))
        return seq(*out)

    def _node(self, op: Any, av: Any, flags: int, at_start: bool, at_end: bool) -> Expr:
        if flags & C.SRE_FLAG_LOCALE:
            self._unsupported("LOCALE flag", ("(?L",))
        if op is C.LITERAL:
            if not flags & C.SRE_FLAG_IGNORECASE and not SURROGATES[0] <= av <= SURROGATES[1]:
                return literal(chr(av))
            return utf8_expr(_literal_set(av, flags))
        if op is C.NOT_LITERAL:
            return utf8_expr(complement(_literal_set(av, flags)))
        if op is C.ANY:
            return utf8_expr(_FULL if flags & C.SRE_FLAG_DOTALL else complement(((10, 10),)))
        if op is C.IN:
            return utf8_expr(_class_set(tuple(av), flags))
        if op is C.BRANCH:
            return alt(*(self._seq(branch, flags, at_start, at_end) for branch in av[1]))
        if op is C.SUBPATTERN:
            _group, add_flags, del_flags, body = av
            return self._seq(body, _combine_flags(flags, add_flags, del_flags), at_start, at_end)
        if op is C.MAX_REPEAT or op is C.MIN_REPEAT:
            lo, hi, body = av
            single = hi <= 1
            inner = self._seq(body, flags, at_start and single, at_end and single)
            return repeat(inner, lo, None if hi == C.MAXREPEAT else hi)
        if op is C.AT:
            return self._anchor(av, at_start, at_end)
        if op is C.GROUPREF:
            name = self.group_names.get(av)
            named = f"(?P={name})"
            text = named if name and named in self.pattern else f"\\{av}"
            self._unsupported(f"backreference {text}", (text,))
        if op is C.GROUPREF_EXISTS:
            self._unsupported("conditional group (?(...)...|...)", ("(?(",))
        if op is C.ASSERT or op is C.ASSERT_NOT:
            direction, _body = av
            kind = ("lookahead", "(?=", "(?!") if direction > 0 else ("lookbehind", "(?<=", "(?<!")
            if op is C.ASSERT:
                words, text = kind[0], kind[1]
            else:
                words, text = f"negative {kind[0]}", kind[2]
            self._unsupported(f"{words} assertion {text}...)", (text,))
        if op is C.ATOMIC_GROUP:
            self._unsupported("atomic group (?>...)", ("(?>",))
        if op is C.POSSESSIVE_REPEAT:
            self._unsupported(
                "possessive quantifier (*+, ++, ?+ or {m,n}+)", ("*+", "++", "?+", "}+")
            )
        self._unsupported(str(op).lower(), ())

    def _anchor(self, code: Any, at_start: bool, at_end: bool) -> Expr:
        if code in _BEGIN_ANCHORS or code in _END_ANCHORS:
            text, needles = _ANCHOR_TEXT[code]
            index = self._visit(text)
            if (code in _BEGIN_ANCHORS and at_start) or (code in _END_ANCHORS and at_end):
                return EPSILON  # fullmatch: the match starts and ends at the ends of the string
            where = "start" if code in _BEGIN_ANCHORS else "end"
            self._unsupported(
                f"anchor {text} that is not at the {where} of the pattern", needles, index
            )
        if code in (C.AT_BOUNDARY, C.AT_UNI_BOUNDARY, C.AT_LOC_BOUNDARY):
            self._unsupported("word boundary \\b", ("\\b",))
        if code in (C.AT_NON_BOUNDARY, C.AT_UNI_NON_BOUNDARY, C.AT_LOC_NON_BOUNDARY):
            self._unsupported("non-word-boundary \\B", ("\\B",))
        self._unsupported(f"anchor {str(code).lower()}", ())

    def _visit(self, kind: str) -> int:
        index = self.seen.get(kind, 0)
        self.seen[kind] = index + 1
        return index

    def _unsupported(
        self, what: str, needles: tuple[str, ...], index: int | None = None
    ) -> NoReturn:
        if index is None:
            index = self._visit(what)
        offset = _find_construct(self.pattern, needles, index, self.flags & C.SRE_FLAG_VERBOSE)
        line = column = None
        if offset is not None:
            line, column = line_column(self.pattern, offset)
        raise GrammarError(
            f"unsupported regex construct: {what} in {_show(self.pattern)}",
            line=line,
            column=column,
        )


def _anchors_only(op: Any, av: Any) -> bool:
    """Whether an item can only match the empty string at a fixed place (so it is transparent
    when deciding whether a neighbouring anchor is at the start or end of the pattern)."""
    if op is C.AT:
        return av in _BEGIN_ANCHORS or av in _END_ANCHORS
    if op is C.SUBPATTERN:
        return all(_anchors_only(o, a) for o, a in av[3])
    if op is C.BRANCH:
        return all(all(_anchors_only(o, a) for o, a in branch) for branch in av[1])
    return False


def _combine_flags(flags: int, add_flags: int, del_flags: int) -> int:
    """Flags inside ``(?add-del:...)``, as ``re._compiler._combine_flags`` computes them."""
    if add_flags & _TYPE_FLAGS:
        flags &= ~_TYPE_FLAGS
    return (flags | add_flags) & ~del_flags


def _find_construct(pattern: str, needles: tuple[str, ...], index: int, verbose: int) -> int | None:
    """Best-effort offset of the ``index``-th occurrence of any of ``needles`` in ``pattern``,
    outside character classes, escapes (unless the needle is one) and comments."""
    if not needles:
        return None
    found: list[int] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if any(pattern.startswith(needle, i) for needle in needles):
            found.append(i)
            if len(found) > index:
                return found[index]
        if c == "\\":
            i += 2
        elif c == "[":
            i = _skip_class(pattern, i)
        elif pattern.startswith("(?#", i):
            end = pattern.find(")", i)
            i = n if end < 0 else end + 1
        elif verbose and c == "#":
            end = pattern.find("\n", i)
            i = n if end < 0 else end + 1
        else:
            i += 1
    return found[-1] if found else None


def _skip_class(pattern: str, i: int) -> int:
    """The offset just after the character class starting at ``pattern[i] == "["``."""
    i += 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


# -- character sets, computed with re itself where Unicode tables matter --------------------------


def _flag_bits(flags: int) -> int:
    """The ``re`` flags that change what a single character item matches."""
    return flags & (C.SRE_FLAG_IGNORECASE | C.SRE_FLAG_ASCII)


def _literal_set(code_point: int, flags: int) -> CharSet:
    if not flags & C.SRE_FLAG_IGNORECASE:
        return ((code_point, code_point),)
    return _case_variants(code_point, bool(flags & C.SRE_FLAG_ASCII))


@functools.lru_cache(maxsize=4096)
def _case_variants(code_point: int, ascii_only: bool) -> CharSet:
    """The characters ``c`` with ``re.fullmatch(re.escape(chr(code_point)), c, re.I)``."""
    x = chr(code_point)
    flags = re.IGNORECASE | (re.ASCII if ascii_only else 0)
    matcher = re.compile(re.escape(x), flags)
    candidates = _case_candidates(x)
    return from_chars(c for c in candidates if matcher.fullmatch(c))


def _case_candidates(x: str) -> set[str]:
    """A superset of the characters ``re`` may treat as case-insensitively equal to ``x``: its
    connected component in the graph linking each cased character with the characters of its
    lower, upper, title and case-folded forms."""
    graph = _case_graph()
    component = {x}
    todo = [x]
    while todo:
        for y in graph.get(todo.pop(), ()):
            if y not in component:
                component.add(y)
                todo.append(y)
    return component


@functools.cache
def _case_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    text = _all_chars()
    for start in range(0, len(text), 256):
        block = text[start : start + 256]
        if block.lower() == block and block.upper() == block:
            continue  # no cased characters here (checked in C, fast)
        for c in block:
            related = set(c.lower() + c.upper() + c.title() + c.casefold())
            related.discard(c)
            for y in related:
                graph.setdefault(c, set()).add(y)
                graph.setdefault(y, set()).add(c)
    return graph


def _class_set(items: tuple[tuple[Any, Any], ...], flags: int) -> CharSet:
    """The code points a class ``[...]`` (parse tree ``IN`` items) matches under ``flags``."""
    flags = _flag_bits(flags)
    if flags & C.SRE_FLAG_IGNORECASE:
        return _scan_class(items, flags)
    negate = False
    parts: list[CharSet] = []
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            parts.append(((av, av),))
        elif op is C.RANGE:
            parts.append(((av[0], av[1]),))
        elif op is C.CATEGORY:
            parts.append(_category_set(av, bool(flags & C.SRE_FLAG_ASCII)))
        else:
            raise GrammarError(f"unsupported item in regex character class: {op}")
    result = union(*parts)
    return complement(result) if negate else result


@functools.lru_cache(maxsize=1024)
def _scan_class(items: tuple[tuple[Any, Any], ...], flags: int) -> CharSet:
    """Exact set of a class under IGNORECASE: rebuild its text and let ``re`` scan all code points
    (``re``'s case-insensitive ranges and categories are too subtle to emulate safely)."""
    negate = any(op is C.NEGATE for op, _ in items)
    plain = [(op, av) for op, av in items if op is not C.NEGATE]
    body: list[str] = []
    for op, av in plain:
        if op is C.LITERAL:
            body.append(f"\\U{av:08x}")
        elif op is C.RANGE:
            body.append(f"\\U{av[0]:08x}-\\U{av[1]:08x}")
        elif op is C.CATEGORY and av in _CATEGORY_ESCAPES:
            body.append(_CATEGORY_ESCAPES[av])
        else:
            raise GrammarError(f"unsupported item in regex character class: {op} {av}")
    text = "[" + ("^" if negate else "") + "".join(body) + "]"
    return _scan("(?:" + text + ")+", flags)


@functools.cache
def _category_set(category: Any, ascii_only: bool) -> CharSet:
    """The code points of ``\\d``, ``\\w``, ``\\s`` or their negations, as ``re`` defines them."""
    if category in _NEGATED_CATEGORY:
        return complement(_category_set(_NEGATED_CATEGORY[category], ascii_only))
    escape = _CATEGORY_ESCAPES.get(category)
    if escape is None:
        raise GrammarError(f"unsupported regex character category {category}")
    if ascii_only:  # ASCII categories are subsets of ASCII
        return from_chars(c for c in map(chr, range(128)) if re.fullmatch(escape, c, re.ASCII))
    return _scan(escape + "+", 0)


def _scan(regex: str, flags: int) -> CharSet:
    """The code points (surrogates excluded) that ``regex`` (a run pattern like ``X+``) covers."""
    ranges: list[tuple[int, int]] = []
    for m in re.finditer(regex, _all_chars(), flags):
        lo, hi = m.start(), m.end() - 1
        if lo < 0xD800 <= hi:  # the run crosses the gap where the surrogates were left out
            ranges.append((lo, 0xD7FF))
            lo = 0xD800
        if lo >= 0xD800:
            lo += 0x800
        if hi >= 0xD800:
            hi += 0x800
        ranges.append((lo, hi))
    return normalize(ranges)


@functools.cache
def _all_chars() -> str:
    """Every code point except the surrogates, in order (about 1.1 million characters)."""
    codes = array.array("I", range(0xD800))
    codes.extend(range(0xE000, MAX_CODE_POINT + 1))
    return codes.tobytes().decode("utf-32-le" if sys.byteorder == "little" else "utf-32-be")
