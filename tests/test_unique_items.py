"""``uniqueItems`` over scalars: arrays whose items are strings, numbers, booleans or null (an
unbounded set, or more than ten values) are checked beside the automaton like object keys, in
accept_* and in the token masks (exactly: a token is allowed iff accepting it succeeds)."""

from __future__ import annotations

import json
import random

import jsonschema
import pytest
from support.brute_force import check_prefixes, check_random_walks, marked_tokens

import grammarlib as gl
from grammarlib.masks import assets
from grammarlib.masks.bitmask import bits_to_bool

TAGS = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
NUMBERS = {"type": "array", "items": {"type": "number"}, "uniqueItems": True}
SCALARS = {
    "type": "array",
    "items": {"type": ["string", "number", "boolean", "null"]},
    "uniqueItems": True,
}
DIGITS = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 12}}
DIGITS |= {"uniqueItems": True}
COLORS = [f"c{i}" for i in range(12)]  # more than ten values: checked at run time
PALETTE = {"type": "array", "items": {"enum": COLORS}, "uniqueItems": True, "minItems": 2}


def _matcher(schema: object, info: gl.TokenizerInfo | None = None) -> gl.GrammarMatcher:
    return gl.compile(gl.Grammar.from_json_schema(schema), info).matcher()


def test_an_item_cannot_come_again() -> None:
    m = _matcher(TAGS)
    assert m.accept_string('["a", "b"')
    assert not m.accept_string(', "a"')
    assert not m.accept_string(', "b"]')
    assert m.accept_string(', "ab", ""]') and m.can_terminate()


def test_items_are_compared_decoded() -> None:
    m = _matcher(TAGS)
    assert m.accept_string('["\\u00e9"')
    assert not m.accept_string(', "é"')
    assert m.accept_string(', "e"]')


def test_each_array_has_its_own_items_and_keys_are_apart() -> None:
    schema = {
        "type": "object",
        "properties": {"x": TAGS, "y": {"type": "array", "items": TAGS}},
        "additionalProperties": False,
    }
    m = _matcher(schema)
    assert m.accept_string('{"x": ["x", "y"], "y": [["x"], ["x", "y"], []')
    assert not m.accept_string(', ["a", "a"')
    assert m.accept_string(', ["a"]]}') and m.can_terminate()


def test_only_unique_arrays_are_checked() -> None:
    schema = {
        "type": "object",
        "properties": {"words": {"type": "array", "items": {"type": "string"}}, "tags": TAGS},
    }
    g = gl.Grammar.from_json_schema(schema)
    assert len(g.unique_arrays) == 1
    m = gl.compile(g).matcher()
    assert m.accept_string('{"words": ["a", "a"], "tags": ["a", "b"')
    assert not m.accept_string(', "b"')


def test_a_finite_set_runs_out() -> None:
    """Twelve values, at least two items: after all twelve a comma leads nowhere; after one,
    the array cannot end."""
    g = gl.Grammar.from_json_schema(PALETTE, whitespace="compact")
    assert g.unique_arrays  # more than ten values: not one state per subset
    m = gl.compile(g).matcher()
    assert m.accept_string("[" + ",".join(json.dumps(c) for c in COLORS))
    assert not m.accept_string(",")
    assert m.accept_string("]") and m.can_terminate()
    m = gl.compile(g).matcher()
    assert m.accept_string('["c1"') and not m.accept_string("]")


