"""Independent references for grammar property tests: lark, ``re`` and hypothesis only.

Nothing here imports grammarlib. Three parts:

* :class:`LarkReference`: a Lark grammar loaded with lark itself; it decides membership with lark's
  Earley parser (``lexer="dynamic_complete"``, the documented reference semantics) and generates
  valid strings by random derivation over lark's compiled BNF rules, sampling every terminal with
  ``st.from_regex`` and sprinkling ``%ignore`` material between tokens.
* :func:`mutations` / :func:`byte_mutations`: small edits of a valid string, mostly invalid.
* ``check_*``: property checks of a byte-level matcher (anything with ``accept_bytes``,
  ``can_terminate``, ``rollback``, ``copy``, ``reset``, ``forced_bytes``) against a reference
  membership predicate over bytes. They are duck-typed so the reference stays engine-free.
"""

from __future__ import annotations

import functools
import itertools
import os
import random
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hypothesis import event, note
from hypothesis import strategies as st
from lark import Lark
from lark.exceptions import UnexpectedInput
from lark.grammar import NonTerminal, Terminal
from lark.lexer import PatternStr

Draw = Callable[[st.SearchStrategy[Any]], Any]
Accepts = Callable[[bytes], bool]

#: Characters mutations like to insert: structure, escapes, whitespace, multi-byte UTF-8 and
#: characters with surprising case folds (``(?i)[a-z]`` matches U+017F and U+212A in ``re``).
EXTRA_CHARS = " \t\n\r\"'\\,;:.()[]{}<>=+-*/!&|#_0159aeuxzAEZé\u017f\u212aα中😀\x00\x7f"

_UNLIMITED = 10**9


CORPUS = Path(__file__).parent / "corpus"


