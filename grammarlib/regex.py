"""Python regular expressions to grammar IR, with exactly the semantics of ``re.fullmatch``.

The language of a pattern is the UTF-8 encodings of all strings ``s`` with
``re.fullmatch(pattern, s)``. The pattern is parsed by CPython's own parser (``re._parser``), so the
syntax, escapes, verbose mode and flags are those of ``re``. Character classes become code point
sets; where ``re``'s meaning depends on Unicode tables (``\\w``, ``\\d``, ``\\s``, case-insensitive
matching) the sets are computed by running ``re`` itself over all code points once and caching the
result, so they agree with ``re`` exactly rather than approximately.

Lookaround assertions whose body is one character set (``(?<!\\)``, ``(?<=[a-z])``, ``(?=\\d)``,
``(?!x)``) are supported where the character they test is matched by the pattern itself: a
lookbehind needs a character of the pattern before it on every path, a lookahead one after it.
``(?<!C)`` means "the character just before this position is not in ``C``"; it is resolved
exactly by restricting the strings of the surrounding items (see :class:`_Resolver`). An assertion
that could look past either end of the match (``(?<!a)b``, ``a(?=b)``, ``a?(?<=a)b``) is refused,
because its meaning depends on the text around the match: ``re.fullmatch`` sees nothing there, a
terminal inside a grammar sees its neighbours.

Other constructs that a regular language cannot express with the same meaning (longer lookaround
bodies, backreferences, conditionals, word boundaries, atomic groups, possessive quantifiers,
anchors inside the pattern) raise :class:`~grammarlib.errors.GrammarError` naming the construct.
"""

from __future__ import annotations

import array
import functools
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any, Literal, NoReturn

from .charsets import (
    MAX_CODE_POINT,
    SURROGATES,
    CharSet,
    complement,
    difference,
    from_chars,
    intersection,
    normalize,
    union,
    utf8_expr,
)
from .errors import GrammarError, line_column
from .ir import EMPTY, EPSILON, Alt, Expr, Repeat, Seq, alt, literal, repeat, seq

__all__ = [
    "CharConverter",
    "CharLeaf",
    "LookaroundError",
    "char_leaf",
    "ecma_alternatives",
    "ecma_property",
    "ecma_to_python",
    "regex_to_expr",
]

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
    construct that has no exact regular equivalent (named in the message), such as a lookaround
    assertion that could test text outside the match.
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
        try:
            return _Converter(pattern, parsed.state).convert(parsed)
        except LookaroundError:
            return _Converter(pattern, parsed.state, lookaround=True).convert(parsed)
    except RecursionError as e:
        raise GrammarError(f"regex {shown} is nested too deeply") from e


def _show(pattern: str, limit: int = 60) -> str:
    """``pattern`` for an error message, shortened if long."""
    return repr(pattern) if len(pattern) <= limit else repr(pattern[: limit - 3]) + "..."


# -- the parse tree walk -------------------------------------------------------------------------


class LookaroundError(Exception):
    """Raised by a plain (or :class:`CharConverter`) conversion that meets a lookaround; a plain
    conversion starts again in lookaround mode."""


class _Converter:
    """Parse tree to IR. With ``lookaround``, character items become :class:`CharLeaf` leaves and
    assertions :class:`_Look` markers, which :class:`_Resolver` then turns into plain IR."""

    def __init__(self, pattern: str, state: Any, lookaround: bool = False):
        self.pattern = pattern
        self.flags: int = state.flags
        self.group_names: dict[int, str] = {gid: name for name, gid in state.groupdict.items()}
        self.seen: dict[str, int] = {}  # construct kind -> occurrences visited (for error columns)
        self.lookaround = lookaround

    def convert(self, parsed: Sequence[tuple[Any, Any]]) -> Expr:
        expr = self._seq(parsed, self.flags, True, True)
        if not self.lookaround:
            return expr
        for behind in (True, False):
            edge = _edge_looks(expr, behind, {})
            if edge:
                self._outside(edge[0])
        return _Resolver(self, expr).resolve(expr)

    def _chars(self, chars: CharSet) -> Expr:
        """One character of ``chars``."""
        return char_leaf(chars) if self.lookaround else utf8_expr(chars)

    def _outside(self, look: _Look) -> NoReturn:
        if look.behind:
            where, text = "start", "before the match"
        else:
            where, text = "end", "after the match"
        self._unsupported(
            f"{look.what} that can be at the {where} of the match",
            (look.needle,),
            look.index,
            why=f"it would test the character {text}, which re.fullmatch never has but a "
            "terminal inside a grammar does, so its meaning depends on the context",
        )

    def _lookaround(self, op: Any, av: Any, flags: int) -> Expr:
        direction, body = av
        behind, negative = direction < 0, op is C.ASSERT_NOT
        needle = ("(?<" if behind else "(?") + ("!" if negative else "=")
        kind = "lookbehind" if behind else "lookahead"
        what = f"{'negative ' if negative else ''}{kind} assertion {needle}...)"
        index = self._visit(what)
        if not self.lookaround:
            raise LookaroundError
        chars = _body_set(body, flags)
        if chars is None:  # an empty body always matches
            return EMPTY if negative else EPSILON
        if chars is False:
            self._unsupported(
                f"{what} whose body is not a single character or character class",
                (needle,),
                index,
            )
        allowed = complement(chars) if negative else chars
        return _Look(behind, difference(allowed, (SURROGATES,)), what, needle, index)

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
        plain = not self.lookaround and not flags & C.SRE_FLAG_IGNORECASE
        if op is C.LITERAL and plain and not SURROGATES[0] <= av <= SURROGATES[1]:
            return literal(chr(av))
        chars = _char_set(op, av, flags)
        if chars is not None:
            return self._chars(chars)
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
            return self._lookaround(op, av, flags)
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
        self, what: str, needles: tuple[str, ...], index: int | None = None, why: str = ""
    ) -> NoReturn:
        if index is None:
            index = self._visit(what)
        offset = _find_construct(self.pattern, needles, index, self.flags & C.SRE_FLAG_VERBOSE)
        line = column = None
        if offset is not None:
            line, column = line_column(self.pattern, offset)
        raise GrammarError(
            f"unsupported regex construct: {what} in {_show(self.pattern)}"
            + (f" ({why})" if why else ""),
            line=line,
            column=column,
        )


