"""ECMA-262 patterns (JSON Schema ``pattern`` and ``patternProperties``) mean what ECMA-262 says.

* Character items against explicit code point sets from the specification (``\\s``, ``.``,
  ``\\d``, ``\\w``, control and Unicode escapes), over every code point.
* ``\\p{...}``/``\\P{...}`` against the ``regex`` package's own matching, over sample code points
  of every General_Category value (each name and alias), many scripts and the binary properties.
* A differential test against V8 (``new RegExp(p, "u").test(s)`` in Node.js, when installed).
* The JSON-Schema-Test-Suite's optional ECMA-262 regex cases, through ``Grammar.from_json_schema``.
"""

from __future__ import annotations

import bisect
import json
import random
import shutil
import subprocess
import unicodedata

import pytest
import regex

import grammarlib as gl
from grammarlib.charsets import (
    MAX_CODE_POINT,
    SURROGATES,
    complement,
    contains,
    difference,
    normalize,
)
from grammarlib.ir import EMPTY
from grammarlib.jsonschema import SchemaError, ecma_pattern
from grammarlib.regex import (
    _BINARY_PROPERTIES,
    _GC_NAMES,
    _GC_VALUES,
    _SCRIPT_NAMES,
    ecma_to_python,
)
from grammarlib.regex import CharLeaf as _Chars
from grammarlib.regular import CharDFA

NO_SURROGATES = ((0, SURROGATES[0] - 1), (SURROGATES[1] + 1, MAX_CODE_POINT))
LINE_TERMINATORS = normalize([(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)])

# Sample code points: all of the BMP's first 0x3400 (most scripts and the symbol blocks), then a
# stride through the rest of the code space, plus the edges of every plane.
SAMPLE = [
    cp
    for cp in [
        *range(0x3400),
        *range(0x3400, 0x10000, 7),
        *range(0x10000, MAX_CODE_POINT + 1, 61),
        *(p << 16 | 0xFFFF for p in range(17)),
        *(p << 16 for p in range(17)),
    ]
    if not 0xD800 <= cp <= 0xDFFF
]


def char_set(item: str) -> tuple[tuple[int, int], ...]:
    """The exact code points a one-character ECMA item matches, through ``ecma_pattern``."""
    expr = ecma_pattern("^" + item + "$")
    if expr == EMPTY:  # no character at all
        return ()
    assert isinstance(expr, _Chars), expr
    return difference(expr.chars, (SURROGATES,))  # never characters of a string


def comp(chars: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """The characters (code points but surrogates) not in ``chars``."""
    return difference(complement(chars), (SURROGATES,))


def members(chars: tuple[tuple[int, int], ...], cps: list[int]) -> set[int]:
    """The code points of ``cps`` in ``chars`` (by bisection: ``chars`` may be large)."""
    starts = [lo for lo, _ in chars]
    out = set()
    for cp in cps:
        i = bisect.bisect_right(starts, cp) - 1
        if i >= 0 and cp <= chars[i][1]:
            out.add(cp)
    return out


def prop(letter: str, body: str) -> str:
    """The property escape ``\\p{body}`` (``letter`` "P": ``\\P{body}``)."""
    return "\\" + letter + "{" + body + "}"


def searches(pattern: str, text: str) -> bool:
    return CharDFA.from_expr(ecma_pattern(pattern)).accepts(text)


# -- character escapes and classes -----------------------------------------------------------------


def test_white_space_is_ecma_white_space_and_line_terminators():
    # ECMA-262 WhiteSpace: TAB, VT, FF, ZWNBSP, and every Space_Separator (Zs) character;
    # LineTerminator: LF, CR, LS, PS.
    zs = [cp for cp in range(0x10000) if unicodedata.category(chr(cp)) == "Zs"]
    expected = normalize(
        [(cp, cp) for cp in [0x09, 0x0B, 0x0C, 0xFEFF, *zs]] + list(LINE_TERMINATORS)
    )
    assert char_set(r"\s") == expected
    assert char_set(r"\S") == comp(expected)
    listed = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0xA0, 0x1680, *range(0x2000, 0x200B)]
    listed += [0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF]
    assert char_set(r"\s") == normalize((cp, cp) for cp in listed)
    assert char_set(r"[\s]") == expected and char_set(r"[^\s]") == comp(expected)
    assert not contains(char_set(r"\s"), 0x85) and not contains(char_set(r"\s"), 0x180E)
    assert not contains(char_set(r"\s"), 0x200B)