def corpus_patterns() -> list[str]:
    """The regexes of ``corpus/regexes.txt``: one a line; blank lines and ``#`` comments skipped."""
    text = (CORPUS / "regexes.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def scaled(max_examples: int) -> int:
    """``max_examples`` times ``$CORPUS_SCALE`` (default 1): set it for a deeper search."""
    return max_examples * max(1, int(os.environ.get("CORPUS_SCALE", "1")))


# -- lark --------------------------------------------------------------------------------------


def lark_parser(text: str, start: str = "start") -> Lark:
    """Lark's Earley parser with the dynamic complete lexer; returns a forest (cheap, no trees)."""
    return Lark(text, parser="earley", lexer="dynamic_complete", start=start, ambiguity="forest")


def lark_accepts(parser: Lark, s: str | bytes) -> bool:
    """Whether ``parser`` accepts ``s`` (bytes must be valid UTF-8)."""
    if isinstance(s, bytes | bytearray):
        try:
            s = bytes(s).decode("utf-8")
        except UnicodeDecodeError:
            return False
    try:
        parser.parse(s)
    except UnexpectedInput:
        return False
    return True


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@functools.cache
def regex_strings(pattern: str) -> st.SearchStrategy[str]:
    """Strings ``s`` with ``re.fullmatch(pattern, s)`` that encode as UTF-8."""
    return st.from_regex(pattern, fullmatch=True).filter(_encodable)


Symbol = tuple[bool, str]  # (is_terminal, name)


@dataclass(frozen=True, eq=False)
class LarkReference:
    """A Lark grammar as lark compiles it: BNF rules, terminal regexes, ignored terminals."""

    parser: Lark
    start: str
    rules: Mapping[str, tuple[tuple[Symbol, ...], ...]]
    terminals: Mapping[str, str]
    ignore: tuple[str, ...]
    min_height: Mapping[str, int]
    literal_chars: str
    _heights: dict[tuple[Symbol, ...], int] = field(repr=False)

    @classmethod
    def from_text(cls, text: str, start: str = "start") -> LarkReference:
        parser = lark_parser(text, start)
        rules: dict[str, list[tuple[Symbol, ...]]] = {}
        for rule in parser.rules:
            expansion = []
            for sym in rule.expansion:
                assert isinstance(sym, Terminal | NonTerminal), sym
                expansion.append((sym.is_term, sym.name))
            rules.setdefault(rule.origin.name, []).append(tuple(expansion))
        terminals = {t.name: t.pattern.to_regexp() for t in parser.terminals}
        literal_chars = "".join(
            sorted(
                {
                    c
                    for t in parser.terminals
                    if isinstance(t.pattern, PatternStr)
                    for c in t.pattern.value
                }
            )
        )
        heights = _min_heights(rules)
        if heights.get(start, _UNLIMITED) >= _UNLIMITED:
            raise ValueError(f"start rule {start!r} derives no string")
        exp_heights: dict[tuple[Symbol, ...], int] = {}
        ordered: dict[str, tuple[tuple[Symbol, ...], ...]] = {}
        for name, exps in rules.items():
            for exp in exps:
                exp_heights[exp] = _expansion_height(exp, heights)
            productive = [e for e in exps if exp_heights[e] < _UNLIMITED]
            # Simplest first, so hypothesis shrinks towards short derivations.
            ordered[name] = tuple(sorted(productive, key=lambda e: (exp_heights[e], len(e))))
        return cls(
            parser=parser,
            start=start,
            rules=ordered,
            terminals=terminals,
            ignore=tuple(parser.ignore_tokens),
            min_height=heights,
            literal_chars=literal_chars,
            _heights=exp_heights,
        )

    def accepts(self, s: str | bytes) -> bool:
        """Membership according to lark."""
        return lark_accepts(self.parser, s)

    def alphabet(self, sample: str = "") -> str:
        """Characters worth inserting in mutations of ``sample``."""
        return "".join(sorted(set(sample) | set(self.literal_chars) | set(EXTRA_CHARS)))

    def strings(
        self, *, extra_depth: int = 6, max_nodes: int = 80, ignore: bool = True
    ) -> st.SearchStrategy[str]:
        """Valid strings: random derivations at most ``min_height(start) + extra_depth`` deep.

        Past ``max_nodes`` expanded rules every rule takes a shortest-height expansion, so strings
        stay small. With ``ignore``, ``%ignore`` material may be put before, between and after
        tokens.
        """
        return _derive(self, extra_depth, max_nodes, ignore and bool(self.ignore))


def _expansion_height(exp: tuple[Symbol, ...], heights: Mapping[str, int]) -> int:
    return 1 + max((heights.get(n, _UNLIMITED) for t, n in exp if not t), default=0)


def _min_heights(rules: Mapping[str, Sequence[tuple[Symbol, ...]]]) -> dict[str, int]:
    """Least derivation-tree height of every rule (``_UNLIMITED``: derives nothing)."""
    heights = dict.fromkeys(rules, _UNLIMITED)
    changed = True
    while changed:
        changed = False
        for name, exps in rules.items():
            best = min(_expansion_height(e, heights) for e in exps)
            if best < heights[name]:
                heights[name] = best
                changed = True
    return heights


@st.composite
def _derive(draw: Draw, ref: LarkReference, extra_depth: int, max_nodes: int, ignore: bool) -> str:
    depth = ref.min_height[ref.start] + draw(st.integers(0, extra_depth))
    tokens: list[str] = []
    nodes = [0]

    def expand(name: str, depth: int) -> None:
        options = [e for e in ref.rules[name] if ref._heights[e] <= depth]
        if nodes[0] >= max_nodes:
            lowest = ref._heights[options[0]]
            options = [e for e in options if ref._heights[e] == lowest]
        nodes[0] += 1
        exp = options[0] if len(options) == 1 else draw(st.sampled_from(options))
        for is_term, sym in exp:
            if is_term:
                tokens.append(draw(regex_strings(ref.terminals[sym])))
            else:
                expand(sym, depth - 1)

    expand(ref.start, depth)
    if not ignore:
        return "".join(tokens)
    out: list[str] = []
    for i in range(len(tokens) + 1):
        for _ in range(draw(st.sampled_from((0, 0, 0, 1, 2)))):
            out.append(draw(regex_strings(ref.terminals[draw(st.sampled_from(ref.ignore))])))
        if i < len(tokens):
            out.append(tokens[i])
    return "".join(out)


# -- regexes -----------------------------------------------------------------------------------


def regex_accepts(pattern: str) -> Accepts:
    """Membership in ``re.fullmatch(pattern, .)`` for UTF-8 bytes."""
    compiled = re.compile(pattern)

    def accepts(data: bytes) -> bool:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return compiled.fullmatch(text) is not None

    return accepts


# -- mutations ---------------------------------------------------------------------------------

_OPS = ("replace", "insert", "delete", "swap", "truncate", "duplicate")


def _mutate(draw: Draw, seq: Any, units: Sequence[Any]) -> Any:
    """Apply 1-3 random edits to ``seq`` (a str or bytes); ``units`` are insertable pieces."""
    for _ in range(draw(st.integers(1, 3))):
        n = len(seq)
        op = draw(st.sampled_from(_OPS))
        if op == "insert" or n == 0:
            i = draw(st.integers(0, n))
            seq = seq[:i] + draw(st.sampled_from(units)) + seq[i:]
        elif op == "replace":
            i = draw(st.integers(0, n - 1))
            seq = seq[:i] + draw(st.sampled_from(units)) + seq[i + 1 :]
        elif op == "delete":
            i = draw(st.integers(0, n - 1))
            j = draw(st.integers(i + 1, min(n, i + 3)))
            seq = seq[:i] + seq[j:]
        elif op == "truncate":
            seq = seq[: draw(st.integers(0, n - 1))]
        elif op == "duplicate":
            i = draw(st.integers(0, n - 1))
            j = draw(st.integers(i + 1, min(n, i + 8)))
            seq = seq[:j] + seq[i:j] + seq[j:]
        else:  # swap two adjacent chunks
            i, j, k = sorted(draw(st.lists(st.integers(0, n), min_size=3, max_size=3)))
            seq = seq[:i] + seq[j:k] + seq[i:j] + seq[k:]
    return seq


def mutations(valid: str, alphabet: str = EXTRA_CHARS) -> st.SearchStrategy[str]:
    """Character-level edits of ``valid``: replace/insert/delete chars, swap or duplicate chunks,
    truncate."""
    units = sorted(set(valid) | set(alphabet))
    return st.composite(lambda draw: _mutate(draw, valid, units))()


def byte_mutations(
    valid: bytes, alphabet: bytes = EXTRA_CHARS.encode()
) -> st.SearchStrategy[bytes]:
    """Byte-level edits of ``valid`` (may break UTF-8 sequences)."""
    units = [bytes([b]) for b in sorted(set(valid) | set(alphabet) | {0x80, 0xBF, 0xC3, 0xFF})]
    return st.composite(lambda draw: _mutate(draw, valid, units))()


# -- matcher checks ----------------------------------------------------------------------------


class Matcher(Protocol):
    def accept_bytes(self, data: bytes) -> bool: ...
    def can_terminate(self) -> bool: ...
    def rollback(self, n: int) -> None: ...
    def reset(self) -> None: ...
    def copy(self) -> Matcher: ...
    def forced_bytes(self) -> bytes: ...


def feed(matcher: Matcher, data: bytes) -> int:
    """Feed ``data`` one byte at a time; return how many bytes were accepted."""
    for i in range(len(data)):
        if not matcher.accept_bytes(data[i : i + 1]):
            return i
    return len(data)


def complete(matcher: Matcher, data: bytes) -> bool:
    """Whether a fresh ``matcher`` accepts all of ``data`` and can terminate after it."""
    return matcher.accept_bytes(data) and matcher.can_terminate()


def find_completion(
    matcher: Matcher,
    hints: Sequence[bytes],
    units: Sequence[bytes],
    rng: random.Random,
    *,
    max_nodes: int = 3000,
    walks: int = 6,
    max_steps: int = 80,
) -> bytes | None:
    """Some ``c`` with which ``matcher`` accepts ``c`` and can then terminate, or None.

    Tries ``hints`` first; then, where the matcher exposes ``next_bytes()`` and a hashable
    ``state``, a breadth-first search for a shortest completion; else random walks over ``units``.
    """
    for hint in hints:
        c = matcher.copy()
        if c.accept_bytes(hint) and c.can_terminate():
            return hint
    if hasattr(matcher, "next_bytes") and hasattr(matcher, "state"):
        return _bfs_completion(matcher, max_nodes)
    for _ in range(walks):
        c = matcher.copy()
        out = bytearray()
        for _ in range(max_steps):
            if c.can_terminate():
                return bytes(out)
            forced = c.forced_bytes()
            if forced:
                assert c.accept_bytes(forced), "forced bytes refused"
                out += forced
                continue
            for unit in rng.sample(list(units), len(units)):
                if c.accept_bytes(unit):
                    out += unit
                    break
            else:
                break
    return None


def _bfs_completion(matcher: Any, max_nodes: int) -> bytes | None:
    seen = {matcher.state}
    queue: deque[tuple[Any, bytes]] = deque([(matcher, b"")])
    while queue and len(seen) < max_nodes:
        m, path = queue.popleft()
        if m.can_terminate():
            return path
        for b in sorted(m.next_bytes()):
            c = m.copy()
            assert c.accept_bytes(bytes([b])), f"next_bytes() offered {b:#x}, accept_bytes refused"
            if c.state not in seen:
                seen.add(c.state)
                queue.append((c, path + bytes([b])))
    return None


def check_valid(
    new_matcher: Callable[[], Matcher], accepts: Accepts, data: bytes, draw: Draw
) -> None:
    """A valid string: accepted whole, every byte prefix viable, forced bytes consistent,
    ``can_terminate`` at the end, and ``can_terminate`` on some prefixes agrees with the reference.
    """
    m = new_matcher()
    assert m.accept_bytes(data), "valid string refused as a whole"
    assert m.can_terminate(), "valid string accepted but can_terminate() is False"
    m = new_matcher()
    terminable: list[int] = []
    for k in range(len(data)):
        forced = m.forced_bytes()
        assert data[k:].startswith(forced), (
            f"forced_bytes {forced!r} after {data[:k]!r}, but the valid string goes on with "
            f"{data[k:]!r}"
        )
        if m.can_terminate():
            terminable.append(k)
        assert m.accept_bytes(data[k : k + 1]), (
            f"byte {k} ({data[k : k + 1]!r}) of a valid string refused after {data[:k]!r}"
        )
    assert m.can_terminate()
    assert m.forced_bytes() == b"", "forced bytes after a complete string"
    # can_terminate() on prefixes versus the reference (a few of each kind).
    prefixes = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=4))))
    for k in prefixes:
        assert (k in terminable or k == len(data)) == accepts(data[:k]), (
            f"can_terminate() after {data[:k]!r} is {k in terminable}, the reference says "
            f"{accepts(data[:k])}"
        )
        # Forced bytes are maximal: after them there is a choice (stop, or two bytes).
        m = new_matcher()
        assert m.accept_bytes(data[:k])
        forced = m.forced_bytes()
        assert m.accept_bytes(forced), f"forced bytes {forced!r} after {data[:k]!r} refused"
        if not m.can_terminate():
            nexts = [b for b in range(256) if m.copy().accept_bytes(bytes([b]))]
            assert len(nexts) >= 2, (
                f"after {data[:k]!r} + forced {forced!r} only {bytes(nexts)!r} can follow: "
                "forced_bytes stopped early"
            )


