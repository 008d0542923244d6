"""JSON Schemas as users send them: every draft, annotations and vendor keywords, malformed
schemas. The language of each compiled schema is compared with ``jsonschema``'s validator for
the schema's own draft on instances chosen to sit on both sides of each keyword."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import warnings
from typing import Any

import pytest
from jsonschema.validators import validator_for

import grammarlib as gl
from grammarlib.jsonschema import dialects
from grammarlib.jsonschema.dialects import (
    DRAFT4,
    DRAFT6,
    DRAFT7,
    DRAFT201909,
    DRAFT202012,
    detect_draft,
    to_draft202012,
)


def _accepts(grammar: gl.Grammar, value: Any) -> bool:
    matcher = gl.compile(grammar).matcher()
    return matcher.accept_string(json.dumps(value)) and matcher.can_terminate()


def _agrees(schema: Any, instances: list[Any], draft: str | None = None) -> None:
    """The compiled language and the draft's validator agree on every instance, and both sides
    of the line occur (so the check can fail)."""
    grammar = gl.Grammar.from_json_schema(schema, draft=draft)
    meta = detect_draft(schema, default=draft)  # the reference reads the same draft
    validator = validator_for({"$schema": meta})(schema)
    verdicts = []
    for value in instances:
        want = validator.is_valid(value)
        assert _accepts(grammar, value) == want, (value, want)
        verdicts.append(want)
    assert True in verdicts and False in verdicts


@pytest.mark.parametrize(
    ("schema", "draft"),
    [
        ({"$schema": "http://json-schema.org/draft-04/schema#"}, DRAFT4),
        ({"$schema": "http://json-schema.org/draft-04/schema"}, DRAFT4),
        ({"$schema": "https://json-schema.org/draft-06/schema#"}, DRAFT6),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, DRAFT7),
        ({"$schema": "https://json-schema.org/draft/2019-09/schema"}, DRAFT201909),
        ({"$schema": "https://json-schema.org/draft/2020-12/schema#"}, DRAFT202012),
        ({"type": "string"}, DRAFT202012),
        ({"items": [{"type": "string"}]}, DRAFT7),
        ({"properties": {"a": {"additionalItems": False}}}, DRAFT7),
        ({"dependencies": {"a": ["b"]}}, DRAFT7),
        ({"minimum": 1, "exclusiveMinimum": True}, DRAFT4),
        ({"id": "http://example.com/s", "type": "object"}, DRAFT4),
        ({"properties": {"id": {"type": "string"}}}, DRAFT202012),  # a property named id
        ({"enum": [{"items": [1]}]}, DRAFT202012),  # values are not schemas
    ],
)
def test_the_draft_is_detected(schema: dict[str, Any], draft: str) -> None:
    assert detect_draft(schema) == draft


def test_an_unknown_meta_schema_is_refused_by_name() -> None:
    with pytest.raises(gl.SchemaError, match="custom meta-schema"):
        gl.Grammar.from_json_schema({"$schema": "http://example.com/my-meta", "type": "string"})
    with pytest.raises(gl.SchemaError, match="draft-03"):
        gl.Grammar.from_json_schema({"$schema": "http://json-schema.org/draft-03/schema#"})


def test_draft4_boolean_exclusive_bounds() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "integer",
        "minimum": 1,
        "exclusiveMinimum": True,
        "maximum": 5,
        "exclusiveMaximum": False,
    }
    _agrees(schema, [0, 1, 2, 4, 5, 6])


def test_array_form_items_and_additional_items() -> None:
    schema = {
        "type": "array",
        "items": [{"type": "integer"}, {"type": "string"}],
        "additionalItems": {"type": "boolean"},
    }
    _agrees(schema, [[], [1], [1, "a"], [1, "a", True, False], [1, "a", 3], ["a"], [1, 2]])


def test_additional_items_next_to_a_schema_items_is_ignored() -> None:
    schema = {"$schema": DRAFT7, "items": {"type": "integer"}, "additionalItems": False}
    _agrees(schema, [[1, 2, 3], [], ["a"]])


def test_dependencies_split_into_required_and_schemas() -> None:
    schema = {
        "$schema": DRAFT6,
        "type": "object",
        "properties": {"a": {}, "b": {}, "c": {"type": "integer"}},
        "dependencies": {"a": ["b"], "b": {"required": ["c"]}},
    }
    _agrees(schema, [{}, {"a": 1}, {"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3}, {"b": 1}])


def test_ref_siblings_follow_the_draft() -> None:
    defs = {"n": {"type": "integer"}}
    old = {
        "$schema": DRAFT7,
        "definitions": defs,
        "properties": {"x": {"$ref": "#/definitions/n", "minimum": 5}},
    }
    _agrees(old, [{"x": 1}, {"x": 7}, {"x": "a"}])  # minimum is ignored next to $ref
    new = {
        "$schema": DRAFT201909,
        "$defs": defs,
        "properties": {"x": {"$ref": "#/$defs/n", "minimum": 5}},
    }
    _agrees(new, [{"x": 1}, {"x": 7}, {"x": "a"}])  # ... and enforced in 2019-09


def test_pointers_into_renamed_keywords_still_resolve() -> None:
    schema = {
        "$schema": DRAFT7,
        "items": [{"type": "integer", "maximum": 3}],
        "additionalItems": {"$ref": "#/items/0"},
    }
    _agrees(schema, [[1, 2], [1, 4], [1, "a"], []])
    translated = to_draft202012(schema, DRAFT7)
    assert translated["items"] == {"$ref": "#/prefixItems/0"}
    assert schema["additionalItems"] == {"$ref": "#/items/0"}  # the input is left alone


def test_draft4_id_with_a_fragment_is_an_anchor() -> None:
    schema = {
        "$schema": DRAFT4,
        "definitions": {"pos": {"id": "#pos", "type": "integer", "minimum": 0}},
        "properties": {"n": {"$ref": "#pos"}},
    }
    _agrees(schema, [{"n": 1}, {"n": -1}, {}])


def test_recursive_ref_of_2019_09() -> None:
    schema = {
        "$schema": DRAFT201909,
        "$recursiveAnchor": True,
        "type": "object",
        "properties": {"child": {"$recursiveRef": "#"}, "v": {"type": "integer"}},
        "additionalProperties": False,
    }
    _agrees(schema, [{}, {"child": {"v": 1}}, {"child": {"v": "a"}}, {"child": {"x": 1}}])


def test_keywords_a_draft_does_not_have_are_annotations_there() -> None:
    schema = {"$schema": DRAFT4, "type": "string", "const": "a"}
    with pytest.warns(UserWarning, match="'const' at # is not a keyword of draft-04"):
        grammar = gl.Grammar.from_json_schema(schema)
    assert _accepts(grammar, "b")  # as jsonschema's Draft4Validator says
    assert validator_for(schema)(schema).is_valid("b")


def test_annotations_and_vendor_keywords_are_ignored_silently() -> None:
    schema = {
        "type": "object",
        "title": "T",
        "description": "d",
        "x-kubernetes-preserve-unknown-fields": True,
        "example": {"a": 1},
        "self": {"vendor": "com.acme"},
        "links": [{"rel": "self"}],
        "propertyOrder": 3,
        "_format": "grid",
        "properties": {"a": {"type": "integer", "readOnly": True, "deprecated": True}},
        "additionalProperties": False,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grammar = gl.Grammar.from_json_schema(schema)
    assert _accepts(grammar, {"a": 1})
    assert not _accepts(grammar, {"b": 1})


@pytest.mark.parametrize(
    ("schema", "suggestion"),
    [
        ({"type": "string", "minLenght": 3}, "minLength"),
        ({"type": "object", "requird": ["a"]}, "required"),
        ({"type": "array", "item": {"type": "integer"}}, "items"),
    ],
)
def test_a_keyword_typo_gets_a_did_you_mean(schema: dict[str, Any], suggestion: str) -> None:
    with pytest.warns(UserWarning, match=f"did you mean '{suggestion}'"):
        gl.Grammar.from_json_schema(schema)


def test_an_unknown_format_is_an_annotation_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="unknown format 'grid' at #/format"):
        grammar = gl.Grammar.from_json_schema({"type": "string", "format": "grid"})
    assert _accepts(grammar, "anything")


@pytest.mark.parametrize(
    ("schema", "pointer"),
    [
        ({"type": "object", "properties": "x"}, "#/properties"),
        ({"type": "array", "items": "x"}, "#/items"),
        ({"propertyNames": "x"}, "#/propertyNames"),
        ({"properties": {"a": {"type": "strin"}}}, "#/properties/a/type"),
        ({"$schema": DRAFT4, "properties": {"a": {"minimum": "3"}}}, "#/properties/a/minimum"),
        ({"anyOf": []}, "#/anyOf"),
        ({"required": "a"}, "#/required"),
    ],
)
def test_malformed_schemas_give_a_schema_error_with_a_pointer(
    schema: dict[str, Any], pointer: str
) -> None:
    with pytest.raises(gl.SchemaError) as info:
        gl.Grammar.from_json_schema(schema)
    assert f" at {pointer}:" in str(info.value)
    assert isinstance(info.value, gl.GrammarlibError) and isinstance(info.value, ValueError)


def test_a_malformed_annotation_only_warns() -> None:
    with pytest.warns(UserWarning, match="malformed schema at #/title"):
        grammar = gl.Grammar.from_json_schema({"type": "integer", "title": 5})
    assert _accepts(grammar, 3)


def test_an_empty_required_list_in_draft4_is_harmless() -> None:
    schema = {"$schema": DRAFT4, "type": "object", "required": []}
    with pytest.warns(UserWarning, match="malformed schema at #/required"):
        grammar = gl.Grammar.from_json_schema(schema)
    assert _accepts(grammar, {})


def test_a_misspelt_draft_uri_is_read_as_that_draft_with_a_warning() -> None:
    schema = {"$schema": "http://json-schema-org/draft-07/schema#", "type": "integer"}
    with pytest.warns(UserWarning, match="did you mean 'http://json-schema.org/draft-07/schema#'"):
        grammar = gl.Grammar.from_json_schema(schema)
    assert _accepts(grammar, 3)
    custom = {"$schema": "https://json.schemastore.org/schema-catalog.json"}
    with pytest.raises(gl.SchemaError, match="a custom meta-schema"):
        gl.Grammar.from_json_schema(custom)


def test_repeated_enum_values_in_draft4_are_harmless() -> None:
    """Draft-04's meta-schema wants enum values distinct (later drafts do not): a repeat means
    the same set of values, so it warns (a real schema lists 'USD' twice among 160 codes)."""
    schema = {"$schema": DRAFT4, "enum": ["GBP", "USD", "EUR", "USD"]}
    with pytest.warns(UserWarning, match=r"malformed schema at #/enum.*harmless"):
        grammar = gl.Grammar.from_json_schema(schema)
    assert _accepts(grammar, "USD") and not _accepts(grammar, "JPY")
    with pytest.raises(gl.SchemaError, match="malformed 'enum' at #/enum"):
        gl.Grammar.from_json_schema({"$schema": DRAFT4, "enum": []})  # still: at least one


def test_the_draft_option_reads_a_schema_without_schema_keyword() -> None:
    schema = {"type": "number", "maximum": 3, "exclusiveMaximum": True}
    _agrees(schema, [2, 3, 4], draft="draft-04")
    with pytest.raises(gl.SchemaError, match="unknown draft"):
        gl.Grammar.from_json_schema(schema, draft="draft-99")


def test_every_user_error_derives_from_one_root() -> None:
    for cls in (
        gl.GrammarError,
        gl.SchemaError,
        gl.EmptyLanguageError,
        gl.GrammarTooLargeError,
        gl.IncompleteOutputError,
        gl.InvalidOutputError,
        gl.ModelError,
    ):
        assert issubclass(cls, gl.GrammarlibError), cls
    assert issubclass(gl.GrammarlibError, ValueError)


def test_pydantic_models_get_no_undeclared_keys() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Inner(pydantic.BaseModel):
        x: int

    class Closed(pydantic.BaseModel):
        inner: Inner
        tags: dict[str, int]

    class Open(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="allow")
        inner: Inner

    closed = gl.Grammar.from_pydantic(Closed)
    assert _accepts(closed, {"inner": {"x": 1}, "tags": {"any": 2}})
    assert not _accepts(closed, {"inner": {"x": 1}, "tags": {}, "extra": 1})
    assert not _accepts(closed, {"inner": {"x": 1, "y": 2}, "tags": {}})
    opened = gl.Grammar.from_pydantic(Open)
    assert _accepts(opened, {"inner": {"x": 1}, "extra": 1})
    assert not _accepts(opened, {"inner": {"x": 1, "y": 2}})


def test_the_same_schema_twice_is_one_compiled_grammar() -> None:
    """A server compiles per request: the same schema (an equal dict or the same text) and
    options give the same Grammar and CompiledGrammar objects, and warnings are repeated."""
    schema = {"type": "object", "properties": {"a": {"type": "string", "format": "grid"}}}
    with pytest.warns(UserWarning, match="unknown format 'grid'"):
        first = gl.Grammar.from_json_schema(schema)
    with pytest.warns(UserWarning, match="unknown format 'grid'"):
        again = gl.Grammar.from_json_schema(json.loads(json.dumps(schema)))
    assert again is first and gl.compile(again) is gl.compile(first)
    with pytest.warns(UserWarning):
        other = gl.Grammar.from_json_schema(schema, whitespace="compact")
    assert other is not first


def test_draft4_integers_have_no_fraction_part() -> None:
    """Draft-04 defines an integer as a number without a fraction part (``2.0`` is not one);
    later drafts compare values (``2.0`` is). An integral ``enum`` value without a type may be
    written either way in every draft."""
    schema = {
        "type": "object",
        "properties": {
            "v": {"type": "integer", "enum": [2]},
            "n": {"type": "integer", "minimum": 0},
            "e": {"enum": [3]},
        },
    }
    for draft, fraction in (("draft-04", False), ("draft-06", True), ("2020-12", True)):
        m = gl.compile(gl.Grammar.from_json_schema(schema, draft=draft)).matcher()
        assert m.copy().accept_string('{"v": 2.0') is fraction, draft
        assert m.copy().accept_string('{"n": 5.0') is fraction, draft
        assert m.copy().accept_string('{"v": 2, "n": 5, "e": 3.0}'), draft


SHAPE_CASES = [
    {"$schema": DRAFT4, "maxLength": 5.0},  # not an integer in draft-04
    {"maxLength": 5.0},
    {"$schema": DRAFT4, "required": []},
    {"$schema": DRAFT4, "enum": [1, 1]},
    {"$schema": DRAFT4, "exclusiveMinimum": 3},
    {"$schema": DRAFT7, "exclusiveMinimum": True},
    {"type": "integer", "title": 5},
    {"minimum": float("nan")},
    {"properties": {"a": {"type": "strin"}}},
    {"items": [{}]},
    {"$schema": DRAFT7, "items": [{}], "additionalItems": 3},
    {"$anchor": "1x"},
    {"$dynamicAnchor": "bad anchor"},
    {"anyOf": []},
    {"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}, "required": ["a"]},
    {"$schema": DRAFT4, "definitions": {"x": {"type": "number"}}, "$ref": "#/definitions/x"},
]


@pytest.mark.parametrize("schema", SHAPE_CASES, ids=lambda c: json.dumps(c, default=str))
def test_the_fast_meta_schema_check_passes_only_what_jsonschema_passes(
    schema: dict[str, Any],
) -> None:
    """The ``jsonschema-rs`` check (the ``fast`` extra) only ever skips the ``jsonschema`` one
    where that one finds nothing; and it does skip it for well-formed schemas."""
    draft = dialects.detect_draft(schema, default=DRAFT202012)
    fast = dialects._passes_fast_check(schema, draft)
    errors = list(dialects._metaschema_validator(draft).iter_errors(schema))
    assert not (fast and errors), errors
    finite = all(
        not isinstance(v, float) or math.isfinite(v) for v in schema.values()
    )  # (NaN is not JSON: jsonschema-rs leaves it to jsonschema)
    if finite and importlib.util.find_spec("jsonschema_rs") is not None:
        assert fast == (not errors)


def test_without_the_fast_extra_the_jsonschema_check_runs(monkeypatch) -> None:
    """No ``jsonschema-rs``: the same errors and the same compiles, from ``jsonschema``."""
    monkeypatch.setitem(sys.modules, "jsonschema_rs", None)  # (import fails)
    dialects._fast_metaschema_validator.cache_clear()
    try:
        assert not dialects._passes_fast_check({"type": "string"}, DRAFT202012)
        with pytest.raises(gl.SchemaError, match=r"malformed 'type' at #/properties/a/type"):
            gl.Grammar.from_json_schema({"properties": {"a": {"type": "strin"}}})
        assert _accepts(
            gl.Grammar.from_json_schema({"type": "string", "maxLength": 2, "title": "slow check"}),
            "ab",
        )
    finally:
        dialects._fast_metaschema_validator.cache_clear()
