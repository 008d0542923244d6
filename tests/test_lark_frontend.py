"""Lark front-end: semantics details and error messages."""

from __future__ import annotations

import re
from pathlib import Path

import lark
import lark.exceptions
import pytest
from lark import Lark

import grammarlib as gl


def accepts(text: str, s: str, start: str = "start") -> bool:
    m = gl.compile(gl.Grammar.from_lark(text, start=start)).matcher()
    return m.accept_string(s) and m.can_terminate()


def lark_accepts(text: str, s: str, start: str = "start") -> bool:
    parser = Lark(text, parser="earley", lexer="dynamic_complete", start=start)
    try:
        parser.parse(s)
        return True
    except Exception:
        return False


IGNORE = r"""
start: WORD ("," WORD)*
WORD: /[a-z]+/
%ignore " "
"""


@pytest.mark.parametrize("s", ["a", " a", "a ", " a , b ", "a,b", "a b", "", " ", "a,,b", ",a"])
def test_ignore_before_between_and_after_terminals(s: str) -> None:
    assert accepts(IGNORE, s) == lark_accepts(IGNORE, s)


def test_no_lexer_terminals_match_any_string_of_their_pattern() -> None:
    # A maximal-munch lexer would take "aaa" as one WORD and fail; a CFG over bytes does not.
    text = 'start: WORD "a"\nWORD: /a+/'
    assert accepts(text, "aaa")
    assert lark_accepts(text, "aaa")


def test_case_insensitive_strings_and_regex_flags() -> None:
    text = 'start: "select"i NAME\nNAME: /[a-z]+/i'
    for s, expected in [("SELECTabc", True), ("sElEcTXyZ", True), ("select", False)]:
        assert accepts(text, s) == expected == lark_accepts(text, s)


def test_templates_aliases_and_modifiers() -> None:
    text = r"""
    start: _list{item, ","} -> items
    _list{x, sep}: x (sep x)*
    ?item: kw | NUMBER
    !kw: "true" | "false"
    %import common.NUMBER
    """
    for s in ["true", "1,false,2.5", "true,", ""]:
        assert accepts(text, s) == lark_accepts(text, s), s


def test_priorities_are_ignored() -> None:
    text = 'start: a | b\na.2: "x"\nb.-1: "y"\nT.5: "z"\nc: T'
    assert accepts(text, "x") and accepts(text, "y")


def test_other_start_rule() -> None:
    text = 'start: "a"\nother: "b"+'
    assert accepts(text, "bbb", start="other")
    assert not accepts(text, "a", start="other")


def test_unicode_terminals() -> None:
    text = 'start: GREEK ("·" GREEK)*\nGREEK: /[α-ω]+/'
    for s in ["αβγ", "αβ·ω", "αβ·", "abc", "Ω"]:
        assert accepts(text, s) == lark_accepts(text, s), s


# -- errors ---------------------------------------------------------------------------------------


def error_of(text: str, **kw) -> gl.GrammarError:
    with pytest.raises(gl.GrammarError) as info:
        gl.compile(gl.Grammar.from_lark(text, **kw))
    return info.value


def test_syntax_error_has_line_and_column_and_context() -> None:
    err = error_of('start: "a"\nrule: "b" (\n')
    # lark points just past the parenthesis that was left open.
    assert (err.line, err.column) == (2, 12)
    assert "line 2, column 12" in str(err)
    assert "Expecting a value" in str(err)
    assert 'rule: "b" (' in str(err)


def test_undefined_rule_is_named_and_located() -> None:
    err = error_of('start: item+\nitem: "x" | missing\n')
    assert "undefined rule 'missing'" in str(err)
    assert "item" in str(err)
    assert (err.line, err.column) == (2, 13)


def test_undefined_terminal_is_named() -> None:
    err = error_of('start: "x" NUMBER\n')
    assert "undefined terminal 'NUMBER'" in str(err)
    assert (err.line, err.column) == (1, 12)


def test_missing_start_rule() -> None:
    err = error_of('item: "x"\n')
    assert "start rule 'start' is not defined" in str(err)
    err = error_of('start: "x"\n', start="nope")
    assert "'nope'" in str(err)


