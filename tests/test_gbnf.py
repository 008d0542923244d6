"""GBNF front-end: IR produced for small inputs, error messages, and languages end to end."""

from __future__ import annotations

import functools

import pytest

import grammarlib as gl
from grammarlib.charsets import MAX_CODE_POINT, complement, from_chars, normalize, utf8_expr
from grammarlib.errors import GrammarError
from grammarlib.gbnf import grammar_from_gbnf
from grammarlib.grammar import Grammar
from grammarlib.ir import (
    EPSILON,
    Ref,
    alt,
    byte_range,
    literal,
    optional,
    plus,
    repeat,
    seq,
    star,
)


def root(text: str):
    """The IR body of the ``root`` rule of ``text``."""
    return grammar_from_gbnf(text).rules["root"]


def chars(*ranges: tuple[str, str]):
    """utf8_expr of code point ranges given as (first, last) characters."""
    return utf8_expr(normalize((ord(a), ord(b)) for a, b in ranges))


ANY = utf8_expr(((0, MAX_CODE_POINT),))

# -- IR shape ---------------------------------------------------------------------------------


def test_literal_is_utf8_bytes():
    assert root('root ::= "abc"') == literal("abc")
    assert root('root ::= "é€😀"') == literal("é€😀".encode())
    assert root('root ::= ""') == EPSILON


def test_sequence_alternation_and_grouping():
    text = 'root ::= "a" ("b" | c) d\nc ::= "c"\nd ::= "d"'
    assert root(text) == seq(literal("a"), alt(literal("b"), Ref("c")), Ref("d"))
    assert root('root ::= "x" | "y" "z" | ""') == alt(literal("x"), literal("yz"), EPSILON)


def test_grammar_is_a_grammar_with_all_rules():
    g = Grammar.from_gbnf('root ::= item+\nitem ::= [0-9]\nunused ::= "u"')
    assert isinstance(g, Grammar)
    assert g.start == "root"
    assert list(g.rules) == ["root", "item", "unused"]
    assert g.rules["root"] == plus(Ref("item"))
    assert g.rules["item"] == byte_range(ord("0"), ord("9"))
    value = grammar_from_gbnf('root ::= item+\nitem ::= [0-9]\nunused ::= "u"')
    assert g == Grammar.from_ir(value)
    assert (value.rules, value.start) == (g.rules, g.start)


def test_start_argument():
    g = grammar_from_gbnf('doc ::= "d" part\npart ::= "p"', start="doc")
    assert g.start == "doc"
    with pytest.raises(GrammarError, match="define 'root'"):
        grammar_from_gbnf('doc ::= "d"')


def test_rule_names_allow_dashes_underscores_digits():
    g = grammar_from_gbnf(
        'root ::= check-mate rule_1 2x\ncheck-mate ::= "#"\nrule_1 ::= "1"\n2x ::= ""'
    )
    assert g.rules["root"] == seq(Ref("check-mate"), Ref("rule_1"), Ref("2x"))


def test_recursion_and_left_recursion_become_refs():
    g = grammar_from_gbnf('root ::= root "+" term | term\nterm ::= "(" root ")" | [0-9]')
    assert g.rules["root"] == alt(seq(Ref("root"), literal("+"), Ref("term")), Ref("term"))
    assert g.rules["term"] == alt(
        seq(literal("("), Ref("root"), literal(")")), byte_range(0x30, 0x39)
    )


def test_empty_alternatives():
    # As emitted by llama.cpp's JSON-schema converter: `space ::= | " " | ...`.
    assert root('root ::= | " "') == alt(EPSILON, literal(" "))
    assert root("root ::= ()") == EPSILON
    assert root("root ::=") == EPSILON
    assert root('root ::= ("a" |)') == alt(literal("a"), EPSILON)


def test_positions():
    text = '# header\nroot ::= a\n\n  a ::= "x" |\n   "y"\nb ::= a'
    value = grammar_from_gbnf(text)
    assert value.positions == {"root": (2, 1), "a": (4, 3), "b": (6, 1)}
    g = Grammar.from_ir(value)
    assert g.position("root") == (2, 1)
    assert g.position("a") == (4, 3)
    assert g.position("b") == (6, 1)
    assert g.positions == value.positions


# -- escapes and characters -----------------------------------------------------------------

