"""Regex front-end: the IR of a pattern is exactly the language of ``re.fullmatch``, as UTF-8.

``re`` itself is the reference throughout. The IR is checked with an independent derivative-based
oracle (``support.ir_oracle``) and end to end through the byte-level matcher.
"""

from __future__ import annotations

import functools
import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark
from reference import EXTRA_CHARS, byte_mutations, mutations, regex_accepts, regex_strings
from support.ir_oracle import is_prefix, matches

import grammarlib as gl
from grammarlib.charsets import SURROGATES, difference, normalize, utf8_expr
from grammarlib.errors import GrammarError
from grammarlib.ir import EMPTY, EPSILON, Repeat, alt, literal, repeat, seq
from grammarlib.regex import regex_to_expr

# Characters that trip up Unicode-aware matching: case folds that are not 1:1, non-ASCII digits,
# spaces and word characters, astral code points, the private use area.
TRICKY = "ßẞSsſKkKİıiIµμΜΣσςθϑϴÅåǄǅǆΩω٣²\u00a0\u2028\x1c\x85\u200béÉ一龥\U0010ffff\ue000"
ALPHABET = EXTRA_CHARS + TRICKY

# Lookaround assertions whose body is one character set, placed so that the character they test is
# always matched by the pattern itself.
LOOKAROUND_PATTERNS = [
    r"\".*?(?<!\\)(\\\\)*?\"",  # lark's common.ESCAPED_STRING
    r"a.*(?<!b)c",
    r"(?:x|y)+(?<=x)z",
    r"\d+(?!0)\w",
    r"a(?:b)?(?<!b)c",  # the lookbehind sees through the optional group to "a"
    r"a(?:bc?)?(?<=[ac])d",
    r"x[α-ε]+(?<![α-γ])y",  # non-ASCII sets: the last character, not the last byte
    r"x.(?<![α-γ😀])(?=[^é])[a-zé]+",
    r"(?a)(?=\d)\w+(?<!_)",
    r"(?![aeiou])[a-z]{2,3}",
    r"a(?:(?<=a)b|c)*d",  # a lookbehind at the start of a repeated group
    r"x(?:(?!a).)+y",
    r"(?:a(?=b)|b(?=a))+b",
    r"(?i)[a-z]+(?<!K)(?!S)[a-z]",
]

PATTERNS = [
    # plain structure
    "",
    "abc",
    "a|b|cd",
    "(ab|cd)?e",
    "colou?r",
    "a*b+c?",
    "(a|ab)(c|bcd)(d*)",
    r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?",
    # counted and lazy repetition, repetition of nullable bodies
    "a{3}",
    "(ab){2,5}",
    "x{2,}",
    "x{,3}y",
    "(?:a|bc){1,3}?",
    "a*?b??",
    "(?:a?){2,3}b",
    # Unicode classes, dot, negation
    "[α-ω]+",
    "[\u4e00-\u9fff]{2,4}",
    r"\w+",
    r"\W\w",
    r"\d+",
    r"\D",
    r"\s*x\s*",
    r"\S+",
    "[^abc]",
    "[^abc]+",
    ".",
    ".+",
    "(?s).",
    "(?s:.)+",
    "a.c",
    "😀+",
    "[😀-🙏]",
    r"[^\x00-\x7f]",
    # case-insensitive
    "(?i)straße",
    "(?i)[a-k]+",
    "(?i:é)",
    "(?i)[^a-k]",
    r"(?i)\w",
    "(?i)Σ+",
    "(?i:k)s",
    "(?i)(?-i:a)b",
    "(?i)[ßs]",
    # escapes
    r"\x41\u00e9\n\.",
    r"\t\\\[\]",
    r"\N{GREEK SMALL LETTER ALPHA}",
    r"[\x00-\x1f]",
    # ASCII flag, globally and scoped
    r"(?a)\w+",
    r"(?a)\s\d",
    r"(?a:\W)",
    "(?ai)k",
    # anchors at the ends are no-ops under fullmatch
    "^ab$",
    r"\Aab\Z",
    "^(a|b)$|^c",
    "(?:^a|^b)c",
    "(?:a$)?",
    "(?m)^a$",
    "$",
    # verbose mode
    "(?x) a b # comment",
    # lark-style terminal regexes
    "(?:(?i:select)|from)",
    r"(?i:[a-zé_][\w-]*)",
    r'(?s:"(\\.|[^"\\])*")',
    # lookaround with a one-character body, testing characters of the pattern itself
    *LOOKAROUND_PATTERNS,
]

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
MATCHER_SETTINGS = settings(SETTINGS, max_examples=10)


