"""Reasoning sections without a model: delimiters from the vocabulary, prompts that open the
section, special delimiter tokens, and the grammar that starts inside the thoughts."""

from __future__ import annotations

import numpy as np
import pytest

import grammarlib as gl
from grammarlib.integrations.reasoning import (
    DEFAULT_DELIMITERS,
    prompt_opens_reasoning,
    reasoning_delimiters,
    reasoning_grammar,
    reasoning_tokenizer,
    resolve_delimiters,
)
from grammarlib.masks.bitmask import allocate_token_bitmask
from grammarlib.structural_tag import with_reasoning

BYTES = [bytes([b]) for b in range(256)]


def vocab(*extra: str, special: tuple[str, ...] = ()) -> gl.TokenizerInfo:
    """Single bytes, then ``extra`` tokens, then a stop token ``</s>``; ``special``: which of
    ``extra`` are special (control) tokens."""
    tokens = BYTES + [e.encode() for e in extra] + [b"</s>"]
    specials = [256 + extra.index(s) for s in special]
    return gl.TokenizerInfo.from_vocab(tokens, stop_token_ids=len(tokens) - 1, special_ids=specials)


def allowed(m: gl.GrammarMatcher, info: gl.TokenizerInfo) -> set[int]:
    bitmask = allocate_token_bitmask(1, info.vocab_size)
    m.fill_next_token_bitmask(bitmask)
    bits = np.unpackbits(bitmask[0].view(np.uint8), bitorder="little")[: info.vocab_size]
    return set(np.flatnonzero(bits).tolist())


def matches(grammar: gl.Grammar, text: str) -> bool:
    m = gl.compile(grammar).matcher()
    return m.accept_bytes(text.encode()) and m.can_terminate()


def test_delimiters_come_from_the_vocabulary() -> None:
    assert reasoning_delimiters(vocab("<think>", "</think>")) == ("<think>", "</think>")
    magistral = vocab("[THINK]", "[/THINK]", special=("[THINK]", "[/THINK]"))
    assert reasoning_delimiters(magistral) == ("[THINK]", "[/THINK]")
    # one of a pair is not enough; nothing known: <think> spelled by ordinary tokens
    assert reasoning_delimiters(vocab("[THINK]")) == DEFAULT_DELIMITERS
    assert reasoning_delimiters(vocab()) == DEFAULT_DELIMITERS
    # given delimiters win; bad ones are refused
    assert resolve_delimiters(("<<", ">>"), magistral) == ("<<", ">>")
    assert resolve_delimiters(True, magistral) == ("[THINK]", "[/THINK]")
    with pytest.raises(ValueError, match="two non-empty strings"):
        resolve_delimiters(("<<", ""), magistral)


def test_special_delimiter_tokens_become_allowed() -> None:
    info = vocab("[THINK]", "[/THINK]", "<ctrl>", special=("[THINK]", "[/THINK]", "<ctrl>"))
    begin, end, ctrl = 256, 257, 258
    freed = reasoning_tokenizer(info, ("[THINK]", "[/THINK]"))
    assert freed.special_ids == info.special_ids - {begin, end}
    assert freed.stop_token_ids == info.stop_token_ids
    assert reasoning_tokenizer(vocab(), DEFAULT_DELIMITERS) is not None
    c = reasoning_grammar(gl.Grammar.from_regex("[0-9]"), info, ("[THINK]", "[/THINK]"))
    m = c.matcher()
    first = allowed(m, c.tokenizer_info)
    assert begin in first and ord("[") in first and ctrl not in first and end not in first
    assert m.accept_token(begin)
    inside = allowed(m, c.tokenizer_info)
    assert end in inside and ctrl not in inside
    assert c.tokenizer_info.stop_token_ids.isdisjoint(inside)
    assert m.accept_token(ord("h")) and m.accept_token(end) and m.accept_token(ord("7"))
    assert m.can_terminate()


@pytest.mark.parametrize(
    ("prompt", "opens"),
    [
        (b"Question? <think>", True),
        (b"Question? <think>\n", True),
        (b"Question? <think>\n\n ", True),
        (b"Question? <think>x", False),
        (b"Question? </think>", False),
        (b"think>", False),
    ],
)
def test_prompts_that_open_the_section(prompt: bytes, opens: bool) -> None:
    info = vocab("<think>", "</think>")
    as_bytes = list(prompt)  # one token per byte
    assert prompt_opens_reasoning(info, as_bytes, "<think>") is opens
    merged = prompt.replace(b"<think>", b"\x00")  # the delimiter as one token
    ids = [256 if b == 0 else b for b in merged]
    assert prompt_opens_reasoning(info, ids, "<think>") is opens


def test_an_opened_section_starts_inside_the_thoughts() -> None:
    digit = gl.Grammar.from_regex("[0-9]")
    opened = gl.Grammar.from_ir(with_reasoning(digit, opened=True))
    assert opened.example() == "</think>0"
    assert matches(opened, "why not</think> 5") and not matches(opened, "why not 5")
    assert not matches(opened, "a</think>b</think>5")
    closed = gl.Grammar.from_ir(with_reasoning(digit))
    assert matches(closed, "<think>x</think>5") and not matches(closed, "x</think>5")
