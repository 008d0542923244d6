"""Frames with a byte loop (string content): the tokens that stay in the loop come from a table
shared per tokenizer and loop shape (grammarlib.masks.loops); the masks must be the ones the
per-frame numpy pass gives, and the ones a brute-force check gives."""

from __future__ import annotations

import numpy as np
import pytest

import grammarlib as gl
from grammarlib.masks import assets, cache, loops, store
from grammarlib.masks.bitmask import bits_to_bool

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "meta": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
# Texts that end inside a string: a value, an array item, a key and a value of a free object,
# after an escape, between the bytes of a character.
INSIDE = [
    '{"name": "Jo',
    '{"tags": ["a", "b',
    '{"meta": {"k',
    '{"meta": {"k": "v',
    '{"name": "a\\"b',
    '{"name": "\xe9',
]
LARK = r"""
start: "[" ITEM ("," ITEM)* "]"
ITEM: "'" /[^'\\]*/ "'"
"""


@pytest.fixture(autouse=True)
def empty_disk_cache(tmp_path):
    """No classification comes from an earlier run's cache files."""
    cache.set_cache_dir(tmp_path)
    yield
    cache.set_cache_dir(None)


@pytest.fixture(scope="module")
def llama() -> gl.TokenizerInfo:
    return gl.TokenizerInfo.from_gguf(assets.vocab_gguf("llama-bpe"))


@pytest.fixture(scope="module")
def gpt2() -> gl.TokenizerInfo:
    return gl.TokenizerInfo.from_gguf(assets.vocab_gguf("gpt-2"))


def _mask_at(compiled: gl.CompiledGrammar, text: str) -> np.ndarray:
    m = compiled.matcher()
    assert m.accept_string(text), text
    bitmask = gl.allocate_token_bitmask(1, compiled.tokenizer_info.vocab_size)
    m.fill_next_token_bitmask(bitmask)
    return bitmask[0].copy()


def _top_frames(m: gl.GrammarMatcher) -> list[int]:
    """The frames on top of the matcher's stacks (its state may be paired with JSON keys)."""
    state = m.state if isinstance(m.state[1], bool) else m.state[0]
    return [node[0] for node in state[0]]


def _classifications(monkeypatch, method: str) -> list[int]:
    """Count the frames classified by ``MaskStore.<method>`` from now on."""
    seen: list[int] = []
    original = getattr(store.MaskStore, method)

    def counting(self, frame, how):  # type: ignore[no-untyped-def]
        seen.append(frame)
        return original(self, frame, how)

    monkeypatch.setattr(store.MaskStore, method, counting)
    return seen


@pytest.mark.parametrize("vocab", ["gpt2", "llama"])
def test_loop_classifications_equal_the_numpy_pass(request, monkeypatch, vocab: str) -> None:
    """Every state inside a string: the mask with loop tables equals the mask of the per-frame
    numpy pass (loops turned off), on the whole vocabulary."""
    info = request.getfixturevalue(vocab)
    used = _classifications(monkeypatch, "_classify_loop")
    cases = [(gl.Grammar.from_json_schema(SCHEMA), text) for text in INSIDE]
    cases += [(gl.Grammar.from_lark(LARK), text) for text in ["['ab", "['a','x\xe9"]]
    with_loops = [_mask_at(gl.compile(g, info, max_states=70_001), t) for g, t in cases]
    assert len(used) == 6  # (the three texts inside the name are in one frame)
    monkeypatch.setattr(store, "find_loop", lambda automaton, frame: None)
    monkeypatch.setattr(store, "find_entry", lambda automaton, frame: None)
    for (grammar, text), expected in zip(cases, with_loops, strict=True):
        without = _mask_at(gl.compile(grammar, info, max_states=70_002), text)
        assert np.array_equal(expected, without), text


# Key positions of objects whose keys are a few names or any other string: most bytes lead into
# the free string's loop, a few still spell a name.
KEYED = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "nick": {"type": "string"}},
    "additionalProperties": {"type": "integer"},
}
AT_KEYS = ['{"', '{"n', '{"ni', '{"x', '{"name": "a", "', '{"name": "a", "n']