def test_dot_excludes_only_line_terminators():
    assert char_set(".") == comp(LINE_TERMINATORS)
    for c in "\n\r\u2028\u2029":
        assert not searches("^.$", c)
    for c in "\x85\x0b\x0c\t\x00\U0010ffff":
        assert searches("^.$", c)


def test_digit_and_word_are_ascii():
    assert char_set(r"\d") == ((0x30, 0x39),)
    assert char_set(r"\D") == comp(((0x30, 0x39),))
    word = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
    assert char_set(r"\w") == word and char_set(r"\W") == comp(word)
    assert char_set(r"[\w\-.]") == normalize([*word, (0x2D, 0x2E)])
    assert not searches(r"^\d$", "\u07c0") and not searches(r"^\w$", "é")


@pytest.mark.parametrize(
    ("item", "code_point"),
    [
        (r"\t", 0x09),
        (r"\n", 0x0A),
        (r"\v", 0x0B),
        (r"\f", 0x0C),
        (r"\r", 0x0D),
        (r"\0", 0x00),
        (r"\cA", 0x01),
        (r"\cj", 0x0A),
        (r"\cZ", 0x1A),
        (r"\x41", 0x41),
        (r"\xfF", 0xFF),
        (r"\u00e9", 0xE9),
        (r"\u{1F600}", 0x1F600),
        (r"\u{000041}", 0x41),
        (r"\uD83D\uDE00", 0x1F600),  # an escaped surrogate pair is one code point
        ("\ud83d\ude00", 0x1F600),  # so is a raw pair (UTF-16 text)
        ("\U0001f600", 0x1F600),
        (r"[\b]", 0x08),
        (r"\/", 0x2F),
        (r"\.", 0x2E),
        (r"\-", 0x2D),
        (r"\[", 0x5B),
        (r"\{", 0x7B),
        ("}", 0x7D),
        ("]", 0x5D),
        (r"[\uD83D\uDE00]", 0x1F600),
        (r"[\u{1F600}]", 0x1F600),
        (r"[\-]", 0x2D),
        (r"[\cJ]", 0x0A),
    ],
)
def test_character_escapes(item, code_point):
    assert char_set(item) == ((code_point, code_point),)


def test_classes():
    assert ecma_pattern("^[]$") == ecma_pattern("^[^\\s\\S]$")
    assert CharDFA.from_expr(ecma_pattern("[]")).is_empty()  # matches nothing, anywhere
    assert CharDFA.from_expr(ecma_pattern("a|[]")).accepts("xa")
    assert char_set("[^]") == NO_SURROGATES
    assert char_set("[a-c-e]") == normalize([(0x61, 0x63), (0x2D, 0x2D), (0x65, 0x65)])
    assert char_set(r"[\d-]") == char_set(r"[-\d]") == normalize([(0x30, 0x39), (0x2D, 0x2D)])
    assert char_set("[^-a]") == comp(((0x2D, 0x2D), (0x61, 0x61)))
    assert char_set(r"[\]\\]") == ((0x5C, 0x5D),)
    assert char_set(r"[\u0041-\u{5A}]") == ((0x41, 0x5A),)
    letters = char_set(r"\p{L}")
    assert char_set(r"[^\p{L}]") == char_set(r"\P{L}") == comp(letters)
    assert char_set(r"[\P{L}\d]") == normalize([*comp(letters), (0x30, 0x39)])
    assert char_set(r"[^\P{L}\d]") == normalize(
        [r for r in letters if not (r[0] >= 0x30 and r[1] <= 0x39)]
    )
    assert char_set(r"[\p{Lu}\p{Ll}]") == normalize([*char_set(r"\p{Lu}"), *char_set(r"\p{Ll}")])
    # "]" right after "[" closes an empty class (unlike Python, where it is a member).
    assert not searches("^[]a]$", "a") and not searches("^[]a]$", "]")