ESCAPES = [
    (r"\n", "\n"),
    (r"\r", "\r"),
    (r"\t", "\t"),
    (r"\\", "\\"),
    (r"\"", '"'),
    (r"\[", "["),
    (r"\]", "]"),
    (r"\-", "-"),
    (r"\x41", "A"),
    (r"\x00", "\x00"),
    (r"\xff", "\u00ff"),  # a code point, as in llama.cpp: UTF-8 C3 BF, not the byte FF
    (r"\xE9", "é"),
    (r"\u00e9", "é"),
    (r"\u20AC", "€"),
    (r"\U0001F600", "😀"),
    (r"\U0010FFFF", "\U0010ffff"),
]


@pytest.mark.parametrize(("escape", "char"), ESCAPES)
def test_escapes_in_strings(escape, char):
    assert root(f'root ::= "<{escape}>"') == literal(f"<{char}>")


@pytest.mark.parametrize(("escape", "char"), ESCAPES)
def test_escapes_in_classes(escape, char):
    assert root(f"root ::= [{escape}]") == chars((char, char))
    assert root(f"root ::= [^{escape}]") == utf8_expr(complement(from_chars(char)))


def test_xff_is_two_bytes():
    assert root(r'root ::= "\xff"') == seq(byte_range(0xC3, 0xC3), byte_range(0xBF, 0xBF))


def test_class_quote_needs_no_escape():
    assert root(r'root ::= ["\\bfnrt]') == utf8_expr(from_chars('"\\bfnrt'))


def test_character_classes():
    assert root("root ::= [a-z]") == chars(("a", "z"))
    assert root("root ::= [a-zA-Z0-9_]") == chars(("a", "z"), ("A", "Z"), ("0", "9"), ("_", "_"))
    assert root("root ::= [NBKQR]") == utf8_expr(from_chars("NBKQR"))
    assert root("root ::= [ぁ-ゟ]") == chars(("ぁ", "ゟ"))
    assert root(r"root ::= [\x00-\x1F\u00e9]") == chars(("\x00", "\x1f"), ("é", "é"))
    # '-' first, last, or escaped is literal; ']' inside needs an escape.
    assert root("root ::= [-a]") == utf8_expr(from_chars("-a"))
    assert root("root ::= [a-]") == utf8_expr(from_chars("-a"))
    assert root(r"root ::= [a\-z]") == utf8_expr(from_chars("-az"))
    assert root(r"root ::= [\]\[]") == utf8_expr(from_chars("[]"))
    # '#' and '"' are ordinary characters inside a class.
    assert root('root ::= [#"]') == utf8_expr(from_chars('#"'))


def test_negated_classes_are_code_point_complements():
    not_newline = root(r"root ::= [^\n]")
    assert not_newline == utf8_expr(complement(from_chars("\n")))
    assert root(r'root ::= [^"\\\x7F\x00-\x1F]') == utf8_expr(
        complement(normalize([(0, 0x1F), (0x7F, 0x7F), (ord('"'), ord('"')), (0x5C, 0x5C)]))
    )
    # Non-ASCII exclusions remove exactly that code point.
    assert root("root ::= [^é€]") == utf8_expr(complement(from_chars("é€")))
    assert root("root ::= [^ぁ-ゟ]") == utf8_expr(complement(((0x3041, 0x309F),)))
    # A caret that is not first is literal.
    assert root("root ::= [a^]") == utf8_expr(from_chars("a^"))


def test_dot_is_any_code_point():
    assert root("root ::= .") == ANY
    assert root('root ::= "a" . "b"') == seq(literal("a"), ANY, literal("b"))


# -- repetition -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "bounds"),
    [
        ("*", (0, None)),
        ("+", (1, None)),
        ("?", (0, 1)),
        ("{3}", (3, 3)),
        ("{2,}", (2, None)),
        ("{2,5}", (2, 5)),
        ("{0,4}", (0, 4)),
        ("{,4}", (0, 4)),
        ("{ 2 , 5 }", (2, 5)),
    ],
)
def test_repetition_forms(suffix, bounds):
    assert root(f"root ::= [0-9]{suffix}") == repeat(byte_range(0x30, 0x39), *bounds)
    # A repetition applies to a whole string literal or group, not to its last character.
    assert root(f'root ::= "ab"{suffix}') == repeat(literal("ab"), *bounds)
    assert root(f'root ::= ("a" | "b"){suffix}') == repeat(alt(literal("a"), literal("b")), *bounds)


