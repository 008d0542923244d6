"""CharDFA (boolean operations on character languages) and multiple_of, against Python ``re``,
``fractions.Fraction`` and the compiled grammar matcher."""

from __future__ import annotations

import itertools
import re
import time
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import grammarlib as gl
from grammarlib.charsets import MAX_CODE_POINT, difference
from grammarlib.errors import GrammarError, GrammarTooLargeError
from grammarlib.ir import EMPTY, EPSILON, Alt, Bytes, Expr, Ref, Repeat, Seq, alt, literal, repeat
from grammarlib.ir import seq as ir_seq
from grammarlib.jsonschema import char_literal as _char_literal
from grammarlib.jsonschema import decimal_range, ecma_pattern, integer_range
from grammarlib.regex import CharLeaf as _Chars
from grammarlib.regex import char_leaf as _chars
from grammarlib.regular import CharDFA, lower_utf8, multiple_of

# The letters random expressions use, and one representative of "everything else" (U+0000, the
# lowest code point, so enumerations over REPS also find the least strings).
LETTERS = ["a", "b", "\u00e9", "\U0001f600"]
REPS = ["\x00", *LETTERS]
FULL = ((0, MAX_CODE_POINT),)

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def strings(alphabet: list[str], max_len: int) -> list[str]:
    return ["".join(p) for n in range(max_len + 1) for p in itertools.product(alphabet, repeat=n)]


SHORT = strings(REPS, 4)  # 781 strings


def cs(chars: str) -> tuple[tuple[int, int], ...]:
    return tuple(sorted((ord(c), ord(c)) for c in set(chars)))


# -- random expressions: (character-level Expr, equivalent Python regex) --------------------------


@st.composite
def leaves(draw: st.DrawFn) -> tuple[Expr, str]:
    chosen = draw(st.lists(st.sampled_from(LETTERS), min_size=1, max_size=3, unique=True))
    kind = draw(st.sampled_from(["set", "set", "neg", "any"]))
    body = "".join(re.escape(c) for c in chosen)
    if kind == "set":
        return _chars(cs("".join(chosen))), f"[{body}]"
    if kind == "neg":
        return _chars(difference(FULL, cs("".join(chosen)))), f"[^{body}]"
    return _chars(FULL), "(?s:.)"


def _extend(children: st.SearchStrategy[tuple[Expr, str]]) -> st.SearchStrategy[tuple[Expr, str]]:
    def seq2(pair: list[tuple[Expr, str]]) -> tuple[Expr, str]:
        return ir_seq(*(e for e, _ in pair)), "".join(f"(?:{r})" for _, r in pair)

    def alt2(pair: list[tuple[Expr, str]]) -> tuple[Expr, str]:
        return alt(*(e for e, _ in pair)), "|".join(f"(?:{r})" for _, r in pair)

    def rep(item: tuple[Expr, str], bounds: tuple[int, int | None]) -> tuple[Expr, str]:
        lo, hi = bounds
        return repeat(item[0], lo, hi), f"(?:{item[1]}){{{lo},{'' if hi is None else hi}}}"

    bounds = st.sampled_from([(0, None), (1, None), (0, 1), (2, 3), (0, 2), (3, None)])
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(seq2),
        st.lists(children, min_size=2, max_size=3).map(alt2),
        st.builds(rep, children, bounds),
    )


exprs = st.recursive(st.one_of(leaves(), st.just((EPSILON, ""))), _extend, max_leaves=6)


def check_language(dfa: CharDFA, member, samples: list[str]) -> None:
    for s in samples:
        assert dfa.accepts(s) == bool(member(s)), repr(s)


# -- from_expr, boolean operations, shortest ------------------------------------------------


@SETTINGS
@given(exprs, st.lists(st.text(alphabet="ab\u00e9\U0001f600xy\n", max_size=10), max_size=20))
def test_from_expr_matches_re(pair: tuple[Expr, str], extra: list[str]) -> None:
    expr, rx = pair
    dfa = CharDFA.from_expr(expr)
    compiled = re.compile(rx)
    check_language(dfa, compiled.fullmatch, SHORT + extra)
    # Canonical form: building again, or through an equivalent route, gives an equal DFA.
    assert CharDFA.from_expr(expr) == dfa
    assert dfa.intersect(CharDFA.everything()) == dfa
    assert dfa.complement().complement() == dfa


