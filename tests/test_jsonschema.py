"""JSON Schema front-end: valid instances are accepted, anything ``jsonschema`` rejects is refused.

Completeness uses hand-written strategies of valid instances (objects in schema property order, as
the grammar requires); soundness feeds random JSON values and checks that whatever the grammar
accepts, ``jsonschema`` validates.
"""

from __future__ import annotations

import json
import re
import warnings
from decimal import Decimal
from functools import cache
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import grammarlib as gl
from grammarlib.jsonschema import SchemaError, decimal_range, integer_range, schema_to_grammar

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _compiled(schema_text: str, whitespace: str | int = "dumps") -> gl.CompiledGrammar:
    # numbers unbounded: these properties compare with jsonschema on arbitrary integers
    grammar = gl.Grammar.from_json_schema(schema_text, whitespace=whitespace, number_digits=None)
    return gl.compile(grammar)


def accepts(schema: Any, text: str, whitespace: str | int = "dumps") -> bool:
    m = _compiled(json.dumps(schema), whitespace).matcher()
    return m.accept_string(text) and m.can_terminate()


def dumps_forms(v: Any) -> list[str]:
    return [
        json.dumps(v),
        json.dumps(v, separators=(",", ":")),
        json.dumps(v, ensure_ascii=False),
        json.dumps(v, ensure_ascii=False, separators=(",", ":")),
    ]


def check_valid(schema: Any, v: Any) -> None:
    jsonschema.validate(v, schema)  # the strategy itself must produce valid instances
    for text in dumps_forms(v):
        assert accepts(schema, text), text


def check_sound(schema: Any, v: Any) -> None:
    """If the grammar accepts a rendering of ``v``, ``v`` must be valid."""
    valid = jsonschema.Draft202012Validator(schema).is_valid(v)
    for text in dumps_forms(v)[:2]:
        if accepts(schema, text):
            assert valid, text


# -- schemas and strategies of their valid instances ----------------------------------------------

NAME = st.text(min_size=1, max_size=5)
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 5},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "é\n"]}, "maxItems": 3},
    },
    "required": ["name"],
    "additionalProperties": {"type": "boolean"},
}


@st.composite
def persons(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"name": draw(NAME)}
    if draw(st.booleans()):
        out["age"] = draw(st.integers(0, 150))
    if draw(st.booleans()):
        out["tags"] = draw(st.lists(st.sampled_from(["a", "b", "é\n"]), max_size=3))
    extra = draw(st.dictionaries(st.text(max_size=4), st.booleans(), max_size=3))
    for k, v in extra.items():
        if k not in PERSON["properties"]:
            out[k] = v
    return out


TREE = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "v": {"type": "integer", "minimum": -20, "exclusiveMaximum": 20},
                "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            },
            "required": ["v"],
            "additionalProperties": False,
        }
    },
    "$ref": "#/$defs/node",
}
trees = st.recursive(
    st.builds(lambda v: {"v": v}, st.integers(-20, 19)),
    lambda kids: st.builds(
        lambda v, ks: {"v": v, "kids": ks}, st.integers(-20, 19), st.lists(kids, max_size=3)
    ),
    max_leaves=8,
)

MIXED = {
    "type": "array",
    "prefixItems": [{"const": {"k": [1, "x"]}}, {"type": ["string", "null"], "maxLength": 2}],
    "items": {"anyOf": [{"type": "integer", "maximum": -5}, {"type": "number", "minimum": 2.5}]},
    "minItems": 1,
    "maxItems": 5,
}
mixed = st.builds(
    lambda second, rest, n: [{"k": [1, "x"]}, *([second, *rest] if n else [])],
    st.none() | st.text(max_size=2),
    st.lists(
        st.integers(max_value=-5) | st.floats(min_value=2.5, max_value=1e6) | st.integers(3, 99),
        max_size=3,
    ),
    st.booleans(),
)

STRING = {"type": "string", "minLength": 2, "maxLength": 4}
PATTERN = {"type": "string", "pattern": '^[a-z"\\\\é]+-\\d{2}$'}
patterned = st.builds(
    lambda s, n: f"{s}-{n:02d}",
    st.text(alphabet='abcz"\\é', min_size=1, max_size=4),
    st.integers(0, 99),
)
ENUM = {"enum": [1, 2.5, "two", None, True, [1, {"a": "é"}], {"x": {}}]}

CASES = [
    (PERSON, persons()),
    (TREE, trees),
    (MIXED, mixed),
    (STRING, st.text(min_size=2, max_size=4)),
    (PATTERN, patterned),
    (ENUM, st.sampled_from(ENUM["enum"])),
    (True, st.recursive(st.integers() | st.text(max_size=3), lambda c: st.lists(c, max_size=3))),
]
IDS = ["person", "tree", "mixed", "string", "pattern", "enum", "true"]

keys = st.sampled_from(["name", "age", "tags", "v", "kids", "k", "x", "a", ""]) | st.text(
    max_size=3
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-200, 200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet='abcz"\\é\n-0129', max_size=6),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(keys, c, max_size=4),
    max_leaves=10,
)


@pytest.mark.parametrize(("schema", "strategy"), CASES, ids=IDS)
def test_valid_instances_are_accepted(schema: Any, strategy: st.SearchStrategy[Any]) -> None:
    @SETTINGS
    @given(strategy)
    def run(v: Any) -> None:
        check_valid(schema, v)

    run()


@pytest.mark.parametrize(("schema", "strategy"), CASES, ids=IDS)
def test_accepted_instances_are_valid(schema: Any, strategy: st.SearchStrategy[Any]) -> None:
    @settings(SETTINGS, max_examples=150)
    @given(json_values | strategy | strategy.map(_mutate))
    def run(v: Any) -> None:
        check_sound(schema, v)

    run()