def test_structure_is_kept():
    assert searches("^(?:ab|cd){2}$", "abcd") and not searches("^(?:ab|cd){2}$", "abc")
    assert searches(r"^(?<year>\d{4})-\d\d$", "2024-01")
    assert searches("ab|^cd$", "xxabyy") and not searches("ab|^cd$", "xcd")
    # Each top-level alternative keeps its anchors, even where re would factor out a common
    # prefix of the alternatives (``^01$|^07$`` reads as ``^0(?:1$|7$)`` there).
    for text, found in [("01", True), ("07", True), ("017", False), ("x07", False)]:
        assert searches("^01$|^07$", text) == found, text
    assert searches("^ab|^ab-c?$", "abx") and not searches("^ab|^ab-c?$", "xab-")
    assert searches("^a{2,}$", "aaaa") and not searches("^a{2,}$", "a")
    assert searches("^a{1,2}?b$", "aab")
    # A brace that is no quantifier is itself (Annex B); "^abc$" does not match "abc\n".
    assert searches("^{x}$", "{x}") and searches("^a{x$", "a{x")
    assert not searches("^abc$", "abc\n")


# -- Unicode property escapes ---------------------------------------------------------------------


def reference(escape: str) -> set[int]:
    """Sample code points the ``regex`` package matches with ``escape``."""
    compiled = regex.compile(escape)
    return {cp for cp in SAMPLE if compiled.fullmatch(chr(cp))}


@pytest.mark.parametrize("name", sorted(_GC_NAMES))
def test_general_category_matches_regex(name):
    canonical = next(v[0] for v in _GC_VALUES if name == v[0] or name in v[1])
    expected = reference(prop("p", "General_Category=" + canonical))
    assert expected or canonical == "Surrogate", canonical  # (the sample has no surrogates)
    assert members(char_set(prop("p", name)), SAMPLE) == expected
    assert members(char_set(prop("p", "gc=" + name)), SAMPLE) == expected
    assert members(char_set(prop("p", "General_Category=" + name)), SAMPLE) == expected
    assert members(char_set(prop("P", name)), SAMPLE) == set(SAMPLE) - expected


def test_general_category_groups_and_examples():
    assert searches(r"\p{Letter}cole", "l'école") and not searches(r"\p{Letter}cole", "L'ÉCOLE")
    assert searches(r"^\p{digit}+$", "\u09ea\u09e8") and not searches(r"^\p{digit}+$", "-%#")
    assert searches(r"^\p{Lu}\p{Ll}+$", "Émile") and not searches(r"^\p{Lu}\p{Ll}+$", "émile")
    cased = normalize([*char_set(r"\p{Lu}"), *char_set(r"\p{Ll}"), *char_set(r"\p{Lt}")])
    assert char_set(r"\p{LC}") == char_set(r"\p{Cased_Letter}") == cased
    assert CharDFA.from_expr(ecma_pattern(r"^\p{Cs}$")).is_empty()  # surrogates: no characters
    assert char_set(r"\P{Cs}") == NO_SURROGATES