@SETTINGS
@given(exprs, exprs, st.lists(st.text(alphabet="ab\u00e9\U0001f600x", max_size=8), max_size=20))
def test_boolean_operations_match_re(
    p1: tuple[Expr, str], p2: tuple[Expr, str], extra: list[str]
) -> None:
    a, b = CharDFA.from_expr(p1[0]), CharDFA.from_expr(p2[0])
    ra, rb = re.compile(p1[1]), re.compile(p2[1])
    samples = SHORT + extra
    check_language(a.intersect(b), lambda s: ra.fullmatch(s) and rb.fullmatch(s), samples)
    check_language(a.union(b), lambda s: ra.fullmatch(s) or rb.fullmatch(s), samples)
    check_language(a.difference(b), lambda s: ra.fullmatch(s) and not rb.fullmatch(s), samples)
    check_language(a.complement(), lambda s: not ra.fullmatch(s), samples)
    # Laws that canonical forms make checkable exactly.
    assert a.intersect(b) == b.intersect(a)
    assert a.union(b) == a.complement().intersect(b.complement()).complement()
    assert a.difference(b) == a.intersect(b.complement())
    assert a.difference(a).is_empty()
    assert a.union(a.complement()).is_universal()


@SETTINGS
@given(exprs, exprs)
def test_shortest_is_least_shortest(p1: tuple[Expr, str], p2: tuple[Expr, str]) -> None:
    dfa = CharDFA.from_expr(p1[0]).difference(CharDFA.from_expr(p2[0]))
    member = re.compile(p1[1]).fullmatch
    other = re.compile(p2[1]).fullmatch
    found = [s for s in SHORT if member(s) and not other(s)]
    # REPS holds the least code point of every character class in play, and SHORT is ordered by
    # length first and then by code points, so its first member string is the answer when short.
    best = min(found, key=lambda s: (len(s), [ord(c) for c in s])) if found else None
    got = dfa.shortest()
    if best is not None:
        assert got == best
    elif got is not None:
        assert len(got) > 4 and member(got) and not other(got)
    else:
        assert dfa.is_empty()
    assert dfa.is_empty() == (got is None)


def test_shortest_examples() -> None:
    assert CharDFA.from_expr(ecma_pattern("^[b-z]{3,5}x$")).shortest() == "bbbx"
    assert CharDFA.from_expr(EMPTY).shortest() is None
    assert CharDFA.from_expr(EPSILON).shortest() == ""
    assert CharDFA.length_between(2, 4).shortest() == "\x00\x00"
    astral = CharDFA.from_expr(_chars(((0x1F600, 0x1F64F),)))
    assert astral.shortest() == "\U0001f600"


def test_surrogates_are_not_characters() -> None:
    dfa = CharDFA.everything()
    assert dfa.accepts("a\u00e9\U0001f600")
    assert not dfa.accepts("\ud800")
    assert not dfa.accepts_prefix("a\udfff")
    assert dfa.complement().is_empty()
    # A leaf that includes surrogates means the same as one that does not.
    assert CharDFA.from_expr(_Chars(FULL)) == CharDFA.length_between(1, 1)
    assert CharDFA.everything().classes == (((0, 0xD7FF), (0xE000, MAX_CODE_POINT)),)


def test_ecma_patterns() -> None:
    cases = ["abc", "^a+$", "a|^b", "[0-9]{2}-?x$", "^(ab|ba)*$", "é+\U0001f600"]
    alphabet = ["a", "b", "c", "x", "-", "0", "é", "\U0001f600"]
    samples = strings(alphabet, 4)
    for pattern in cases:
        dfa = CharDFA.from_expr(ecma_pattern(pattern))
        check_language(dfa, lambda s, p=pattern: re.search(p, s), samples)


def test_accepts_prefix() -> None:
    dfa = CharDFA.from_expr(_char_literal("ab\U0001f600"))
    assert (
        dfa.accepts_prefix("") and dfa.accepts_prefix("ab") and dfa.accepts_prefix("ab\U0001f600")
    )
    assert not dfa.accepts_prefix("b") and not dfa.accepts_prefix("ab\U0001f600x")
    assert dfa.accepts("ab\U0001f600") and not dfa.accepts("ab")


