"""The automata and the matcher against independent references, on random grammars.

- Random regular IR expressions against the Brzozowski-derivative oracle: every string over a small
  alphabet up to a length, both membership and prefix viability, so both directions of exactness.
- Random small context-free grammars (left recursion, nullable rules, hidden left recursion,
  ambiguity) against lark's Earley parser, on every string up to a length.
"""

from __future__ import annotations

import functools
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark
from lark.exceptions import LarkError
from support.ir_oracle import is_prefix, matches

import grammarlib as gl
from grammarlib.ir import Expr, GrammarIR, alt, byte_set, nullable_rules, repeat, rule_refs, seq
from grammarlib.normalize import normalize

ALPHABET = b"abc"


def all_strings(alphabet: bytes, max_len: int) -> list[bytes]:
    return [bytes(t) for n in range(max_len + 1) for t in itertools.product(alphabet, repeat=n)]


STRINGS_4 = all_strings(ALPHABET, 4)


def ir_expressions() -> st.SearchStrategy[Expr]:
    leaves = st.sets(st.sampled_from(ALPHABET), min_size=0, max_size=3).map(byte_set)

    def extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
        bounds = st.tuples(st.integers(0, 2), st.integers(0, 3) | st.none()).filter(
            lambda b: b[1] is None or b[1] >= b[0]
        )
        return st.one_of(
            st.lists(children, min_size=0, max_size=3).map(lambda xs: seq(*xs)),
            st.lists(children, min_size=0, max_size=3).map(lambda xs: alt(*xs)),
            st.tuples(children, bounds).map(lambda t: repeat(t[0], t[1][0], t[1][1])),
        )

    return st.recursive(leaves, extend, max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ir_expressions())
def test_regular_ir_matches_oracle_on_every_short_string(expr: Expr) -> None:
    try:
        compiled = gl.compile(gl.Grammar({"root": expr}, "root"))
    except gl.EmptyLanguageError:
        assert not any(matches(expr, s) for s in STRINGS_4)
        assert not is_prefix(expr, b"")
        return
    for s in STRINGS_4:
        m = compiled.matcher()
        viable = m.accept_bytes(s)
        assert viable == is_prefix(expr, s), (expr, s)
        if viable:
            assert m.can_terminate() == matches(expr, s), (expr, s)


# -- random context-free grammars against lark --------------------------------------------------

RULE_NAMES = ["s", "a", "b"]


def symbols() -> st.SearchStrategy[str]:
    return st.sampled_from(['"x"', '"y"', *RULE_NAMES])


def cfg_texts() -> st.SearchStrategy[str]:
    alternative = st.lists(symbols(), min_size=0, max_size=3).map(" ".join)
    rule = st.lists(alternative, min_size=1, max_size=3).map(lambda alts: " | ".join(alts))
    return st.tuples(rule, rule, rule).map(
        lambda bodies: (
            "\n".join(f"{n}: {b}" for n, b in zip(RULE_NAMES, bodies, strict=True)) + "\nstart: s\n"
        )
    )


@functools.lru_cache(maxsize=512)
def lark_parser(text: str) -> Lark | None:
    try:
        return Lark(text, parser="earley", lexer="dynamic_complete")
    except LarkError:
        return None


def lark_accepts(parser: Lark, s: str) -> bool:
    try:
        parser.parse(s)
        return True
    except LarkError:
        return False


STRINGS_XY = [s.decode() for s in all_strings(b"xy", 6)]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg_texts())
def test_random_cfg_agrees_with_lark_earley(text: str) -> None:
    parser = lark_parser(text)
    try:
        compiled = gl.compile(gl.Grammar.from_lark(text))
    except gl.EmptyLanguageError:
        if parser is not None:
            assert not any(lark_accepts(parser, s) for s in STRINGS_XY)
        return
    accepted = set()
    for s in STRINGS_XY:
        m = compiled.matcher()
        ours = m.accept_string(s) and m.can_terminate()
        if parser is not None:
            assert ours == lark_accepts(parser, s), (text, s)
        if ours:
            accepted.add(s)
    # Prefix closure: every prefix of an accepted string is viable.
    for s in accepted:
        for i in range(len(s)):
            assert compiled.matcher().accept_string(s[:i]), (text, s[:i])


