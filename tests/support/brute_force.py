"""Masks against accepting token by token: the checks beside the automaton (distinct object keys,
distinct items of unique arrays) must refuse in the mask exactly what accept_token refuses."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import grammarlib as gl
from grammarlib import json_keys
from grammarlib.masks.bitmask import bits_to_bool


def marked_tokens(info: gl.TokenizerInfo, marks: bytes) -> list[int]:
    """The tokens holding any of the bytes ``marks`` (those a written key or item can refuse)."""
    return [i for i, b in enumerate(info.token_bytes) if any(c in b for c in marks)]


def check_prefixes(
    info: gl.TokenizerInfo,
    cases: Iterable[tuple[object, str]],
    marked: list[int],
    rng: random.Random,
    sampled: int = 2000,
    **options: Any,
) -> tuple[int, int]:
    """For each ``(schema, prefix)`` (compiled with ``options``; compact whitespace unless
    told): every ``marked`` token and ``sampled`` others are allowed by the mask after
    ``prefix`` exactly when accepting them succeeds.
    Returns (tokens checked, tokens refused that the same rules without the checks accept)."""
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    checked = refused_by_the_checks = 0
    for schema, prefix in cases:
        grammar = gl.Grammar.from_json_schema(schema, **{"whitespace": "compact", **options})
        m = gl.compile(grammar, info).matcher()
        other = gl.compile(gl.Grammar(grammar.rules, grammar.start), info).matcher()
        assert m.accept_string(prefix) and other.accept_string(prefix), prefix
        m.fill_next_token_bitmask(bitmask)
        allowed = bits_to_bool(bitmask[0], info.vocab_size)
        for token in marked + rng.sample(range(len(info.token_bytes)), sampled):
            want = m.copy().accept_token(token)
            assert bool(allowed[token]) == want, (prefix, token, info.token_bytes[token])
            checked += 1
            refused_by_the_checks += not want and other.copy().accept_token(token)
    return checked, refused_by_the_checks


def check_random_walks(
    compiled: gl.CompiledGrammar,
    marked: list[int],
    shape: bytes,
    rng: random.Random,
    walks: int,
    steps: int = 40,
    sampled: int = 300,
) -> tuple[int, int]:
    """Random walks under the masks (preferring tokens with a byte of ``shape``, so they reach
    keys and items): at every state each ``marked`` token and ``sampled`` others are allowed
    exactly when accepting them succeeds. Returns (states checked, states where an open object
    or unique array has keys or items)."""
    info = compiled.tokenizer_info
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    states = keyed = 0
    for _ in range(walks):
        m = compiled.matcher()
        for _ in range(steps):
            m.fill_next_token_bitmask(bitmask)
            allowed = bits_to_bool(bitmask[0], info.vocab_size)
            for token in marked + rng.sample(range(len(info.token_bytes)), sampled):
                assert bool(allowed[token]) == m.copy().accept_token(token), (
                    bytes(info.token_bytes[token]),
                    m.state,
                )
            states += 1
            keyed += json_keys.may_refuse(m.state[1])
            choices = [int(t) for t in allowed.nonzero()[0]]
            shaped = [t for t in choices if any(c in info.token_bytes[t] for c in shape)]
            if not choices or (m.can_terminate() and rng.random() < 0.1):
                break
            token = rng.choice(shaped if shaped and rng.random() < 0.7 else choices)
            assert m.accept_token(token)
    return states, keyed


def compare_byte_walks(
    a: gl.CompiledGrammar,
    b: gl.CompiledGrammar,
    rng: random.Random,
    walks: int,
    stop_probability: float,
) -> int:
    """Random byte walks through two grammars meant to have one language: at every step the
    same next bytes, forced bytes, completeness and shortest completion length, and ``a``'s
    shortest completion completes both. Returns the number of bytes walked."""
    steps = 0
    for _ in range(walks):
        x, y = a.matcher(), b.matcher()
        while True:
            assert x.min_completion_bytes() == y.min_completion_bytes()
            completion = x.shortest_completion()
            assert len(completion) == x.min_completion_bytes()
            assert x.copy().accept_bytes(completion) and y.copy().accept_bytes(completion)
            assert x.forced_bytes() == y.forced_bytes()
            assert x.can_terminate() == y.can_terminate()
            allowed = sorted(x.next_bytes())
            assert allowed == sorted(y.next_bytes())
            if not allowed or rng.random() < stop_probability:
                break
            byte = bytes([rng.choice(allowed)])
            assert x.accept_bytes(byte) and y.accept_bytes(byte)
            steps += 1
    return steps
