"""The byte-level matcher's API contract: refusal, rollback, copy, reset, forced bytes, UTF-8."""

from __future__ import annotations

import threading

import pytest

import grammarlib as gl

ARITH = r"""
start: sum
sum: sum "+" product | product
product: product "*" atom | atom
atom: NUMBER | "(" sum ")"
%import common.NUMBER
%ignore " "
"""


@pytest.fixture(scope="module")
def arith() -> gl.CompiledGrammar:
    return gl.compile(gl.Grammar.from_lark(ARITH))


def test_refused_input_leaves_state_unchanged(arith: gl.CompiledGrammar) -> None:
    m = arith.matcher()
    assert m.accept_string("1 +")
    before = m.state
    assert not m.accept_string("2)")  # "2" alone is fine, ")" is not: nothing is consumed
    assert m.state is before
    assert m.accept_string("2")
    assert m.can_terminate()
    m.rollback(1)
    assert m.state is before


def test_rollback_restores_earlier_states(arith: gl.CompiledGrammar) -> None:
    m = arith.matcher()
    states = [m.state]
    for piece in ["(", "1", " + ", "2", ")", "*3"]:
        assert m.accept_string(piece)
        states.append(m.state)
    assert m.can_terminate()
    m.rollback(2)
    assert m.state == states[-3]
    assert not m.can_terminate()  # "(1 + 2" is open
    assert m.accept_string(")")
    assert m.can_terminate()
    with pytest.raises(ValueError, match="cannot roll back 9"):
        m.rollback(9)
    m.rollback(0)
    assert m.can_terminate()


def test_empty_accept_counts_as_a_step(arith: gl.CompiledGrammar) -> None:
    m = arith.matcher()
    assert m.accept_string("1")
    assert m.accept_bytes(b"")
    m.rollback(1)
    assert m.can_terminate()
    m.rollback(1)
    assert not m.can_terminate()


def test_copy_is_independent(arith: gl.CompiledGrammar) -> None:
    m = arith.matcher()
    assert m.accept_string("1+")
    fork = m.copy()
    assert fork.accept_string("2")
    assert fork.can_terminate()
    assert not m.can_terminate()
    assert m.accept_string("(")
    assert not fork.accept_string("(")  # "1+2(" is not an expression prefix
    fork.rollback(1)
    fresh = arith.matcher()
    assert fresh.accept_string("1+")
    assert fork.state == fresh.state  # back to "1+", and equal states are equal values
    assert fork.accept_string("(3)")


def test_reset(arith: gl.CompiledGrammar) -> None:
    m = arith.matcher()
    assert m.accept_string("1+2")
    m.reset()
    assert not m.can_terminate()
    with pytest.raises(ValueError):
        m.rollback(1)
    assert m.state == arith.matcher().state


def test_forced_bytes() -> None:
    g = gl.Grammar.from_lark(r"""
        start: "{\"name\": " NAME "}"
        NAME: /"[a-z]+"/
    """)
    m = gl.compile(g).matcher()
    assert m.forced_bytes() == b'{"name": "'
    assert m.accept_bytes(m.forced_bytes())
    assert m.forced_bytes() == b""  # a letter is needed, there is a choice
    assert m.accept_string("ab")
    assert m.forced_bytes() == b""  # more letters or the closing quote
    assert m.accept_string('"')
    assert m.forced_bytes() == b"}"
    assert m.accept_string("}")
    assert m.can_terminate()
    assert m.forced_bytes() == b""


def test_forced_bytes_stop_at_a_choice_to_stop() -> None:
    m = gl.compile(gl.Grammar.from_choices(["ab", "abcd"])).matcher()
    assert m.forced_bytes() == b"ab"
    assert m.accept_string("ab")
    assert m.forced_bytes() == b""  # could stop here or go on with "cd"


def test_forced_bytes_through_multibyte_characters() -> None:
    m = gl.compile(gl.Grammar.from_choices(["café", "cafés"])).matcher()
    assert m.forced_bytes() == "café".encode()