@functools.cache
def expr_of(pattern: str):
    return regex_to_expr(pattern)


@functools.cache
def accepts_of(pattern: str):
    return regex_accepts(pattern)


@functools.cache
def compiled_of(pattern: str) -> gl.CompiledGrammar:
    return gl.compile(gl.Grammar.from_regex(pattern))


def _draw_cases(data: st.DataObject, pattern: str) -> list[bytes]:
    """A valid string of ``pattern``, a character-level mutant and a byte-level mutant of it."""
    valid = data.draw(regex_strings(pattern), label="valid")
    mutant = data.draw(mutations(valid, ALPHABET), label="mutant")
    raw = valid.encode()
    byte_mutant = data.draw(byte_mutations(raw), label="byte mutant")
    return [raw, mutant.encode(), byte_mutant]


# -- the IR against re, through the derivative oracle -------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
@SETTINGS
@given(data=st.data())
def test_ir_agrees_with_re(pattern: str, data: st.DataObject) -> None:
    expr, accepts = expr_of(pattern), accepts_of(pattern)
    valid, *others = _draw_cases(data, pattern)
    assert matches(expr, valid), f"{valid!r} matches {pattern!r} in re but not in the IR"
    for case in others:
        assert matches(expr, case) == accepts(case), (
            f"IR says {matches(expr, case)}, re says {accepts(case)} for {case!r}"
        )


# Also patterns on which re backtracks exponentially: only short strings for these.
SMALL_PATTERNS = [
    "(?:a*)*b",
    "(a|)*c",
    "(a|ab)*b?",
    "(?:a?){2,3}b",
    "(a|)*",
    "(?:a|b??)*?a",
    "(ab){2,5}",
    "(?:a*b*){2}",
    "a{0}b",
    "(?:a{2}){1,2}",
    "(?:(?:ab)?b){2,}",
    "[ab]{1,3}?a",
]


@pytest.mark.parametrize("pattern", SMALL_PATTERNS)
def test_ir_agrees_with_re_exhaustively_on_short_strings(pattern: str) -> None:
    expr = expr_of(pattern)
    for n in range(8):
        for chars in itertools.product("ab", repeat=n):
            s = "".join(chars)
            assert matches(expr, s.encode()) == bool(re.fullmatch(pattern, s)), s


# Lookaround patterns with the characters worth combining (those the assertions test and their
# neighbours), for an exhaustive check of all short strings.
LOOKAROUND_SMALL = [
    (r'".*?(?<!\\)(\\\\)*?"', '"\\a'),
    (r"a.*(?<!b)c", "abc"),
    (r"(?:x|y)+(?<=x)z", "xyz"),
    (r"(?a)\d+(?!0)\w", "01a"),
    (r"a(?:b)?(?<!b)c", "abc"),
    (r"a(?:bc?)?(?<=[ac])d", "abcd"),
    (r"x[α-ε]+(?<![α-γ])y", "xyαδ"),
    (r"x.(?<!\u0100)y", "xy\u0100\u0140"),  # U+0100 and U+0140 share their last byte
    (r"a(?:(?<=a)b|c)*d", "abcd"),
    (r"(?:a(?=b)|b(?=a))+b", "ab"),
    (r"a(?:(?<=a)b|a){0,3}d", "abd"),  # a bounded repeat, unrolled
    (r"x(?:(?<!a)b|(?=b)a|b)*c", "abcx"),
    (r"x(?!a)(?:(?=b)a)?.y", "abxy"),  # a nullable group after a pending lookahead
    (r"a(?:(?<=a)(?=b))*b", "ab"),
    (r"a(?:.(?<=b)(?!a))+c", "abc"),
    (r"a(?<=)(?=)b|c(?<!)", "abc"),  # empty bodies: always / never true
]