def _mutate(v: Any) -> Any:
    """A nearby value, often invalid: wrap, unwrap or perturb."""
    if isinstance(v, dict) and v:
        k = next(iter(v))
        return {**v, k: [v[k]]}
    if isinstance(v, list) and v:
        return v[1:] if len(v) > 1 else v * 2
    if isinstance(v, str):
        return v + "é\\"
    if isinstance(v, bool) or v is None:
        return 0
    if isinstance(v, (int, float)):
        return v + 1
    return None


# -- exact numeric bounds --------------------------------------------------------------------------

INT_BOUNDS = [
    {"minimum": -13, "maximum": 205},
    {"exclusiveMinimum": -1000, "exclusiveMaximum": 10},
    {"minimum": 99},
    {"maximum": -10},
    {"minimum": 0.5, "maximum": 3.5},
    {"exclusiveMinimum": -0.5},
    {},
]


@pytest.mark.parametrize("bounds", INT_BOUNDS, ids=str)
def test_integer_bounds_exhaustive(bounds: dict[str, Any]) -> None:
    schema = {"type": "integer", **bounds}
    validator = jsonschema.Draft202012Validator(schema)
    for n in range(-1100, 1100):
        assert accepts(schema, str(n)) == validator.is_valid(n), n
    for big in (10**30, -(10**30)):
        assert accepts(schema, str(big)) == validator.is_valid(big)
    assert accepts(schema, "1.0") == validator.is_valid(1)
    assert not accepts(schema, "-0") and not accepts(schema, "007")


def test_integer_range_digit_lengths() -> None:
    g = gl.compile(gl.Grammar({"r": integer_range(-9, 1234)}, "r"))
    for n in range(-20, 1300):
        m = g.matcher()
        assert (m.accept_string(str(n)) and m.can_terminate()) == (-9 <= n <= 1234), n


def test_decimal_range_exact() -> None:
    texts = [s + i for s in ("", "-") for i in ("0", "1", "2", "10", "12")]
    texts = [t + f for t in texts for f in ("", ".0", ".05", ".5", ".50", ".2", ".25", ".99")]
    for lo, hi in [("1.5", "2.25"), ("-0.25", None), (None, "-1"), ("0", "0"), ("0.05", "12")]:
        for ls in (False, True):
            for hs in (False, True):
                a = None if lo is None else Decimal(lo)
                b = None if hi is None else Decimal(hi)
                expr = decimal_range(a, ls, b, hs)
                try:
                    cg = gl.compile(gl.Grammar({"r": expr}, "r"))
                except gl.GrammarError:
                    cg = None
                for t in texts:
                    v = Decimal(t)
                    want = (a is None or (v > a if ls else v >= a)) and (
                        b is None or (v < b if hs else v <= b)
                    )
                    m = cg.matcher() if cg else None
                    got = bool(m and m.accept_string(t) and m.can_terminate())
                    assert got == want, (lo, ls, hi, hs, t)


# -- strings, keys, whitespace ---------------------------------------------------------------------


def test_string_length_counts_code_points_and_escapes() -> None:
    schema = {"type": "string", "minLength": 2, "maxLength": 2}
    for text in ['"\\u00e9\\n"', '"é😀"', '"\\ud83d\\ude00x"', '"\\"\\\\"']:
        assert accepts(schema, text), text
    for text in ['"\\u00e9"', '"abc"', '"\\ud83dx"', '"a\n"', '"\\x41a"']:
        assert not accepts(schema, text), text


