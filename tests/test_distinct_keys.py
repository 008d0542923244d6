"""JSON objects never repeat a key: JSON Schema grammars check it beside the automaton, in
accept_* and in the token masks (exactly: a token is allowed iff accepting it succeeds)."""

from __future__ import annotations

import json
import random

import pytest
from support.brute_force import check_prefixes, check_random_walks, marked_tokens

import grammarlib as gl
from grammarlib import json_keys
from grammarlib.masks import assets

OPEN = {"type": "object", "additionalProperties": {"type": "integer"}}


def _matcher(schema: object, info: gl.TokenizerInfo | None = None) -> gl.GrammarMatcher:
    return gl.compile(gl.Grammar.from_json_schema(schema), info).matcher()


def test_a_written_key_cannot_come_again() -> None:
    m = _matcher(OPEN)
    assert m.accept_string('{"a": 1, "b": 2')
    assert not m.accept_string(', "a"')
    assert not m.accept_string(', "b": 3')
    assert m.accept_string(', "ab": 3, "c": 4}') and m.can_terminate()


def test_keys_are_compared_decoded() -> None:
    m = _matcher(OPEN)  # escapes="dumps": é may be raw or \u00e9
    assert m.accept_string('{"\\u00e9": 1')
    assert not m.accept_string(', "é"')
    assert m.accept_string(', "e": 2}')


def test_each_object_has_its_own_keys() -> None:
    schema = {
        "type": "object",
        "properties": {"x": OPEN, "list": {"type": "array", "items": OPEN}},
        "additionalProperties": True,
    }
    m = _matcher(schema)
    text = '{"x": {"x": 1, "list": 2}, "list": [{"x": 1}, {"x": 2, "y": 3}], "y": "\\"x"'
    assert m.accept_string(text)
    assert not m.accept_string(', "x"')  # ... but not in the outer object again
    assert not m.accept_string(', "y"')
    assert m.accept_string(', "z": null}') and m.can_terminate()


def test_rollback_copy_and_state_carry_the_keys() -> None:
    m = _matcher(OPEN)
    assert m.accept_string('{"a": 1')
    before = m.state
    fork = m.copy()
    assert m.accept_string(', "b": 2')
    assert not m.accept_string(', "b"')
    m.rollback(1)
    assert m.state == before and m.accept_string(', "b"')
    assert fork.accept_string(', "b": 5}')
    assert _matcher(OPEN).state != before


def test_other_grammars_keep_their_own_language() -> None:
    g = gl.Grammar.from_lark(
        r"""
        start: "{" [pair ("," pair)*] "}"
        pair: ESCAPED_STRING ":" SIGNED_NUMBER
        %import common (ESCAPED_STRING, SIGNED_NUMBER)
        """
    )
    m = gl.compile(g).matcher()
    assert m.accept_string('{"a":1,"a":2}') and m.can_terminate()


def test_minproperties_with_extra_keys_is_exact() -> None:
    schema = {**OPEN, "minProperties": 2, "maxProperties": 2}
    m = _matcher(schema)
    assert m.accept_string('{"a": 1, ')
    assert not m.accept_string('"a": 2}')
    assert m.accept_string('"b": 2}') and m.can_terminate()


def test_scanner_on_split_input() -> None:
    keys = json_keys.START
    for chunk in [b'{"k', b'e\\"y', b'": [1, {"', b'a": "', b"}", b'"}], "', b"k"]:
        keys = json_keys.advance(keys, chunk)
        assert keys is not None
    assert keys[0] == json_keys.KEY and keys[3][-1][0]  # inside a key of an object with keys
    assert json_keys.advance(keys, b'e\\"y"') is None
    assert json_keys.advance(keys, b'ey"') is not None
    assert keys[3][-1][0] == {'ke"y'}  # the innermost object's written keys


# -- named keys are fixed: the grammar keeps them distinct, the checker does not remember them --

INTEGER = {"type": "integer"}
NAMED_AND_EXTRA = {  # named keys a and é, any other key as an extra
    "type": "object",
    "properties": {"a": INTEGER, "é": INTEGER},
    "additionalProperties": INTEGER,
}
KEY_SCHEMAS = {
    "named and extra": NAMED_AND_EXTRA,
    # "a" is named in one branch and an extra key in the other: both stay alive
    "named or extra": {
        "anyOf": [NAMED_AND_EXTRA, {"type": "object", "additionalProperties": INTEGER}]
    },
    "named or pattern": {
        "anyOf": [
            {"type": "object", "properties": {"a": INTEGER}},
            {"type": "object", "patternProperties": {"^a": INTEGER}, "additionalProperties": False},
        ]
    },
    "closed": {
        "type": "object",
        "properties": {"a": INTEGER, "b": INTEGER},
        "additionalProperties": False,
    },
}
NAMED = {"named and extra": "aé", "named or extra": "aé", "named or pattern": "a", "closed": "ab"}