@settings(max_examples=150, deadline=None)
@given(cfg_texts())
def test_normalised_rules_reference_no_nullable_rule(text: str) -> None:
    """The automaton's FOLLOW sets rely on it: after normalisation only the start rule may
    derive the empty string, and no rule references a nullable one."""
    grammar = gl.Grammar.from_lark(text)
    try:
        rules = normalize(grammar.rules, grammar.start)
    except gl.EmptyLanguageError:
        return
    null = nullable_rules(rules)
    assert null <= {grammar.start}
    assert not any(null & rule_refs(body) for body in rules.values())


LEFT_RECURSIVE = {
    "direct": 'start: s\ns: s "x" | "y"',
    "indirect": 'start: a\na: b "x" | "y"\nb: a "z" | "w"',
    "hidden": 'start: a\na: b a "x" | "y"\nb: "b" | ',
    "nullable-loop": 'start: s\ns: s s | "x" | ',
    "mutual-nullable": 'start: a\na: b "x" | \nb: a | "y" a',
    "unit-cycle": 'start: a\na: b | "x"\nb: a | "y"',
}


def test_left_recursion_variants_agree_with_lark() -> None:
    for name, text in LEFT_RECURSIVE.items():
        parser = Lark(text, parser="earley", lexer="dynamic_complete")
        compiled = gl.compile(gl.Grammar.from_lark(text))
        strings = [s.decode() for s in all_strings(b"xyzwb", 4)]
        for s in strings:
            m = compiled.matcher()
            ours = m.accept_string(s) and m.can_terminate()
            assert ours == lark_accepts(parser, s), (name, s)


def test_repeat_simplifications_keep_the_language() -> None:
    """The smart constructor ``repeat`` rewrites nested repetitions; compare it with the raw
    ``Repeat`` node, which the automaton builder takes as it is (the oracle shares ``repeat``,
    so it cannot check this)."""
    from grammarlib.ir import EPSILON, Repeat, byte_set

    a = byte_set(b"a")
    strings = all_strings(b"a", 7)
    for inner in (Repeat(a, 0, None), Repeat(a, 1, None), alt(a, EPSILON), Repeat(a, 2, 3)):
        for low, high in [(0, 1), (0, 3), (1, 1), (1, 2), (2, 2), (2, 4), (3, None), (0, None)]:
            simplified = gl.compile(gl.Grammar({"r": repeat(inner, low, high)}, "r"))
            raw = gl.compile(gl.Grammar({"r": Repeat(inner, low, high)}, "r"))
            for s in strings:
                got, want = simplified.matcher(), raw.matcher()
                assert (got.accept_bytes(s) and got.can_terminate()) == (
                    want.accept_bytes(s) and want.can_terminate()
                ), (inner, low, high, s)


def test_closures_by_expression_equal_the_work_list_closure() -> None:
    """The automaton closes a term through memoised per-expression closures; the plain work-list
    closure (its fallback for very deep expressions) must give the same terms everywhere."""
    sources = [
        gl.Grammar.from_regex(r"(a|b?c*){2,4}(d|e{0,3})f?"),
        gl.Grammar.from_lark('start: "(" start ")" start | "x"~1..3 | a\na: "y"?'),
        gl.Grammar.from_json_schema({"type": "array", "items": {"enum": ["a", 1, None]}}),
    ]
    for g in sources:
        automaton = gl.compile(g).automaton
        for frame in range(automaton.explore()):
            for term in automaton.frame_terms[frame]:
                for cut in range(len(term) + 1):
                    rest = term[cut:]
                    assert automaton._close(rest) == automaton._close_iteratively(rest), rest