SCRIPTS = ["Latin", "Greek", "Cyrillic", "Arabic", "Hebrew", "Han", "Hiragana", "Katakana"]
SCRIPTS += ["Devanagari", "Bengali", "Thai", "Hangul", "Common", "Inherited", "Unknown"]
SCRIPTS += ["Ethiopic", "Cherokee", "Gothic", "Old_Italic", "Nko", "SignWriting", "Adlam"]
SCRIPTS += ["Katakana_Or_Hiragana", "Coptic", "Tifinagh", "Egyptian_Hieroglyphs", "Kawi"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_match_regex(script):
    short = next((k for k, v in _SCRIPT_NAMES.items() if v == script and len(k) == 4), script)
    for kind, long in (("sc", "Script"), ("scx", "Script_Extensions")):
        expected = reference(prop("p", long + "=" + script))
        for name in (long, kind):
            for value in (script, short):
                got = members(char_set(prop("p", name + "=" + value)), SAMPLE)
                assert got == expected, (name, value)
        assert members(char_set(prop("P", kind + "=" + short)), SAMPLE) == set(SAMPLE) - expected


def test_script_names_are_the_unicode_aliases():
    """Every name of the table is one that regex knows for the same script (long and short
    names agree), and every script regex knows is in the table unless it is newer than the
    table: a typo or a missing alias cannot pass unnoticed."""
    core = pytest.importorskip("regex._regex_core")
    _, values = core.PROPERTIES["SCRIPT"]

    def loose(name: str) -> str:
        return name.replace("_", "").upper()

    for alias, canonical in _SCRIPT_NAMES.items():
        assert values[loose(alias)] == values[loose(canonical)], alias
    known = {values[loose(name)] for name in _SCRIPT_NAMES}
    newer = {name for name, v in values.items() if v not in known}
    assert newer <= {"JURC", "JURCHEN", "PCUN", "PROTOCUNEIFORM", "SEAL"}, newer
    assert _SCRIPT_NAMES["Qaac"] == "Coptic" and _SCRIPT_NAMES["Zyyy"] == "Common"


@pytest.mark.parametrize("name", sorted(set(_BINARY_PROPERTIES.values())))
def test_binary_properties_match_regex(name):
    if name == "Changes_When_NFKC_Casefolded":  # regex has no table: refused by name
        with pytest.raises(SchemaError, match="CWKCF"):
            ecma_pattern(r"\p{CWKCF}")
        return
    aliases = [k for k, v in _BINARY_PROPERTIES.items() if v == name]
    if name == "Any":
        expected = set(SAMPLE)
    elif name == "ASCII":
        expected = {cp for cp in SAMPLE if cp < 0x80}
    elif name == "Assigned":
        expected = set(SAMPLE) - reference(r"\p{gc=Cn}")
    else:
        expected = reference(prop("p", name))
    for alias in aliases:
        assert members(char_set(prop("p", alias)), SAMPLE) == expected, alias
        assert members(char_set("[^" + prop("p", alias) + "]"), SAMPLE) == set(SAMPLE) - expected


def test_well_known_binary_properties():
    assert members(char_set(r"\p{White_Space}"), list(range(0x3001))) == {
        *range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
        0x202F, 0x205F, 0x3000,
    }  # fmt: skip
    alpha = char_set(r"\p{Alpha}")
    assert contains(alpha, ord("é")) and contains(alpha, 0x345) and not contains(alpha, ord("1"))
    assert char_set(r"\p{Any}") == NO_SURROGATES and char_set(r"\p{ASCII}") == ((0, 0x7F),)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"\p{letter}", r"\\p\{letter\}.*did you mean 'Letter'"),
        (r"^\p{Script=Foo}", r"\\p\{Script=Foo\}.*unknown Script value 'Foo'"),
        (r"\p{Block=Greek}", r"unknown property name 'Block'"),
        (r"\p{gc=Greek}", r"unknown General_Category value 'Greek'"),
        (r"\p{sc=Lu}", r"unknown Script value 'Lu'"),
        (r"\p{Greek}", r"not a General_Category value or binary property: 'Greek'"),
        (r"[\P{IsGreek}]", r"\\P\{IsGreek\}"),
        (r"\p{script=Greek}", r"did you mean 'Script'"),
        (r"\pL", r"must be followed by \{property\}"),
        (r"\p{L", r"must be followed by \{property\}"),
    ],
)
def test_unknown_properties_raise(pattern, message):
    with pytest.raises(SchemaError, match=message) as info:
        ecma_pattern(pattern)
    assert repr(pattern)[1:-1] in str(info.value)  # names the pattern
    schema = {"type": "string", "pattern": pattern}
    with pytest.raises(gl.SchemaError, match=r"'pattern' at #.*" + message):
        gl.Grammar.from_json_schema(schema)