class CharConverter(_Converter):
    """The converter at the character level: every character is a :class:`CharLeaf` (no UTF-8
    lowering), so callers can lower characters their own way (JSON string escapes) or build
    character DFAs. A lookaround raises :class:`LookaroundError`."""

    def _chars(self, chars: CharSet) -> Expr:
        return char_leaf(chars)

    def _node(self, op: Any, av: Any, flags: int, at_start: bool, at_end: bool) -> Expr:
        if op is C.LITERAL and not flags & C.SRE_FLAG_IGNORECASE:
            return char_leaf(((av, av),))
        return super()._node(op, av, flags, at_start, at_end)

    def convert_sequence(
        self, items: Sequence[tuple[Any, Any]], flags: int, at_start: bool, at_end: bool
    ) -> Expr:
        """The parsed ``items`` in sequence (``at_start``/``at_end``: whether they begin or end
        the pattern, where anchors are allowed)."""
        return self._seq(items, flags, at_start, at_end)


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


def _char_set(op: Any, av: Any, flags: int) -> CharSet | None:
    """The code points a one-character item matches, or ``None`` if it is not one."""
    if op is C.LITERAL:
        return _literal_set(av, flags)
    if op is C.NOT_LITERAL:
        return complement(_literal_set(av, flags))
    if op is C.ANY:
        return _FULL if flags & C.SRE_FLAG_DOTALL else complement(((10, 10),))
    if op is C.IN:
        return _class_set(tuple(av), flags)
    return None


def _body_set(items: Sequence[tuple[Any, Any]], flags: int) -> CharSet | Literal[False] | None:
    """The code points a lookaround body matches if it is one character item (possibly in a
    group), ``None`` if it is empty, ``False`` otherwise."""
    items = list(items)
    if not items:
        return None
    if len(items) > 1:
        return False
    op, av = items[0]
    if op is C.SUBPATTERN:
        return _body_set(av[3], _combine_flags(flags, av[1], av[2]))
    chars = _char_set(op, av, flags)
    return False if chars is None else chars


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


# -- lookaround: character-level markers, resolved into plain IR -----------------------------------


@dataclass(frozen=True, slots=True)
class CharLeaf(Expr):
    """One character of ``chars`` (no surrogates, never empty): the leaf of character-level
    expressions (lookaround mode, :class:`CharConverter`, JSON strings, formats)."""

    chars: CharSet


@dataclass(frozen=True, slots=True)
class _Look(Expr):
    """A zero-width lookaround marker: the character just before (``behind``) or just after this
    position must be in ``allowed``. ``what``, ``needle`` and ``index`` are for error messages."""

    behind: bool
    allowed: CharSet
    what: str
    needle: str
    index: int


def char_leaf(chars: CharSet) -> Expr:
    """One character of ``chars`` as a :class:`CharLeaf` (surrogates dropped; ``EMPTY`` if none
    is left)."""
    chars = difference(chars, (SURROGATES,))
    return CharLeaf(chars) if chars else EMPTY


def _looks(expr: Expr) -> Iterator[_Look]:
    """The markers in ``expr``."""
    if isinstance(expr, _Look):
        yield expr
    elif isinstance(expr, (Seq, Alt)):
        for item in expr.items:
            yield from _looks(item)
    elif isinstance(expr, Repeat):
        yield from _looks(expr.item)


def _nullable(expr: Expr) -> bool:
    """Whether ``expr`` (lookaround mode) can match without consuming a character."""
    if isinstance(expr, CharLeaf):
        return False
    if isinstance(expr, _Look):
        return True
    if isinstance(expr, Seq):
        return all(_nullable(item) for item in expr.items)
    if isinstance(expr, Alt):
        return any(_nullable(item) for item in expr.items)
    if isinstance(expr, Repeat):
        return expr.min == 0 or _nullable(expr.item)
    raise AssertionError(f"unexpected expression {expr!r}")


def _edge_looks(expr: Expr, behind: bool, memo: dict[int, tuple[Expr, list[_Look]]]) -> list[_Look]:
    """The lookbehinds (``behind``) that some path reaches from the start of ``expr`` without
    consuming a character, or the lookaheads reached so from its end. These test a character
    outside ``expr``. ``memo`` caches results for one direction."""
    known = memo.get(id(expr))
    if known is not None:
        return known[1]
    out: list[_Look] = []
    if isinstance(expr, _Look):
        if expr.behind == behind:
            out.append(expr)
    elif isinstance(expr, Alt):
        for item in expr.items:
            out.extend(_edge_looks(item, behind, memo))
    elif isinstance(expr, Seq):
        for item in expr.items if behind else reversed(expr.items):
            out.extend(_edge_looks(item, behind, memo))
            if not _nullable(item):
                break
    elif isinstance(expr, Repeat):
        out.extend(_edge_looks(expr.item, behind, memo))
    memo[id(expr)] = (expr, out)
    return out


# A state of the resolver between two characters: (atom of the previous character, or _START before
# the first one; the set the next character must be in, from pending lookaheads, or None).
_State = tuple[int, "CharSet | None"]
_START = -1
_MAX_UNROLL = 32  # repetitions of a group whose lookarounds look out of it, unrolled at most
_MAX_STATES = 16  # states in the closure of such a group repeated without bound
_MAX_NODES = 20_000  # nodes of an intermediate expression, counted as a tree