def test_repetition_binds_to_the_last_item_only():
    assert root('root ::= "a" "b"*') == seq(literal("a"), star(literal("b")))
    assert root('root ::= "a" "b" ?') == seq(literal("a"), optional(literal("b")))
    assert root('root ::= ("a" "b")+ "c"') == seq(plus(literal("ab")), literal("c"))


def test_degenerate_repetitions():
    assert root('root ::= "a"{0}') == EPSILON
    assert root('root ::= "a"{1}') == literal("a")
    assert root('root ::= "a"{1,1}') == literal("a")
    assert root('root ::= "a"?*') == star(optional(literal("a")))


# -- comments and line structure ------------------------------------------------------------


def test_comments():
    text = """# a grammar with comments
root ::= "a" # trailing comment
  | "#" # the '#' inside quotes is a character
# a comment line between alternatives
  | [#] item # another
item ::= "i"  # end
# final comment without newline"""
    assert root(text) == alt(literal("a"), literal("#"), seq(literal("#"), Ref("item")))


def test_rule_continues_after_bar_and_definition_and_in_parentheses():
    text = """root ::=
    "a" |
    "b" (
        "c"
        | "d"   # inside parentheses newlines are free
    )
other ::= "o"
"""
    g = grammar_from_gbnf(text)
    assert g.rules["root"] == alt(literal("a"), seq(literal("b"), alt(literal("c"), literal("d"))))
    assert g.rules["other"] == literal("o")


def test_line_starting_with_bar_continues_the_rule():
    text = 'root ::= "a"\n     | "b"\n\n   # comment\n   | "c"\nnext ::= "n"'
    g = grammar_from_gbnf(text)
    assert g.rules["root"] == alt(literal("a"), literal("b"), literal("c"))
    assert g.rules["next"] == literal("n")


def test_crlf_and_blank_lines():
    text = '\r\n\r\nroot ::= a |\r\n  "b"\r\n\r\na ::= "a"\r\n'
    g = grammar_from_gbnf(text)
    assert g.rules["root"] == alt(Ref("a"), literal("b"))
    assert g.rules["a"] == literal("a")


def test_byte_order_mark_is_ignored():
    assert root('\ufeffroot ::= "a"') == literal("a")


# -- errors ---------------------------------------------------------------------------------

ERRORS = [
    # (text, fragment of the message, line, column)
    ('root ::= "abc', "unterminated string", 1, 10),
    ('root ::= "abc\n"', "unterminated string", 1, 10),
    ('root ::= "a"\nx ::= "a\\q"', "unknown escape '\\q'", 2, 9),
    ("root ::= [\\w]", "unknown escape '\\w'", 1, 11),
    ('root ::= "\\x4"', "'\\x' needs 2 hex digits", 1, 11),
    ('root ::= "\\u12G4"', "'\\u' needs 4 hex digits", 1, 11),
    ('root ::= "\\U00110000"', "beyond U+10FFFF", 1, 11),
    ('root ::= "\\uD800"', "surrogate", 1, 11),
    ('root ::= "abc\\', "unterminated escape", 1, 14),
    ('root = "a"', "expected '::=' after rule name 'root', found '= \"a\"'", 1, 6),
    ('root\n::= "a"', "expected '::=' after rule name 'root', found end of line", 1, 5),
    ('::= "a"', "expected a rule name, found '::= \"a\"'", 1, 1),
    ('root ::= "a" ; "b"', "unexpected character ';' in rule 'root'", 1, 14),
    ('root ::= ("a" ; "b")', "unexpected character ';' in rule 'root'", 1, 15),
    ('root ::= "a")', "unexpected ')' in rule 'root'", 1, 13),
    ('root ::= ("a" | "b"\n  "c"', "expected ')' to close the '(' at line 1, column 10", 2, 6),
    ('root ::= "a"\n  "b"', "expected a rule name, found '\"b\"'; a rule ends at the end", 2, 3),
    ('root ::=\nitem ::= "x"', "unexpected '::='", 2, 6),
    ("root ::= item\n", "undefined rule 'item' (referenced in rule 'root')", 1, 10),
    ('root ::= "a" b\nb ::= "b" | c d\nc ::= "c"', "undefined rule 'd'", 2, 15),
    ('root ::= "a"\nroot ::= "b"', "rule 'root' defined twice (first at line 1, column 1)", 2, 1),
    ("root ::= [0-9]{3,2}", "bad repetition bounds {3,2}", 1, 15),
    ("root ::= [0-9]{}", "expected a repetition count", 1, 15),
    ("root ::= [0-9]{,}", "need at least one number", 1, 15),
    ("root ::= [0-9]{a}", "expected ',' or '}'", 1, 16),
    ("root ::= [0-9]{2,3", "expected '}'", 1, 19),
    ("root ::= *", "'*' must follow an item", 1, 10),
    ('root ::= "a" | +', "'+' must follow an item", 1, 16),
    ("root ::= <[123]>", "token reference '<[123]>' is not supported", 1, 10),
    ('root ::= "x" <think> .*', "token reference '<think>' is not supported", 1, 14),
    ("root ::= !<[7]>*", "token reference '!<[7]>' is not supported", 1, 10),
    ("root ::= [z-a]", "bad character range 'z-a'", 1, 11),
    ("root ::= []", "empty character class '[]'", 1, 10),
    ("root ::= [^]", "empty character class '[^]'", 1, 10),
    ("root ::= [abc", "unterminated character class", 1, 10),
    ("root ::= [abc\n]", "unterminated character class", 1, 10),
]