@pytest.mark.parametrize(("pattern", "alphabet"), LOOKAROUND_SMALL)
def test_lookaround_agrees_with_re_on_short_strings(pattern: str, alphabet: str) -> None:
    expr = expr_of(pattern)
    for n in range(7 if len(alphabet) <= 3 else 6):
        for chars in itertools.product(alphabet, repeat=n):
            s = "".join(chars)
            assert matches(expr, s.encode()) == bool(re.fullmatch(pattern, s)), s


# -- character sets: equal to re's over all code points -----------------------------------------


@functools.cache
def _every_code_point() -> str:
    return "".join(map(chr, range(0x110000)))


def re_charset(flags: str, body: str):
    """The code points ``c`` (no surrogates) with ``re.fullmatch(body, c)`` under ``flags``."""
    prefix = f"(?{flags})" if flags else ""
    runs = re.finditer(f"{prefix}(?:{body})+", _every_code_point())
    return difference(normalize((m.start(), m.end() - 1) for m in runs), (SURROGATES,))


CHARSET_CASES = [
    ("", r"\w"),
    ("", r"\W"),
    ("", r"\d"),
    ("", r"\D"),
    ("", r"\s"),
    ("", r"\S"),
    ("a", r"\w"),
    ("a", r"\W"),
    ("a", r"\s"),
    ("", "."),
    ("s", "."),
    ("", "[^abc]"),
    ("", r"[\w\-.]"),
    ("", r"[^\d\s]"),
    ("i", "[a-k]"),
    ("i", "[^a-k]"),
    ("i", r"\w"),
    ("i", r"[^\W\d]"),
    ("i", "[α-ω]"),
    ("ai", "[k-s]"),
    ("", "(?i:[ǅ-ǌ])"),
    ("i", "[^s]"),
    *(("i", re.escape(c)) for c in "kKsSſßẞiIİıµΣσςθϴÅΩǅé5_ᾳ"),
    *(("ai", re.escape(c)) for c in "kKsSİ"),
    ("i", "[^K]"),
]


@pytest.mark.parametrize(("flags", "body"), CHARSET_CASES)
def test_character_sets_equal_re(flags: str, body: str) -> None:
    pattern = (f"(?{flags})" if flags else "") + body
    assert regex_to_expr(pattern) == utf8_expr(re_charset(flags, body))


# -- semantics worth pinning down ----------------------------------------------------------------

PINNED = [
    ("(?i)k", "\u212a", True),  # KELVIN SIGN folds to k
    ("(?ai)k", "\u212a", False),  # ... but not under ASCII
    ("(?i)straße", "STRASSE", False),  # re does simple case folding: ß is not ss
    ("(?i)straße", "STRAẞE", True),
    ("(?i)i", "İ", True),  # İ lowercases to i in re's simple mapping
    ("(?i)i", "ı", True),  # ı and i share the uppercase I
    ("(?i)σ", "ς", True),
    (r"\d", "٣", True),  # Unicode decimal digits
    (r"\d", "²", False),  # a digit, but not decimal
    (r"\w", "²", True),  # ... yet alphanumeric
    (r"\w", "é", True),
    (r"(?a)\w", "é", False),
    (r"\s", "\x1c", True),  # re's whitespace includes the information separators
    (r"\s", "\x85", True),
    (r"\s", "\u200b", False),
    (".", "\n", False),
    (".", "\r", True),
    ("(?s).", "\n", True),
    ("a$", "a\n", False),  # fullmatch: $ never swallows a final newline
    ("(?i)[^a]", "A", False),
    (r"\ud800|a", "a", True),
    # lookaround: common.ESCAPED_STRING ends with an even run of backslashes, may contain quotes
    (r'".*?(?<!\\)(\\\\)*?"', r'"a\"b"', True),
    (r'".*?(?<!\\)(\\\\)*?"', r'"a\"', False),
    (r'".*?(?<!\\)(\\\\)*?"', r'"a\\"', True),
    (r'".*?(?<!\\)(\\\\)*?"', '"a"b"', True),
    (r'".*?(?<!\\)(\\\\)*?"', '"a\nb"', False),
    (r"a(?:b)?(?<!b)c", "abc", False),
    (r"x.(?<![α-γ])y", "xβy", False),
    (r"x.(?<![α-γ])y", "xδy", True),
    (r"x.(?<!\u0100)y", "x\u0140y", True),  # same last byte as U+0100, another character
    (r"x.(?<!\u0100)y", "x\u0100y", False),
    (r"\d+(?!0)\w", "10", False),
    (r"\d+(?!0)\w", "100a", True),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), PINNED)