def test_length_between() -> None:
    for lo, hi in [(0, 0), (0, 3), (2, 2), (1, None), (3, None)]:
        dfa = CharDFA.length_between(lo, hi)
        for s in strings(["a", "\U0001f600"], 6):
            assert dfa.accepts(s) == (lo <= len(s) and (hi is None or len(s) <= hi))
    with pytest.raises(ValueError):
        CharDFA.length_between(3, 2)
    with pytest.raises(GrammarTooLargeError, match="length bound of 10000000"):
        CharDFA.length_between(0, 10**7)


def test_pattern_and_length_is_fast_and_flat() -> None:
    start = time.perf_counter()
    pattern = CharDFA.from_expr(ecma_pattern("^[a-z]{1,50}$"))
    both = pattern.intersect(CharDFA.length_between(0, 200))
    expr, rules = both.to_rules("s")
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, elapsed  # about 5 ms; generous for a loaded machine
    assert both == pattern and rules == {}
    assert expr == Repeat(_chars(((0x61, 0x7A),)), 1, 50)
    # The length bound cuts the pattern: a run with both bounds from different sides.
    cut = pattern.intersect(CharDFA.length_between(5, 20))
    assert cut.to_rules("s") == (Repeat(_chars(((0x61, 0x7A),)), 5, 20), {})
    plus = CharDFA.from_expr(ecma_pattern("^[a-z]+$")).to_rules("s")
    assert plus == (Repeat(_chars(((0x61, 0x7A),)), 1, None), {})


def test_errors() -> None:
    with pytest.raises(GrammarError, match="rule reference 'x'"):
        CharDFA.from_expr(ir_seq(_chars(cs("a")), Ref("x")))
    with pytest.raises(GrammarError, match="non-ASCII"):
        CharDFA.from_expr(Bytes(1 << 0xC3))
    ab = _chars(cs("ab"))
    blowup = ir_seq(repeat(ab, 0, None), _chars(cs("a")), repeat(ab, 20, 20))
    with pytest.raises(GrammarTooLargeError, match="more than 1000 DFA states"):
        CharDFA.from_expr(blowup, max_states=1000)
    with pytest.raises(GrammarTooLargeError, match="NFA states"):
        CharDFA.from_expr(repeat(ab, 0, 10**7), max_states=1000)
    a = CharDFA.from_expr(ir_seq(repeat(ab, 0, None), _chars(cs("a")), repeat(ab, 6, 6)))
    with pytest.raises(GrammarTooLargeError, match="product"):
        a.intersect(a.complement().union(CharDFA.length_between(0, 30)), max_states=20)


def test_ascii_bytes_leaves() -> None:
    expr = ir_seq(literal("-"), Bytes(sum(1 << b for b in b"0123")))
    dfa = CharDFA.from_expr(expr)
    assert dfa.accepts("-2") and not dfa.accepts("-5") and not dfa.accepts("2")
    assert dfa == CharDFA.from_expr(ir_seq(_chars(cs("-")), _chars(cs("0123"))))


# -- to_rules round trip through the grammar compiler ----------------------------------------------


def rules_language(dfa: CharDFA, prefix: str = "r") -> gl.GrammarMatcher:
    expr, rules = dfa.to_rules(prefix)
    assert all(name.startswith(prefix) for name in rules)
    body = {name: lower_utf8(b) for name, b in rules.items()}
    body["start"] = lower_utf8(expr)
    return gl.compile(gl.Grammar(body, "start")).matcher()


def check_round_trip(dfa: CharDFA, samples: list[str]) -> None:
    matcher = rules_language(dfa)
    for s in samples:
        matcher.reset()
        viable = matcher.accept_string(s)
        # No dead states in the output: the grammar refuses exactly the hopeless prefixes.
        assert viable == dfa.accepts_prefix(s), repr(s)
        assert (viable and matcher.can_terminate()) == dfa.accepts(s), repr(s)


@settings(SETTINGS, max_examples=20)
@given(exprs, exprs)
def test_to_rules_round_trip(p1: tuple[Expr, str], p2: tuple[Expr, str]) -> None:
    dfa = CharDFA.from_expr(p1[0]).difference(CharDFA.from_expr(p2[0]))
    if dfa.is_empty():
        assert dfa.to_rules("r") == (EMPTY, {})
        return
    check_round_trip(dfa, strings(REPS, 3))
    # Without rules, the expression alone is the language.
    expr, rules = dfa.to_rules("r")
    if not rules:
        assert CharDFA.from_expr(expr) == dfa
        assert dfa.to_expr() == expr