def test_escape_policies() -> None:
    """``dumps`` (the default): escapes exactly where json.dumps (either ensure_ascii) writes
    them, so ASCII text has one spelling; ``any``: every JSON escape."""
    schema = {"type": "string", "maxLength": 3}
    dumps = gl.compile(gl.Grammar.from_json_schema(schema))
    anything = gl.compile(gl.Grammar.from_json_schema(schema, escapes="any"))
    for cp in [*range(0x100), 0x2028, 0xFFFF, 0x10000, 0x10FFFF]:
        if 0xD800 <= cp <= 0xDFFF:
            continue
        for text in {json.dumps(chr(cp)), json.dumps(chr(cp), ensure_ascii=False)}:
            for compiled in (dumps, anything):
                m = compiled.matcher()
                assert m.accept_string(text) and m.can_terminate(), (hex(cp), text)
    for text in ['"\\/"', '"\\u0041"', '"\\u000a"', '"\\u0022"', '"\\u005C"']:
        assert not dumps.matcher().accept_string(text), text
        m = anything.matcher()
        assert m.accept_string(text) and m.can_terminate(), text
    assert dumps.matcher().accept_string('"\\u00E9\\u00e9"')  # either hex case
    keyed = gl.Grammar.from_json_schema(
        {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    )
    assert gl.compile(keyed).matcher().forced_bytes() == b'{"age":'  # jump-forward material
    with pytest.raises(ValueError, match="escapes"):
        gl.Grammar.from_json_schema(schema, escapes="some")


@pytest.mark.parametrize("escapes", ["dumps", "any"])
def test_string_literals_are_the_lowered_characters(escapes: str) -> None:
    """Keys and string enum values: the plain-text shortcut and the memo give the same IR as
    lowering the characters one by one (so fingerprints and caches do not change)."""
    from grammarlib.ir import literal, seq
    from grammarlib.jsonschema.lexical import char_literal, json_string_literal, lower_chars

    texts = ["name", "a b/c", "x-1_2", "~!@#$%^&*()", "", "é", 'a"b', "a\\b", "t\tab", "\x7f"]
    for text in texts:
        lowered = seq(literal('"'), lower_chars(char_literal(text), escapes), literal('"'))
        assert json_string_literal(text, escapes) == lowered, text


@given(st.lists(st.text(alphabet='abcz_-/ é"\\\t', max_size=5), min_size=1, max_size=6))
@settings(max_examples=150, deadline=None)
def test_extra_key_strings_are_the_lowered_complement(keys: list[str]) -> None:
    """The strings of the "any other key" rule (built at the byte level, with a shortcut for
    plain keys) are exactly the lowered character-level complement of the keys."""
    from grammarlib.jsonschema.lexical import json_string_except, lower_chars, string_except

    for escapes in ("dumps", "any"):
        lowered = lower_chars(string_except(keys), escapes)
        assert json_string_except(keys, escapes) == lowered, (keys, escapes)


def test_extra_keys_never_spell_a_declared_key() -> None:
    schema = {"type": "object", "properties": {"ab": {"type": "integer"}}}
    assert accepts(schema, '{"ab":1,"abc":"x"}')
    assert accepts(schema, '{"a":"x"}')
    for text in ['{"ab":"x"}', '{"ab":1,"ab":2}']:
        assert not accepts(schema, text), text
    # With every escape allowed, an escaped spelling of a declared key is that key, not extra.
    compiled = gl.compile(gl.Grammar.from_json_schema(schema, escapes="any"))
    for text in ['{"\\u0061b":"x"}', '{"a\\u0062":"x"}']:
        assert not compiled.matcher().accept_string(text), text
    m = compiled.matcher()
    assert m.accept_string('{"\\u0061b":1}') and m.can_terminate()


def test_whitespace_policies() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "array"}}}
    v = {"a": [1, 2]}
    assert accepts(schema, json.dumps(v), "default")
    assert not accepts(schema, json.dumps(v, separators=(",", ":")), "default")
    assert accepts(schema, json.dumps(v, separators=(",", ":")), "compact")
    assert not accepts(schema, json.dumps(v), "compact")
    assert accepts(schema, '{ "a" :\n[1 ,\t2 ] }', "flexible")
    assert not accepts(schema, '{"a":     [1]}', "flexible")  # more than 4 blanks in a row
    assert accepts(schema, '{"a":     [1]}', 5)
    assert not accepts(schema, '{"a":  [1]}')  # dumps: at most one space


# -- errors ----------------------------------------------------------------------------------------


def test_unsupported_keyword_names_keyword_and_pointer() -> None:
    schema = {"properties": {"tags": {"type": "array", "uniqueItems": True}}}
    with pytest.raises(
        SchemaError, match=r"unsupported keyword 'uniqueItems' at #/properties/tags"
    ):
        gl.Grammar.from_json_schema(schema)
    with pytest.warns(UserWarning, match=r"'uniqueItems' at #/properties/tags"):
        g = gl.Grammar.from_json_schema(schema, strict=False)
    m = gl.compile(g).matcher()
    assert m.accept_string('{"tags":[1,1]}') and m.can_terminate()


@pytest.mark.parametrize(
    ("schema", "why"),
    [
        ({"type": "integer", "minimum": 5, "maximum": 3}, "5 > 3"),
        ({"type": "number", "exclusiveMinimum": 1, "maximum": 1}, "no number"),
        ({"type": "array", "minItems": 3, "maxItems": 2}, "3 > 2"),
        ({"type": "string", "enum": [1, None]}, "enum"),
        ({"allOf": [{"type": "string"}, {"type": "integer"}]}, "types exclude each other"),
        ({"type": "object", "minProperties": 3, "maxProperties": 1}, "3 > maxProperties 1"),
        ({"type": "integer", "multipleOf": 2, "minimum": 3, "maximum": 3}, "'multipleOf'"),
        ({"type": "string", "pattern": "^a+$", "maxLength": 3, "not": {"pattern": "a"}}, "string"),
        ({"not": {}}, "no value"),
        ({"oneOf": [True, True]}, "no value"),
        ({"type": "object", "required": ["a"], "additionalProperties": False}, "'a' is forbidden"),
        ({"type": "object", "properties": {"a": False}, "required": ["a"]}, "'a' can have no"),
        (False, "false schema"),
    ],
)
def test_unsatisfiable_schemas_say_why(schema: Any, why: str) -> None:
    with pytest.raises(SchemaError, match="unsatisfiable") as info:
        gl.Grammar.from_json_schema(schema)
    assert why in str(info.value)


@pytest.mark.parametrize(
    ("schema", "keyword"),
    [
        ({"$ref": "http://example.com/x"}, "'$ref'"),
        ({"$ref": "#/$defs/missing"}, "'$ref'"),
        ({"type": "string", "pattern": "a(?=b)"}, "'pattern' at #"),
        ({"type": "array", "uniqueItems": True}, "'uniqueItems' at #"),
        ({"not": {"type": "array", "uniqueItems": True}}, "'not' at #/not"),
        ({"$schema": "http://example.com/custom-meta#"}, "'$schema'"),
        (
            {"$defs": {"a": {"$ref": "#/$defs/a", "type": "integer"}}, "$ref": "#/$defs/a"},
            "recursive",
        ),
    ],
)
def test_refused_schemas(schema: Any, keyword: str) -> None:
    with pytest.raises(SchemaError, match=re.escape(keyword)):
        gl.Grammar.from_json_schema(schema)


