"""Length-bounded character languages built on demand (``grammarlib.bounded``): long bounds
compile, agree byte by byte with the product built whole, share masks deep inside a string and
generate valid instances."""

from __future__ import annotations

import json
import pickle
import random

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from support.brute_force import compare_byte_walks

import grammarlib as gl
from grammarlib.analysis import shortest
from grammarlib.bounded import BoundedChars
from grammarlib.integrations.hypothesis import strings
from grammarlib.ir import Lazy
from grammarlib.jsonschema import emit, schema_to_grammar
from grammarlib.masks import assets
from grammarlib.masks.bitmask import bits_to_bool

URL = {"type": "string", "format": "uri", "maxLength": 2083}  # pydantic's HttpUrl

#: Constraints the two constructions must agree on: formats with both bounds, patterns whose
#: accepted lengths have gaps (even lengths only, 3a + 2b + 1), characters that are escaped or
#: take several UTF-8 bytes, and excluded values.
SMALL_CASES = [
    {"type": "string", "format": "hostname", "minLength": 5, "maxLength": 60},
    {"type": "string", "format": "email", "minLength": 20, "maxLength": 40},
    {"type": "string", "pattern": "^(ab)*$", "minLength": 7, "maxLength": 60},
    {"type": "string", "pattern": "^(abc|de)*x$", "minLength": 9, "maxLength": 40},
    {"type": "string", "pattern": "^[a-zé]*(-[0-9]+)?$", "minLength": 13, "maxLength": 40},
    {"type": "string", "pattern": '^"+$', "minLength": 25, "maxLength": 40},
    {"type": "string", "minLength": 30, "maxLength": 45, "not": {"enum": ["x" * 31]}},
    {"type": "string", "pattern": "^[0-9]{3}$|^[a-z]+$", "minLength": 3},
]


def _compiled(schema: object, *, eager: bool, monkeypatch: pytest.MonkeyPatch, info=None):
    """The schema's grammar with every string product built whole, or none (the front-end
    itself, not ``Grammar.from_json_schema``, which caches by schema)."""
    monkeypatch.setattr(emit, "_EAGER_PRODUCT", 10**9 if eager else 0)
    grammar = gl.Grammar.from_ir(schema_to_grammar(schema))
    return grammar, gl.compile(grammar, info)


def _machines(grammar: gl.Grammar) -> list[Lazy]:
    return [body for body in _leaves(grammar) if isinstance(body, Lazy)]


def _leaves(grammar: gl.Grammar):
    stack = list(grammar.rules.values())
    while stack:
        expr = stack.pop()
        yield expr
        stack.extend(getattr(expr, "items", ()))