def test_to_rules_shapes() -> None:
    # Cycles of several states become rules, one per state, none for the dead state.
    mod3 = multiple_of(3, integer=True)
    expr, rules = mod3.to_rules("m")
    assert rules and isinstance(expr, (Alt, Seq, Ref))
    assert len(rules) < mod3.num_states
    with pytest.raises(GrammarTooLargeError, match="to_rules"):
        mod3.to_expr()
    check_round_trip(mod3, strings(["0", "1", "2", "3", "-", ".", "x"], 4))
    # A small cycle is solved into stars: "contains abc".
    contains = CharDFA.from_expr(ecma_pattern("abc"))
    expr, rules = contains.to_rules("c")
    assert rules == {} and CharDFA.from_expr(expr) == contains
    # A pattern with two loops under a length bound (a grid of states) stays linear in size.
    grid = CharDFA.from_expr(ecma_pattern("^[a-z]+@[a-z]+\\.[a-z]+$"))
    grid = grid.intersect(CharDFA.length_between(0, 40))
    expr, rules = grid.to_rules("g")
    total = sum(_size(b) for b in rules.values()) + _size(expr)
    assert total < 40 * grid.num_states, (total, grid.num_states)
    check_round_trip(
        grid, ["a@b.c", "a@b", "ab@cd.ef", "@a.b", "a@b.c" + "x" * 35, "a@b." + "x" * 36]
    )


@pytest.mark.parametrize(
    "pattern",
    ["^(ab|ba)*$", "^(a(b|c)*d)*$", "^(?:ab)+c$", "abc", "^(0|1(01*0)*1)*$", "^a(ba)*b?$", "a.b"],
)
def test_small_cycles_become_stars(pattern: str) -> None:
    dfa = CharDFA.from_expr(ecma_pattern(pattern))
    expr, rules = dfa.to_rules("c")
    assert rules == {}
    assert CharDFA.from_expr(expr) == dfa


def test_is_finite() -> None:
    assert CharDFA.length_between(0, 5).is_finite()
    assert CharDFA.from_expr(EMPTY).is_finite()
    assert not CharDFA.everything().is_finite()
    assert not CharDFA.from_expr(ecma_pattern("^(ab)*$")).is_finite()
    assert (
        CharDFA.from_expr(ecma_pattern("^(ab)*$"))
        .intersect(CharDFA.length_between(0, 9))
        .is_finite()
    )
    sevens = multiple_of(7, integer=True)
    assert not sevens.is_finite()
    assert sevens.intersect(CharDFA.from_expr(integer_range(-100, 100))).is_finite()


def _size(expr: Expr) -> int:
    if isinstance(expr, (Seq, Alt)):
        return 1 + sum(_size(i) for i in expr.items)
    if isinstance(expr, Repeat):
        return 1 + _size(expr.item)
    return 1


# -- multipleOf ------------------------------------------------------------------------------------


def number_texts() -> list[tuple[str, Fraction]]:
    """Every number text with at most 4 digits in all and at most 3 of them in the fraction
    (``0``..``9999``, ``0.0``..``999.9``, ..., ``0.000``..``9.999``), with and without ``-``,
    each with its exact value."""
    out = []
    for frac_digits in range(4):
        for n in range(10**4):
            whole, frac = divmod(n, 10**frac_digits)
            text = str(whole) + (f".{frac:0{frac_digits}d}" if frac_digits else "")
            value = Fraction(text)
            out.append((text, value))
            out.append(("-" + text, -value))
    return out


NUMBERS = number_texts()
assert len(NUMBERS) == 80_000
MALFORMED = ["", "-", "01", "-01", "00", "1.", ".5", "+1", "1e3", "--1", "1.2.3", "1-", "0x1"]


def is_integer_text(t: str) -> bool:
    whole, _, frac = t.partition(".")
    return whole != "-0" and set(frac) <= {"0"}


@pytest.mark.parametrize("m", [7, 0.5, 1.5, 0.01, 3.3, 1e-4, Decimal("0.25"), 12])
def test_multiple_of_exhaustive(m: int | float | Decimal) -> None:
    step = Fraction(Decimal(repr(m))) if isinstance(m, float) else Fraction(m)
    for integer in (False, True):
        dfa = multiple_of(m, integer=integer)
        for t, value in NUMBERS:
            want = value % step == 0 and (not integer or is_integer_text(t))
            assert dfa.accepts(t) == want, (m, integer, t)
        for t in MALFORMED:
            assert not dfa.accepts(t), (m, t)