@pytest.mark.parametrize("vocab", ["gpt2", "llama"])
def test_entry_classifications_equal_the_numpy_pass(request, monkeypatch, vocab: str) -> None:
    """Frames whose bytes mostly lead into a loop (a key being written, where a few bytes still
    spell a property name): the mask with entry tables equals the per-frame numpy pass."""
    info = request.getfixturevalue(vocab)
    entered = _classifications(monkeypatch, "_classify_entry")
    grammar = gl.Grammar.from_json_schema(KEYED)
    with_entries = [_mask_at(gl.compile(grammar, info, max_states=70_011), t) for t in AT_KEYS]
    assert len(set(entered)) >= 2  # (a key start and a name prefix at least)
    monkeypatch.setattr(store, "find_loop", lambda automaton, frame: None)
    monkeypatch.setattr(store, "find_entry", lambda automaton, frame: None)
    for text, expected in zip(AT_KEYS, with_entries, strict=True):
        without = _mask_at(gl.compile(grammar, info, max_states=70_012), text)
        assert np.array_equal(expected, without), text


@pytest.mark.parametrize(("schema", "texts"), [(SCHEMA, INSIDE), (KEYED, AT_KEYS)])
def test_masks_equal_brute_force(gpt2: gl.TokenizerInfo, schema: dict, texts: list[str]) -> None:
    """The whole GPT-2 vocabulary, checked token by token, at states inside strings and at
    key positions."""
    compiled = gl.compile(gl.Grammar.from_json_schema(schema), gpt2, max_states=70_003)
    for text in texts:
        m = compiled.matcher()
        assert m.accept_string(text)
        bitmask = gl.allocate_token_bitmask(1, gpt2.vocab_size)
        m.fill_next_token_bitmask(bitmask)
        allowed = bits_to_bool(bitmask[0], gpt2.vocab_size)
        expected = np.array([m.copy().accept_token(t) for t in range(gpt2.vocab_size)])
        assert np.array_equal(allowed, expected), (text, np.flatnonzero(allowed != expected)[:10])


def test_one_loop_table_serves_strings_of_every_grammar(llama: gl.TokenizerInfo) -> None:
    """String content has the same loop wherever the string is, in any grammar: one table per
    tokenizer; a loop frame's own tokens that leave the loop differ by what follows."""
    a = gl.compile(gl.Grammar.from_json_schema(SCHEMA), llama, max_states=70_004)
    b = gl.compile(gl.Grammar.from_json_schema({"type": "string"}), llama, max_states=70_005)
    frames = []
    for compiled, text in [(a, '{"name": "x'), (b, '"x')]:
        m = compiled.matcher()
        assert m.accept_string(text)
        (frame,) = _top_frames(m)
        frames.append((compiled, frame))
    found = [loops.find_loop(c.automaton, f) for c, f in frames]
    assert found[0] is not None and found[1] is not None
    assert found[0].key == found[1].key
    index = a.mask_store.index
    width = a.mask_store.width
    assert loops.loop_table(index, found[0], width) is loops.loop_table(index, found[1], width)
    table = loops.loop_table(index, found[0], width)
    assert table.stay_count > 100_000  # most of Llama 3's tokens can be string content
    assert table.exit_rows.size > 0  # those with a quote, among others


def test_frames_that_may_return_or_call_have_no_loop(gpt2: gl.TokenizerInfo) -> None:
    """Free text that may end (its rule can return) is classified by the numpy pass: a token
    that leaves it is decided by what follows."""
    compiled = gl.compile(gl.Grammar.from_lark('start: /[a-z ]+/ ";"?'), gpt2)
    m = compiled.matcher()
    assert m.accept_string("ab")
    (frame,) = _top_frames(m)
    assert compiled.automaton.accepting[frame]
    assert loops.find_loop(compiled.automaton, frame) is None
