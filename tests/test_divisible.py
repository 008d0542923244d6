"""``multipleOf`` values whose divisibility automaton is too large to build whole
(``grammarlib.divisible``): the on-demand automaton agrees byte by byte with the one built
whole, and 0.123456789 compiles and is exact."""

from __future__ import annotations

import json
import pickle
import random
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from support.brute_force import compare_byte_walks

import grammarlib as gl
from grammarlib import regular
from grammarlib.analysis import shortest
from grammarlib.errors import GrammarTooLargeError
from grammarlib.integrations.hypothesis import strings
from grammarlib.ir import Lazy
from grammarlib.jsonschema import schema_to_grammar

CASES = [
    ({"type": t, "multipleOf": m}, digits)
    for m in (0.25, 3, 0.3, 1.5, 0.07)
    for t in ("number", "integer")
    for digits in (20, 3, None)
] + [({"type": "number", "multipleOf": 0.5, "allOf": [{"multipleOf": 0.3}]}, 20)]


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
    steps = compare_byte_walks(lazy, whole, random.Random(5), walks=30, stop_probability=0.05)
    assert steps > 80


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