def test_multiple_of_zero_and_sign_forms() -> None:
    num = multiple_of(0.5, integer=False)
    assert num.accepts("-0") and num.accepts("-0.0") and num.accepts("0.000")
    assert num.accepts("-2.50000") and not num.accepts("-2.50001")
    whole = multiple_of(0.5, integer=True)
    assert not whole.accepts("-0") and not whole.accepts("-0.0") and whole.accepts("0.0")
    assert whole.accepts("-3") and whole.accepts("3.00") and not whole.accepts("2.5")
    # Same rules as the integer type of the JSON Schema compiler for "-0".
    ints = CharDFA.from_expr(integer_range(None, None))
    assert not ints.accepts("-0") and ints.accepts("0")


def test_multiple_of_large_numbers() -> None:
    dfa = multiple_of(3.3, integer=False)
    for v in [3.3 * k for k in (10**6, 123456789)]:
        t = format(Decimal(repr(round(v, 1))), "f")
        assert dfa.accepts(t) == (Fraction(t) % Fraction("3.3") == 0)
    assert dfa.accepts("407407403.7") and not dfa.accepts("407407403.8")


@pytest.mark.parametrize(("m", "lo", "hi"), [(7, -50, 100), (1.5, 0, 40), (4, 5, 5), (6, 1, 5)])
def test_multiple_of_with_integer_range(m: int | float, lo: int, hi: int) -> None:
    step = Fraction(Decimal(repr(m))) if isinstance(m, float) else Fraction(m)
    both = multiple_of(m, integer=False).intersect(CharDFA.from_expr(integer_range(lo, hi)))
    for v in range(lo - 30, hi + 30):
        assert both.accepts(str(v)) == (lo <= v <= hi and Fraction(v) % step == 0), v
    assert not both.accepts(f"{lo}.0") and not both.accepts("-0")
    assert both.is_empty() == (not any(Fraction(v) % step == 0 for v in range(lo, hi + 1)))


def test_multiple_of_with_decimal_range() -> None:
    rng = CharDFA.from_expr(decimal_range(Decimal("-1.25"), False, Decimal("2"), True))
    both = multiple_of(0.25, integer=False).intersect(rng)
    for t, v in NUMBERS:
        assert both.accepts(t) == (-Fraction(5, 4) <= v < 2 and v % Fraction(1, 4) == 0), t
    check_round_trip(both, ["-1.25", "1.75", "2", "-0.5", "0", "-0", "1.7", "-1.5", "0.2500"])


def test_multiple_of_too_large() -> None:
    with pytest.raises(GrammarTooLargeError, match=r"multipleOf 0\.123456789"):
        multiple_of(0.123456789, integer=False)
    with pytest.raises(GrammarTooLargeError, match="multipleOf"):
        multiple_of(2.0**-20, integer=False)
    with pytest.raises(GrammarError, match="> 0"):
        multiple_of(0, integer=True)
    with pytest.raises(GrammarError, match="must be a number"):
        multiple_of(True, integer=True)  # type: ignore[arg-type]
    # Denominators are only 2^a 5^b: big exponents are fine when the numerator is small.
    tiny = multiple_of(Decimal("1e-30"), integer=False)
    assert tiny.accepts("0." + "0" * 29 + "1") and not tiny.accepts("0." + "0" * 30 + "1")


def test_count_strings_up_to_a_cap() -> None:
    from grammarlib.jsonschema.lexical import ecma_pattern_dfa

    assert ecma_pattern_dfa(r"^[ab]$").count(10) == 2
    assert ecma_pattern_dfa(r"^[ab]{1,2}$").count(100) == 6  # 2 + 4
    assert ecma_pattern_dfa(r"^(x|y|zz)$").count(2) == 2  # capped
    assert ecma_pattern_dfa(r"^a+$").count(7) == 7  # infinitely many
    assert CharDFA.length_between(0, 1).count(10**9) == 1 + 0x110000 - 0x800  # no surrogates
    assert CharDFA.from_expr(EMPTY).count(5) == 0