def test_small_value_sets_keep_their_subset_states() -> None:
    schema = {"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True}
    g = gl.Grammar.from_json_schema(schema)
    assert not g.unique_arrays
    m = gl.compile(g).matcher()
    assert m.accept_string('["a", "b"') and not m.accept_string(', "a"')


def test_numbers_are_compared_by_value() -> None:
    m = _matcher(NUMBERS)
    assert m.accept_string("[1, 2")
    for again in (", 1]", ", 1.0]", ", 10e-1]", ", 1E0,", ", 2 "):
        assert not m.copy().accept_string(again), again
    assert m.accept_string(", 1")  # may still become 12 or 1.5
    assert not m.copy().accept_string("]")
    assert m.accept_string(".5, -0]") and m.can_terminate()
    m = _matcher(NUMBERS)
    assert m.accept_string("[0, 3") and not m.copy().accept_string(", -0.0]")


def test_numbers_strings_and_literals_are_different_items() -> None:
    m = _matcher(SCALARS)
    assert m.accept_string('[1, "1", true, "true", null, false')
    for again in (", true", ", null]", ', "1"', ", 1.00]", ", false "):
        assert not m.copy().accept_string(again), again
    assert m.accept_string(', "null", 2]') and m.can_terminate()


def test_a_bounded_integer_range_runs_out() -> None:
    """Thirteen integers: after all of them a comma leads nowhere."""
    m = _matcher(DIGITS)
    assert m.accept_string("[" + ", ".join(str(i) for i in range(12)))
    assert m.copy().accept_string(", 12]")
    assert m.accept_string(", 1")  # 1 is written, but 12 is not
    assert not m.copy().accept_string("]") and not m.copy().accept_string(", ")
    assert m.accept_string("2]") and m.can_terminate()
    m = _matcher(DIGITS)
    assert m.accept_string("[" + ", ".join(str(i) for i in range(13)))
    assert not m.copy().accept_string(",") and m.accept_string("]")


@pytest.mark.parametrize(
    ("schema", "why"),
    [
        (  # four integers cannot fill five places
            {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 3},
                "uniqueItems": True,
                "minItems": 5,
            },
            "finite set",
        ),
        (
            {"type": "array", "items": {"type": ["string", "object"]}, "uniqueItems": True},
            "finite set",
        ),
        (  # two strings of the pattern cannot fill three places
            {
                "type": "array",
                "items": {"type": "string", "pattern": "^[ab]$"},
                "uniqueItems": True,
                "minItems": 3,
            },
            "finite set",
        ),
        (  # a "[" would open both arrays: the matcher could not tell which one it reads
            {"anyOf": [TAGS, {"type": "array", "items": {"type": "integer"}}]},
            "beside another array form",
        ),
    ],
)
def test_other_items_are_still_refused_by_name(schema: dict, why: str) -> None:
    with pytest.raises(gl.SchemaError, match=f"'uniqueItems' at #.*{why}"):
        gl.Grammar.from_json_schema(schema)


def test_counted_items_fill_the_required_places() -> None:
    """Two strings of a pattern for two places, four integers of a range for four: counted,
    so the arrays can always be finished."""
    two = {"type": "array", "items": {"type": "string", "pattern": "^[ab]$"}}
    two |= {"uniqueItems": True, "minItems": 2}
    m = _matcher(two)
    assert m.accept_string('["a"') and not m.copy().accept_string("]")
    assert not m.copy().accept_string(', "a"') and m.accept_string(', "b"]') and m.can_terminate()
    four = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 3}}
    four |= {"uniqueItems": True, "minItems": 4}
    m = _matcher(four)
    assert m.accept_string("[3, 1, 0") and not m.copy().accept_string(", 1")
    assert m.accept_string(", 2]") and m.can_terminate()


def test_a_pattern_with_at_most_one_required_item_is_checked() -> None:
    schema = {
        "type": "array",
        "items": {"type": "string", "pattern": "^[ab]$"},
        "uniqueItems": True,
    }
    m = _matcher(schema)
    assert m.accept_string('["a", "b"')
    assert not m.accept_string(",")  # no third string of the pattern is left
    assert m.accept_string("]") and m.can_terminate()


def test_masks_on_tokens_that_hold_whole_arrays() -> None:
    """Tokens that open an array and write several items at once: the mask checks them in
    full (a hand-made vocabulary, every token against accepting it)."""
    vocab = [b'["a","a"', b'["a","b"', b'[["a","a"', b'"a","a"', b'"a"', b'"b"', b",", b"[", b"]"]
    vocab += [b'"', b"a", b"b", b'a"', b'a",', b'],["b', b""]
    info = gl.TokenizerInfo.from_vocab(vocab, stop_token_ids=[len(vocab) - 1])
    schema = {"type": "array", "items": TAGS}
    compiled = gl.compile(gl.Grammar.from_json_schema(schema, whitespace="compact"), info)
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    refused = set()
    for prefix in ["", "[", '[["a"', '[["a",', '[["a","b"],["b"', '[["a"],']:
        m = compiled.matcher()
        assert m.accept_string(prefix), prefix
        m.fill_next_token_bitmask(bitmask)
        allowed = bits_to_bool(bitmask[0], info.vocab_size)
        for token in range(len(vocab)):
            want = m.copy().accept_token(token)
            assert bool(allowed[token]) == want, (prefix, vocab[token])
            if not want:
                refused.add(vocab[token])
    assert {b'[["a","a"', b'"a","a"', b'a",'} <= refused


def test_structural_tags_refuse_unique_arrays() -> None:
    tag = {"type": "structural_tag", "format": {"type": "json_schema", "json_schema": TAGS}}
    with pytest.raises(gl.GrammarError, match="uniqueItems"):
        gl.Grammar.from_structural_tag(tag)