# -- what ECMA-262 does not have, or grammarlib cannot enforce ------------------------------------


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"\Z", r"unknown escape \\Z"),
        (r"\A", r"unknown escape \\A"),
        (r"a\z", r"unknown escape \\z"),
        (r"\a", r"unknown escape \\a"),
        (r"\U0001F600", r"unknown escape \\U"),
        (r"\N{DASH}", r"unknown escape \\N"),
        (r"[\B]", r"unknown escape \\B"),
        (r"(?i)a", r"group syntax '\(\?i'"),
        (r"(?P<x>a)", r"group syntax '\(\?P'"),
        (r"(?#note)a", r"group syntax '\(\?#'"),
        (r"(a)\1", r"backreference \\1"),
        (r"(?<x>a)\k<x>", r"backreference \\k"),
        (r"a{,2}", r"\{,2\} is not a quantifier"),
        (r"[z-a]", r"range out of order"),
        (r"[\d-z]", r"class escape cannot bound a range"),
        (r"\c1", r"\\c must be followed by a letter"),
        (r"\x4", r"\\x must be followed by two hex digits"),
        (r"\u12", r"\\u must be followed by four hex digits"),
        (r"\u{110000}", r"beyond U\+10FFFF"),
        (r"\00", r"octal escapes"),
        (r"[a", r"unterminated character class"),
        ("a\\", r"\\ at end of pattern"),
        (r"(?<1x>a)", r"invalid group name"),
        (r"a**", r"multiple repeat"),
        (r"(a", r"missing \)"),
        (r"a(?=b)", r"lookaround"),
        (r"a\bb", r"word boundary"),
    ],
)
def test_refused_clearly(pattern, message):
    with pytest.raises(gl.GrammarError, match=message):
        ecma_pattern(pattern)


def test_translation_is_plain_re():
    assert ecma_to_python(r"^\d{2}$") == "^[\\U00000030-\\U00000039]{2}$"
    assert ecma_to_python("ab") == "ab"
    assert ecma_to_python("(?:a)|(b)") == "(?:a)|(b)"


# -- the JSON-Schema-Test-Suite (2020-12 optional/ecmascript-regex.json, non-bmp-regex.json) --

FRENCH = (
    "Les hivers de mon enfance {e}taient des saisons longues, longues. Nous vivions en trois "
    "lieux: l'{e}cole, l'{e}glise et la patinoire; mais la vraie vie {e}tait sur la patinoire."
)
SUITE = [
    ("^abc$", [("abc\n", False), ("abc", True)]),
    ("^\\t$", [("\\t", False), ("\t", True)]),
    ("^\\cC$", [("\\cC", False), ("\x03", True)]),
    ("^\\cc$", [("\\cc", False), ("\x03", True)]),
    ("^\\d$", [("0", True), ("\u07c0", False)]),
    ("^\\D$", [("0", False), ("\u07c0", True)]),
    ("^\\w$", [("a", True), ("\u00e9", False)]),
    ("^\\W$", [("a", False), ("\u00e9", True)]),
    (
        "^\\s$",
        [(c, True) for c in " \t\x0b\x0c\xa0\ufeff\n\u2029\u2003"]
        + [("\x01", False), ("\u2013", False)],
    ),
    (
        "^\\S$",
        [(c, False) for c in " \t\x0b\x0c\xa0\ufeff\n\u2029\u2003"]
        + [("\x01", True), ("\u2013", True)],
    ),
    (
        "\\p{Letter}cole",
        [
            (FRENCH.format(e="e"), True),
            (FRENCH.format(e="\u00e9"), True),
            (FRENCH.format(e="\u00c9").upper(), False),
        ],
    ),
    (
        "\\wcole",
        [
            (FRENCH.format(e="e"), True),
            (FRENCH.format(e="\u00e9"), False),
            (FRENCH.format(e="\u00c9").upper(), False),
        ],
    ),
    ("[a-z]cole", [(FRENCH.format(e="\u00e9"), False), (FRENCH.format(e="e"), True)]),
    ("^\\d+$", [("42", True), ("-%#", False), ("\u09ea\u09e8", False)]),
    ("^\\p{digit}+$", [("42", True), ("-%#", False), ("\u09ea\u09e8", True)]),
    (
        "^\U0001f432*$",
        [
            ("", True),
            ("\U0001f432", True),
            ("\U0001f432\U0001f432", True),
            ("\U0001f409", False),
            ("\U0001f409\U0001f409", False),
            ("D", False),
            ("DD", False),
        ],
    ),
]


