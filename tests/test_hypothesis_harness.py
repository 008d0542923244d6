"""The hypothesis harness: ``strings()``, ``Grammar.example()`` and the mask checks.

Every generated string is judged by an independent reference (lark's Earley parser, ``re``); the
mask checks run on the GPT-2 vocabulary and are also shown to fail on broken setups.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import corpus_patterns, lark_accepts, lark_parser, regex_accepts, scaled
from test_corpus_gbnf import PAIRS

import grammarlib as gl
from grammarlib.analysis import shortest
from grammarlib.integrations.hypothesis import (
    _Derivation,
    _plan,
    assert_masks_complete,
    assert_masks_sound,
    byte_strings,
    instances,
    lark_reference,
    regex_reference,
    schema_reference,
    strings,
)
from grammarlib.ir import Alt, Ref, refs
from grammarlib.masks import assets

CORPUS = Path(__file__).parent / "corpus"
LARK = sorted(p.name for p in CORPUS.glob("*.lark"))
GBNF = sorted(p.name for p in CORPUS.glob("*.gbnf"))
PATTERNS = corpus_patterns()

SETTINGS = settings(
    max_examples=scaled(10),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def grammar(kind: str, name: str) -> gl.Grammar:
    if kind == "regex":
        return gl.Grammar.from_regex(name)
    text = (CORPUS / name).read_text(encoding="utf-8")
    return gl.Grammar.from_lark(text) if kind == "lark" else gl.Grammar.from_gbnf(text)


@functools.cache
def accepts(kind: str, name: str):
    """The independent reference for a corpus grammar: str or bytes -> bool."""
    if kind == "regex":
        by_bytes = regex_accepts(name)
        return lambda s: by_bytes(s.encode() if isinstance(s, str) else s)
    text = (CORPUS / name).read_text(encoding="utf-8") if kind == "lark" else PAIRS[name]
    parser = lark_parser(text)
    return lambda s: lark_accepts(parser, s)


CASES = [("lark", n) for n in LARK] + [("gbnf", n) for n in GBNF] + [("regex", p) for p in PATTERNS]


# -- strings() ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "name"), CASES)
@SETTINGS
@given(data=st.data())
def test_strings_are_accepted_by_the_reference(kind: str, name: str, data: st.DataObject) -> None:
    s = data.draw(strings(grammar(kind, name)))
    assert accepts(kind, name)(s), s


def _reachable(g: gl.Grammar) -> set[str]:
    seen, todo = {g.start}, [g.start]
    while todo:
        for r in refs(g.rules[todo.pop()]):
            if r not in seen:
                seen.add(r)
                todo.append(r)
    return seen


def _coverage(
    g: gl.Grammar, n: int, max_leaves: int = 100
) -> tuple[set[str], set[tuple[Alt, int]]]:
    """Distinct strings and ``(alt, index)`` choices over ``n`` derivations (deterministic)."""
    plan = _plan(g)
    record: set[tuple[Alt, int]] = set()
    seen: set[str] = set()
    strategy = st.composite(lambda draw: _Derivation(plan, draw, max_leaves, record).run())()

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(data: bytes) -> None:
        seen.add(data.decode())

    run()
    return seen, record


#: Share of rule-level alternatives reached in 200 derivations. Alternatives nested deep in big
#: grammars (a comparison operator inside a WHERE clause of SQL) are rarer; those get a floor.
COVERAGE = {
    ("lark", "json.lark"): 1.0,
    ("lark", "features.lark"): 1.0,
    ("lark", "templates.lark"): 1.0,
    ("lark", "unicode_flags.lark"): 1.0,
    ("lark", "csv.lark"): 1.0,
    ("lark", "indirect.lark"): 0.9,
    ("lark", "clike.lark"): 0.9,
    ("lark", "sql.lark"): 0.85,
    ("gbnf", "json.gbnf"): 0.9,
    ("gbnf", "arith.gbnf"): 1.0,
    ("regex", "(cat|category|cats?|dog)( (cat|category|cats?|dog))*"): 1.0,
}


@pytest.mark.parametrize(("kind", "name"), sorted(COVERAGE))
def test_variety_rule_alternatives_are_reached(kind: str, name: str) -> None:
    g = grammar(kind, name)
    plan = _plan(g)
    seen, record = _coverage(g, 200, max_leaves=200)
    assert len(seen) >= 150, f"only {len(seen)} distinct strings in 200"
    wanted = {
        (rule, body.items.index(item))
        for rule in _reachable(g)
        if isinstance(body := g.rules[rule], Alt)
        for item in plan.alternatives(body)
    }
    reached = {(r, i) for r, i in wanted if (g.rules[r], i) in record}
    missing = sorted(wanted - reached)
    assert len(reached) >= COVERAGE[kind, name] * len(wanted), missing


def test_unproductive_alternatives_are_never_taken() -> None:
    # features.lark has `dead_end: "never" loop | "x"` where loop never finishes.
    _, record = _coverage(grammar("lark", "features.lark"), 50)
    assert all(alt.items[i] != Ref("loop") for alt, i in record)


@SETTINGS
@given(st.data())
def test_byte_strings_of_a_raw_byte_grammar(data: st.DataObject) -> None:
    from grammarlib.ir import Bytes, Repeat

    g = gl.Grammar({"root": Repeat(Bytes((1 << 256) - 1), 1, 3)}, "root")
    b = data.draw(byte_strings(g))
    assert 1 <= len(b) <= 3
    s = data.draw(strings(g))  # invalid UTF-8 is filtered out
    assert 1 <= len(s.encode()) <= 3


def test_strings_terminates_on_explosive_recursion() -> None:
    # s -> s s s | "a": the derivation tree grows without a budget.
    g = gl.Grammar.from_lark('start: s\ns: s s s | "a"')
    seen, _ = _coverage(g, 50)
    assert all(set(s) == {"a"} for s in seen)
    assert max(map(len, seen)) < 400


@settings(max_examples=20, deadline=None, database=None)
@given(st.data())
def test_strings_stays_shallow_with_a_huge_budget(data: st.DataObject) -> None:
    # Rule nesting is capped (then least-cost choices finish), so no RecursionError.
    g = gl.Grammar.from_lark('start: "(" start ")" | "[" start* "]" | "x" | start start')
    s = data.draw(strings(g, max_leaves=10**6))
    assert lark_accepts(lark_parser('start: "(" start ")" | "[" start* "]" | "x" | start start'), s)


def test_strings_shrinks_toward_short_strings() -> None:
    # Hypothesis minimises the derivation's choices, shortest alternatives first: "true" (one
    # choice) beats "0" (several), but both are as short as the language allows for their shape.
    from hypothesis import find

    g = grammar("lark", "json.lark")
    quiet = settings(database=None, derandomize=True, max_examples=500)
    assert find(strings(g), lambda s: True, settings=quiet) in ("0", "true", "null")
    assert find(strings(g), lambda s: "[" in s and "{" in s, settings=quiet) == "[{}]"


@SETTINGS
@given(st.data())
def test_strings_accepts_a_compiled_grammar(data: st.DataObject) -> None:
    g = gl.Grammar.from_regex("ab|cd")
    assert data.draw(strings(gl.compile(g))) in ("ab", "cd")


def test_strings_rejects_junk() -> None:
    with pytest.raises(TypeError, match="Grammar"):
        strings("ab")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_leaves"):
        strings(gl.Grammar.from_regex("a"), max_leaves=-1)


# -- example() ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_example_is_accepted_and_minimal(kind: str, name: str) -> None:
    g = grammar(kind, name)
    example = g.example()
    assert accepts(kind, name)(example), example
    assert shortest(g) == example.encode()
    n = len(example.encode())

    @settings(max_examples=30, deadline=None, database=None)
    @given(strings(g))
    def no_shorter(s: str) -> None:
        assert len(s.encode()) >= n, f"{s!r} is shorter than example() {example!r}"

    no_shorter()


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("a{3,5}|bb", "bb"), ("(ab)+|x{4}", "ab"), ("[b-d]+e?", "b"), ("x*", "")],
)
def test_example_of_regexes(pattern: str, expected: str) -> None:
    assert gl.Grammar.from_regex(pattern).example() == expected


def test_example_on_recursive_grammars() -> None:
    assert gl.Grammar.from_lark('start: a\na: a | "x" | a a').example() == "x"
    assert gl.Grammar.from_lark('start: "(" start ")" | "[" "]"').example() == "[]"


def test_empty_language_raises_like_compile() -> None:
    g = gl.Grammar.from_lark('start: a\na: "x" a')
    with pytest.raises(gl.EmptyLanguageError) as compiled:
        gl.compile(g)
    with pytest.raises(gl.EmptyLanguageError) as example:
        g.example()
    assert str(example.value) == str(compiled.value)
    with pytest.raises(gl.EmptyLanguageError):
        strings(g)


# -- mask checks ----------------------------------------------------------------------------------


@functools.cache
def gpt2() -> gl.TokenizerInfo:
    return gl.TokenizerInfo.from_gguf(assets.vocab_gguf("gpt-2"))


@functools.cache
def gpt2_encode():
    tokenizers = pytest.importorskip("tokenizers")
    path = assets.tokenizer_json_dir("gpt-2") / "tokenizer.json"
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
    return lambda s: tokenizer.encode(s, add_special_tokens=False).ids


MASK_CASES = [
    ("lark", "json.lark"),
    ("lark", "arith.lark"),
    ("gbnf", "arith.gbnf"),
    ("regex", r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"),
    ("regex", "(cat|category|cats?|dog)( (cat|category|cats?|dog))*"),
]


def _reference_for(kind: str, name: str):
    if kind == "regex":
        return regex_reference(name)
    text = (CORPUS / name).read_text(encoding="utf-8") if kind == "lark" else PAIRS[name]
    return lark_reference(text)


@pytest.mark.parametrize(("kind", "name"), MASK_CASES)
def test_masks_sound(kind: str, name: str) -> None:
    assert_masks_sound(grammar(kind, name), gpt2(), reference=_reference_for(kind, name), samples=8)


@pytest.mark.parametrize(("kind", "name"), MASK_CASES)
def test_masks_complete(kind: str, name: str) -> None:
    assert_masks_complete(grammar(kind, name), gpt2(), tokenize=gpt2_encode(), examples=15)


def test_masks_complete_with_given_strings() -> None:
    g = grammar("lark", "json.lark")
    assert_masks_complete(
        g, gpt2(), tokenize=gpt2_encode(), strings=['{"a": [1, 2.5e3, null]}', g.example()]
    )


def test_masks_sound_fails_with_a_rejecting_reference() -> None:
    g = grammar("regex", "(cat|dog)( (cat|dog))*")
    with pytest.raises(AssertionError, match="the reference rejects it"):
        assert_masks_sound(g, gpt2(), reference=lambda s: "dog" not in s, samples=30)


def test_masks_sound_fails_when_a_mask_allows_too_much(monkeypatch) -> None:
    g = grammar("regex", "(cat|dog)( (cat|dog))*")
    bad = next(i for i, t in enumerate(gpt2().token_bytes) if t == b"cow")
    original = gl.GrammarMatcher.fill_next_token_bitmask

    def fill(self, bitmask, index=0):
        original(self, bitmask, index)
        bitmask[index, bad // 32] |= np.int32(1 << (bad % 32)) if bad % 32 < 31 else np.int32(-1)

    monkeypatch.setattr(gl.GrammarMatcher, "fill_next_token_bitmask", fill)
    with pytest.raises(AssertionError, match=rf"token {bad} \(b'cow'\) allowed by the mask but"):
        assert_masks_sound(g, gpt2(), reference=regex_reference("(cat|dog)( (cat|dog))*"))


def test_masks_complete_fails_when_a_mask_drops_a_token(monkeypatch) -> None:
    g = grammar("regex", "(cat|dog)( (cat|dog))*")
    dropped = gpt2_encode()(" dog")
    assert len(dropped) == 1
    (token,) = dropped
    original = gl.GrammarMatcher.fill_next_token_bitmask

    def fill(self, bitmask, index=0):
        original(self, bitmask, index)
        words = bitmask[index].view(np.uint32)
        words[token // 32] &= ~np.uint32(1 << (token % 32))

    monkeypatch.setattr(gl.GrammarMatcher, "fill_next_token_bitmask", fill)
    message = re.escape(f"string 'cat dog', step 1: token {token} (b' dog') is masked out")
    with pytest.raises(AssertionError, match=message):
        assert_masks_complete(g, gpt2(), tokenize=gpt2_encode(), strings=["cat dog"])
    # Found by the strategy too, and shrunk to a small failing string.
    with pytest.raises(AssertionError, match=rf"token {token} \(b' dog'\) is masked out"):
        assert_masks_complete(g, gpt2(), tokenize=gpt2_encode(), examples=100)


def test_masks_complete_fails_when_stop_is_masked(monkeypatch) -> None:
    g = grammar("regex", "(cat|dog)( (cat|dog))*")
    stop = min(gpt2().stop_token_ids)
    original = gl.GrammarMatcher.fill_next_token_bitmask

    def fill(self, bitmask, index=0):
        original(self, bitmask, index)
        bitmask[index].view(np.uint32)[stop // 32] &= ~np.uint32(1 << (stop % 32))

    monkeypatch.setattr(gl.GrammarMatcher, "fill_next_token_bitmask", fill)
    with pytest.raises(AssertionError, match="no stop token is allowed"):
        assert_masks_complete(g, gpt2(), tokenize=gpt2_encode(), strings=["cat"])
    with pytest.raises(AssertionError, match="a stop token is not allowed but can_terminate"):
        assert_masks_sound(g, gpt2(), reference=regex_reference("(cat|dog)( (cat|dog))*"))


def test_references() -> None:
    assert regex_reference("a+")("aaa") and not regex_reference("a+")("ab")
    ref = lark_reference('start: "x"+')
    assert ref("xx") and not ref("y")


# -- instances() and schemas ----------------------------------------------------------------------

ORDER = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1, "maximum": 10**6},
        "status": {"enum": ["new", "paid", "shipped"]},
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"},
                    "qty": {"type": "integer", "minimum": 1, "maximum": 99},
                    "price": {"type": "number", "minimum": 0, "exclusiveMaximum": 1000},
                },
                "required": ["sku", "qty"],
                "additionalProperties": False,
            },
        },
        "note": {"type": ["string", "null"], "maxLength": 20},
    },
    "required": ["id", "status", "items"],
}


@SETTINGS
@given(data=st.data())
def test_instances_are_valid(data: st.DataObject) -> None:
    import jsonschema

    value = data.draw(instances(ORDER))
    jsonschema.validate(value, ORDER)


def test_instances_vary_and_reach_every_enum_value() -> None:
    seen: list = []

    # derandomized: the same 150 draws every run (a random run missed "note": null once)
    @settings(max_examples=150, deadline=None, database=None, derandomize=True)
    @given(instances(ORDER))
    def collect(value) -> None:
        seen.append(value)

    collect()
    distinct = {json.dumps(v, sort_keys=True) for v in seen}
    assert len(distinct) > 60
    assert {v["status"] for v in seen} == {"new", "paid", "shipped"}
    assert any("note" in v for v in seen) and any("note" not in v for v in seen)
    assert any(v.get("note") is None and "note" in v for v in seen)
    assert any(len(v["items"]) > 1 for v in seen)
    assert any(set(v) - set(ORDER["properties"]) for v in seen)  # extra keys are allowed here


def test_instances_of_a_pydantic_model() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Point(pydantic.BaseModel):
        x: int = pydantic.Field(ge=0, le=9)
        tag: str = pydantic.Field(max_length=3)

    @settings(max_examples=scaled(20), deadline=None, database=None)
    @given(instances(Point))
    def check(point) -> None:
        assert isinstance(point, Point) and 0 <= point.x <= 9 and len(point.tag) <= 3

    check()


def test_instances_refuse_bad_schemas() -> None:
    with pytest.raises(gl.SchemaError, match="unsatisfiable"):
        instances({"type": "integer", "minimum": 3, "maximum": 1})
    with pytest.raises(TypeError, match="pydantic"):
        instances(int)


def test_schema_reference() -> None:
    accepts = schema_reference(ORDER)
    good = {"id": 3, "status": "new", "items": [{"sku": "ABC-123", "qty": 2}]}
    assert accepts(json.dumps(good))
    assert not accepts(json.dumps({**good, "status": "lost"}))
    assert not accepts('{"id": 3, "id": 4, "status": "new", "items": []}')  # repeated key
    assert not accepts("{")
    dates = schema_reference({"type": "string", "format": "date"})
    assert dates('"2024-02-29"') and not dates('"2023-02-29"')  # format checking is on


def test_masks_sound_on_a_schema() -> None:
    closed = {**ORDER, "additionalProperties": False}  # random extra keys rarely end
    assert_masks_sound(
        gl.Grammar.from_json_schema(closed), gpt2(), reference=schema_reference(closed),
        samples=6, max_steps=400, stop_probability=0.5,
    )  # fmt: skip


def test_masks_complete_on_a_schema() -> None:
    assert_masks_complete(
        gl.Grammar.from_json_schema(ORDER), gpt2(), tokenize=gpt2_encode(), examples=10
    )