def test_named_keys_are_fixed_key_rules() -> None:
    grammar = gl.Grammar.from_json_schema(NAMED_AND_EXTRA)
    spelled = {}
    for rule in grammar.fixed_keys:
        key = gl.compile(gl.Grammar(dict(grammar.rules), rule))
        spelled[rule] = [
            t for t in ['"a"', '"é"', '"\\u00e9"', '"b"'] if key.matcher().accept_string(t)
        ]
    assert sorted(spelled.values()) == [['"a"'], ['"é"', '"\\u00e9"']]
    with pytest.raises(gl.GrammarError, match="fixed_keys needs distinct_keys"):
        gl.Grammar(dict(grammar.rules), grammar.start, fixed_keys=grammar.fixed_keys)


@pytest.mark.parametrize("order", ["schema", "any"])
@pytest.mark.parametrize("name", sorted(KEY_SCHEMAS))
def test_fixed_and_extra_keys_never_repeat(name: str, order: str) -> None:
    m = gl.compile(gl.Grammar.from_json_schema(KEY_SCHEMAS[name], property_order=order)).matcher()
    assert m.accept_string('{"a": 1')
    for again in ['"a"', '"\\u0061"', '"a": 2}']:  # also escaped
        assert not m.copy().accept_string(", " + again), again
    if name != "closed":
        assert m.accept_string(', "ab": 2')
        assert not m.copy().accept_string(', "ab"') and not m.copy().accept_string(', "a"')
    assert m.accept_string("}") and m.can_terminate()


def _valid(schema: object, text: str) -> bool:
    """Whether ``text`` is a JSON text valid under ``schema`` with no key repeated in an object
    (the reference: Python's JSON parser and jsonschema, nothing of grammarlib's)."""
    import jsonschema

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        if len({k for k, _ in items}) != len(items):
            raise ValueError("repeated key")
        return dict(items)

    try:
        value = json.loads(text, object_pairs_hook=pairs)
    except ValueError:
        return False
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def _object_text(members: list[tuple[str, int, bool]]) -> str:
    """``{"key": value, ...}`` as json.dumps writes it, each key raw or escaped."""
    body = [f"{json.dumps(k, ensure_ascii=ascii)}: {v}" for k, v, ascii in members]
    return "{" + ", ".join(body) + "}"


