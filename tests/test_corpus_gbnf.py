"""Property tests of the GBNF corpus (tests/corpus/*.gbnf), each against an equivalent Lark grammar.

The Lark references spell every GBNF rule as a lark rule over single-character terminals and use no
``%ignore``, so lark's Earley parser decides exactly the same language (no regex-lexer effects).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import (
    LarkReference,
    check_drawn_mutant,
    check_pieces,
    check_valid,
    mutations,
    scaled,
)

import grammarlib as gl

CORPUS = Path(__file__).parent / "corpus"

JSON_REF = r"""
start: ws element
element: value ws
?value: object | array | string | number | "true" | "false" | "null"
object: "{" ws (member ("," ws member)*)? "}"
member: string ws ":" ws element
array: "[" ws (element ("," ws element)*)? "]"
string: "\"" char* "\""
char: /[^"\\\x00-\x1f]/ | "\\" escape
escape: /["\\\/bfnrt]/ | "u" hex hex hex hex
hex: /[0-9a-fA-F]/
number: "-"? integer fraction? exponent?
integer: "0" | /[1-9]/ DIGIT~0..15
fraction: "." DIGIT+
exponent: /[eE]/ /[-+]/? DIGIT+
DIGIT: /[0-9]/
ws: /[ \t\n]/~0..8
"""

ARITH_REF = r"""
start: ws expr ws
expr: term (ws ("+" | "-") ws term)*
term: factor (ws ("*" | "/") ws factor)*
factor: number | "-" ws factor | "(" ws expr ws ")"
number: DIGIT+ ("." DIGIT+)? (/[eE]/ /[-+]/? DIGIT~1..3)?
DIGIT: /[0-9]/
ws: /[ \t]/*
"""

CSV_REF = r"""
start: header row*
header: name ("," name)* eol
name: quoted | plain
row: field ("," field)* eol
field: (quoted | plain)?
quoted: "\"" (/[^"]/ | "\"\"")* "\""
plain: /[^",\r\n]/+
eol: "\r"? "\n"
"""

PAIRS = {"json.gbnf": JSON_REF, "arith.gbnf": ARITH_REF, "csv.gbnf": CSV_REF}

SETTINGS = settings(
    max_examples=scaled(15),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def reference(name: str) -> LarkReference:
    return LarkReference.from_text(PAIRS[name])


@functools.cache
def compiled(name: str) -> gl.CompiledGrammar:
    return gl.compile(gl.Grammar.from_gbnf((CORPUS / name).read_text(encoding="utf-8")))


def valid_strings(name: str) -> st.SearchStrategy[str]:
    return reference(name).strings(extra_depth=10, max_nodes=150)


def test_every_gbnf_file_has_a_reference() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.gbnf")) == sorted(PAIRS)


@pytest.mark.parametrize("name", sorted(PAIRS))
@SETTINGS
@given(data=st.data())
def test_reference_generates_strings_lark_accepts(name: str, data: st.DataObject) -> None:
    ref = reference(name)
    s = data.draw(valid_strings(name))
    assert ref.accepts(s), s


@pytest.mark.parametrize("name", sorted(PAIRS))
@SETTINGS
@given(data=st.data())
def test_valid_strings_accepted(name: str, data: st.DataObject) -> None:
    s = data.draw(valid_strings(name), label="valid")
    m = compiled(name).matcher()
    assert m.accept_string(s) and m.can_terminate()
    check_valid(compiled(name).matcher, reference(name).accepts, s.encode(), data.draw)


@pytest.mark.parametrize("name", sorted(PAIRS))
@SETTINGS
@given(data=st.data())
def test_mutated_strings_agree_with_reference(name: str, data: st.DataObject) -> None:
    s = data.draw(valid_strings(name), label="valid")
    check_drawn_mutant(data, compiled(name).matcher, reference(name), s)


@pytest.mark.parametrize("name", sorted(PAIRS))
@SETTINGS
@given(data=st.data())
def test_rollback_copy_reset(name: str, data: st.DataObject) -> None:
    ref = reference(name)
    s = data.draw(valid_strings(name), label="valid")
    if data.draw(st.booleans(), label="mutate"):
        s = data.draw(mutations(s, ref.alphabet(s)), label="mutant")
    check_pieces(compiled(name).matcher, s.encode(), data.draw)


EXAMPLES = [
    ("json.gbnf", '{"a": [1, -2.5e-3, "\\u00e9\\n", true, null], "b": {}}', True),
    ("json.gbnf", "\n[ ]\t", True),
    ("json.gbnf", "1234567890123456", True),
    ("json.gbnf", "12345678901234567", False),  # [1-9] [0-9]{0,15}
    ("json.gbnf", "[1,         2]", False),  # ws is at most 8 characters
    ("json.gbnf", "[01]", False),
    ("json.gbnf", '"\\x"', False),
    ("arith.gbnf", " 1 - -2 * (3 + 0.5e2) / 4 ", True),
    ("arith.gbnf", "1e1234", False),
    ("arith.gbnf", "1 2", False),
    ("csv.gbnf", 'a,"b ""c"""\n1,\n,\r\n"x\ny",z\n', True),
    ("csv.gbnf", "a,b", False),
    ("csv.gbnf", 'a,b"c\n', False),
]


@pytest.mark.parametrize(("name", "text", "expected"), EXAMPLES)
def test_examples(name: str, text: str, expected: bool) -> None:
    assert reference(name).accepts(text) == expected, "the example itself is wrong"
    m = compiled(name).matcher()
    assert (m.accept_string(text) and m.can_terminate()) == expected