def test_pinned_semantics(pattern: str, text: str, expected: bool) -> None:
    assert bool(re.fullmatch(pattern, text)) == expected
    assert matches(regex_to_expr(pattern), text.encode()) == expected


def test_ir_shapes() -> None:
    a = literal("a")
    assert regex_to_expr("a{3}") == Repeat(a, 3, 3)
    assert regex_to_expr("a{2,}") == Repeat(a, 2, None)
    assert regex_to_expr("a{,4}") == Repeat(a, 0, 4)
    assert regex_to_expr("a*?") == regex_to_expr("a*") == repeat(a, 0, None)
    assert regex_to_expr("a{1000}") == Repeat(a, 1000, 1000)
    assert regex_to_expr("(?i:abc)") == regex_to_expr("[aA][bB][cC]")
    assert regex_to_expr("(?x) a b # c") == literal("ab")
    assert regex_to_expr("") == EPSILON
    assert regex_to_expr("a|b") == alt(literal("a"), literal("b"))
    assert regex_to_expr(r"\x41\u00e9") == seq(literal("A"), literal("é"))


def test_lookaround_shapes() -> None:
    x, y, z = literal("x"), literal("y"), literal("z")
    # The lookbehind restricts the last character of the repetition before it.
    assert regex_to_expr("(?:x|y)+(?<=x)z") == seq(repeat(alt(x, y), 0, None), x, z)
    assert regex_to_expr("x(?=y)y") == regex_to_expr("x(?<=x)y") == literal("xy")
    assert regex_to_expr("a(?:b)?(?<!b)c") == literal("ac")
    assert regex_to_expr("x(?!y)y") == EMPTY
    assert regex_to_expr("x(?<=)y(?!)|z") == z  # empty bodies: always / never true


def test_anchors_at_the_ends_are_no_ops() -> None:
    ab = regex_to_expr("ab")
    for pattern in ["^ab$", r"\Aab\Z", "^^ab$$", "(?:^)ab(?:$)", "(?m)^ab$", "(^ab$)"]:
        assert regex_to_expr(pattern) == ab, pattern
    assert regex_to_expr("^a|b$") == regex_to_expr("a|b")
    assert regex_to_expr("^$") == regex_to_expr("$") == EPSILON


def test_surrogates_have_no_utf8_encoding() -> None:
    assert regex_to_expr(r"\ud800") == EMPTY
    assert regex_to_expr(r"[\ud800-\udfff]") == EMPTY
    assert regex_to_expr(r"a|\udfff") == literal("a")


def test_from_regex_uses_regex_to_expr() -> None:
    pattern = r"(?i)[a-z]\w*"
    assert gl.Grammar.from_regex(pattern).rules["root"] == regex_to_expr(pattern)


def test_lark_terminal_regexes() -> None:
    grammar = r"""
        start: KW NAME NUMBER STR WORD ANY
        KW: "select"i | "from"
        NAME: /[a-zé_][\w-]*/i
        NUMBER: /\d+(\.\d+)?/
        STR: /"(\\.|[^"\\])*"/s
        WORD: /(?x) \w+ # a word/
        ANY: /./s
    """
    samples = ["SeLeCt", "from", "FROM", "Éa-b", "12.5", '"a\\"\nb"', '"a"b"', "wörd", "\n", ""]
    for terminal in Lark(grammar, parser="earley", lexer="dynamic").terminals:
        pattern = terminal.pattern.to_regexp()
        expr = regex_to_expr(pattern)
        for s in samples:
            assert matches(expr, s.encode()) == bool(re.fullmatch(pattern, s)), (pattern, s)