@pytest.mark.parametrize("schema", SMALL_CASES, ids=lambda s: json.dumps(s)[:60])
def test_lazy_product_equals_product_built_whole(
    schema: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random byte walks: at every step the same next bytes, forced bytes and shortest
    completion length from the machine as from the minimal product automaton (and its shortest
    completion completes both)."""
    lazy_grammar, lazy = _compiled(schema, eager=False, monkeypatch=monkeypatch)
    eager_grammar, eager = _compiled(schema, eager=True, monkeypatch=monkeypatch)
    assert _machines(lazy_grammar) and not _machines(eager_grammar)
    assert len(shortest(lazy_grammar)) == len(shortest(eager_grammar))
    steps = compare_byte_walks(lazy, eager, random.Random(3), walks=25, stop_probability=0.01)
    assert steps > 200


@pytest.mark.slow
def test_lazy_masks_equal_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    """Token masks from the machine equal the product's and accepting each token (a sample) on
    random token walks over the Llama 3 vocabulary."""
    info = gl.TokenizerInfo.from_gguf(assets.vocab_gguf("llama-bpe"))
    rng = random.Random(1)
    bitmask = gl.allocate_token_bitmask(2, info.vocab_size)
    states = 0
    for schema in SMALL_CASES[:6]:
        _, lazy = _compiled(schema, eager=False, monkeypatch=monkeypatch, info=info)
        _, eager = _compiled(schema, eager=True, monkeypatch=monkeypatch, info=info)
        for _ in range(4):
            a, b = lazy.matcher(), eager.matcher()
            while not a.is_terminated():
                a.fill_next_token_bitmask(bitmask, 0)
                b.fill_next_token_bitmask(bitmask, 1)
                allowed = bits_to_bool(bitmask[0], info.vocab_size)
                assert np.array_equal(allowed, bits_to_bool(bitmask[1], info.vocab_size))
                for token in rng.sample(range(info.vocab_size), 300):
                    assert bool(allowed[token]) == a.copy().accept_token(token)
                states += 1
                token = int(rng.choice(np.nonzero(allowed)[0]))
                assert a.accept_token(token) and b.accept_token(token)
    assert states > 50


@pytest.mark.parametrize(
    "schema",
    [
        URL,
        {"type": "string", "format": "hostname"},  # its own limit: 253 characters
        {"type": "string", "format": "email", "maxLength": 1024},
        {"type": "string", "minLength": 65536, "not": {"const": ""}},
        {"type": "string", "pattern": "^[a-z]+(-[a-z]+)*$", "maxLength": 5000},
    ],
    ids=lambda s: json.dumps(s)[:50],
)
def test_long_bounds_compile(schema: dict) -> None:
    """What was refused or took seconds when the product was built whole (issue 11)."""
    grammar = gl.Grammar.from_json_schema(schema)
    assert _machines(grammar)
    gl.compile(grammar).matcher()


def test_url_bound_is_exact() -> None:
    m = gl.compile(gl.Grammar.from_json_schema(URL)).matcher()
    head = "https://example.com/"
    assert m.accept_string('"' + head + "a" * (2083 - len(head)))
    assert m.next_bytes() == frozenset(b'"')  # 2083 characters: only the end is left
    assert m.accept_string('"') and m.can_terminate()
    m = gl.compile(gl.Grammar.from_json_schema(URL)).matcher()
    assert not m.accept_string('"' + head + "a" * (2084 - len(head)))
    assert not m.accept_string('"no scheme')


def test_hostname_keeps_its_limits() -> None:
    grammar = gl.Grammar.from_json_schema({"type": "string", "format": "hostname"})
    label = "a" * 63
    name = ".".join([label, label, label, "a" * 61])  # 253 characters
    m = gl.compile(grammar).matcher()
    assert m.accept_string(json.dumps(name)) and m.can_terminate()
    m = gl.compile(grammar).matcher()
    assert not m.accept_string(json.dumps(name + "a"))
    m = gl.compile(grammar).matcher()
    assert not m.accept_string(json.dumps("a" * 64))  # a label has at most 63


def test_not_hostname_needs_a_bound_within_its_limit() -> None:
    schema = {"type": "string", "not": {"format": "hostname"}}
    with pytest.raises(gl.SchemaError, match="'format' at #/not"):
        gl.Grammar.from_json_schema(schema)
    bounded = {**schema, "maxLength": 100}
    m = gl.compile(gl.Grammar.from_json_schema(bounded)).matcher()
    assert m.accept_string('"-x"') and m.can_terminate()


def test_positions_deep_inside_share_signatures() -> None:
    """Tokens cannot tell two positions far from the bound apart, so their frames have one
    signature (one mask classification), while positions near the bound have their own."""
    compiled = gl.compile(gl.Grammar.from_json_schema(URL))
    automaton = compiled.automaton
    frames = []
    m = compiled.matcher()
    m.accept_string('"https://example.com/')
    for _ in range(2050):
        m.accept_string("a")
        (nodes, _), _keys = m.state  # (stack nodes, complete), written keys
        ((frame, _),) = nodes  # one stack node: (frame, parents)
        frames.append(frame)
    horizon = 17
    deep = {automaton.signature(f, horizon) for f in frames[100:1500]}
    near = {automaton.signature(f, horizon) for f in frames[-40:]}
    assert len(set(frames[100:1500])) == 1400  # one frame per position ...
    assert len(deep) == 1  # ... one signature
    assert len(near) == 40


def test_pickles_and_compares_by_content() -> None:
    grammar = gl.Grammar.from_json_schema(URL)
    again = pickle.loads(pickle.dumps(grammar))
    assert again == grammar and again.fingerprint == grammar.fingerprint
    assert gl.Grammar.from_json_schema({**URL, "maxLength": 2000}) != grammar
    machine = _machines(grammar)[0].machine
    assert isinstance(machine, BoundedChars) and not machine.is_empty()


def test_empty_bounds_are_reported() -> None:
    schema = {"type": "string", "pattern": "^(ab)*$", "minLength": 4001, "maxLength": 4001}
    with pytest.raises(gl.SchemaError, match="no string satisfies the constraints at #"):
        gl.Grammar.from_json_schema(schema)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    text=strings(
        gl.Grammar.from_json_schema(
            {
                "type": "array",
                "items": [URL, {"type": "string", "format": "email", "maxLength": 320}],
                "minItems": 2,
            }
        )
    )
)
def test_generated_instances_validate(text: str) -> None:
    value = json.loads(text)
    schema = {"prefixItems": [URL, {"type": "string", "format": "email", "maxLength": 320}]}
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


def test_pydantic_http_url() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Link(pydantic.BaseModel):
        url: pydantic.HttpUrl

    compiled = gl.compile(gl.Grammar.from_pydantic(Link))
    m = compiled.matcher()
    assert m.accept_string('{"url": "https://example.com/a?b=c"}') and m.can_terminate()