def test_oneof_with_disjoint_types_and_allof_merge() -> None:
    one = {"oneOf": [{"type": "string", "maxLength": 1}, {"type": "integer", "minimum": 3}]}
    assert accepts(one, '"a"') and accepts(one, "3")
    assert not accepts(one, '"ab"') and not accepts(one, "2")
    both = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"a": {"minimum": 10}, "b": {"type": "string"}}},
        ]
    }
    assert accepts(both, '{"a":10,"b":"x"}')
    assert not accepts(both, '{"a":9}') and not accepts(both, '{"b":"x"}')


def test_json_text_and_pydantic() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):
        name: str
        qty: int = pydantic.Field(ge=1, le=99)
        note: str | None = None

    class Order(pydantic.BaseModel):
        items: list[Item]
        rush: bool = False

    cg = gl.compile(gl.Grammar.from_pydantic(Order))
    order = Order(items=[Item(name="é", qty=3), Item(name="x", qty=99, note=None)], rush=True)
    for text in (order.model_dump_json(), json.dumps(order.model_dump())):
        m = cg.matcher()
        assert m.accept_string(text) and m.can_terminate(), text
    m = cg.matcher()
    assert not (m.accept_string('{"items":[{"name":"a","qty":0}]}') and m.can_terminate())
    m = gl.compile(gl.Grammar.from_json_schema('{"type": "null"}')).matcher()  # JSON text
    assert m.accept_string("null") and m.can_terminate()


def test_recursive_root_reference() -> None:
    schema = {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"$ref": "#"}]}}
    assert accepts(schema, "[1,[2,[[]]],3]")
    assert not accepts(schema, '[1,["x"]]')


def test_warnings_are_not_raised_for_annotations() -> None:
    schema = {"title": "t", "description": "d", "$comment": "c", "examples": [1], "default": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert accepts(schema, "[1]")


def test_many_optional_properties_stay_small() -> None:
    """Optional properties share their tails through helper rules (no quadratic blow-up)."""
    schema = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(40)}}
    assert accepts(schema, json.dumps({f"p{i}": i for i in range(0, 40, 7)} | {"zz": [1]}))
    assert not accepts(schema, json.dumps({"p7": 1, "p0": 2}))  # schema order


# -- the wider keywords: exact both ways on random and targeted values -----------------------------


@cache
def _compiled_any(schema_text: str) -> gl.CompiledGrammar:
    g = schema_to_grammar(json.loads(schema_text), property_order="any")
    return gl.compile(gl.Grammar.from_ir(g))


def check_exact(schema: Any, v: Any) -> None:
    """Both json.dumps spellings of ``v`` are accepted exactly when ``v`` is valid."""
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    valid = jsonschema.Draft202012Validator(schema, format_checker=checker).is_valid(v)
    cg = _compiled_any(json.dumps(schema))
    for text in dumps_forms(v)[:2]:
        m = cg.matcher()
        assert (m.accept_string(text) and m.can_terminate()) == valid, (text, valid)


small_ints = st.integers(-12, 12)
short_text = st.text(alphabet="abxy1_é", max_size=4)
scalars = st.none() | st.booleans() | small_ints | short_text | small_ints.map(lambda n: n / 4)
small_values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from("abcxy"), c, max_size=4),
    max_leaves=8,
)
objects = st.dictionaries(
    st.sampled_from(["a", "b", "c", "x1", "xy", "y", "é"]), scalars, max_size=4
)
arrays = st.lists(st.sampled_from([0, 1, 2, "a", "b", None, True, 2.5]), max_size=5)

