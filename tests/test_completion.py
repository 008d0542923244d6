"""Shortest completions and the token budget guarantee.

``min_completion_bytes`` is checked against a breadth-first search over bytes; the budget
guarantee as a property: a sampler (uniform, and adversarial: always the token that leaves the
output furthest from complete) that replaces any token that does not ``fits_budget`` by
``completion_token`` ends with a complete, valid output within every budget of at least
``min_completion_bytes() + 1`` tokens."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import grammarlib as gl
from grammarlib.integrations.hypothesis import schema_reference
from grammarlib.masks.bitmask import bits_to_bool

CORPUS = Path(__file__).parent / "corpus"

SCHEMAS = [
    {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "items": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "properties": {"price": {"type": "number"}, "qty": {"type": "integer"}},
                    "required": ["price", "qty"],
                },
            },
        },
        "required": ["name", "items"],
    },
    {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "who": {"type": "array", "items": {"type": "string", "format": "email"}},
            "kind": {"enum": ["meeting", "call", "lunch with a very long name"]},
        },
        "required": ["when", "who", "kind"],
        "additionalProperties": {"type": "integer"},
    },
]


def _grammars() -> dict[str, gl.Grammar]:
    out = {f"schema{i}": gl.Grammar.from_json_schema(s) for i, s in enumerate(SCHEMAS)}
    for name in ("json.lark", "arith.lark", "csv.lark"):
        path = CORPUS / name
        if path.exists():
            out[name] = gl.Grammar.from_lark(path.read_text())
    out["regex"] = gl.Grammar.from_regex(r"(ab|c)+d{3,5}(e|fgh)")
    return out


GRAMMARS = _grammars()


def _bfs_distance(matcher: gl.GrammarMatcher, limit: int) -> int | None:
    """The fewest bytes to a complete output, by breadth-first search over states."""
    frontier = [matcher]
    seen = {matcher.state}
    for depth in range(limit + 1):
        if any(m.can_terminate() for m in frontier):
            return depth
        nxt = []
        for m in frontier:
            for byte in m.next_bytes():
                c = m.copy()
                if c.accept_bytes(bytes((byte,))) and c.state not in seen:
                    seen.add(c.state)
                    nxt.append(c)
        frontier = nxt
    return None


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_min_completion_is_the_shortest(name: str) -> None:
    from grammarlib.analysis import shortest

    compiled = gl.compile(GRAMMARS[name])
    # at the start: the length of the grammar's shortest string (an independent computation)
    assert compiled.matcher().min_completion_bytes() == len(shortest(GRAMMARS[name]))
    rng = random.Random(0)
    checked = 0
    for _ in range(8):
        m = compiled.matcher()
        for _ in range(rng.randrange(0, 30)):
            choices = sorted(m.next_bytes())
            if not choices:
                break
            m.accept_bytes(bytes((rng.choice(choices),)))
        if name.startswith("schema"):  # long distances: walk close to the end first
            m.accept_bytes(m.shortest_completion()[:-5])
        distance = m.min_completion_bytes()
        completion = m.shortest_completion()
        assert len(completion) == distance
        c = m.copy()
        assert c.accept_bytes(completion) and c.can_terminate()
        if distance <= 12:
            assert _bfs_distance(m, distance) == distance
            checked += 1
    assert checked >= 3


@pytest.fixture(scope="module")
def gpt2() -> gl.TokenizerInfo:
    from grammarlib.masks import assets

    return gl.TokenizerInfo.from_gguf(assets.vocab_gguf("gpt-2"))


def _run(
    compiled: gl.CompiledGrammar,
    info: gl.TokenizerInfo,
    budget: int,
    rng: random.Random,
    *,
    adversarial: bool,
) -> tuple[bytes, int]:
    """Generate under the masks within ``budget`` tokens (stop included); returns the output
    and the number of tokens used."""
    m = compiled.matcher()
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    out = bytearray()
    used = 0
    while not m.is_terminated():
        assert used < budget, f"budget {budget} ran out after {bytes(out)!r}"
        m.fill_next_token_bitmask(bitmask)
        allowed = [int(t) for t in bits_to_bool(bitmask[0], info.vocab_size).nonzero()[0]]
        assert allowed
        if adversarial:  # the token that leaves the output furthest from complete
            sample = rng.sample(allowed, min(200, len(allowed)))
            token = max(sample, key=lambda t: _distance_after(m, t))
        else:
            token = rng.choice(allowed)
        if not m.fits_budget(token, budget - used):
            token = m.completion_token()
            assert token is not None
        assert m.accept_token(token)
        if token not in info.stop_token_ids:
            out += info.token_bytes[token]
        used += 1
    return bytes(out), used


def _distance_after(m: gl.GrammarMatcher, token: int) -> int:
    c = m.copy()
    if not c.accept_token(token) or c.is_terminated():
        return -1
    return c.min_completion_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(SCHEMAS)))
@pytest.mark.parametrize("adversarial", [False, True])
def test_every_generation_ends_valid_within_its_budget(
    gpt2: gl.TokenizerInfo, index: int, adversarial: bool
) -> None:
    schema = SCHEMAS[index]
    compiled = gl.compile(gl.Grammar.from_json_schema(schema), gpt2)
    reference = schema_reference(schema)
    shortest = compiled.matcher().min_completion_bytes() + 1
    rng = random.Random(index)
    for budget in (shortest, shortest + 1, shortest + 7, 2 * shortest, 300):
        for _ in range(3):
            text, used = _run(compiled, gpt2, budget, rng, adversarial=adversarial)
            assert used <= budget
            assert reference(text.decode("utf-8")), text
            json.loads(text)


# -- random grammars -----------------------------------------------------------------------------

_RULES = ["s", "a", "b"]


def _random_grammar_texts():
    """Lark grammars over ``x``/``y`` with three rules (recursion, left recursion and empty
    alternatives happen) and bounded repetitions (counters in the automaton)."""
    from hypothesis import strategies as st

    symbol = st.one_of(
        st.sampled_from(['"x"', '"y"', *_RULES]),
        st.builds(
            lambda s, lo, extra: f"{s}~{lo}..{lo + extra}",
            st.sampled_from(['"x"', '"xy"', "a", "b"]),
            st.integers(0, 3),
            st.integers(0, 4),
        ),
    )
    alternative = st.lists(symbol, min_size=0, max_size=3).map(" ".join)
    rule = st.lists(alternative, min_size=1, max_size=3).map(" | ".join)
    return st.tuples(rule, rule, rule).map(
        lambda bodies: (
            "\n".join(f"{n}: {b}" for n, b in zip(_RULES, bodies, strict=True)) + "\nstart: s\n"
        )
    )


def test_shortest_completion_and_budgets_on_random_grammars() -> None:
    """For random grammars: the distance of random states equals a breadth-first search, and a
    sampler under the masks with any budget of at least the shortest output (in tokens) ends
    complete, with the uniform and the adversarial choice."""
    from hypothesis import HealthCheck, given, settings

    tokens = [b""] + [bytes(t) for n in (1, 2) for t in ((a,) * n for a in b"xy")]
    tokens += [b"xy", b"yx", b"xyx"]
    info = gl.TokenizerInfo.from_vocab(tokens, stop_token_ids=[0])

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_random_grammar_texts(), st_randoms())
    def check(text: str, rng: random.Random) -> None:
        try:
            grammar = gl.Grammar.from_lark(text)
            compiled = gl.compile(grammar, info)
        except gl.GrammarlibError:
            return  # an empty language or a grammar lark refuses
        m = compiled.matcher()
        for _ in range(rng.randrange(0, 12)):
            choices = sorted(m.next_bytes())
            if not choices:
                break
            m.accept_bytes(bytes((rng.choice(choices),)))
        distance = m.min_completion_bytes()
        if distance <= 10:
            assert _bfs_distance(m, distance) == distance, text
        start = compiled.matcher().min_completion_bytes()
        for adversarial in (False, True):
            budget = start + 1 + rng.randrange(0, 4)
            out, used = _run(compiled, info, budget, rng, adversarial=adversarial)
            assert used <= budget
            replay = compiled.matcher()
            assert replay.accept_bytes(out) and replay.can_terminate(), (text, out)

    check()


def st_randoms():
    from hypothesis import strategies as st

    return st.randoms(use_true_random=False)