def check_drawn_mutant(
    data: Any, new_matcher: Callable[[], Matcher], ref: LarkReference, valid: str
) -> None:
    """Draw a character- or byte-level mutant of ``valid`` and :func:`check_mutant` it."""
    original = valid.encode()
    if data.draw(st.booleans(), label="char-level"):
        mutant = data.draw(mutations(valid, ref.alphabet(valid)), label="mutant").encode()
    else:
        mutant = data.draw(byte_mutations(original), label="mutant")
    units = [c.encode() for c in ref.alphabet(valid)]
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    check_mutant(new_matcher, ref.accepts, original, mutant, units, rng)


def check_mutant(
    new_matcher: Callable[[], Matcher],
    accepts: Accepts,
    original: bytes,
    mutant: bytes,
    units: Sequence[bytes],
    rng: random.Random,
) -> None:
    """A (usually invalid) edit of a valid string.

    Whole string: accepted-and-terminable iff the reference accepts. Prefixes: where the matcher
    refuses byte ``k``, the reference rejects every completion we can think of for
    ``mutant[:k+1]``; the longest accepted prefix has a completion the reference accepts.
    """
    expected = accepts(mutant)
    event("reference accepts the mutant" if expected else "reference rejects the mutant")
    got = complete(new_matcher(), mutant)
    assert got == expected, (
        f"matcher says {got}, reference says {expected} for {mutant!r} (edited from {original!r})"
    )
    m = new_matcher()
    k = feed(m, mutant)
    note(f"matcher accepts {k} of {len(mutant)} bytes: {mutant[:k]!r}")
    event("matcher refuses a byte" if k < len(mutant) else "matcher accepts every byte")
    if k < len(mutant):
        # Refused byte k: the state is unchanged and no completion of mutant[:k+1] is valid.
        before = (m.can_terminate(), m.forced_bytes())
        assert not m.accept_bytes(mutant[k:]), "refused a byte, then accepted it in a longer call"
        assert (m.can_terminate(), m.forced_bytes()) == before, "a refused accept changed state"
        dead = mutant[: k + 1]
        near = range(max(0, k - 4), min(len(original), k + 6) + 1)
        for j in [*near, len(original)]:
            candidate = dead + original[j:]
            assert not accepts(candidate), (
                f"matcher refused byte {k} of {mutant!r}, but the reference accepts the "
                f"completion {candidate!r}"
            )
        if original.startswith(mutant[:k]):
            c = m.copy()
            assert complete(c, original[k:]), "the state after a refusal lost the valid path"
    # The longest accepted prefix must be viable for the reference too.
    prefix = mutant[:k]
    hints = [mutant[k:], *(original[j:] for j in range(len(original) + 1))]
    completion = find_completion(m, hints, units, rng)
    if completion is None:
        event("no completion found for the accepted prefix")
        return
    forced = m.forced_bytes()
    assert completion.startswith(forced), (
        f"forced_bytes {forced!r} after {prefix!r}, but {completion!r} completes it"
    )
    assert accepts(prefix + completion), (
        f"matcher accepts {prefix + completion!r} (prefix {prefix!r} of {mutant!r} + completion), "
        "the reference rejects it"
    )