# -- errors ---------------------------------------------------------------------------------------

UNSUPPORTED = [
    ("a(?=b)", "lookahead assertion (?=...)", 2),
    ("a(?!b)", "negative lookahead assertion (?!...)", 2),
    ("(?<=a)b", "lookbehind assertion (?<=...)", 1),
    ("(?<!a)b", "negative lookbehind assertion (?<!...)", 1),
    (r"(a)\1", r"backreference \1", 4),
    ("(?P<x>a)(?P=x)", "backreference (?P=x)", 9),
    (r"\bfoo", r"word boundary \b", 1),
    (r"fo\Bo", r"non-word-boundary \B", 3),
    ("(a)?(?(1)b|c)", "conditional group", 5),
    ("(?>ab)", "atomic group (?>...)", 1),
    ("a*+", "possessive quantifier", 2),
    ("xa{1,2}+", "possessive quantifier", 7),
    ("a^b", "anchor ^ that is not at the start", 2),
    ("a$b", "anchor $ that is not at the end", 2),
    (r"a\Ab", r"anchor \A that is not at the start", 2),
    ("(?:^a)*", "anchor ^", 4),
    ("a?^b", "anchor ^", 3),
    ("[$^]a^", "anchor ^", 6),
    (r"\^a^", "anchor ^", 4),
    ("^a^", "anchor ^", 3),
    ("(?x) a # ^\n ^", "anchor ^", 2),
    # lookaround that could test a character outside the match
    ("a?(?<=a)b", "lookbehind assertion (?<=...) that can be at the start of the match", 3),
    ("(?:x|y)*(?<=x)z", "lookbehind assertion (?<=...) that can be at the start", 9),
    ("(?<=a)*b", "lookbehind assertion (?<=...) that can be at the start", 1),
    ("x(?!b)(?:c)?", "negative lookahead assertion (?!...) that can be at the end", 2),
    ("a(?=b)b(?=c)", "lookahead assertion (?=...) that can be at the end", 8),
    (r"\d(?<=\d)|(?<![ab])b", "negative lookbehind assertion (?<!...) that can be", 11),
    # lookaround bodies longer than one character
    ("a(?=bc)b", "lookahead assertion (?=...) whose body is not a single character", 2),
    ("a(?<=ab)c", "lookbehind assertion (?<=...) whose body is not a single character", 2),
    ("a(?!b|cd)e", "negative lookahead assertion (?!...) whose body is not a single", 2),
    ("a(?<!(?=b)c)d", "negative lookbehind assertion (?<!...) whose body is not a single", 2),
    ("a(?=b*)b", "lookahead assertion (?=...) whose body is not a single", 2),
    # lookaround looking out of a group repeated too often to unroll
    ("a(?:(?<=a)b|a){40}", "lookbehind assertion (?<=...) at the edge of a group repeated", 5),
]


@pytest.mark.parametrize(("pattern", "what", "column"), UNSUPPORTED)
def test_unsupported_constructs_are_named(pattern: str, what: str, column: int) -> None:
    with pytest.raises(GrammarError) as info:
        regex_to_expr(pattern)
    message = str(info.value)
    assert f"unsupported regex construct: {what}" in message
    assert info.value.column == column, message
    assert f"column {column}" in message


def test_lookaround_at_the_edge_says_why() -> None:
    with pytest.raises(GrammarError) as info:
        regex_to_expr(r".*?(?<!\\)x")  # lark's _STRING_ESC_INNER has this shape
    message = str(info.value)
    assert "negative lookbehind assertion (?<!...) that can be at the start of the match" in message
    assert "character before the match" in message and "depends on the context" in message


def test_lookaround_too_entangled_to_resolve() -> None:
    # Each lookbehind tests the previous repetition, in a cycle of seven classes: the exact
    # expression would be huge (an automaton would not, but the result is an expression).
    with pytest.raises(GrammarError, match="lookaround assertions too entangled to resolve"):
        regex_to_expr("x(?:(?<=a)b|(?<=b)c|(?<=c)d|(?<=d)e|(?<=e)f|(?<=f)g|(?<=g)a|.)*y")
    # A cycle of three is fine.
    pattern = "x(?:(?<=a)b|(?<=b)c|(?<=c)a|[ab])*y"
    expr = regex_to_expr(pattern)
    for n in range(6):
        for chars in itertools.product("abc", repeat=n):
            s = "x" + "".join(chars) + "y"
            assert matches(expr, s.encode()) == bool(re.fullmatch(pattern, s)), s