@pytest.mark.parametrize(("text", "fragment", "line", "column"), ERRORS)
def test_errors_name_the_problem_and_place(text, fragment, line, column):
    with pytest.raises(GrammarError) as info:
        grammar_from_gbnf(text)
    err = info.value
    assert fragment in str(err)
    assert (err.line, err.column) == (line, column)
    assert f"line {line}, column {column}" in str(err)


def test_missing_root_rule():
    with pytest.raises(GrammarError, match=r"no start rule: define 'root' \(rules defined: a, b\)"):
        grammar_from_gbnf('a ::= "a"\nb ::= a')
    with pytest.raises(GrammarError, match="empty grammar"):
        grammar_from_gbnf("# nothing here\n\n")
    with pytest.raises(GrammarError, match="define 'main'"):
        grammar_from_gbnf('root ::= "a"', start="main")


def test_undefined_start_rule_reference_is_reported_at_the_reference():
    with pytest.raises(GrammarError, match="undefined rule 'root'") as info:
        grammar_from_gbnf("a ::= root")
    assert (info.value.line, info.value.column) == (1, 7)


# -- end to end through the matcher -----------------------------------------------------------


@functools.cache
def compiled(text: str):
    return gl.compile(gl.Grammar.from_gbnf(text))


def accepts(text: str, s: str) -> bool:
    """Whether ``s`` is a complete string of the GBNF grammar ``text``."""
    m = compiled(text).matcher()
    return m.accept_string(s) and m.can_terminate()


def check(text: str, good: list[str], bad: list[str]) -> None:
    for s in good:
        assert accepts(text, s), f"should accept {s!r}"
    for s in bad:
        assert not accepts(text, s), f"should reject {s!r}"


JSON = r"""
# JSON values, after llama.cpp's grammars/json.gbnf
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9]+)? ws

# optional whitespace, bounded as llama.cpp recommends
ws ::= | " " | "\n" [ \t]{0,20}
"""


def test_json_grammar():
    check(
        JSON,
        good=[
            "{}",
            '{"a": 1}',
            '{"name": "Zoë 😀", "tags": ["x", "y"], "n": -12.5e3, "ok": true, "z": null}',
            '{"esc": "a\\"b\\\\c\\u00e9\\n"}',
            '{\n  "nested": {"deep": [1, [2, {}]]}\n}',
        ],
        bad=[
            "",
            "[]",  # root is an object
            '{"a": 1,}',
            '{"a" 1}',
            '{"a": 01}',
            '{"a": "line\nbreak"}',
            '{"a": "\\q"}',
            '{"a": tru}',
            '{"a": 1}}',
        ],
    )
    m = compiled(JSON).matcher()
    assert m.accept_string('{"key": [1, 2')
    assert not m.can_terminate()
    assert not m.accept_string("}")  # refused: the array is still open ...
    assert m.accept_string("]}")  # ... and the refusal left the state unchanged
    assert m.can_terminate()


ARITHMETIC = r"""
# left-recursive arithmetic expressions
root   ::= expr
expr   ::= expr ws [-+] ws term | term
term   ::= term ws [*/] ws factor | factor
factor ::= number | "(" ws expr ws ")" | "-" factor
number ::= [0-9]+ ("." [0-9]+)?
ws     ::= [ ]*
"""