def test_hypothesis_strings_never_repeat_an_item() -> None:
    from hypothesis import given, settings

    from grammarlib.integrations.hypothesis import strings

    schema = {"type": "array", "items": {"type": "string", "maxLength": 1}, "uniqueItems": True}
    seen = []

    @settings(max_examples=60, deadline=None, database=None)
    @given(strings(gl.Grammar.from_json_schema(schema)))
    def check(text: str) -> None:
        value = json.loads(text)
        jsonschema.validate(value, schema)
        seen.append(len(value))

    check()
    assert max(seen) >= 2  # arrays of several items were drawn (and all of them distinct)


@pytest.mark.slow
@pytest.mark.parametrize("vocab", ["gpt-2", "llama-bpe"])
def test_masks_exclude_exactly_the_repeated_items(vocab: str) -> None:
    """At item positions of arrays that have items, every token's mask bit equals accepting it
    (brute force over every token with a quote or comma, and a sample of the others)."""
    info = gl.TokenizerInfo.from_gguf(assets.vocab_gguf(vocab))
    nested = {"type": "object", "properties": {"tags": TAGS}, "additionalProperties": TAGS}
    cases = [
        (TAGS, '["a","b","'),
        (TAGS, '["a","ab","a'),
        (TAGS, '["name","n'),
        (TAGS, '["name","name'),
        (TAGS, '["x"'),
        (PALETTE, '["c1","c2","c'),
        (PALETTE, '["c1","c2",'),
        (PALETTE, "[" + ",".join(json.dumps(c) for c in COLORS[:11])),
        (PALETTE, "[" + ",".join(json.dumps(c) for c in COLORS[:11]) + ',"c1'),
        (NUMBERS, "[1,2"),
        (NUMBERS, "[1,2,1"),
        (NUMBERS, "[10,2,1"),
        (NUMBERS, "[1.5,"),
        (SCALARS, '[1,"1",true,'),
        (SCALARS, '[1,"1",true,n'),
        (SCALARS, '[null,"1",true,f'),
        (DIGITS, "[" + ",".join(str(i) for i in range(12))),
        (DIGITS, "[" + ",".join(str(i) for i in range(12)) + ",1"),
        (nested, '{"tags":["a","b"],"x":["a","'),
        (nested, '{"tags":["a","b"'),
    ]
    marked = marked_tokens(info, b'",[')
    checked, repeats = check_prefixes(info, cases, marked, random.Random(0))
    # tokens refused only because they repeat an item ('"' after "a", '",' ...) or lead to an
    # item position with no fresh item left (',' after eleven colours and the twelfth's start)
    assert checked > 10000 and repeats >= 5


@pytest.mark.slow
def test_masks_equal_brute_force_on_random_walks() -> None:
    info = gl.TokenizerInfo.from_gguf(assets.vocab_gguf("llama-bpe"))
    schema = {
        "type": "object",
        "properties": {
            "numbers": {**NUMBERS, "maxItems": 8},
            "scalars": SCALARS,
            "digits": DIGITS,
            "tags": {**TAGS, "maxItems": 6},
            "colors": PALETTE,
            "rows": {
                "type": "array",
                "items": {**TAGS, "items": {"type": "string", "maxLength": 2}},
            },
        },
        "additionalProperties": False,
    }
    compiled = gl.compile(gl.Grammar.from_json_schema(schema), info)
    marked = marked_tokens(info, b'",[')
    states, with_items = check_random_walks(compiled, marked, b'",[]', random.Random(2), walks=8)
    assert states >= 60 and with_items >= 20


@pytest.mark.slow
def test_sampling_gives_distinct_items() -> None:
    from grammarlib.integrations.hypothesis import assert_masks_sound, schema_reference

    info = gl.TokenizerInfo.from_gguf(assets.vocab_gguf("gpt-2"))
    schema = {"type": "array", "items": {"type": "string", "maxLength": 1}, "uniqueItems": True}
    assert not schema_reference(schema)('["a", "a"]')
    for s in (schema, PALETTE, DIGITS, SCALARS):
        assert_masks_sound(
            gl.Grammar.from_json_schema(s),
            info,
            reference=schema_reference(s),
            samples=30,
            max_steps=80,
            stop_probability=0.3,
        )


def test_pydantic_sets_of_strings() -> None:
    from pydantic import BaseModel

    class Post(BaseModel):
        title: str
        tags: set[str]

    m = gl.compile(gl.Grammar.from_pydantic(Post)).matcher()
    assert m.accept_string('{"title": "t", "tags": ["a", "b"')
    assert not m.accept_string(', "a"')
    assert m.accept_string("]}") and m.can_terminate()