KEYWORD_CASES = {
    "multipleOf": ({"type": "number", "multipleOf": 0.75, "maximum": 6}, scalars),
    "not multipleOf": ({"type": "integer", "multipleOf": 3, "not": {"multipleOf": 2}}, scalars),
    "not string": ({"not": {"type": "string", "maxLength": 2}}, small_values),
    "not required": ({"not": {"required": ["a"]}}, objects),
    "not enum": ({"not": {"enum": ["a", 1, None]}}, scalars),
    "not additionalProperties": (
        {"not": {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}}},
        objects,
    ),
    "not patternProperties": ({"not": {"patternProperties": {"^x": {"type": "null"}}}}, objects),
    "not propertyNames": ({"not": {"propertyNames": {"pattern": "^[ab]"}}}, objects),
    "not const object": ({"not": {"enum": [{"a": 1, "b": None}, [1, "a"]]}}, objects | arrays),
    "not not": (
        {"not": {"not": {"additionalProperties": False, "propertyNames": {"maxLength": 1}}}},
        objects,
    ),
    "if then else": (
        {
            "if": {"properties": {"a": {"const": 1}}, "required": ["a"]},
            "then": {"properties": {"b": {"type": "integer"}}},
            "else": {"properties": {"b": {"type": "string"}}},
        },
        objects,
    ),
    "if on numbers": (
        {"if": {"minimum": 0}, "then": {"multipleOf": 2}, "else": {"maximum": -5}},
        scalars,
    ),
    "oneOf overlap": ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, scalars),
    "oneOf strings": (
        {"oneOf": [{"minLength": 2}, {"pattern": "^a"}], "type": "string"},
        short_text,
    ),
    "anyOf objects": (
        {"anyOf": [{"required": ["a"]}, {"properties": {"b": {"type": "null"}}}]},
        objects,
    ),
    "patternProperties": (
        {
            "patternProperties": {"^x": {"type": "integer"}, "y$": {"type": "string"}},
            "properties": {"a": {"type": "boolean"}},
            "additionalProperties": {"type": "null"},
        },
        objects,
    ),
    "propertyNames": ({"propertyNames": {"maxLength": 1, "pattern": "^[a-c]"}}, objects),
    "min/maxProperties": (
        {"properties": {"a": {}, "b": {}}, "minProperties": 1, "maxProperties": 2},
        objects,
    ),
    "dependentRequired": ({"dependentRequired": {"a": ["b"], "c": ["a"]}}, objects),
    "dependentSchemas": (
        {"dependentSchemas": {"a": {"properties": {"b": {"type": "integer"}}, "required": ["b"]}}},
        objects,
    ),
    "contains": ({"contains": {"type": "integer"}, "minContains": 2, "maxContains": 3}, arrays),
    "contains with items": (
        {"items": {"type": ["integer", "string"]}, "contains": {"const": "a"}},
        arrays,
    ),
    "uniqueItems": ({"items": {"enum": [1, 2, "a", True]}, "uniqueItems": True}, arrays),
    "unevaluatedProperties": (
        {
            "properties": {"a": {}},
            "anyOf": [{"properties": {"b": {"type": "integer"}}}, {"required": ["c"]}],
            "unevaluatedProperties": False,
        },
        objects,
    ),
    "unevaluatedProperties schema": (
        {"allOf": [{"properties": {"a": {}}}], "unevaluatedProperties": {"type": "string"}},
        objects,
    ),
    "unevaluatedItems": (
        {
            "prefixItems": [{"type": "integer"}],
            "contains": {"type": "string"},
            "unevaluatedItems": False,
        },
        arrays,
    ),
    "pattern with lengths": (
        {"type": "string", "pattern": "^[ab1]+$", "minLength": 2, "maxLength": 3},
        short_text,
    ),
    "const object": ({"const": {"a": 1, "b": [None]}}, objects | st.just({"b": [None], "a": 1})),
    "format": ({"type": "string", "format": "date"}, st.dates().map(str) | short_text),
    "anchor and nested id": (
        {
            "$id": "http://example.test/root.json",
            "$defs": {"a": {"$id": "sub/a.json", "$anchor": "A", "type": "integer"}},
            "properties": {"a": {"$ref": "sub/a.json"}, "b": {"$ref": "sub/a.json#A"}},
        },
        objects,
    ),
    "dynamicRef": (
        {
            "$id": "http://example.test/list.json",
            "$defs": {
                "list": {
                    "$id": "generic.json",
                    "$dynamicAnchor": "item",
                    "type": "array",
                    "items": {"$dynamicRef": "#item"},
                },
                "int": {"$dynamicAnchor": "item", "type": "integer"},
            },
            "$ref": "generic.json",
        },
        arrays,
    ),
}


KEYWORD_EXAMPLES: dict[str, list[Any]] = {
    "not string": ["", "ab", "abc", 1, None, ["a"]],
    "not multipleOf": [3, 6, 9, 2, 15, 0, -3, 3.0, 4.5],
    "not enum": ["a", 1, 1.0, None, "b", 2, True, False],
    "not additionalProperties": [{"a": "x"}, {"b": 1}, {"b": "x"}, {}, 1, {"a": 1, "c": 2.5}],
    "not patternProperties": [{"x": None}, {"x": 1}, {"ax": 1}, {}, {"x": None, "xy": 2}],
    "not propertyNames": [{"a": 1}, {"c": 1}, {}, {"a": 1, "c": 2}, "a"],
    "not not": [{}, {"a": 1}, {"ab": 1}, {"a": 1, "b": 2}, []],
    "not const object": [
        {"a": 1, "b": None},
        {"b": None, "a": 1.0},
        {"a": 1},
        {"a": 1, "b": None, "c": 1},
        {"a": 2, "b": None},
        [1, "a"],
        [1.0, "a"],
        [1],
        [1, "a", 2],
        ["a", 1],
        3,
    ],
    "anyOf objects": [{}, {"a": 1}, {"b": None}, {"b": 1}, {"b": 1, "a": 2}, 3],
    "patternProperties": [
        {"x1": 1},
        {"x1": "a"},
        {"xy": 1},
        {"xy": "s"},
        {"a": True},
        {"a": 1},
        {"b": None},
        {"b": 1},
        {"y": "s"},
        {"a": False, "x": 2, "by": "q", "c": None},
    ],
    "propertyNames": [{"a": 1}, {"ab": 1}, {"d": 1}, {}, {"c": 1, "b": 2}],
    "contains with items": [[1, "a"], [1], [None, "a"], ["a", "a"]],
    "uniqueItems": [[1, 2], [1, 1], [1, True], [1.0, 1], ["a", 2, 1, True], []],
    "unevaluatedProperties": [
        {"a": 1, "b": 2},
        {"a": 1, "b": "x"},
        {"c": 1, "b": "x"},
        {"d": 1},
        {"c": 1, "d": 2},
        {},
    ],
    "unevaluatedItems": [[1], [1, "a"], [1, "a", 2], ["a"], [1, 2], [], [1, "a", "b"]],
    "pattern with lengths": ["ab", "a", "abab", "ba1", "abc", "b1"],
    "const object": [
        {"a": 1, "b": [None]},
        {"b": [None], "a": 1},
        {"a": 1},
        {"a": 1.0, "b": [None]},
    ],
    "dynamicRef": [[1, 2], ["a"], [], [1.5]],
}


@pytest.mark.parametrize("case", list(KEYWORD_CASES))
def test_keyword_exact(case: str) -> None:
    schema, strategy = KEYWORD_CASES[case]
    for v in KEYWORD_EXAMPLES.get(case, []):
        check_exact(schema, v)

    @settings(SETTINGS, max_examples=80)
    @given(strategy)
    def run(v: Any) -> None:
        check_exact(schema, v)

    run()