@pytest.mark.parametrize("order", ["schema", "any"])
@pytest.mark.parametrize("name", sorted(KEY_SCHEMAS))
def test_objects_with_fixed_keys_against_a_reference(name: str, order: str) -> None:
    """Objects of keys drawn from a few (repeats included): the matcher accepts a whole text
    only when the reference does, and every prefix of it; it accepts every text the reference
    does (with ``property_order="schema"``: where the named keys come first, in schema order)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    schema = KEY_SCHEMAS[name]
    compiled = gl.compile(gl.Grammar.from_json_schema(schema, property_order=order))
    member = st.tuples(st.sampled_from(["a", "é", "ab", "b"]), st.integers(0, 9), st.booleans())

    @settings(max_examples=150, deadline=None, database=None)
    @given(st.lists(member, max_size=4))
    def check(members: list[tuple[str, int, bool]]) -> None:
        text = _object_text(members)
        m = compiled.matcher()
        ours = m.accept_string(text) and m.can_terminate()
        valid = _valid(schema, text)
        assert valid or not ours, text
        keys = [k for k, _, _ in members]
        named = [k for k in keys if k in NAMED[name]]
        in_order = keys[: len(named)] == named == sorted(named, key=NAMED[name].index)
        if order == "any" or in_order:
            assert ours == valid, text
        if ours:
            for end in range(len(text)):
                assert compiled.matcher().accept_string(text[:end]), text[:end]

    check()


@pytest.mark.slow
@pytest.mark.parametrize("vocab", ["gpt-2", "llama-bpe"])
def test_masks_exclude_exactly_the_repeated_keys(vocab: str) -> None:
    """At key positions of objects that have keys, every token's mask bit equals accepting it
    (brute force over every token with a quote, and a sample of the others)."""
    info = gl.TokenizerInfo.from_gguf(assets.vocab_gguf(vocab))
    infinite = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "additionalProperties": {"type": "integer"},
    }
    finite = {  # four possible keys: after three, a comma leads nowhere but to "dé"
        "type": "object",
        "additionalProperties": {"type": "integer"},
        "propertyNames": {"enum": ["a", "ab", "b", "dé"]},
    }
    cases = [
        (infinite, '{"name":"x","a":1,"'),
        (infinite, '{"name":"x","a":1,"ab":2,"'),
        (infinite, '{"name":"x","a":1,"ab":2,"a'),
        (infinite, '{"a":1,"b":2,"c":3,"'),
        (infinite, '{"name":"q","n'),
        (infinite, '{"name":"q","name'),
        (infinite, '{"\\u00e9a":1,"\\u00e9ab":2,"\\u00e9a'),  # an escape in the key being written
        (infinite, '{"\\u00e9x":1,"\\u00e9'),
        (infinite, '{"\\u00e9x":1,"\\u00'),  # ... stopping inside one
        # tokens with an escape that close a key: \"" spells '"' then closes, \\" spells '\\'
        (infinite, '{"a\\"":1,"a'),
        (infinite, '{"x\\\\":1,"x'),
        (infinite, '{"\\"":1,"\\\\":2,'),
        (infinite, '{"\\u00e9\\"":1,"\\u00e9'),  # ... after a key so far with an escape
        (infinite, '{"\\ud83d\\ude00\\"":1,"\\ud83d\\ude00'),  # ... after a surrogate pair
        (infinite, '{"\\ud83d\\ude00":1,"\\ud83d'),  # ... after half of one
        (finite, '{"a":1,"ab":2,"'),
        (finite, '{"a":1,"ab":2,"b":3'),
        (finite, '{"a":1,"ab":2,"b":3,"dé":4'),
        (finite, '{"a":1,"ab":2,"b":3,"d'),
        (finite, '{"dé":1,"b":2,"a'),
    ]
    checked, repeats = check_prefixes(info, cases, marked_tokens(info, b'",'), random.Random(0))
    # tokens refused only because they repeat a key ('"' after "a", '":' after "name", ...)
    # or lead to a key position with no fresh key left (',' after the fourth key)
    assert checked > 10000 and repeats >= 5
    # tokens that close a key and go on: into a value they open ('":{"', '":[{"'), or to the
    # next key ('":"","'), which can lead where no fresh key is left
    values = {"type": ["object", "array", "string", "integer"], "maxItems": 1}
    open_values = {"type": "object", "additionalProperties": values}
    four_keys = {**open_values, "propertyNames": {"enum": ["a", "ab", "b", "dé"]}}
    going_on = [
        (open_values, '{"a":{},"ab":"x","a'),
        (open_values, '{"a":{},"ab":"x","ab'),
        (four_keys, '{"a":1,"ab":2,"b'),
        (four_keys, '{"a":1,"ab":2,"dé":3,"b'),
        (four_keys, '{"a":1,"dé":3,"a'),
    ]
    checked, repeats = check_prefixes(info, going_on, marked_tokens(info, b'",'), random.Random(2))
    assert checked > 10000 and repeats >= 5
    # whole keys with an escape in one token (' "\\""' spells '"'), which need a blank before them
    spaced = [(infinite, '{"\\"": 1, "\\\\": 2,'), (infinite, '{"\\"": 1,')]
    marked = marked_tokens(info, b'",')
    rng = random.Random(1)
    checked, repeats = check_prefixes(info, spaced, marked, rng, 500, whitespace="dumps")
    assert checked > 1000 and repeats >= (2 if vocab == "llama-bpe" else 0)


@pytest.mark.slow
def test_sampling_never_repeats_a_key() -> None:
    from grammarlib.integrations.hypothesis import assert_masks_sound, schema_reference

    info = gl.TokenizerInfo.from_gguf(assets.vocab_gguf("gpt-2"))
    schema = {
        "type": "object",
        "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 9},
        "propertyNames": {"enum": ["a", "b", "c", "dé"]},
        "minProperties": 3,
    }
    # schema_reference parses with a hook that refuses repeated keys
    assert not schema_reference(schema)('{"a": 1, "a": 2, "b": 3}')
    assert_masks_sound(
        gl.Grammar.from_json_schema(schema),
        info,
        reference=schema_reference(schema),
        samples=30,
        max_steps=80,
        stop_probability=0.5,
    )
    texts = [json.dumps({"a": 1, "b": 2, "c": 3}), json.dumps({"dé": 0, "c": 1, "a": 2, "b": 3})]
    for text in texts:
        m = _matcher(schema, info)
        assert m.accept_string(text) and m.can_terminate()


@pytest.mark.slow
def test_masks_equal_brute_force_on_random_walks() -> None:
    """Random walks under the masks through nested objects with named, pattern and extra keys
    (and a finite key set): at every state each token with a quote or comma, and a sample of
    the others, is allowed exactly when accepting it succeeds."""
    info = gl.TokenizerInfo.from_gguf(assets.vocab_gguf("llama-bpe"))
    small_int = {"type": "integer", "minimum": 0, "maximum": 99}
    schema = {
        "type": "object",
        "properties": {"id": small_int, "meta": {"type": "object", "additionalProperties": True}},
        "patternProperties": {"^x-": {"type": "string", "maxLength": 3}},
        "additionalProperties": {
            "type": "object",
            "propertyNames": {"enum": ["a", "b", "ab"]},
            "additionalProperties": small_int,
        },
    }
    compiled = gl.compile(gl.Grammar.from_json_schema(schema), info)
    # prefer structure so the walks reach keys: tokens with a quote, comma, brace or colon
    marked = marked_tokens(info, b'",')
    states, keyed = check_random_walks(compiled, marked, b'",{:', random.Random(1), walks=6)
    assert states >= 60 and keyed >= 20


# Tokens no real vocabulary has, which meet several keys at once: two keys of one object, a key
# of an object they open, a key after leaving the innermost object, escapes in closed keys.
MANY_KEY_TOKENS = [
    '":1,"a":', '":1,"a', '":{"a":1,"a"', '":{"a":1,"b"', '":{"a', '":[{"a":', '{"a":',
    '{"a":1,"a"', '"a","a"', '"a","b"', '1,"a"', ',"a":{"a":', '":"","b', '":"x","a"', '"},"a"',
    '}],"a', '\\"":{"', '\\u0061":', '"\\u0061","', 'a","', '","', '":',
]  # fmt: skip


@pytest.mark.parametrize("order", ["schema", "any"])
def test_tokens_meeting_several_keys_are_exact(order: str) -> None:
    """Every token of a vocabulary of single bytes and of tokens that meet several keys at once
    is allowed exactly when accepting it succeeds, after prefixes in nested objects and arrays
    with named, extra and finitely many keys, and in arrays of distinct items."""
    singles = [bytes([b]) for b in range(0x20, 0x7F)]
    tokens = [*singles, *(t.encode() for t in MANY_KEY_TOKENS), b""]
    info = gl.TokenizerInfo.from_vocab(tokens, stop_token_ids=[len(tokens) - 1])
    values = {"type": ["object", "array", "string", "integer"], "maxItems": 2}
    open_values = {"type": "object", "additionalProperties": values}
    three_keys = {**open_values, "propertyNames": {"enum": ["a", "ab", "b"]}}
    named = {"type": "object", "properties": {"a": values, "b": values}, "required": ["a"]}
    unique = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    nested = {"type": "object", "additionalProperties": unique}
    prefixes = ["{", '{"', '{"a', '{"a":1,"', '{"a":1,"b', '{"a":{},"ab":"x","', '{"b":[{}],"a',
                '{"a":1,"b":', '{"a":{},"b":[']  # fmt: skip
    cases = [(schema, prefix) for schema in (open_values, three_keys, named) for prefix in prefixes]
    cases += [(unique, '["a",'), (unique, "["), (nested, '{"a":["a"],"b":['), (nested, '{"a')]
    cases += [(three_keys, '{"a":1,"b":2,"'), (three_keys, '{"a":1,"ab":2,"b')]
    valid = []
    for schema, prefix in cases:
        grammar = gl.Grammar.from_json_schema(schema, whitespace="compact", property_order=order)
        if gl.compile(grammar, info).matcher().accept_string(prefix):
            valid.append((schema, prefix))
    assert len(valid) >= 20
    every = list(range(len(tokens)))
    checked, repeats = check_prefixes(info, valid, every, random.Random(0), 0, property_order=order)
    assert checked == len(valid) * len(tokens) and repeats >= 10


def test_vocabulary_tables_find_tokens_by_bytes() -> None:
    """Ids by bytes (several tokens may share bytes: SentencePiece byte fallbacks), never the
    empty special tokens; the sorted distinct bytes for prefix searches."""
    from grammarlib.json_keys import VocabularyTables

    vocab = [b"", b"a", b"ab", b"a", b"", b'"', b"b", b"a"]
    tables = VocabularyTables(vocab)
    assert tables.ids_with_bytes(b"a") == (1, 3, 7)
    assert tables.ids_with_bytes(b"ab") == (2,) and tables.ids_with_bytes(b"zz") == ()
    assert tables.ids_with_bytes(b"") == ()
    assert tables.sorted_bytes == [b'"', b"a", b"ab", b"b"]
    assert tables.is_token_prefix(b"a") and not tables.is_token_prefix(b"ba")