def test_unsupported_regex_in_terminal_names_construct_and_terminal() -> None:
    err = error_of("start: WORD\nWORD: /a(?=b)/\n")
    assert "WORD" in str(err)
    assert "lookahead" in str(err)
    assert err.line == 2


def test_empty_language_names_the_rule_without_finite_derivation() -> None:
    err = error_of('start: "a" | loop\nloop: "b" loop\n'.replace('"a" | ', ""))
    assert isinstance(err, gl.EmptyLanguageError)
    assert "'loop' (line 2) has no finite derivation" in str(err)
    assert "'start' (line 1) cannot finish either" in str(err)


def test_unproductive_rule_that_is_not_needed_is_dropped() -> None:
    assert accepts('start: "a" | loop\nloop: "b" loop\n', "a")


# -- lookaround in terminals: lark's common.lark ----------------------------------------------

ESCAPED_STRING = "start: ESCAPED_STRING\n%import common.ESCAPED_STRING\n"


@pytest.mark.parametrize(
    ("s", "expected"),
    [
        ('"abc"', True),
        (r'"a\"b"', True),
        (r'"a\\"', True),
        (r'"a\\\"', False),
        ('""', True),
        (r'"\"', False),
        (r'"\\\\"', True),
        (r'"é\\"', True),
        (r'"\é"', True),
        ('"a\nb"', False),
        ('"', False),
        ("abc", False),
        ('"abc', False),
    ],
)
def test_escaped_string_from_common_agrees_with_lark(s: str, expected: bool) -> None:
    assert lark_accepts(ESCAPED_STRING, s) == expected
    assert accepts(ESCAPED_STRING, s) == expected


def test_escaped_string_with_inner_quote_is_a_string_of_the_pattern() -> None:
    # re.fullmatch accepts '"a"b"' (the pattern does not forbid an unescaped quote inside), and so
    # does grammarlib: a terminal matches any string of its pattern. lark's scanner only tries the
    # regex's own match, which is the shortest here ('"a"', the quantifiers are lazy), and its
    # truncations, so lark rejects it.
    assert re.fullmatch(r'".*?(?<!\\)(\\\\)*?"', '"a"b"')
    assert accepts(ESCAPED_STRING, '"a"b"')
    assert not lark_accepts(ESCAPED_STRING, '"a"b"')


# Strings on which lark's scanner and "any string of the pattern" agree for every common terminal
# (none where a lazy terminal such as C_COMMENT could end earlier, see above).
COMMON_SAMPLES = [
    "",
    "0",
    "7f",
    "-12",
    "+1.5e-3",
    ".5",
    "1.",
    "abc",
    "Ab_1",
    "_x",
    " \t",
    "\r\n\n",
    "# note",
    "// note",
    "/* a\n*/",
    "-- note",
    '"a\\"b"',
    '"a\\\\"',
]


def test_every_terminal_of_common_lark_compiles_or_is_refused_clearly() -> None:
    text = (Path(lark.__file__).parent / "grammars" / "common.lark").read_text()
    names = re.findall(r"^(_?[A-Z][A-Z_]*)\s*:", text, re.MULTILINE)
    assert {"ESCAPED_STRING", "SIGNED_NUMBER", "CNAME", "WS", "C_COMMENT"} <= set(names)
    refused = {}
    for name in names:
        grammar = f"start: {name}\n%import common.{name}\n"
        try:
            compiled = gl.compile(gl.Grammar.from_lark(grammar))
        except gl.GrammarError as e:
            refused[name] = str(e)
            continue
        try:
            parser = Lark(grammar, parser="earley", lexer="dynamic_complete")
        except lark.exceptions.GrammarError:  # lark's Earley refuses zero-width terminals
            continue
        for s in COMMON_SAMPLES:
            m = compiled.matcher()
            try:
                parser.parse(s)
                expected = True
            except lark.exceptions.UnexpectedInput:
                expected = False
            assert (m.accept_string(s) and m.can_terminate()) == expected, (name, s)
    # Only the helper of ESCAPED_STRING: on its own, its lookbehind may test the character before
    # the terminal, which depends on where it is used.
    assert set(refused) == {"_STRING_ESC_INNER"}
    message = refused["_STRING_ESC_INNER"]
    assert "in terminal _STRING_ESC_INNER" in message
    assert "negative lookbehind assertion (?<!...) that can be at the start of the match" in message
    assert "depends on the context" in message
