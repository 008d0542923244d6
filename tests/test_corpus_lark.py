"""Property tests of the Lark corpus (tests/corpus/*.lark) against lark's Earley parser.

Valid strings come from :mod:`reference` (random derivations over lark's own compiled rules), so
neither side of a comparison goes through grammarlib's front-end.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import (
    LarkReference,
    check_drawn_mutant,
    check_mutant,
    check_pieces,
    check_valid,
    feed,
    mutations,
    scaled,
)

import grammarlib as gl

CORPUS = Path(__file__).parent / "corpus"
GRAMMARS = sorted(p.name for p in CORPUS.glob("*.lark"))

#: Small grammars whose random derivations are tiny at the default depth get more of it.
EXTRA_DEPTH = {"ambiguous_pairs.lark": 10, "ambiguous_expr.lark": 7, "json.lark": 8}

SETTINGS = settings(
    max_examples=scaled(12),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def reference(name: str, start: str = "start") -> LarkReference:
    return LarkReference.from_text((CORPUS / name).read_text(encoding="utf-8"), start)


@functools.cache
def compiled(name: str, start: str = "start") -> gl.CompiledGrammar:
    text = (CORPUS / name).read_text(encoding="utf-8")
    return gl.compile(gl.Grammar.from_lark(text, start=start))


def valid_strings(name: str) -> st.SearchStrategy[str]:
    return reference(name).strings(extra_depth=EXTRA_DEPTH.get(name, 6))


def test_corpus_is_complete() -> None:
    assert len(GRAMMARS) >= 11, GRAMMARS


@pytest.mark.parametrize("name", GRAMMARS)
@SETTINGS
@given(data=st.data())
def test_reference_generates_strings_lark_accepts(name: str, data: st.DataObject) -> None:
    """Guards the generator itself: every derived string is in lark's language."""
    ref = reference(name)
    s = data.draw(
        ref.strings(extra_depth=EXTRA_DEPTH.get(name, 6), ignore=data.draw(st.booleans()))
    )
    assert ref.accepts(s), s


@pytest.mark.parametrize("name", GRAMMARS)
@SETTINGS
@given(data=st.data())
def test_valid_strings_accepted(name: str, data: st.DataObject) -> None:
    s = data.draw(valid_strings(name), label="valid")
    m = compiled(name).matcher()
    assert m.accept_string(s) and m.can_terminate()
    check_valid(compiled(name).matcher, reference(name).accepts, s.encode(), data.draw)


@pytest.mark.parametrize("name", GRAMMARS)
@SETTINGS
@given(data=st.data())
def test_mutated_strings_agree_with_lark(name: str, data: st.DataObject) -> None:
    s = data.draw(valid_strings(name), label="valid")
    check_drawn_mutant(data, compiled(name).matcher, reference(name), s)


@pytest.mark.parametrize("name", GRAMMARS)
@SETTINGS
@given(data=st.data())
def test_rollback_copy_reset(name: str, data: st.DataObject) -> None:
    ref = reference(name)
    s = data.draw(valid_strings(name), label="valid")
    if data.draw(st.booleans(), label="mutate"):
        s = data.draw(mutations(s, ref.alphabet(s)), label="mutant")
    check_pieces(compiled(name).matcher, s.encode(), data.draw)


OTHER_STARTS = [
    ("indirect.lark", "x"),
    ("indirect.lark", "h"),
    ("sql.lark", "cond"),
    ("clike.lark", "expr"),
    ("json.lark", "object"),
    ("csv.lark", "row"),
    ("templates.lark", "pair"),
]


@pytest.mark.parametrize(("name", "start"), OTHER_STARTS)
@SETTINGS
@given(data=st.data())
def test_other_start_rules(name: str, start: str, data: st.DataObject) -> None:
    """``Grammar.from_lark(text, start=...)`` against ``Lark(text, start=...)``."""
    ref = reference(name, start)
    s = data.draw(ref.strings(), label="valid")
    assert ref.accepts(s)
    check_valid(compiled(name, start).matcher, ref.accepts, s.encode(), data.draw)
    mutant = data.draw(mutations(s, ref.alphabet(s)), label="mutant").encode()
    units = [c.encode() for c in ref.alphabet(s)]
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    check_mutant(compiled(name, start).matcher, ref.accepts, s.encode(), mutant, units, rng)


