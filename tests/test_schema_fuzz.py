"""Differential fuzz of the JSON Schema front-end against ``jsonschema``.

Random schemas (a hypothesis strategy over the keywords real schemas use: types, bounds, lengths,
patterns, formats, enum/const, objects, arrays, ``anyOf``/``allOf``/``oneOf``/``not``, finite
``uniqueItems``) either compile or raise a grammarlib error; for each compiled one, an instance
that ``hypothesis-jsonschema`` draws and ``jsonschema`` accepts is accepted as ``json.dumps``
writes it, and a string sampled from the grammar is an instance ``jsonschema`` accepts.
``GRAMMARLIB_FUZZ_EXAMPLES`` sets the number of schemas (default 300; the nightly size is
10,000).

Two spellings are outside the languages by design and skipped on the accept side: numbers that
``json.dumps`` writes with an exponent inside a bounded range (bounded ranges are written out in
digits) and numbers with more than ``number_digits`` (20) digits. And where a schema has a
``pattern``, strings with line terminators are skipped on both sides: patterns are ECMA-262
(``.`` and ``$`` stop at ``\r``, ``\n``, U+2028, U+2029), which grammarlib follows, while
``jsonschema`` matches them with Python's ``re``.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import grammarlib as gl
from grammarlib.integrations.hypothesis import schema_reference, strings

hypothesis_jsonschema = pytest.importorskip("hypothesis_jsonschema")

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("GRAMMARLIB_FUZZ_EXAMPLES", "300"))

_NAMES = st.sampled_from(["a", "b", "id", "name", "x_y"])
_PATTERNS = st.sampled_from(["^[a-z]+$", "^a", "[0-9]", "^(ab)*$", "^.{2,4}$", "x"])
_FORMATS = st.sampled_from(["date", "email", "ipv4", "uuid", "date-time"])
_SCALARS = st.one_of(st.integers(-3, 3), st.text("ab", max_size=3), st.booleans(), st.none())


def _leaves() -> st.SearchStrategy[dict[str, Any]]:
    def integer(lo: int, width: int) -> dict[str, Any]:
        return {"type": "integer", "minimum": lo, "maximum": lo + width}

    def number(lo: int, width: int) -> dict[str, Any]:
        return {"type": "number", "minimum": lo, "exclusiveMaximum": lo + width}

    def string(lo: int, width: int) -> dict[str, Any]:
        return {"type": "string", "minLength": lo, "maxLength": lo + width}

    types = ["null", "boolean", "integer", "number", "string"]
    return st.one_of(
        st.just({}),
        st.sampled_from(types).map(lambda t: {"type": t}),
        st.builds(integer, st.integers(-50, 50), st.integers(0, 100)),
        st.builds(number, st.integers(-5, 5), st.integers(1, 9)),
        st.builds(string, st.integers(0, 3), st.integers(0, 6)),
        _PATTERNS.map(lambda p: {"type": "string", "pattern": p}),
        _FORMATS.map(lambda f: {"type": "string", "format": f}),
        st.lists(_SCALARS, min_size=1, max_size=4, unique_by=json.dumps).map(lambda v: {"enum": v}),
        _SCALARS.map(lambda v: {"const": v}),
        st.sampled_from([2, 3, 5]).map(lambda m: {"type": "integer", "multipleOf": m}),
    )


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    def obj(props: dict[str, Any], required: list[str], extra: Any) -> dict[str, Any]:
        req = sorted(set(required) & set(props))
        return {
            "type": "object",
            "properties": props,
            "required": req,
            "additionalProperties": extra,
        }

    def array(items: Any, lo: int, width: int) -> dict[str, Any]:
        return {"type": "array", "items": items, "minItems": lo, "maxItems": lo + width}

    def unique(values: list[int]) -> dict[str, Any]:
        return {"type": "array", "items": {"enum": values}, "uniqueItems": True, "maxItems": 3}

    some = st.lists(children, min_size=1, max_size=3)
    return st.one_of(
        st.builds(
            obj,
            st.dictionaries(_NAMES, children, max_size=3),
            st.lists(_NAMES, max_size=2),
            st.one_of(st.booleans(), children),
        ),
        st.builds(array, children, st.integers(0, 2), st.integers(0, 3)),
        some.map(lambda xs: {"anyOf": xs}),
        st.lists(children, min_size=1, max_size=2).map(lambda xs: {"allOf": xs}),
        some.map(lambda xs: {"oneOf": xs}),
        children.map(lambda x: {"not": x}),
        st.builds(unique, st.lists(st.integers(0, 4), min_size=1, max_size=4, unique=True)),
    )


SCHEMAS = st.recursive(_leaves(), _extend, max_leaves=6)
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def _has_line_terminator(value: Any) -> bool:
    if isinstance(value, str):
        return any(c in value for c in "\r\n\u2028\u2029")
    if isinstance(value, list):
        return any(_has_line_terminator(v) for v in value)
    if isinstance(value, dict):
        return any(_has_line_terminator(k) or _has_line_terminator(v) for k, v in value.items())
    return False


def _regex_dialects_differ(schema: Any, text: str) -> bool:
    """A pattern meets a line terminator (see the module docstring)."""
    if '"pattern"' not in json.dumps(schema):
        return False
    try:
        return _has_line_terminator(json.loads(text))
    except ValueError:
        return False


def _outside_by_design(text: str) -> bool:
    """Numbers with an exponent or more than 20 digits (see the module docstring)."""
    for m in _NUMBER.finditer(re.sub(r'"(\\.|[^"\\])*"', '""', text)):
        if m.group(2) or len(re.sub(r"\D", "", m.group(0))) > 20:
            return True
    return False


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
@given(st.data())
def test_random_schemas_agree_with_jsonschema(data: st.DataObject) -> None:
    schema = data.draw(SCHEMAS, label="schema")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grammar = gl.Grammar.from_json_schema(schema, draft="draft-07", property_order="any")
        compiled = gl.compile(grammar)
    except gl.GrammarlibError:
        return  # unsatisfiable, or an assertion grammarlib refuses by name
    accepts = schema_reference({"$schema": "http://json-schema.org/draft-07/schema#", **schema})
    try:
        instance = data.draw(hypothesis_jsonschema.from_schema(schema), label="instance")
    except Exception:  # hypothesis-jsonschema cannot generate for every schema
        instance = None
    if instance is not None:
        text = json.dumps(instance)
        if (
            accepts(text)
            and not _outside_by_design(text)
            and not _regex_dialects_differ(schema, text)
        ):
            m = compiled.matcher()
            assert m.accept_string(text) and m.can_terminate(), (schema, text)
    sample = data.draw(strings(grammar), label="sample")
    assert accepts(sample) or _regex_dialects_differ(schema, sample), (schema, sample)