def test_property_order_schema_and_any() -> None:
    schema = {"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a"]}
    assert accepts(schema, '{"a":1,"b":2}') and not accepts(schema, '{"b":2,"a":1}')
    check_exact(schema, {"b": 2, "a": 1})
    with pytest.raises(SchemaError, match="property_order"):
        schema_to_grammar(schema, property_order="sorted")


def test_format_is_an_annotation_when_formats_off() -> None:
    schema = {"type": "string", "format": "date"}
    on = gl.compile(gl.Grammar.from_ir(schema_to_grammar(schema)))
    off = gl.compile(gl.Grammar.from_ir(schema_to_grammar(schema, formats=False)))
    for cg, want in ((on, False), (off, True)):
        m = cg.matcher()
        assert (m.accept_string('"2023-02-29"') and m.can_terminate()) == want
    with pytest.warns(UserWarning, match=r"unknown format 'regex' at #/format is an annotation"):
        schema_to_grammar({"format": "regex"})


def test_remote_registry() -> None:
    from referencing import Registry, Resource

    remote = Resource.from_contents(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "integer"}
    )
    registry = Registry().with_resource("http://example.test/int.json", remote)
    schema = {"items": {"$ref": "http://example.test/int.json"}}
    cg = gl.compile(gl.Grammar.from_ir(schema_to_grammar(schema, registry=registry)))
    for text, want in (("[1,2]", True), ('["a"]', False)):
        m = cg.matcher()
        assert (m.accept_string(text) and m.can_terminate()) == want


def test_dependent_schemas_annotate_objects_only() -> None:
    """``dependentSchemas`` is not evaluated on an array, so its ``unevaluatedItems`` must not
    count as evaluating the array's items (found by differential fuzzing)."""
    schema = {
        "unevaluatedItems": {"maxLength": 1},
        "dependentSchemas": {"a": {"unevaluatedItems": {"exclusiveMaximum": -1}}},
    }
    for v in (["xa"], ["x"], {"a": 1}, {"b": 2}, [[]]):
        check_exact(schema, v)


def test_pydantic_discriminated_union() -> None:
    """pydantic writes ``discriminator`` (an OpenAPI annotation) next to a ``oneOf`` whose
    branches differ in a ``const`` tag: exclusive without negating the branches."""
    pydantic = pytest.importorskip("pydantic")
    from typing import Annotated, Literal

    class Cat(pydantic.BaseModel):
        kind: Literal["cat"]
        lives: int = pydantic.Field(ge=0, le=9)

    class Dog(pydantic.BaseModel):
        kind: Literal["dog"]
        bark: str = pydantic.Field(pattern="^wo+f$", max_length=6)

    class Owner(pydantic.BaseModel):
        pet: Annotated[Cat | Dog, pydantic.Field(discriminator="kind")]
        score: float = pydantic.Field(default=0, multiple_of=0.5, ge=0, lt=10)

    schema = Owner.model_json_schema()
    for v in (
        {"pet": {"kind": "cat", "lives": 9}, "score": 9.5},
        {"pet": {"kind": "dog", "bark": "woof"}},
        {"pet": {"kind": "dog", "bark": "woooooof"}},
        {"pet": {"kind": "cat", "bark": "woof"}},
        {"pet": {"kind": "cat", "lives": 1}, "score": 0.25},
        {"pet": {"kind": "cat", "lives": 1}, "score": 10},
    ):
        check_exact(schema, v)


def test_negated_items_after_a_prefix() -> None:
    """``not`` of ``items`` after ``prefixItems`` is "some item past the prefix fails": the
    prefix items themselves are unconstrained (found by differential fuzzing)."""
    schema = {"contains": {"prefixItems": [{}, {"minProperties": 2}], "items": False}}
    for v in ([3, [6, 1, 3]], [[1, 2, 3]], [[1, {"a": 1}]], [[1, {"a": 1, "b": 2}]], [[]]):
        check_exact(schema, v)
    schema = {"not": {"prefixItems": [{"type": "integer"}], "items": False}}
    for v in ([6, 1, 3], [6], ["x"], ["x", 1], []):
        check_exact(schema, v)


def test_numbers_without_bounds_have_at_most_20_digits_by_default() -> None:
    """So a model cannot write digits forever; int64, uint64 and doubles as json.dumps writes
    them all fit. Bounds the schema sets still count in full."""
    number = gl.compile(gl.Grammar.from_json_schema({"type": "number"}))
    for value in (2**63 - 1, -(2**63), 2**64 - 1, 1.7976931348623157e308, 5e-324, 0.1 + 0.2,
                  123456789012345.67, 0.00012345678901234567):  # fmt: skip
        m = number.matcher()
        assert m.accept_string(json.dumps(value)) and m.can_terminate(), value
    for text in ("1" * 21, "0." + "1" * 21, "1e1234"):
        m = number.matcher()
        assert not (m.accept_string(text) and m.can_terminate()), text
    big = gl.compile(gl.Grammar.from_json_schema({"type": "integer", "minimum": 10**30}))
    m = big.matcher()
    assert m.accept_string(str(10**30 + 7)) and m.can_terminate()
    unlimited = gl.compile(gl.Grammar.from_json_schema({"type": "integer"}, number_digits=None))
    m = unlimited.matcher()
    assert m.accept_string("9" * 50) and m.can_terminate()


def test_objects_with_thousands_of_properties_compile() -> None:
    """Object bodies are built member by member without recursion (a 1,500-property object once
    ran past Python's recursion limit)."""
    names = [f"p{i}" for i in range(1500)]
    schema = {"type": "object", "properties": {n: {"type": "integer"} for n in names}}
    m = gl.compile(gl.Grammar.from_json_schema(schema)).matcher()
    assert m.accept_string('{"p3": 1, "p1400": 2}') and m.can_terminate()
    assert not m.copy().accept_string(', "p3"')  # declared order: p3 cannot come again