def test_partial_utf8_is_a_viable_prefix() -> None:
    m = gl.compile(gl.Grammar.from_regex("é+")).matcher()
    assert m.accept_bytes(b"\xc3")
    assert not m.can_terminate()
    assert not m.accept_bytes(b"\xc3")  # a lead byte cannot follow a lead byte
    assert m.accept_bytes(b"\xa9")
    assert m.can_terminate()
    assert m.next_bytes() == frozenset({0xC3})


def test_choices_are_exact() -> None:
    m = gl.compile(gl.Grammar.from_choices(["red", "green", "blue"])).matcher()
    assert not m.accept_string("r ")
    assert m.accept_string("gre")
    assert not m.can_terminate()
    assert m.accept_string("en")
    assert m.can_terminate()
    assert not m.accept_string("s")
    with pytest.raises(gl.GrammarError, match="at least one choice"):
        gl.Grammar.from_choices([])


@pytest.mark.parametrize(
    "text",
    [
        'start: s\ns: s s | "a"',
        'start: s\ns: s s | "a" | ',
        'start: e\ne: e "+" e | e "*" e | "a"',
        'start: s\ns: "a" s "b" | "a" t "c" | \nt: "a" s "b" | "a" t "c" | ',
    ],
)
def test_highly_ambiguous_grammars_take_300_bytes(text: str) -> None:
    compiled = gl.compile(gl.Grammar.from_lark(text))
    m = compiled.matcher()
    if "+" in text:
        data = "a" + "+a*a" * 75
    elif '"b"' in text:
        data = "a" * 150 + "bc" * 75
    else:
        data = "a" * 300
    assert len(data) >= 300
    assert m.accept_string(data)
    assert m.can_terminate()
    # The state stays small: stacks with the same top are one node.
    assert len(m.state[0]) <= compiled.automaton.num_frames


def test_state_limit_is_a_clear_error() -> None:
    """States are built when first reached, so the limit stops the exploration that would
    pass it (here the whole automaton; in a matcher, the step that needs the new state)."""
    # The last 20 bytes must be remembered: 2**21 DFA states.
    compiled = gl.compile(gl.Grammar.from_regex("[ab]*a[ab]{20}"), max_states=5000)
    assert compiled.matcher().accept_string("ab" * 30)  # the states on one path are few
    with pytest.raises(gl.GrammarTooLargeError, match=r"more than 5000 states"):
        compiled.automaton.explore()
    matcher = gl.compile(gl.Grammar.from_regex("[0-9]{50}"), max_states=20).matcher()
    with pytest.raises(gl.GrammarTooLargeError, match="raise max_states"):
        matcher.accept_string("1" * 50)
    assert (
        gl.compile(gl.Grammar.from_regex("[0-9]{50}"), max_states=100)
        .matcher()
        .accept_string("1" * 50)
    )


def test_compiled_grammar_is_shared_safely_across_threads(arith: gl.CompiledGrammar) -> None:
    inputs = ["1+2*(3+4)", "(((1)))", "1+", "1+*2", "12 * 3 + 4"]
    expected = {}
    for text in inputs:
        m = arith.matcher()
        expected[text] = (m.accept_string(text), m.can_terminate())
    errors: list[str] = []

    def work() -> None:
        for _ in range(50):
            for text in inputs:
                m = arith.matcher()
                got = (m.accept_string(text), m.can_terminate())
                if got != expected[text]:
                    errors.append(f"{text}: {got} != {expected[text]}")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_compile_caches_by_content() -> None:
    a = gl.compile(gl.Grammar.from_regex("[a-z]+"))
    b = gl.compile(gl.Grammar.from_regex("[a-z]+"))
    assert a is b
    with pytest.raises(TypeError, match="expects a Grammar"):
        gl.compile("[a-z]+")  # type: ignore[arg-type]
