"""``multipleOf`` values whose divisibility automaton is too large to build whole
(``grammarlib.divisible``): the on-demand automaton agrees byte by byte with the one built
whole, also under bounds, excluded values and ``not``-ed multiples, and 0.123456789 compiles and
is exact."""

from __future__ import annotations

import itertools
import json
import pickle
import random
import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from support.brute_force import check_random_walks, compare_byte_walks

import grammarlib as gl
from grammarlib import regular
from grammarlib.analysis import shortest
from grammarlib.errors import GrammarTooLargeError
from grammarlib.integrations.hypothesis import strings
from grammarlib.ir import Lazy
from grammarlib.jsonschema import schema_to_grammar
from grammarlib.masks import assets

CASES = [
    ({"type": t, "multipleOf": m}, digits)
    for m in (0.25, 3, 0.3, 1.5, 0.07)
    for t in ("number", "integer")
    for digits in (20, 3, None)
] + [({"type": "number", "multipleOf": 0.5, "allOf": [{"multipleOf": 0.3}]}, 20)]
# with bounds, excluded values or non-divisors: states by exact value (MultiplesIn)
BOUNDED = [
    {"type": "number", "multipleOf": 0.25, "minimum": -3, "maximum": 7.5},
    {"type": "integer", "multipleOf": 3, "exclusiveMinimum": -10, "exclusiveMaximum": 20},
    {"type": "number", "multipleOf": 0.3, "not": {"enum": [0.6, 3, "x"]}},
    {"type": "integer", "multipleOf": 3, "not": {"multipleOf": 2}},
    {"type": "number", "minimum": -2, "maximum": 2, "not": {"multipleOf": 0.5}},
    {"type": "number", "multipleOf": 1.5, "minimum": 0, "not": {"const": 3}},
    {"type": "integer", "minimum": 5, "not": {"multipleOf": 4}},
    {"type": "number", "multipleOf": 0.07, "exclusiveMaximum": 0.21, "minimum": -0.07},
    {"type": "number", "multipleOf": 2, "maximum": 1},
]
# (the built-whole grammars cap free runs of digits differently under bounds: compared uncapped)
CASES += [(schema, None) for schema in BOUNDED]


def _grammar(schema: dict, digits: int | None, *, lazy: bool, monkeypatch) -> gl.Grammar:
    """The schema's grammar; ``lazy``: as if every divisibility automaton were too large."""
    with monkeypatch.context() as patch:
        if lazy:

            def too_large(*args: object, **kwargs: object) -> None:
                raise GrammarTooLargeError("(too large, for this test)")

            patch.setattr(regular, "multiple_of", too_large)
        return gl.Grammar.from_ir(schema_to_grammar(schema, number_digits=digits))


@pytest.mark.parametrize(("schema", "digits"), CASES, ids=lambda c: json.dumps(c))
def test_on_demand_equals_built_whole(schema: dict, digits: int | None, monkeypatch) -> None:
    """Random byte walks: the same next bytes, forced bytes, completeness and shortest
    completion."""
    lazy_grammar = _grammar(schema, digits, lazy=True, monkeypatch=monkeypatch)
    whole_grammar = _grammar(schema, digits, lazy=False, monkeypatch=monkeypatch)
    assert any(isinstance(body, Lazy) for body in lazy_grammar.rules.values())
    assert len(shortest(lazy_grammar)) == len(shortest(whole_grammar))
    lazy, whole = gl.compile(lazy_grammar), gl.compile(whole_grammar)
    walks = 12 if schema in BOUNDED else 30  # (exact values: slower states)
    steps = compare_byte_walks(lazy, whole, random.Random(5), walks=walks, stop_probability=0.05)
    assert steps > 80 if walks == 30 else steps > 30


MULTIPLE = {"type": "number", "multipleOf": 0.123456789}


def test_a_large_divisor_compiles_and_is_exact() -> None:
    compiled = gl.compile(gl.Grammar.from_json_schema(MULTIPLE))
    for text in ("0", "-0", "0.123456789", "1.23456789", "-2.469135780", "123456789", "0.1", "1"):
        m = compiled.matcher()
        complete = m.accept_string(text) and m.can_terminate()
        assert complete == (Decimal(text) % Decimal("0.123456789") == 0), text
    m = compiled.matcher()
    assert m.accept_string("12.3")
    completed = "12.3" + m.shortest_completion().decode()
    assert Decimal(completed) % Decimal("0.123456789") == 0
    integers = gl.compile(gl.Grammar.from_json_schema({**MULTIPLE, "type": "integer"}))
    m = integers.matcher()
    assert m.accept_string("246913578") and m.can_terminate()
    assert not integers.matcher().accept_string("-0")


def test_pickles() -> None:
    grammar = gl.Grammar.from_json_schema(MULTIPLE)
    assert pickle.loads(pickle.dumps(grammar)) == grammar


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=strings(gl.Grammar.from_json_schema(MULTIPLE)))
def test_generated_numbers_are_multiples(text: str) -> None:
    assert Decimal(text) % Decimal("0.123456789") == 0


def _oracle(schema: dict, text: str, digits: int) -> bool:
    """Whether ``text`` is a complete number of ``schema`` (one of BOUNDED) as the on-demand
    automaton writes them: no exponent, at most ``digits`` digits before and after the point,
    integers without ``-0`` and with an optional ``.0``."""
    integer = schema["type"] == "integer"
    shape = r"-?(0|[1-9][0-9]*)(\.0)?" if integer else r"-?(0|[1-9][0-9]*)(\.[0-9]+)?"
    if not re.fullmatch(shape, text) or (integer and text.startswith("-0")):
        return False
    whole, _, fraction = text.lstrip("-").partition(".")
    if len(whole) > digits or len(fraction) > digits:
        return False
    return _valid(schema, Decimal(text))