def _tagged_object(i: int) -> dict[str, Any]:
    """An object with two required keys of its own, six optional ones, nothing else."""
    optional = {f"o{i}{j}": {"type": "integer"} for j in range(6)}
    return {
        "type": "object",
        "properties": {f"k{i}": {"type": "string"}, f"t{i}": {"type": "string"}, **optional},
        "required": [f"k{i}", f"t{i}"],
        "additionalProperties": False,
    }


def test_one_of_branches_disjoint_by_their_keys() -> None:
    """oneOf branches that require a key the others forbid, or more keys than another's
    maxProperties, are disjoint: no case expansion (the negations would be over 256 cases)."""
    single_false = {"type": "object", "additionalProperties": {"enum": [False]}}
    single_false |= {"minProperties": 1, "maxProperties": 1}
    schema = {"oneOf": [*(_tagged_object(i) for i in range(5)), single_false]}
    gl.Grammar.from_json_schema(schema)  # refused as "more than 256 cases" before
    for value in (
        {"k0": "a", "t0": "b", "o01": 3},
        {"k4": "a", "t4": "b"},
        {"z": False},
        {"k0": "a", "t0": "b", "k1": "c", "t1": "d"},
        {"k0": "a"},
        {"z": False, "y": False},
        {"k0": False},
    ):
        expected = jsonschema.Draft202012Validator(schema).is_valid(value)
        assert accepts(schema, json.dumps(value)) is expected, value


def test_case_absorption_stops_once_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A oneOf whose negations expand to thousands of cases is refused after comparing the
    cases kept so far, not every pair (a real schema took seconds on the comparisons)."""
    from grammarlib.jsonschema import normal_form

    calls = 0
    subsumes = normal_form._subsumes

    def counted(a: Any, b: Any) -> bool:
        nonlocal calls
        calls += 1
        return subsumes(a, b)

    monkeypatch.setattr(normal_form, "_subsumes", counted)
    cases = [normal_form.Case("#", required=[f"k{i}"]) for i in range(400)]
    assert normal_form._absorbed(cases, 256) is None
    assert calls == 256 * 257 // 2  # each of the 257 kept ones against those before it
    kept = normal_form._absorbed([*cases[:300], normal_form.Case("#", required=["k1", "x"])], 400)
    assert kept is not None and len(kept) == 300  # the case with k1 and more is absorbed
    branches = [
        {
            "type": "object",
            "properties": {
                f"p{i}": {"type": "integer", "minimum": i},
                f"q{i}": {"type": "string", "maxLength": i + 1},
            },
        }
        for i in range(10)
    ]
    with pytest.raises(SchemaError, match=r"at #/oneOf expand to more than 256 cases"):
        gl.Grammar.from_json_schema({"oneOf": branches})


def _field(kind: str, *extra: str) -> dict[str, Any]:
    """A form field as real schemas write them: a ``type`` tag that is not required, a
    required ``label``, optional keys shared with the other kinds (equal schemas, separate
    objects), ``additionalProperties: false``."""
    size = {"type": "number", "minimum": 1, "maximum": 12, "multipleOf": 1}
    shared = {"label": {"type": "string"}, "help": {"type": "string"}, "size": size}
    own = {name: {"type": "string"} for name in extra}
    nested = {"type": "object", "additionalProperties": {"$ref": "#/$defs/field"}}
    if "fields" in extra:
        own["fields"] = nested
    return {
        "type": "object",
        "properties": {"type": {"enum": [kind]}, **shared, **own},
        "required": ["label"],
        "additionalProperties": False,
    }


def test_one_of_branches_that_differ_in_optional_keys() -> None:
    """Eight overlapping branches ({"label": "x"} satisfies all of them, so it is invalid): the
    negations of the others are kept small by dropping what the branch itself rules out (a
    negated property value equal to its own, a type tag it cannot have, a multipleOf it
    requires) and cases whose constraints contain another's, and a negated
    additionalProperties becomes "one of my own keys the other lacks". Refused as "more than
    256 cases" before; checked against jsonschema on valid and invalid values."""
    kinds = [("text", "placeholder"), ("number", "placeholder", "min"), ("email",)]
    kinds += [("static",), ("date", "placeholder"), ("multiple", "fields")]
    kinds += [("repeating", "fields", "inline"), ("enum", "options")]
    branches = [_field(*k) for k in kinds]
    schema = {"$defs": {"field": {"oneOf": branches}}, "$ref": "#/$defs/field"}
    gl.Grammar.from_json_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    values = [
        {"label": "x"},
        {"label": "x", "type": "text"},
        {"label": "x", "type": "nope"},
        {"label": "x", "min": "1"},
        {"label": "x", "placeholder": "p"},
        {"label": "x", "options": "o", "size": 3},
        {"label": "x", "options": "o", "size": 2.5},
        {"label": "x", "inline": "i", "fields": {"a": {"label": "y", "type": "date"}}},
        {"label": "x", "inline": "i", "fields": {"a": {"label": "y"}}},
        {"label": "x", "type": "multiple", "fields": {}},
        {"label": "x", "fields": {}},
        {"label": "x", "type": "email", "placeholder": "p"},
        {"type": "text"},
    ]
    assert {validator.is_valid(v) for v in values} == {True, False}
    order = ["type", "label", "help", "size", "placeholder", "min", "fields", "inline", "options"]

    def in_schema_order(v: Any) -> Any:  # properties come in the schema's order
        if not isinstance(v, dict):
            return v
        rank = {k: order.index(k) if k in order else -1 for k in v}
        return {k: in_schema_order(v[k]) for k in sorted(v, key=rank.__getitem__)}

    for value in values:
        text = json.dumps(in_schema_order(value))
        assert accepts(schema, text) is validator.is_valid(value), value