# Hand-picked strings: (grammar, text, in the language?). Checked against lark and the matcher.
EXAMPLES = [
    ("json.lark", '{"a": [1, -2.5e-3, "\\u00e9\\n", true, null], "b": {}}', True),
    ("json.lark", " [ ] ", True),
    ("json.lark", "[01]", False),
    ("json.lark", '"\\x"', False),
    ("json.lark", '"\\u12G4"', False),
    ("json.lark", "[1,]", False),
    ("json.lark", '"tab\there"', False),
    ("arith.lark", "1 - -2 * (3 + .5e2) / 4.", True),
    ("arith.lark", "((1))", True),
    ("arith.lark", "1 2", False),
    ("arith.lark", "1 +", False),
    ("csv.lark", 'a,"b ""c"""\n1,\n,\r\n"x\ny",z\n', True),
    ("csv.lark", "a,b", False),
    ("csv.lark", 'a,b"c\n', False),
    ("csv.lark", '"a"b\n', False),
    (
        "sql.lark",
        "SeLeCt a, t.b AS c FROM t x WHERE a = 1 AND NOT b IS NULL ORDER BY a DESC LIMIT 5;",
        True,
    ),
    ("sql.lark", "select distinct * from t where (a < 'it''s' or b <> 2) and c is not null", True),
    ("sql.lark", "select from t", False),
    ("sql.lark", "select a from t limit x", False),
    ("clike.lark", "x = f(a, b)[i] + -y * 3 || z && w == 0; // done\ng();", True),
    ("clike.lark", "a[0] += b <= 0x1F;", True),
    ("clike.lark", "1 = 2;", False),
    ("clike.lark", "f(a,);", False),
    ("indirect.lark", "a, (b, c), d", True),
    ("indirect.lark", "#eadfbgb", True),
    ("indirect.lark", "#ed", False),
    ("indirect.lark", "a,", False),
    ("indirect.lark", "%zzyxx", True),
    ("indirect.lark", "% z z y x", False),
    ("indirect.lark", "&v++", True),
    ("indirect.lark", "&+", False),
    ("features.lark", "0xfF,v1.2.3,[ab cd],2024-02-31,?!,?abc!,x,kw,KW,-1.5e3,\tname_2", True),
    ("features.lark", "١٢٣٤-01-01", True),  # \d is Unicode in re, hence in lark
    ("features.lark", "0xfg", False),
    ("features.lark", "v1.2.3.4", False),
    ("features.lark", "0x1", False),
    ("features.lark", "2024-13-01", False),
    ("features.lark", "k W", False),
    ("features.lark", "[ab  cd]", False),
    ("ambiguous_pairs.lark", "", True),
    ("ambiguous_pairs.lark", "a(()a)(a)", True),
    ("ambiguous_pairs.lark", "(a))", False),
    ("ambiguous_expr.lark", "a + a * (a + a) * a", True),
    ("ambiguous_expr.lark", "a + + a", False),
    ("templates.lark", "a, [1; b; {k = 2, j = [x]}], {}, []", True),
    ("templates.lark", "[1, 2]", False),
    ("templates.lark", "{k}", False),
    ("unicode_flags.lark", "Héllo", False),
    ("unicode_flags.lark", "x: αβγ; LET(ΣΩ); ÉTÉ(中文); δ = 😀😃; k: GRÜSSE", False),
    ("unicode_flags.lark", "x: αβγ; LET(ΣΩ); ÉTÉ(中文); δ = 😀😃; k: GRÜßE;", True),
    ("unicode_flags.lark", "ab-cd: <multi\nline>", True),
    ("unicode_flags.lark", "ab-: x", False),
    # re's IGNORECASE folds U+017F (long s) to s and U+212A (Kelvin sign) to k: so does lark.
    ("unicode_flags.lark", "\u017fo: \u212aelvin", True),
]


@pytest.mark.parametrize(("name", "text", "expected"), EXAMPLES)
def test_examples(name: str, text: str, expected: bool) -> None:
    assert reference(name).accepts(text) == expected, "the example itself is wrong"
    m = compiled(name).matcher()
    assert (m.accept_string(text) and m.can_terminate()) == expected
    data = text.encode()
    k = feed(compiled(name).matcher(), data)
    if expected:
        assert k == len(data)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        pytest.param("ambiguous_pairs.lark", b"a" * 300, id="pairs-a"),
        pytest.param(
            "ambiguous_pairs.lark",
            b"a" * 100 + b"(a)" * 40 + b"(" * 30 + b")" * 30 + b"a" * 20,
            id="pairs-mixed",
        ),
        pytest.param("ambiguous_expr.lark", b"a" + b"+a" * 149, id="expr-plus"),
        pytest.param("ambiguous_expr.lark", b"a+a*" * 73 + b"(a+a)*a", id="expr-mixed"),
    ],
)
def test_ambiguous_grammars_300_bytes(name: str, data: bytes) -> None:
    """Exponentially ambiguous inputs of ~300 bytes: accepted byte by byte and in one call."""
    assert len(data) >= 298
    m = compiled(name).matcher()
    assert feed(m, data) == len(data)
    assert m.can_terminate()
    m = compiled(name).matcher()
    assert m.accept_bytes(data) and m.can_terminate()
    # One bad byte at the end is refused, and the state survives the refusal.
    assert not m.accept_bytes(b"+)" if name == "ambiguous_expr.lark" else b")")
    assert m.can_terminate()
    # lark agrees on a shorter slice of the same shape (lark is too slow for 300 bytes here).
    assert reference(name).accepts(data[:41] if name == "ambiguous_expr.lark" else data[:40])


@pytest.mark.parametrize(
    ("name", "data"),
    [
        pytest.param("json.lark", b"[" * 300 + b"{}" + b"]" * 300, id="json-arrays"),
        pytest.param("json.lark", b'{"a":' * 150 + b"0" + b"}" * 150, id="json-objects"),
        pytest.param(
            "clike.lark", b"x=" * 100 + b"-(" * 100 + b"f(a)[0]" + b")" * 100 + b";", id="clike"
        ),
        pytest.param("arith.lark", b"(" * 200 + b"1" + b"+2)" * 200, id="arith"),
        pytest.param("templates.lark", b"[" * 200 + b"a" + b"]" * 200, id="templates"),
        # Kept shorter: lark's Earley parser takes seconds on 400 bytes of this one.
        pytest.param("indirect.lark", b"%" + b"z" * 80 + b"y" + b"x" * 80, id="hidden-left"),
    ],
)
def test_deep_nesting(name: str, data: bytes) -> None:
    """Hundreds of nested rule calls: accepted byte by byte, rolled back, refused one byte early."""
    m = compiled(name).matcher()
    assert feed(m, data) == len(data)
    assert m.can_terminate()
    half = len(data) // 2
    m.rollback(half)
    assert not m.can_terminate()
    assert m.accept_bytes(data[len(data) - half :]) and m.can_terminate()
    assert reference(name).accepts(data)
    assert not reference(name).accepts(data[:-1])
    m = compiled(name).matcher()
    assert m.accept_bytes(data[:-1]) and not m.can_terminate()