def check_pieces(new_matcher: Callable[[], Matcher], data: bytes, draw: Draw) -> None:
    """Feed ``data`` in random pieces; rollbacks and re-accepts, a diverging copy, and a reset give
    the same answers as a straight run."""
    n = len(data)
    cuts = sorted(set(draw(st.lists(st.integers(0, n), max_size=8))) | {0, n})
    pieces = [data[a:b] for a, b in itertools.pairwise(cuts)]

    straight = new_matcher()
    results = []
    for p in pieces:
        results.append(
            (straight.accept_bytes(p), straight.can_terminate(), straight.forced_bytes())
        )

    m = new_matcher()
    history: list[bytes] = []  # pieces of successful accepts, in order
    fork_at = draw(st.integers(0, len(pieces)))
    for i, p in enumerate(pieces):
        if i == fork_at:
            _check_fork(new_matcher, m, history, data, draw)
        ok = m.accept_bytes(p)
        assert (ok, m.can_terminate(), m.forced_bytes()) == results[i], (
            f"piece {i} {p!r}: got {(ok, m.can_terminate(), m.forced_bytes())}, straight run "
            f"gave {results[i]}"
        )
        if ok:
            history.append(p)
        if history and draw(st.booleans()):
            r = draw(st.integers(1, len(history)))
            m.rollback(r)
            redo = history[-r:]
            del history[-r:]
            for q in redo:
                assert m.accept_bytes(q), f"re-accept of {q!r} after rollback({r}) refused"
                history.append(q)
            assert (m.can_terminate(), m.forced_bytes()) == results[i][1:], (
                f"after rollback({r}) and re-accept the state differs"
            )
    m.reset()
    fresh = new_matcher()
    assert m.can_terminate() == fresh.can_terminate()
    assert m.forced_bytes() == fresh.forced_bytes()
    assert complete(m, data) == complete(fresh, data)


def _check_fork(
    new_matcher: Callable[[], Matcher],
    m: Matcher,
    history: Sequence[bytes],
    data: bytes,
    draw: Draw,
) -> None:
    """A copy of ``m`` fed other bytes behaves like a fresh matcher fed the same, and leaves
    ``m`` alone."""
    before = (m.can_terminate(), m.forced_bytes())
    fork = m.copy()
    n = len(data)
    chunk = st.integers(0, n).flatmap(lambda i: st.integers(i, n).map(lambda j: data[i:j]))
    other = draw(st.lists(st.one_of(chunk, st.binary(min_size=1, max_size=3)), max_size=4))
    reference = new_matcher()
    assert reference.accept_bytes(b"".join(history))
    for piece in other:
        assert fork.accept_bytes(piece) == reference.accept_bytes(piece)
        assert fork.can_terminate() == reference.can_terminate()
    if history:
        fork.rollback(1)
    assert (m.can_terminate(), m.forced_bytes()) == before, "a copy's moves changed the original"