def accepts_json(grammar: gl.Grammar, value: object) -> bool:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        m = gl.compile(grammar).matcher()
        if not (m.accept_string(text) and m.can_terminate()):
            return False
    return True


@pytest.mark.parametrize(("pattern", "cases"), SUITE, ids=[p for p, _ in SUITE])
def test_suite_pattern(pattern, cases):
    g = gl.Grammar.from_json_schema({"type": "string", "pattern": pattern})
    for value, valid in cases:
        assert accepts_json(g, value) == valid, value


@pytest.mark.parametrize(("pattern", "cases"), SUITE[10:], ids=[p for p, _ in SUITE[10:]])
def test_suite_pattern_properties(pattern, cases):
    schema = {
        "type": "object",
        "patternProperties": {pattern: {"type": "integer"}},
        "additionalProperties": False,
    }
    g = gl.Grammar.from_json_schema(schema)
    for key, valid in cases:
        if len(key) < 40:
            assert accepts_json(g, {key: 1}) == valid, key
            assert not accepts_json(g, {key: "x"}), key


# -- against V8 ------------------------------------------------------------------------------------

NODE_SCRIPT = """
let data = "";
process.stdin.on("data", (c) => (data += c));
process.stdin.on("end", () => {
  const { patterns, strings } = JSON.parse(data);
  const out = patterns.map((p) => {
    let re;
    try { re = new RegExp(p, "u"); } catch (e) { return null; }
    return strings.map((s) => (re.test(s) ? "1" : "0")).join("");
  });
  process.stdout.write(JSON.stringify(out));
});
"""