class _Resolver:
    """Turns a lookaround-mode expression into plain IR with the same language.

    Conceptually the expression is intersected with a small automaton whose state is the class of
    the last character read (the *atoms*: the coarsest partition of the code points that every
    lookbehind set is a union of) and the set the next character must belong to (pending
    lookaheads). ``paths(e, p)`` maps each state ``q`` to the expression of the strings of ``e``
    that lead from ``p`` to ``q`` with every marker satisfied. Subexpressions without markers, or
    whose markers only test characters inside them, are not split structurally: their strings are
    restricted with :meth:`_starts` ("first character in A") and :meth:`_ends` ("last character in
    A") instead, so the result stays close to the pattern.
    """

    def __init__(self, converter: _Converter, expr: Expr):
        self.converter = converter
        atoms = [difference(_FULL, (SURROGATES,))]
        for chars in dict.fromkeys(look.allowed for look in _looks(expr) if look.behind):
            atoms = [
                part
                for atom in atoms
                for part in (intersection(atom, chars), difference(atom, chars))
                if part
            ]
        self.atoms = atoms
        # Where a string starts. With a single atom no lookbehind can fail inside the pattern, so
        # the start needs no state of its own.
        self.start: _State = (_START if len(atoms) > 1 else 0, None)
        # Caches keyed by id(); each value keeps its expression alive so ids are not reused.
        self.edges: dict[bool, dict[int, tuple[Expr, list[_Look]]]] = {True: {}, False: {}}
        self.memo: dict[tuple[str, int, Any], tuple[Expr, Any]] = {}

    def resolve(self, expr: Expr) -> Expr:
        """Plain IR for ``expr``, whose markers must not look out of it."""
        if self._has_looks(expr):
            expr = self._standalone(expr)
        return self._lower(expr)

    def _cached(self, kind: str, expr: Expr, arg: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, once per ``kind``, ``expr`` (by identity) and ``arg``."""
        key = (kind, id(expr), arg)
        hit = self.memo.get(key)
        if hit is None:
            hit = (expr, compute())
            self.memo[key] = hit
        return hit[1]

    def _has_looks(self, expr: Expr) -> bool:
        def compute() -> bool:
            if isinstance(expr, (Seq, Alt)):
                return any(map(self._has_looks, expr.items))
            if isinstance(expr, Repeat):
                return self._has_looks(expr.item)
            return isinstance(expr, _Look)

        return self._cached("has", expr, None, compute)

    def _is_open(self, expr: Expr) -> bool:
        """Whether a marker in ``expr`` tests a character outside it."""
        return bool(self._edge_looks(expr, True) or self._edge_looks(expr, False))

    def _edge_looks(self, expr: Expr, behind: bool) -> list[_Look]:
        return _edge_looks(expr, behind, self.edges[behind])

    def _standalone(self, expr: Expr) -> Expr:
        """The marker-free equivalent of ``expr``, whose markers only look inside it."""

        def compute() -> Expr:
            rows = self._structural(expr, self.start)
            return alt(*(x for (_, pending), x in rows.items() if pending is None))

        return self._cached("alone", expr, None, compute)

    def _paths(self, expr: Expr, p: _State) -> dict[_State, Expr]:
        def compute() -> dict[_State, Expr]:
            if not self._has_looks(expr):
                return self._plain(expr, p)
            if not self._is_open(expr):
                return self._plain(self._standalone(expr), p)
            return self._structural(expr, p)

        return self._cached("paths", expr, p, compute)

    def _plain(self, expr: Expr, p: _State) -> dict[_State, Expr]:
        """``paths`` of a marker-free expression: only the first and last characters matter."""
        if p[1] is None and len(self.atoms) == 1:
            return {p: expr}  # the state after a character is p again
        body = expr if p[1] is None else self._starts(expr, p[1])
        out: dict[_State, Expr] = {}
        for b, atom in enumerate(self.atoms):
            piece = self._ends(body, atom)
            if piece != EMPTY:
                out[(b, None)] = piece
        if _nullable(expr):  # the empty string leaves the state as it is
            out[p] = alt(out[p], EPSILON) if p in out else EPSILON
        return out

    def _structural(self, expr: Expr, p: _State) -> dict[_State, Expr]:
        """``paths`` following the structure of ``expr``."""
        if isinstance(expr, _Look):
            last, pending = p
            if expr.behind:
                # Never reached before the first character: refused by _Converter._outside.
                ok = last != _START and bool(intersection(self.atoms[last], expr.allowed))
                return {p: EPSILON} if ok else {}
            pending = expr.allowed if pending is None else intersection(pending, expr.allowed)
            return {(last, pending): EPSILON} if pending else {}
        if isinstance(expr, Alt):
            merged: dict[_State, list[Expr]] = {}
            for item in expr.items:
                for q, x in self._paths(item, p).items():
                    merged.setdefault(q, []).append(x)
            return self._bounded({q: alt(*xs) for q, xs in merged.items()})
        if isinstance(expr, Seq):
            rows: dict[_State, Expr] = {p: EPSILON}
            for item in expr.items:
                rows = self._then(rows, item)
            return rows
        if isinstance(expr, Repeat):
            return self._repeat(expr, p)
        raise AssertionError(f"unexpected expression {expr!r}")

    def _then(self, rows: dict[_State, Expr], expr: Expr) -> dict[_State, Expr]:
        """``rows`` (state -> strings reaching it) followed by ``expr``."""
        groups: dict[_State, dict[int, tuple[Expr, list[Expr]]]] = {}
        for r, x in rows.items():
            for q, y in self._paths(expr, r).items():
                groups.setdefault(q, {}).setdefault(id(y), (y, []))[1].append(x)
        return self._bounded(
            {q: alt(*(seq(alt(*xs), y) for y, xs in group.values())) for q, group in groups.items()}
        )

    def _repeat(self, expr: Repeat, p: _State) -> dict[_State, Expr]:
        """``paths`` of a repeated group whose markers look out of it: the markers of one
        repetition test the characters of its neighbours, so repetitions are unrolled (bounded
        counts) or closed over the states they connect (unbounded)."""
        item, lo, hi = expr.item, expr.min, expr.max
        if (lo if hi is None else hi) > _MAX_UNROLL:
            self._too_complex(item, f"repeated more than {_MAX_UNROLL} times")
        rows: dict[_State, Expr] = {p: EPSILON}
        for _ in range(lo):
            rows = self._then(rows, item)
        if hi is None:
            return self._then_star(rows, item)
        optional = self._cached("optional", item, None, lambda: alt(EPSILON, item))
        for _ in range(hi - lo):
            rows = self._then(rows, optional)
        return rows

    def _then_star(self, rows: dict[_State, Expr], item: Expr) -> dict[_State, Expr]:
        """``rows`` followed by ``item*``, by state elimination: a graph with the states that
        repetitions of ``item`` connect, a source entering them with ``rows`` and a sink per
        state; eliminating the states leaves the expression from the source to each sink."""
        states = list(rows)
        index = {s: i for i, s in enumerate(states)}
        for s in states:  # grows while iterating: the closure under one repetition
            for q in self._paths(item, s):
                if q not in index:
                    index[q] = len(states)
                    states.append(q)
            if len(states) > _MAX_STATES:
                self._too_complex(item, "repeated without bound")
        n = len(states)
        source = 2 * n  # nodes: states 0..n-1, the sink of state i is n + i
        succ: dict[int, dict[int, Expr]] = {i: {n + i: EPSILON} for i in range(n)}
        succ[source] = {index[r]: x for r, x in rows.items()}
        for i, s in enumerate(states):
            for q, y in self._paths(item, s).items():
                succ[i][index[q]] = y
        pred: dict[int, set[int]] = {i: set() for i in range(2 * n)}
        for i, out in succ.items():
            for j in out:
                pred[j].add(i)
        remaining = set(range(n))
        while remaining:
            # Eliminate first the state with the fewest paths through it, to keep things small.
            k = min(remaining, key=lambda k: (len(pred[k] - {k}) * len(succ[k].keys() - {k}), k))
            remaining.remove(k)
            loop = repeat(succ[k].pop(k, EMPTY), 0, None)
            pred[k].discard(k)
            for i in pred[k]:
                into = succ[i].pop(k)
                for j, out in succ[k].items():
                    path = seq(into, loop, out)
                    succ[i][j] = alt(succ[i][j], path) if j in succ[i] else path
                    pred[j].add(i)
                self._bounded(succ[i])
            for j in succ[k]:
                pred[j].discard(k)
            del succ[k]
        return {states[j - n]: x for j, x in succ[source].items() if x != EMPTY}

    def _bounded(self, rows: dict[Any, Expr]) -> dict[Any, Expr]:
        """``rows``, unless an expression has grown past ``_MAX_NODES`` (states multiply along
        sequences of assertions, and so can the expressions)."""
        for x in rows.values():
            if self._size(x) > _MAX_NODES:
                self.converter._unsupported(
                    f"lookaround assertions too entangled to resolve exactly (the expression "
                    f"would exceed {_MAX_NODES} nodes)",
                    (),
                )
        return rows

    def _size(self, expr: Expr) -> int:
        """Nodes of ``expr`` as a tree (shared subexpressions counted each time)."""

        def compute() -> int:
            if isinstance(expr, (Seq, Alt)):
                return 1 + sum(map(self._size, expr.items))
            if isinstance(expr, Repeat):
                return 1 + self._size(expr.item)
            return 1

        return self._cached("size", expr, None, compute)

    def _too_complex(self, item: Expr, how: str) -> NoReturn:
        looks = self._edge_looks(item, True) + self._edge_looks(item, False)
        look = looks[0]
        self.converter._unsupported(
            f"{look.what} at the edge of a group {how}",
            (look.needle,),
            look.index,
            why="the character it tests belongs to the neighbouring repetition",
        )

    def _ends(self, expr: Expr, chars: CharSet) -> Expr:
        """The strings of marker-free ``expr`` whose last character is in ``chars``."""
        return self._cached("ends", expr, chars, lambda: self._edge(expr, chars, False))

    def _starts(self, expr: Expr, chars: CharSet) -> Expr:
        """The strings of marker-free ``expr`` whose first character is in ``chars``."""
        return self._cached("starts", expr, chars, lambda: self._edge(expr, chars, True))

    def _edge(self, expr: Expr, chars: CharSet, first: bool) -> Expr:
        restrict = self._starts if first else self._ends
        if isinstance(expr, CharLeaf):
            return char_leaf(intersection(expr.chars, chars))
        if isinstance(expr, Alt):
            return alt(*(restrict(item, chars) for item in expr.items))
        if isinstance(expr, Seq):
            # The restricted item is the first (last) one that consumes a character.
            items, parts = expr.items, []
            order = range(len(items)) if first else reversed(range(len(items)))
            for k in order:
                if first:
                    parts.append(seq(restrict(items[k], chars), *items[k + 1 :]))
                else:
                    parts.append(seq(*items[:k], restrict(items[k], chars)))
                if not _nullable(items[k]):
                    break
            return alt(*parts)
        if isinstance(expr, Repeat):
            # x{lo,hi} minus "" = one restricted x and x{lo-1,hi-1} on its other side: the
            # other repetitions may be empty only if x is nullable, and then x^k ⊆ x^(k+1).
            hi = None if expr.max is None else expr.max - 1
            rest = repeat(expr.item, max(expr.min - 1, 0), hi)
            edge = restrict(expr.item, chars)
            return seq(edge, rest) if first else seq(rest, edge)
        raise AssertionError(f"unexpected expression {expr!r}")

    def _lower(self, expr: Expr) -> Expr:
        """Plain byte-level IR for a marker-free expression."""

        def compute() -> Expr:
            if isinstance(expr, CharLeaf):
                return utf8_expr(expr.chars)
            if isinstance(expr, Seq):
                return seq(*map(self._lower, expr.items))
            if isinstance(expr, Alt):
                return alt(*map(self._lower, expr.items))
            if isinstance(expr, Repeat):
                return repeat(self._lower(expr.item), expr.min, expr.max)
            raise AssertionError(f"unexpected expression {expr!r}")

        return self._cached("lower", expr, None, compute)


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
    return _runs(re.finditer(regex, _all_chars(), flags))


def _runs(matches: Iterator[Any]) -> CharSet:
    """The code points of match runs over :func:`_all_chars` (whose offsets skip surrogates)."""
    ranges: list[tuple[int, int]] = []
    for m in matches:
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


# -- ECMA-262 patterns (JSON Schema ``pattern``) ---------------------------------------------------
#
# JSON Schema patterns are ECMA-262 regular expressions with Unicode semantics (the ``u`` flag:
# the JSON-Schema-Test-Suite's ``\p{Letter}`` tests). :func:`ecma_to_python` rewrites one into a
# Python pattern with the same language: every character item (literal, escape, class, ``.``,
# ``\d``, ``\s``, ``\p{...}``) becomes an explicit code point class, so ``re``'s own (different)
# Unicode tables and escapes never come into play; groups, alternation, quantifiers and anchors
# have the same syntax and meaning in both and are copied. Property escapes take their code points
# from the ``regex`` package's Unicode tables (computed on first use and memoised), so that every
# property (categories, scripts, binary properties) comes from one Unicode version, a recent one as
# in JavaScript engines (``unicodedata`` follows the Python release and lags behind).

_ECMA_LINE_TERMINATORS: CharSet = ((0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029))
_ECMA_WHITE_SPACE: CharSet = normalize(
    [
        (0x09, 0x0D),
        (0x20, 0x20),
        (0xA0, 0xA0),
        (0x1680, 0x1680),
        (0x2000, 0x200A),
        (0x2028, 0x2029),
        (0x202F, 0x202F),
        (0x205F, 0x205F),
        (0x3000, 0x3000),
        (0xFEFF, 0xFEFF),
    ]
)
"""``\\s``: ECMA-262's WhiteSpace (TAB, VT, FF, ZWNBSP and the Space_Separator category) and
LineTerminator (LF, CR, U+2028, U+2029)."""
_ECMA_DIGITS: CharSet = ((0x30, 0x39),)
_ECMA_WORD: CharSet = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_ECMA_DOT: CharSet = complement(_ECMA_LINE_TERMINATORS)
_ECMA_CLASS_ESCAPES: dict[str, CharSet] = {
    "d": _ECMA_DIGITS,
    "D": complement(_ECMA_DIGITS),
    "s": _ECMA_WHITE_SPACE,
    "S": complement(_ECMA_WHITE_SPACE),
    "w": _ECMA_WORD,
    "W": complement(_ECMA_WORD),
}
_ECMA_CONTROL_ESCAPES = {"f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_ECMA_SYNTAX_CHARACTERS = frozenset("^$\\.*+?()[]{}|/")
_ECMA_QUANTIFIER = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_ECMA_BAD_QUANTIFIER = re.compile(r"\{,[0-9]+\}")  # re reads {,n} as {0,n}, ECMA-262 does not
_ECMA_GROUP_NAME = re.compile(r"<([^\W\d]|\$)(\w|\$|\u200c|\u200d)*>")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")

# General_Category values (ECMA-262 table "Value aliases and canonical values for
# General_Category", from Unicode's PropertyValueAliases.txt): canonical name, aliases, and for a
# group the categories it unites.
_GC_VALUES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Cased_Letter", ("LC",), ("Ll", "Lt", "Lu")),
    ("Close_Punctuation", ("Pe",), ()),
    ("Connector_Punctuation", ("Pc",), ()),
    ("Control", ("Cc", "cntrl"), ()),
    ("Currency_Symbol", ("Sc",), ()),
    ("Dash_Punctuation", ("Pd",), ()),
    ("Decimal_Number", ("Nd", "digit"), ()),
    ("Enclosing_Mark", ("Me",), ()),
    ("Final_Punctuation", ("Pf",), ()),
    ("Format", ("Cf",), ()),
    ("Initial_Punctuation", ("Pi",), ()),
    ("Letter", ("L",), ("Ll", "Lm", "Lo", "Lt", "Lu")),
    ("Letter_Number", ("Nl",), ()),
    ("Line_Separator", ("Zl",), ()),
    ("Lowercase_Letter", ("Ll",), ()),
    ("Mark", ("M", "Combining_Mark"), ("Mc", "Me", "Mn")),
    ("Math_Symbol", ("Sm",), ()),
    ("Modifier_Letter", ("Lm",), ()),
    ("Modifier_Symbol", ("Sk",), ()),
    ("Nonspacing_Mark", ("Mn",), ()),
    ("Number", ("N",), ("Nd", "Nl", "No")),
    ("Open_Punctuation", ("Ps",), ()),
    ("Other", ("C",), ("Cc", "Cf", "Cn", "Co", "Cs")),
    ("Other_Letter", ("Lo",), ()),
    ("Other_Number", ("No",), ()),
    ("Other_Punctuation", ("Po",), ()),
    ("Other_Symbol", ("So",), ()),
    ("Paragraph_Separator", ("Zp",), ()),
    ("Private_Use", ("Co",), ()),
    ("Punctuation", ("P", "punct"), ("Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps")),
    ("Separator", ("Z",), ("Zl", "Zp", "Zs")),
    ("Space_Separator", ("Zs",), ()),
    ("Spacing_Mark", ("Mc",), ()),
    ("Surrogate", ("Cs",), ()),
    ("Symbol", ("S",), ("Sc", "Sk", "Sm", "So")),
    ("Titlecase_Letter", ("Lt",), ()),
    ("Unassigned", ("Cn",), ()),
    ("Uppercase_Letter", ("Lu",), ()),
)
_GC_NAMES: dict[str, tuple[str, ...]] = {}
"""Every General_Category value name and alias -> the two-letter categories it means."""
for _name, _aliases, _parts in _GC_VALUES:
    _GC_NAMES[_name] = _parts or (_aliases[0],)
    for _alias in _aliases:
        _GC_NAMES[_alias] = _parts or (_aliases[0],)

# Binary properties (ECMA-262 table "Binary Unicode property aliases"): canonical name and alias.
_BINARY_PROPERTIES: dict[str, str] = {}
_BINARY_PROPERTY_TABLE = """
    ASCII Any Assigned ASCII_Hex_Digit=AHex Alphabetic=Alpha Bidi_Control=Bidi_C
    Bidi_Mirrored=Bidi_M Case_Ignorable=CI Cased Changes_When_Casefolded=CWCF
    Changes_When_Casemapped=CWCM Changes_When_Lowercased=CWL Changes_When_NFKC_Casefolded=CWKCF
    Changes_When_Titlecased=CWT Changes_When_Uppercased=CWU Dash Default_Ignorable_Code_Point=DI
    Deprecated=Dep Diacritic=Dia Emoji Emoji_Component=EComp Emoji_Modifier=EMod
    Emoji_Modifier_Base=EBase Emoji_Presentation=EPres Extended_Pictographic=ExtPict
    Extender=Ext Grapheme_Base=Gr_Base Grapheme_Extend=Gr_Ext Hex_Digit=Hex
    IDS_Binary_Operator=IDSB IDS_Trinary_Operator=IDST ID_Continue=IDC ID_Start=IDS
    Ideographic=Ideo Join_Control=Join_C Logical_Order_Exception=LOE Lowercase=Lower Math
    Noncharacter_Code_Point=NChar Pattern_Syntax=Pat_Syn Pattern_White_Space=Pat_WS
    Quotation_Mark=QMark Radical Regional_Indicator=RI Sentence_Terminal=STerm Soft_Dotted=SD
    Terminal_Punctuation=Term Unified_Ideograph=UIdeo Uppercase=Upper Variation_Selector=VS
    White_Space=space XID_Continue=XIDC XID_Start=XIDS"""
for _line in _BINARY_PROPERTY_TABLE.split():
    _canonical, _, _short = _line.partition("=")
    _BINARY_PROPERTIES[_canonical] = _canonical
    if _short:
        _BINARY_PROPERTIES[_short] = _canonical

# Script values (PropertyValueAliases.txt, as ECMA-262 lists them for Script and
# Script_Extensions): "short=Long_Name" (and extra aliases after a further "=").
_SCRIPT_NAMES: dict[str, str] = {}
"""Every Script value name and alias -> its canonical (long) name."""
_SCRIPT_TABLE = """
    Adlm=Adlam Aghb=Caucasian_Albanian Ahom=Ahom Arab=Arabic Armi=Imperial_Aramaic
    Armn=Armenian Avst=Avestan Bali=Balinese Bamu=Bamum Bass=Bassa_Vah Batk=Batak Beng=Bengali
    Berf=Beria_Erfe Bhks=Bhaiksuki Bopo=Bopomofo Brah=Brahmi Brai=Braille Bugi=Buginese
    Buhd=Buhid Cakm=Chakma Cans=Canadian_Aboriginal Cari=Carian Cham=Cham Cher=Cherokee
    Chrs=Chorasmian Copt=Coptic=Qaac Cpmn=Cypro_Minoan Cprt=Cypriot Cyrl=Cyrillic Deva=Devanagari
    Diak=Dives_Akuru Dogr=Dogra Dsrt=Deseret Dupl=Duployan Egyp=Egyptian_Hieroglyphs Elba=Elbasan
    Elym=Elymaic Ethi=Ethiopic Gara=Garay Geor=Georgian Glag=Glagolitic Gong=Gunjala_Gondi
    Gonm=Masaram_Gondi Goth=Gothic Gran=Grantha Grek=Greek Gujr=Gujarati Gukh=Gurung_Khema
    Guru=Gurmukhi Hang=Hangul Hani=Han Hano=Hanunoo Hatr=Hatran Hebr=Hebrew Hira=Hiragana
    Hluw=Anatolian_Hieroglyphs Hmng=Pahawh_Hmong Hmnp=Nyiakeng_Puachue_Hmong
    Hrkt=Katakana_Or_Hiragana Hung=Old_Hungarian Ital=Old_Italic Java=Javanese Kali=Kayah_Li
    Kana=Katakana Kawi=Kawi Khar=Kharoshthi Khmr=Khmer Khoj=Khojki Kits=Khitan_Small_Script
    Knda=Kannada Krai=Kirat_Rai Kthi=Kaithi Lana=Tai_Tham Laoo=Lao Latn=Latin Lepc=Lepcha
    Limb=Limbu Lina=Linear_A Linb=Linear_B Lisu=Lisu Lyci=Lycian Lydi=Lydian Mahj=Mahajani
    Maka=Makasar Mand=Mandaic Mani=Manichaean Marc=Marchen Medf=Medefaidrin Mend=Mende_Kikakui
    Merc=Meroitic_Cursive Mero=Meroitic_Hieroglyphs Mlym=Malayalam Modi=Modi Mong=Mongolian
    Mroo=Mro Mtei=Meetei_Mayek Mult=Multani Mymr=Myanmar Nagm=Nag_Mundari Nand=Nandinagari
    Narb=Old_North_Arabian Nbat=Nabataean Newa=Newa Nkoo=Nko Nshu=Nushu Ogam=Ogham Olck=Ol_Chiki
    Onao=Ol_Onal Orkh=Old_Turkic Orya=Oriya Osge=Osage Osma=Osmanya Ougr=Old_Uyghur
    Palm=Palmyrene Pauc=Pau_Cin_Hau Perm=Old_Permic Phag=Phags_Pa Phli=Inscriptional_Pahlavi
    Phlp=Psalter_Pahlavi Phnx=Phoenician Plrd=Miao Prti=Inscriptional_Parthian Rjng=Rejang
    Rohg=Hanifi_Rohingya Runr=Runic Samr=Samaritan Sarb=Old_South_Arabian Saur=Saurashtra
    Sgnw=SignWriting Shaw=Shavian Shrd=Sharada Sidd=Siddham Sidt=Sidetic Sind=Khudawadi
    Sinh=Sinhala Sogd=Sogdian Sogo=Old_Sogdian Sora=Sora_Sompeng Soyo=Soyombo Sund=Sundanese
    Sunu=Sunuwar Sylo=Syloti_Nagri Syrc=Syriac Tagb=Tagbanwa Takr=Takri Tale=Tai_Le
    Talu=New_Tai_Lue Taml=Tamil Tang=Tangut Tavt=Tai_Viet Tayo=Tai_Yo Telu=Telugu Tfng=Tifinagh
    Tglg=Tagalog Thaa=Thaana Thai=Thai Tibt=Tibetan Tirh=Tirhuta Tnsa=Tangsa Todr=Todhri
    Tols=Tolong_Siki Toto=Toto Tutg=Tulu_Tigalari Ugar=Ugaritic Vaii=Vai Vith=Vithkuqi
    Wara=Warang_Citi Wcho=Wancho Xpeo=Old_Persian Xsux=Cuneiform Yezi=Yezidi Yiii=Yi
    Zanb=Zanabazar_Square Zinh=Inherited=Qaai Zyyy=Common Zzzz=Unknown"""
for _line in _SCRIPT_TABLE.split():
    _short, _canonical, *_more = _line.split("=")
    for _alias in (_short, _canonical, *_more):
        _SCRIPT_NAMES[_alias] = _canonical
_PROPERTY_NAMES = {
    "General_Category": "gc",
    "gc": "gc",
    "Script": "sc",
    "sc": "sc",
    "Script_Extensions": "scx",
    "scx": "scx",
}
del _name, _aliases, _parts, _alias, _line, _canonical, _short, _more


@functools.lru_cache(maxsize=1024)
def ecma_to_python(pattern: str) -> str:
    """A Python ``re`` pattern with the same language as the ECMA-262 pattern ``pattern`` read
    with the ``u`` flag (Unicode semantics, as JSON Schema reads patterns).

    What ECMA-262 and ``re`` read differently is rewritten: ``.`` excludes only line terminators
    (``\\n``, ``\\r``, U+2028, U+2029); ``\\s`` is ECMA's WhiteSpace and LineTerminator set,
    ``\\d`` and ``\\w`` are ASCII; ``\\p{...}``/``\\P{...}`` are Unicode property escapes
    (General_Category values, binary properties, ``Script=``/``Script_Extensions=``);
    ``\\cX``, ``\\0``, ``\\xHH``, ``\\uHHHH`` (surrogate pairs combine), ``\\u{H...}``, ``[\\b]``
    (backspace), ``[]`` (matches nothing) and ``[^]`` (anything). ``(?<name>...)`` is a group.
    Like Annex B (web-compatibility) ECMA-262, a ``{`` or ``}`` that is not a quantifier and an
    escaped ASCII punctuation character stand for themselves.

    Raises :class:`GrammarError` for a syntax error and for what has no meaning in ECMA-262 with
    the ``u`` flag (``\\a``, ``\\Z``, ``\\A``, unknown property names, inline flags such as
    ``(?i)``, and ``{,n}``, which ``re`` would read as ``{0,n}``), naming the construct;
    backreferences (``\\1``, ``\\k<name>``) are refused as unsupported.
    """
    return "|".join(ecma_alternatives(pattern))


@functools.lru_cache(maxsize=1024)
def ecma_alternatives(pattern: str) -> tuple[str, ...]:
    """:func:`ecma_to_python` of each top-level alternative of ``pattern`` (split at the ``|``
    outside groups and classes), so that each can be parsed on its own: ``re``'s parser factors
    common prefixes out of alternatives (``^01$|^07$`` becomes ``^0(?:1$|7$)``), which would hide
    where each one's anchors are."""
    translator = _EcmaTranslator(pattern)
    translator.translate()
    out, pieces, last = translator.out, [], 0
    for k in translator.splits:
        pieces.append("".join(out[last:k]))
        last = k + 1
    pieces.append("".join(out[last:]))
    return tuple(pieces)


class _EcmaTranslator:
    """One left-to-right pass over an ECMA-262 pattern, writing the ``re`` text as it goes."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        self.i = 0
        self.out: list[str] = []
        self.depth = 0  # open groups
        self.splits: list[int] = []  # indices in ``out`` of the top-level "|"

    def translate(self) -> None:
        p, n = self.pattern, len(self.pattern)
        while self.i < n:
            start, c = self.i, p[self.i]
            if c == "\\":
                self.i += 1
                item = self._escape(start, in_class=False)
                self.out.append(item if isinstance(item, str) else _python_class(item))
            elif c == "[":
                self.out.append(_python_class(self._class(start)))
            elif c == ".":
                self.i += 1
                self.out.append(_python_class(_ECMA_DOT))
            elif c == "(":
                self._group(start)
            elif c in ")|*+?^$":
                self.i += 1
                if c == ")":
                    self.depth -= 1
                elif c == "|" and self.depth == 0:
                    self.splits.append(len(self.out))
                self.out.append(c)
            elif c == "{":
                if m := _ECMA_QUANTIFIER.match(p, start):
                    self.i = m.end()
                    self.out.append(m.group())
                elif m := _ECMA_BAD_QUANTIFIER.match(p, start):
                    self._fail(
                        f"{m.group()} is not a quantifier in ECMA-262 (write {{0,n}})", start
                    )
                else:  # a literal brace (Annex B); the u flag would make it a syntax error
                    self.i += 1
                    self.out.append("\\{")
            else:
                self.out.append(_python_class(_single(self._code_point())))

    def _fail(self, what: str, at: int) -> NoReturn:
        line, column = line_column(self.pattern, at)
        raise GrammarError(
            f"invalid ECMA-262 pattern {_show(self.pattern)}: {what}", line=line, column=column
        )

    def _unsupported(self, what: str, at: int) -> NoReturn:
        line, column = line_column(self.pattern, at)
        raise GrammarError(
            f"unsupported regex construct: {what} in {_show(self.pattern)}",
            line=line,
            column=column,
        )

    def _code_point(self) -> int:
        """The literal character at ``self.i`` (a UTF-16 surrogate pair is one code point)."""
        p, i = self.pattern, self.i
        cp = ord(p[i])
        self.i = i + 1
        if 0xD800 <= cp <= 0xDBFF and i + 1 < len(p) and 0xDC00 <= ord(p[i + 1]) <= 0xDFFF:
            self.i = i + 2
            return 0x10000 + ((cp - 0xD800) << 10) + (ord(p[i + 1]) - 0xDC00)
        return cp

    def _group(self, start: int) -> None:
        p = self.pattern
        self.depth += 1
        for opener in ("(?:", "(?=", "(?!", "(?<=", "(?<!"):
            if p.startswith(opener, start):
                self.i = start + len(opener)
                self.out.append(opener)
                return
        if p.startswith("(?<", start):
            m = _ECMA_GROUP_NAME.match(p, start + 2)
            if not m:
                self._fail("invalid group name", start)
            self.i = m.end()
            self.out.append("(")  # names only matter to backreferences, which are refused
            return
        if p.startswith("(?", start):
            self._unsupported(
                f"group syntax {p[start : start + 3]!r} (ECMA-262 has no inline flags "
                "or other group extensions)",
                start,
            )
        self.i = start + 1
        self.out.append("(")

    def _escape(self, start: int, in_class: bool) -> str | CharSet:
        """The escape ``pattern[start:]`` (``self.i`` just after the backslash): a code point set,
        or Python text for ``\\b``/``\\B`` outside classes."""
        p = self.pattern
        if self.i >= len(p):
            self._fail("\\ at end of pattern", start)
        c = p[self.i]
        self.i += 1
        if c in _ECMA_CLASS_ESCAPES:
            return _ECMA_CLASS_ESCAPES[c]
        if c in "pP":
            chars = self._property(start)
            return complement(chars) if c == "P" else chars
        if c in _ECMA_CONTROL_ESCAPES:
            return _single(_ECMA_CONTROL_ESCAPES[c])
        if c == "b":
            return _single(0x08) if in_class else "\\b"
        if c == "B" and not in_class:
            return "\\B"
        if c == "-" and in_class:
            return _single(0x2D)
        if c == "c":
            if self.i < len(p) and p[self.i].isascii() and p[self.i].isalpha():
                self.i += 1
                return _single(ord(p[self.i - 1]) % 32)
            self._fail("\\c must be followed by a letter A-Z or a-z", start)
        if c == "0":
            if self.i < len(p) and p[self.i].isdigit():
                self._fail("octal escapes are not allowed with Unicode semantics", start)
            return _single(0)
        if c in "123456789":
            if in_class:
                self._fail(f"\\{c} in a character class", start)
            self._unsupported(f"backreference \\{c}", start)
        if c == "k":
            self._unsupported("backreference \\k<...>", start)
        if c == "x":
            digits = p[self.i : self.i + 2]
            if len(digits) < 2 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                self._fail("\\x must be followed by two hex digits", start)
            self.i += 2
            return _single(int(digits, 16))
        if c == "u":
            return _single(self._unicode_escape(start))
        if c in _ECMA_SYNTAX_CHARACTERS or (c.isascii() and not c.isalnum()):
            # A syntax character, '/' (both standard), or other ASCII punctuation (Annex B reads
            # it as itself; with the u flag it is a syntax error, but it can mean nothing else).
            self.i -= 1
            return _single(self._code_point())
        self._fail(f"unknown escape \\{c}", start)

    def _unicode_escape(self, start: int) -> int:
        p = self.pattern
        if p.startswith("{", self.i):
            end = p.find("}", self.i)
            digits = p[self.i + 1 : end] if end > 0 else ""
            if not digits or not all(d in "0123456789abcdefABCDEF" for d in digits):
                self._fail("\\u{...} must hold hex digits", start)
            cp = int(digits, 16)
            if cp > MAX_CODE_POINT:
                self._fail("\\u{...} beyond U+10FFFF", start)
            self.i = end + 1
            return cp
        if not _HEX4.match(p, self.i):
            self._fail("\\u must be followed by four hex digits or {...}", start)
        cp = int(p[self.i : self.i + 4], 16)
        self.i += 4
        if 0xD800 <= cp <= 0xDBFF and p.startswith("\\u", self.i) and _HEX4.match(p, self.i + 2):
            low = int(p[self.i + 2 : self.i + 6], 16)
            if 0xDC00 <= low <= 0xDFFF:  # an escaped surrogate pair is one code point
                self.i += 6
                return 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
        return cp

    def _property(self, start: int) -> CharSet:
        """``\\p{...}``'s set (``self.i`` just after the ``p``)."""
        p = self.pattern
        end = p.find("}", self.i)
        if not p.startswith("{", self.i) or end < 0:
            self._fail(f"{p[start : start + 2]} must be followed by {{property}}", start)
        body = p[self.i + 1 : end]
        self.i = end + 1
        try:
            return ecma_property(body)
        except KeyError as e:
            self._fail(f"unknown Unicode property {p[start : end + 1]} ({e.args[0]})", start)
        except NotImplementedError as e:
            self._unsupported(f"Unicode property {p[start : end + 1]} ({e.args[0]})", start)

    def _class(self, start: int) -> CharSet:
        """The set of the class at ``pattern[start] == "["``."""
        p, n = self.pattern, len(self.pattern)
        self.i = start + 1
        negate = p.startswith("^", self.i)
        if negate:
            self.i += 1
        parts: list[CharSet] = []
        while True:
            if self.i >= n:
                self._fail("unterminated character class", start)
            if p[self.i] == "]":
                self.i += 1
                break
            at = self.i
            lo = self._class_atom()
            if p.startswith("-", self.i) and self.i + 1 < n and p[self.i + 1] != "]":
                self.i += 1
                at_hi = self.i
                hi = self._class_atom()
                if len(lo) != 1 or lo[0][0] != lo[0][1] or len(hi) != 1 or hi[0][0] != hi[0][1]:
                    self._fail("a class escape cannot bound a range", at)
                if lo[0][0] > hi[0][0]:
                    self._fail(f"range out of order {p[at : self.i]!r}", at_hi)
                parts.append(((lo[0][0], hi[0][0]),))
            else:
                parts.append(lo)
        chars = union(*parts)
        return complement(chars) if negate else chars

    def _class_atom(self) -> CharSet:
        if self.pattern[self.i] == "\\":
            start = self.i
            self.i += 1
            item = self._escape(start, in_class=True)
            assert not isinstance(item, str)
            return item
        return _single(self._code_point())


def _single(code_point: int) -> CharSet:
    return ((code_point, code_point),)


def _python_class(chars: CharSet) -> str:
    """Python ``re`` text matching one code point of ``chars``."""
    if not chars:
        return "[^\\x00-\\U0010ffff]"
    if len(chars) == 1 and chars[0][0] == chars[0][1]:
        c = chr(chars[0][0])
        return c if c.isascii() and c.isalnum() else f"\\U{chars[0][0]:08x}"
    return (
        "["
        + "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in chars)
        + "]"
    )


def ecma_property(body: str) -> CharSet:
    """The code points of the ECMA-262 property escape ``\\p{body}``: ``Name=Value`` for
    General_Category (``gc``), Script (``sc``) and Script_Extensions (``scx``), or a lone
    General_Category value or binary property. Names are case-sensitive, as in ECMA-262.
    Raises ``KeyError`` with the reason for an unknown name, ``NotImplementedError`` for a
    property without a table here."""
    name, eq, value = body.partition("=")
    if eq:
        kind = _PROPERTY_NAMES.get(name)
        if kind is None:
            raise KeyError(f"unknown property name {name!r}" + _did_you_mean(name))
        if kind == "gc":
            if value not in _GC_NAMES:
                raise KeyError(f"unknown General_Category value {value!r}" + _did_you_mean(value))
            return _general_category(_GC_NAMES[value])
        if value not in _SCRIPT_NAMES:
            raise KeyError(f"unknown Script value {value!r}" + _did_you_mean(value))
        return _script(kind, _SCRIPT_NAMES[value])
    if body in _GC_NAMES:
        return _general_category(_GC_NAMES[body])
    if body in _BINARY_PROPERTIES:
        return _binary_property(_BINARY_PROPERTIES[body])
    raise KeyError(
        f"not a General_Category value or binary property: {body!r}" + _did_you_mean(body)
    )


def _did_you_mean(name: str) -> str:
    """A hint for a property name that differs from a known one only in case or underscores."""
    key = name.replace("_", "").lower()
    for known in (*_GC_NAMES, *_BINARY_PROPERTIES, *_SCRIPT_NAMES, *_PROPERTY_NAMES):
        if known.replace("_", "").lower() == key:
            return f"; names are case-sensitive: did you mean {known!r}?"
    return ""


@functools.cache
def _general_category(categories: tuple[str, ...]) -> CharSet:
    """The code points of the union of two-letter General_Category values."""
    return union(*map(_one_category, categories))


@functools.cache
def _one_category(category: str) -> CharSet:
    if category == "Cs":  # not in _all_chars, which leaves the surrogates out
        return (SURROGATES,)
    return _regex_scan(f"\\p{{gc={category}}}+")


@functools.cache
def _binary_property(name: str) -> CharSet:
    if name == "Any":
        return _FULL
    if name == "ASCII":
        return ((0, 0x7F),)
    if name == "Assigned":
        return complement(_general_category(("Cn",)))
    return _regex_scan(f"\\p{{{name}}}+")


@functools.cache
def _script(kind: str, name: str) -> CharSet:
    return _regex_scan(f"\\p{{{kind}={name}}}+")


def _regex_scan(pattern: str) -> CharSet:
    """The code points a run pattern of the ``regex`` package covers (surrogates excluded)."""
    try:
        import regex as regex_package
    except ImportError as e:  # a core dependency; only a broken install lacks it
        raise NotImplementedError("the regex package is not installed") from e
    try:
        compiled = regex_package.compile(pattern)
    except regex_package.error as e:
        raise NotImplementedError(
            f"the installed regex package ({regex_package.__version__}) does not know it"
        ) from e
    return _runs(compiled.finditer(_all_chars()))