SYNTAX_ERRORS = [
    ("a(b", "missing ), unterminated subpattern", 1, 2),
    ("[z-a]", "bad character range z-a", 1, 2),
    ("a**", "multiple repeat", 1, 3),
    ("a{2,1}", "min repeat greater than max repeat", 1, 3),
    ("(?x)\n  a\n  (b", "missing ), unterminated subpattern", 3, 3),
    ("(?L)a", "cannot use 'L' flag", 1, 4),
]


@pytest.mark.parametrize(("pattern", "what", "line", "column"), SYNTAX_ERRORS)
def test_syntax_errors_carry_re_message_and_position(
    pattern: str, what: str, line: int, column: int
) -> None:
    with pytest.raises(re.error) as reference:
        re.compile(pattern)
    with pytest.raises(GrammarError) as info:
        regex_to_expr(pattern)
    assert what in str(info.value) and reference.value.msg in str(info.value)
    assert (info.value.line, info.value.column) == (line, column)
    assert (reference.value.lineno, reference.value.colno) == (line, column)


def test_other_invalid_patterns() -> None:
    with pytest.raises(GrammarError, match="repetition number is too large"):
        regex_to_expr("a{99999999999}")
    with pytest.raises(TypeError):
        regex_to_expr(b"abc")  # type: ignore[arg-type]


# -- the oracle itself --------------------------------------------------------------------------


def test_oracle_basics() -> None:
    ab = alt(literal("a"), literal("bc"))
    assert matches(ab, b"a") and matches(ab, b"bc") and not matches(ab, b"b")
    assert is_prefix(ab, b"b") and is_prefix(ab, b"") and not is_prefix(ab, b"c")
    nullable_rep = repeat(alt(literal("a"), EPSILON), 2, 3)
    assert [matches(nullable_rep, b"a" * n) for n in range(5)] == [True] * 4 + [False]
    assert not matches(EMPTY, b"") and not is_prefix(EMPTY, b"")
    assert matches(EPSILON, b"") and not matches(EPSILON, b"a")
    assert not is_prefix(seq(literal("a"), EMPTY), b"")


# -- end to end through the byte-level matcher --------------------------------------------------


def _check_matcher_run(pattern: str, data: bytes) -> None:
    """Feed ``data`` byte by byte: each byte is accepted iff the prefix is viable (per the oracle),
    and ``can_terminate`` agrees with ``re`` after every accepted prefix."""
    expr, accepts = expr_of(pattern), accepts_of(pattern)
    m = compiled_of(pattern).matcher()
    assert m.can_terminate() == accepts(b"")
    for k in range(len(data)):
        ok = m.accept_bytes(data[k : k + 1])
        assert ok == is_prefix(expr, data[: k + 1]), (
            f"matcher {'accepts' if ok else 'refuses'} byte {k} of {data!r}"
        )
        if not ok:
            assert not accepts(data)
            break
        assert m.can_terminate() == accepts(data[: k + 1]), data[: k + 1]
    whole = compiled_of(pattern).matcher()
    assert (whole.accept_bytes(data) and whole.can_terminate()) == accepts(data), data


@pytest.mark.parametrize("pattern", PATTERNS)
@MATCHER_SETTINGS
@given(data=st.data())
def test_matcher_agrees_with_re(pattern: str, data: st.DataObject) -> None:
    for case in _draw_cases(data, pattern):
        _check_matcher_run(pattern, case)


@pytest.mark.parametrize("pattern", SMALL_PATTERNS)
def test_matcher_agrees_with_re_exhaustively_on_short_strings(pattern: str) -> None:
    for n in range(7):
        for chars in itertools.product("ab", repeat=n):
            _check_matcher_run(pattern, "".join(chars).encode())