def test_grammars_compare_by_content_and_share_one_compiled_grammar() -> None:
    """Equal rules (built separately) are equal grammars with one hash, and compile to the same
    `CompiledGrammar` object; a different start rule or rule is a different grammar."""
    text = 'start: "a" b\nb: "b"+'
    one, two = gl.Grammar.from_lark(text), gl.Grammar.from_lark(text)
    assert one is not two and one == two and hash(one) == hash(two)
    assert one.fingerprint == two.fingerprint
    assert gl.compile(one) is gl.compile(two)
    assert one != gl.Grammar.from_lark('start: "a" b\nb: "c"+')
    other_start = gl.Grammar.from_ir(GrammarIR(dict(one.rules), "b"))
    assert other_start != one and gl.compile(other_start) is not gl.compile(one)


def test_content_hashes_are_kept_on_nodes_and_do_not_depend_on_them() -> None:
    """A composite node keeps its content hash once computed, and a tree that reuses hashed
    subtrees hashes exactly as one built afresh (the hash names disk-cache bundles: it must be
    the same in every process, whatever was hashed before)."""
    from grammarlib.ir import content_hash, literal

    def inner_part() -> Expr:
        return repeat(alt(literal("xy"), byte_set(b"yz")), 2, 5)

    def build() -> Expr:
        return seq(literal("ab"), inner_part())

    inner = inner_part()
    first = content_hash(inner)
    assert inner._digest == first  # type: ignore[attr-defined]
    reusing = content_hash(seq(literal("ab"), inner))
    assert reusing == content_hash(build()) and reusing != first
    assert content_hash(seq(literal("ab"), inner, literal("c"))) != reusing


def test_compile_time_limit_stops_with_a_clear_error() -> None:
    """``compile(..., time_limit_s=...)`` bounds normalisation: past it, GrammarTooLargeError
    names the limit and the rule the work was at; without it the same grammar compiles."""
    import pytest

    rules = "\n".join(f'r{i} ::= "x{i}" r{i + 1} | ""' for i in range(300))
    text = f'root ::= r0\n{rules}\nr300 ::= "end"\n'
    with pytest.raises(gl.GrammarTooLargeError, match=r"time_limit_s=0\.0 s \(stopped at "):
        gl.compile(gl.Grammar.from_gbnf(text), time_limit_s=0.0)
    m = gl.compile(gl.Grammar.from_gbnf(text), time_limit_s=None).matcher()
    assert m.accept_string("x0x1") and m.can_terminate() and not m.accept_string("end")


def test_time_limits_count_cpu_time_not_waiting() -> None:
    """A compile's time budget is the thread's CPU time: time spent waiting (a busy machine,
    another thread holding the interpreter) does not refuse a grammar, work does."""
    import time

    import pytest

    from grammarlib.normalize import Deadline

    deadline = Deadline(0.05)
    time.sleep(0.2)
    deadline.check("after waiting")
    spun = 0
    refusal = r"time_limit_s=0\.05 s \(stopped at spinning\)"
    with pytest.raises(gl.GrammarTooLargeError, match=refusal):
        while True:
            spun += 1
            deadline.check("spinning")
    assert spun > 0


def test_rules_used_once_are_inlined_and_large_shared_ones_stay_calls() -> None:
    """A rule used once is inlined whatever its size; a shared one only when it is small with
    what it would inline (a small shared rule that inlines a large single-use one stays a
    call); recursive rules and the start rule never are."""
    from grammarlib.ir import Ref, literal
    from grammarlib.normalize import inline_candidates

    big = seq(*(literal(bytes([97 + i % 26])) for i in range(80)))  # 81 nodes
    rules = {
        "start": seq(Ref("left"), Ref("right"), Ref("once"), Ref("nested")),
        "left": seq(Ref("shared"), Ref("wrapper")),  # (uses count the rules that refer)
        "right": seq(Ref("shared"), Ref("wrapper")),
        "shared": literal(b"x"),  # small, used by two rules: inlined
        "once": big,  # large, used once: inlined
        "wrapper": seq(literal(b"("), Ref("inner"), literal(b")")),  # shared, large with inner
        "inner": big,  # used once (by wrapper): inlined into it
        "nested": alt(literal(b"n"), seq(literal(b"["), Ref("nested"), literal(b"]"))),
    }
    always = {"left", "right", "shared", "once", "inner"}
    assert inline_candidates(rules, "start", limit=50) == always
    assert inline_candidates(rules, "start", limit=500) == always | {"wrapper"}