def test_arithmetic_grammar_with_left_recursion():
    check(
        ARITHMETIC,
        good=["1", "1+2", "1 + 2 * 3", "(1+2)*3", "-(4 / 2.5) - -1", "((((7))))", "1*2*3*4-5-6"],
        bad=["", "+", "1+", "(1", "1)", "1 ++ 2", "1.", "a", "(1+2))"],
    )


LIST = r"""
root ::= item+
# an item is a dash, a space and the rest of the line
item ::= "- " [^\r\n\x0b\x0c\x85\u2028\u2029]+ "\n"
"""


def test_list_grammar():
    check(
        LIST,
        good=["- one\n", "- one\n- two 2\n- drei: ü ß 😀\n"],
        bad=["", "- one", "-one\n", "- \n", "- one\n\n", "* one\n", "- a\u2028b\n"],
    )


CHESS = r"""
# numbered moves, after llama.cpp's grammars/chess.gbnf
root ::= (
    "1. " move " " move "\n"
    ([1-9] [0-9]? ". " move " " move "\n")+
)
move    ::= (pawn | nonpawn | castle) [+#]?
pawn    ::= ([a-h] "x")? [a-h] [1-8] ("=" [NBKQR])?
nonpawn ::= [NBKQR] [a-h]? [1-8]? "x"? [a-h] [1-8]
castle  ::= "O-O" "-O"?
"""


def test_chess_grammar():
    check(
        CHESS,
        good=[
            "1. e4 e5\n2. Nf3 Nc6\n",
            "1. d4 d5\n2. c4 dxc4\n3. e3 b5\n10. O-O O-O-O\n11. exd8=Q+ Rxd8#\n",
            "1. e4 e5\n2. Nbd2 R1a3\n",
        ],
        bad=["1. e4 e5\n", "1. e9 e5\n2. a3 a6\n", "1. e4 e5\n2. Ke4\n", "1. e4 e5\n0. a3 a6\n"],
    )


ESCAPES_AND_UNICODE = r"""
root ::= "caf\xe9 " [^a-z\u00e9]{2} " " . "\t" [\U0001F600-\U0001F64F]+ dash
dash ::= [\-] | "\u2014"
"""


def test_escapes_and_classes_end_to_end():
    check(
        ESCAPES_AND_UNICODE,
        good=["café AB 字\t😀😃-", "café ÉЖ x\t🙏—"],
        bad=[
            "cafe AB x\t😀-",
            "café aB x\t😀-",
            "café éB x\t😀-",
            "café AB x\t🚀-",
            "café AB \t😀-",
        ],
    )
    # `.` is one whole code point: a 4-byte character passes, two characters do not.
    m = compiled(ESCAPES_AND_UNICODE).matcher()
    assert m.accept_string("café AB ")
    assert m.accept_bytes("😀".encode()[:2])
    assert not m.accept_bytes(b"\t")  # inside a multi-byte character
    assert m.accept_bytes("😀".encode()[2:] + b"\t")


def test_bounded_repetition_end_to_end():
    text = 'root ::= "<" [0-9]{2,4} ">" ("," [a-z]{,2})*'
    check(
        text,
        good=["<12>", "<1234>", "<123>,ab,", "<00>,,a"],
        bad=["<1>", "<12345>", "<12>,abc", "<12>;"],
    )


def test_mutual_recursion_end_to_end():
    text = """
root ::= a
a    ::= "(" b? ")" | "x"
b    ::= a ("," a)*
"""
    check(text, good=["x", "()", "(x)", "((x),(),x)"], bad=["", "(", "(x,)", "(()"])


def test_punctuation_and_negated_non_ascii_classes_end_to_end():
    # The punctuation class of llama.cpp's english.gbnf: ',-.' is a range, '[' and '^' are plain.
    text = r"""
root  ::= (word | punct)+ (" " (word | punct)+)*
word  ::= [^ \t\n!-/:-@\[-`{-~é]+
punct ::= [!"#$%&'()*+,-./:;<=>?@[\\\]^_`{|}~]
"""
    check(
        text,
        good=["Hello, world!", "naïve [x]\\^_^ ~{|}", "e-mail", "Ωmega 字"],
        bad=["", "Hello  world", "café", "é", "line\nbreak", "tab\there"],
    )
    m = compiled(text).matcher()
    assert m.accept_bytes(b"\xc3")  # é and ï share their first byte
    assert not m.accept_bytes(b"\xa9")  # ...but é (C3 A9) is excluded
    assert m.accept_bytes(b"\xaf")  # ...and ï (C3 AF) is not
    assert m.can_terminate()