SYNTAX_PATTERNS = [
    r"^\s+$", r"^.$", r"^\S\D\W$", r"[\w\-.]+@", r"^\cJ$", r"^\0$", r"^\x41\u0042\u{43}$",
    r"^[\b]$", r"^[^]$", r"^[]$", r"a{2}", r"^\u{1F600}$", r"^\uD83D\uDE00$", r"^[\uD83D\uDE00a]$",
    r"^[\d-]$", r"^[-\d]$", r"^[a-c-e]$", r"^\/\.\*$", r"^(?:ab|cd)+$", r"^(?<year>\d{4})-\d\d$",
    r"ab|^cd$", r"^[\s\S]$", r"^[\W\d]$", r"^[^\s\w]+$", r"x.y", r"^a?b*?c+$", r"^[\x00-\x1f]$",
    r"^[^\n]+$", r"^\p{L}+$", r"^[\p{Lu}\d]+$", r"^[^\p{Ll}]$", r"\p{Script=Greek}",
    r"^\p{sc=Cyrl}+$", r"^\P{L}$", r"^\p{White_Space}$", r"^\p{ASCII}+$", r"^\p{Any}$",
    r"^\p{gc=Nd}$", r"^\p{General_Category=Letter}$", r"^\p{Zs}$", r"^\p{Nd}{2,3}$",
    r"^\P{Script_Extensions=Latin}$", r"^[\p{P}\p{S}]$", r"^\p{Lowercase}$", r"a{,2}", r"\a",
    r"\Z", r"(?i)a", r"\p{letter}", r"[z-a]", r"^01$|^07$", r"^ab|^ab-c?$", r"(a|b)c|^d",
]  # fmt: skip


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_against_v8():
    rng = random.Random(0)
    # Code points old enough that every Unicode version since 2021 agrees on their properties.
    pool = [*range(0x0530), *range(0x2000, 0x2070), 0x3000, 0x4E00, 0x9FA5, 0xFEFF, 0xFF21]
    pool += [0x1F600, 0x10FFFF, 0x0660, 0x09EA, 0x0391, 0x03C9, 0x0410, 0x05D0]
    strings = [chr(cp) for cp in pool]
    strings += [
        "".join(chr(rng.choice(pool)) for _ in range(rng.randint(0, 5))) for _ in range(3000)
    ]
    strings += ["ab", "cd", "abcd", "2024-01", "x@", "/.*", "aab", "xy", "x\ny", "x\u2028y"]
    strings += ["\U0001f600", "a{,2}", "a\\Z"]
    run = subprocess.run(
        ["node", "-e", NODE_SCRIPT],
        input=json.dumps({"patterns": SYNTAX_PATTERNS, "strings": strings}),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    answers = json.loads(run.stdout)
    for pattern, answer in zip(SYNTAX_PATTERNS, answers, strict=True):
        try:
            dfa = CharDFA.from_expr(ecma_pattern(pattern))
        except gl.GrammarError:
            assert answer is None, f"grammarlib refuses {pattern!r}, V8 accepts it"
            continue
        assert answer is not None, f"V8 rejects {pattern!r}, grammarlib accepts it"
        wrong = [s for s, a in zip(strings, answer, strict=True) if dfa.accepts(s) != (a == "1")]
        assert not wrong, (pattern, wrong[:5])


# -- lookaheads right after ^ (real schemas: JSON Schema Store's key patterns) -----------------


@pytest.mark.parametrize(
    "pattern",
    [
        r"^(?!-)[-a-z0-9]{0,49}[a-z0-9]$",
        r"^(?!@@)[@a-zA-Z0-9_-]+$",
        r"^(?![\.0-9]).",
        r"^(?!pattern$).*$",
        r"^(?=a)[a-c]+$",
        r"^(?!aliases|audio|date)[a-z]+$",
        r"^(?!ab)(?!ba)[ab]*$",
        r"^x|^(?!y)z",
    ],
)
def test_leading_lookaheads_agree_with_re(pattern: str) -> None:
    """Read exactly through the character DFAs (the strings the rest matches, with or without
    those that start with a match of the lookahead), in both forms: DFA and expression."""
    from grammarlib.jsonschema.lexical import ecma_pattern_dfa
    from grammarlib.regular import CharDFA

    dfa = ecma_pattern_dfa(pattern)
    try:
        expr_dfa = CharDFA.from_expr(ecma_pattern(pattern))
    except gl.GrammarError as e:  # the expression form may need several rules
        assert "ecma_pattern_dfa" in str(e)
        expr_dfa = dfa
    rng = random.Random(pattern)
    words = ["pattern", "patterns", "aliases", "audiox", "-a", "a-", "@@x", "@x", ".x", "5x", ""]
    words += ["".join(rng.choice("abxyz-@_.09 patern") for _ in range(rng.randint(0, 9)))
              for _ in range(2000)]  # fmt: skip
    for word in words:
        want = regex.search(pattern, word) is not None
        assert dfa.accepts(word) is want and expr_dfa.accepts(word) is want, (pattern, word)


def test_pattern_properties_with_a_leading_lookahead() -> None:
    import jsonschema

    schema = {
        "type": "object",
        "patternProperties": {"^(?!x-)[a-z-]+$": {"type": "integer"}, "^x-": {"type": "string"}},
        "additionalProperties": False,
    }
    validator = jsonschema.Draft202012Validator(schema)
    m = gl.compile(gl.Grammar.from_json_schema(schema))
    for value in ({"ab": 1, "x-y": "s"}, {"x-y": 1}, {"ab": "s"}, {"AB": 1}):
        matcher = m.matcher()
        ok = matcher.accept_string(json.dumps(value)) and matcher.can_terminate()
        assert ok is validator.is_valid(value), value