def _valid(schema: dict, value: Decimal) -> bool:
    """Exact decimal validation of the keywords of BOUNDED (``jsonschema`` divides floats:
    305.1 is not a multiple of 0.3 for it)."""
    if schema.get("type") == "integer" and value != value.to_integral_value():
        return False
    if "multipleOf" in schema and value % Decimal(str(schema["multipleOf"])):
        return False
    bounds = {
        "minimum": lambda b: value >= b,
        "maximum": lambda b: value <= b,
        "exclusiveMinimum": lambda b: value > b,
        "exclusiveMaximum": lambda b: value < b,
    }
    for key, holds in bounds.items():
        if key in schema and not holds(Decimal(str(schema[key]))):
            return False
    if "not" in schema:
        banned = schema["not"]
        listed = banned.get("enum", [banned["const"]] if "const" in banned else [])
        numbers = [Decimal(str(v)) for v in listed if isinstance(v, (int, float))]
        if value in numbers or (
            "multipleOf" in banned and value % Decimal(str(banned["multipleOf"])) == 0
        ):
            return False
    return True


@pytest.mark.parametrize("schema", BOUNDED, ids=lambda c: json.dumps(c))
def test_bounded_multiples_with_a_digit_limit(schema: dict, monkeypatch) -> None:
    """Every text of up to 6 bytes over a few digits is complete exactly when it is a number of
    the schema within the digit limit, and every prefix the automaton allows completes."""
    compiled = gl.compile(_grammar(schema, 3, lazy=True, monkeypatch=monkeypatch))
    for size in range(7):
        for letters in itertools.product("-0135.", repeat=size):
            text = "".join(letters)
            m = compiled.matcher()
            if not m.accept_string(text):
                continue
            assert m.can_terminate() == _oracle(schema, text, 3), text
            completed = text + m.shortest_completion().decode()
            assert _oracle(schema, completed, 3), completed


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "number", "multipleOf": 0.123456789, "minimum": 0, "maximum": 1000},
        {"type": "integer", "multipleOf": 1000003, "maximum": 10**12, "exclusiveMinimum": 5},
        {"type": "number", "multipleOf": 0.123456789, "not": {"enum": [0, 1.234567890]}},
        {"type": "integer", "multipleOf": 7, "not": {"multipleOf": 1000003}},
    ],
    ids=lambda c: json.dumps(c),
)
def test_large_divisors_with_bounds_compile_and_are_exact(schema: dict) -> None:
    """What needed a divisibility automaton of millions of states built whole: compiles, and
    its shortest completions and generated numbers are valid."""
    grammar = gl.Grammar.from_json_schema(schema)
    compiled = gl.compile(grammar)
    completed = []
    for prefix in ("", "1", "12", "-", "9", "0", "5.5"):
        m = compiled.matcher()
        if m.accept_string(prefix):
            completed.append(prefix + m.shortest_completion().decode())
    assert len(completed) >= 3
    for text in [*completed, grammar.example()]:
        assert _valid(schema, Decimal(text)), text
    assert pickle.loads(pickle.dumps(grammar)) == grammar


def test_no_multiple_in_the_bounds_is_unsatisfiable(monkeypatch) -> None:
    schema = {"type": "number", "multipleOf": 5, "minimum": 1, "maximum": 4}
    for lazy in (True, False):
        with pytest.raises(gl.SchemaError, match="unsatisfiable"):
            _grammar(schema, 20, lazy=lazy, monkeypatch=monkeypatch)


BOUNDED_LARGE = {"type": "number", "multipleOf": 0.123456789, "minimum": -5, "maximum": 1000}


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=strings(gl.Grammar.from_json_schema(BOUNDED_LARGE)))
def test_generated_bounded_numbers_are_valid(text: str) -> None:
    assert _valid(BOUNDED_LARGE, Decimal(text)), text


@pytest.mark.slow
def test_masks_of_bounded_large_divisors_equal_brute_force() -> None:
    """Random walks under the masks of a real vocabulary: at every state each token made of
    number bytes, and a sample of the others, is allowed exactly when accepting it succeeds."""
    info = gl.TokenizerInfo.from_gguf(assets.vocab_gguf("llama-bpe"))
    schema = {"type": "array", "items": BOUNDED_LARGE, "maxItems": 3}
    compiled = gl.compile(gl.Grammar.from_json_schema(schema), info)
    numeric = [
        i for i, b in enumerate(info.token_bytes) if b and all(c in b"-.0123456789" for c in b)
    ]
    states, _ = check_random_walks(compiled, numeric, b"0123456789.,", random.Random(3), walks=4)
    assert states >= 20


def test_too_many_non_divisors_are_refused_by_name() -> None:
    divisors = [2, 3, 5, 7, 11, 13, 17, 19, 23]
    schema = {
        "type": "number",
        "multipleOf": 0.123456789,
        "not": {"anyOf": [{"multipleOf": k} for k in divisors]},
    }
    with pytest.raises(gl.SchemaError, match=r"'multipleOf' at #.*more than 8 'not'-ed"):
        gl.Grammar.from_json_schema(schema)
    schema["not"]["anyOf"].pop()  # eight: made on demand
    value = Decimal(gl.Grammar.from_json_schema(schema).example())
    assert value % Decimal("0.123456789") == 0
    assert all(value % k for k in divisors[:-1]), value