def test_a_subschema_reached_twice_is_one_conjunct() -> None:
    """A key matched by name and by a pattern, in several merged cases, meets the same item
    schema (with its anyOf) again and again: counted once, not once per path."""
    item = {"anyOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/b"}], "type": "object"}
    array = {"type": "array", "items": {"$ref": "#/$defs/item"}}
    schema = {
        "$defs": {
            "item": item,
            "a": {"type": "object", "required": ["a"]},
            "b": {"type": "object", "required": ["b"]},
            "arr": array,
        },
        "type": "object",
        "properties": {"by": {"$ref": "#/$defs/arr"}},
        "patternProperties": {"^[a-z]*$": {"$ref": "#/$defs/arr"}},
        "allOf": [{"properties": {"by": {"$ref": "#/$defs/arr"}}} for _ in range(10)],
    }
    gl.Grammar.from_json_schema(schema)
    assert accepts(schema, '{"by": [{"a": 1}, {"b": 2}]}')
    assert not accepts(schema, '{"by": [{"c": 1}]}')


def test_time_limit_stops_with_a_clear_error() -> None:
    """Past ``time_limit_s`` the compilation stops with GrammarTooLargeError naming the limit and
    where it was; the same schema compiles without the limit (the result is not cached)."""
    big = {
        "type": "object",
        "properties": {
            f"p{i}": {"anyOf": [{"type": "integer"}, {"type": "string"}]} for i in range(50)
        },
    }
    with pytest.raises(gl.GrammarTooLargeError, match=r"time_limit_s=0\.0 s \(stopped at #"):
        gl.Grammar.from_json_schema(big, time_limit_s=0.0)
    assert gl.Grammar.from_json_schema(big, time_limit_s=None).example().startswith("{")


def test_many_pattern_properties_that_split_the_keys_into_few_classes() -> None:
    """Eight anchored patterns (JSON Schema Store's appsettings.json): nine classes of keys,
    not 2**8; more than 64 classes is refused by name."""
    names = ["WebOptimizer", "webOptimizer", "cdn", "pwa", "nlog", "NLog", "umbraco", "Umbraco"]
    schema = {
        "type": "object",
        "patternProperties": {f"^{n}$": {"type": "integer"} for n in names},
        "additionalProperties": {"type": "string"},
    }
    validator = jsonschema.Draft202012Validator(schema)
    for value in ({"cdn": 1, "other": "x"}, {"cdn": "x"}, {"NLog": 2, "nlog": 3}, {"x": 1}):
        assert accepts(schema, json.dumps(value)) is validator.is_valid(value), value
    overlapping = {
        "type": "object",
        "patternProperties": {c: {"type": "integer"} for c in "abcdefg"},
    }
    with pytest.raises(gl.SchemaError, match=r"'patternProperties' at # \(.*more than 64 classes"):
        gl.Grammar.from_json_schema(overlapping)


def test_one_of_tells_equal_looking_constants_apart() -> None:
    """1 and true are different JSON values although Python's == says otherwise: a branch
    with x = 1 is not the negation of one with x = true (judged by JSON text, not dict ==)."""
    schema = {
        "oneOf": [
            {"type": "object", "properties": {"x": {"const": 1}}},
            {"type": "object", "properties": {"x": {"const": True}}},
        ]
    }
    validator = jsonschema.Draft202012Validator(schema)
    for value in ({"x": 1}, {"x": True}, {}, {"x": 2}):
        assert accepts(schema, json.dumps(value)) is validator.is_valid(value), value


def test_case_merge_sets_every_field() -> None:
    """``Case.merge`` builds its result field by field (not through ``__init__``): a field
    added to the dataclass must be merged too."""
    import dataclasses

    from grammarlib.jsonschema.normal_form import Case

    merged = Case(where="a").merge(Case(where="b"))
    assert set(vars(merged)) == {f.name for f in dataclasses.fields(Case)}
    assert merged == Case(where="a")


def test_shared_subschema_keeps_its_own_values() -> None:
    """A subschema's normal form is memoised and reused at each use: using it inside an
    ``anyOf`` (whose cases then answer to the ``anyOf``) must not loosen its other uses."""
    schema = {
        "$defs": {"small": {"enum": [1, 2, 3], "maximum": 2}},
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"$ref": "#/$defs/small"}, {"type": "string"}]},
            "b": {"$ref": "#/$defs/small"},
            "c": {"not": {"$ref": "#/$defs/small"}, "enum": [1, 2, 3]},
        },
    }
    for text, valid in [
        ('{"a": 2}', True),
        ('{"a": 3}', False),
        ('{"b": 1}', True),
        ('{"b": 3}', False),
        ('{"c": 3}', True),
        ('{"c": 1}', False),
        ('{"a": 1, "b": 2, "c": 3}', True),
    ]:
        assert accepts(schema, text) == valid, text
        assert jsonschema.Draft202012Validator(schema).is_valid(json.loads(text)) == valid


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(st.text(alphabet='ab"\\é\ud800x😀', max_size=4), max_size=6),
    escapes=st.sampled_from(["dumps", "any"]),
)
def test_json_string_except_is_the_lowered_complement(names: list[str], escapes: str) -> None:
    """The byte-level complement of a key set, built directly, is the character-level one
    lowered (the same expression, so the same language)."""
    from grammarlib.jsonschema.lexical import json_string_except, lower_chars, string_except

    assert json_string_except(names, escapes) == lower_chars(string_except(names), escapes)
