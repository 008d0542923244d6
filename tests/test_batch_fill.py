"""``gl.fill_bitmasks``: many matchers' rows in one call equal one ``fill_next_token_bitmask``
call per matcher (shared states, several grammars, terminated matchers, row indices)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import grammarlib as gl
from grammarlib.masks.bitmask import bits_to_bool

CORPUS = Path(__file__).parent / "corpus"

PIECES = ["{", "}", "[", "]", '"', ":", ",", " ", "a", "b", "ab", '"a', "1", "12", "true", "null"]
EOS = len(PIECES)


@pytest.fixture(scope="module")
def small() -> gl.TokenizerInfo:
    tokens = [p.encode() for p in PIECES] + [b"</s>", b"<pad>"]
    return gl.TokenizerInfo.from_vocab(
        tokens, stop_token_ids=[EOS], special_ids=[EOS + 1], vocab_size=len(tokens) + 40
    )


@pytest.fixture(scope="module")
def grammars(small) -> list[gl.CompiledGrammar]:
    return [
        gl.compile(gl.Grammar.from_lark((CORPUS / "json.lark").read_text()), small),
        gl.compile(gl.Grammar.from_regex(r"(ab|a)+1?"), small),
        gl.compile(gl.Grammar.from_choices(["true", "null", "ab"]), small),
    ]


def random_matchers(grammars, info, rng: random.Random, count: int) -> list[gl.GrammarMatcher]:
    """Matchers after short random walks: few distinct states, so many rows share one."""
    out = []
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    for _ in range(count):
        m = rng.choice(grammars).matcher()
        for _ in range(rng.randint(0, 4)):
            m.fill_next_token_bitmask(bitmask)
            allowed = np.flatnonzero(bits_to_bool(bitmask[0], info.vocab_size))
            if not allowed.size:
                break
            stops = [t for t in allowed if t == EOS]
            token = EOS if stops and rng.random() < 0.5 else int(rng.choice(allowed))
            assert m.accept_token(token)
        out.append(m)
    return out


def single_fills(matchers, rows: int, width: int, indices=None) -> np.ndarray:
    expected = np.full((rows, width), -5, dtype=np.int32)
    for k, m in enumerate(matchers):
        m.fill_next_token_bitmask(expected, k if indices is None else indices[k])
    return expected


@pytest.mark.parametrize("count", [1, 5, 16, 64])
def test_fill_bitmasks_equals_single_fills(small, grammars, count: int) -> None:
    rng = random.Random(count)
    matchers = random_matchers(grammars, small, rng, count)
    assert any(m.is_terminated() for m in matchers) or count < 16
    width = (small.vocab_size + 31) // 32
    bitmask = np.full((count, width), -5, dtype=np.int32)
    gl.fill_bitmasks(matchers, bitmask)
    assert np.array_equal(bitmask, single_fills(matchers, count, width))
    if count >= 16:  # rows share states
        assert len({(id(m.compiled), m.state) for m in matchers}) < count


def test_fill_bitmasks_indices_and_torch(small, grammars) -> None:
    torch = pytest.importorskip("torch")
    rng = random.Random(1)
    matchers = random_matchers(grammars, small, rng, 12)
    width = (small.vocab_size + 31) // 32
    indices = rng.sample(range(20), 12)
    bitmask = torch.full((20, width), -5, dtype=torch.int32)
    gl.fill_bitmasks(matchers, bitmask, indices=indices)
    expected = single_fills(matchers, 20, width, indices)
    assert np.array_equal(bitmask.numpy(), expected)
    untouched = sorted(set(range(20)) - set(indices))
    assert (bitmask.numpy()[untouched] == -5).all()
    # Negative indices count from the end, like numpy's.
    gl.fill_bitmasks(matchers[:1], bitmask, indices=[-1])
    assert np.array_equal(bitmask.numpy()[19], expected[indices[0]])


def test_fill_bitmasks_wider_bitmask_and_empty(small, grammars) -> None:
    m = grammars[1].matcher()
    width = (small.vocab_size + 31) // 32
    bitmask = np.full((2, width + 3), -1, dtype=np.int32)
    gl.fill_bitmasks([m, m.fork()], bitmask)
    single = np.full((1, width + 3), -1, dtype=np.int32)
    m.fill_next_token_bitmask(single)
    assert np.array_equal(bitmask[0], single[0]) and np.array_equal(bitmask[1], single[0])
    assert not bitmask[:, width:].any()
    gl.fill_bitmasks([], bitmask)  # nothing to do


def test_fill_bitmasks_errors(small, grammars) -> None:
    m = grammars[0].matcher()
    bitmask = gl.allocate_token_bitmask(2, small.vocab_size)
    with pytest.raises(ValueError, match="2 matchers but 1 indices"):
        gl.fill_bitmasks([m, m], bitmask, indices=[0])
    with pytest.raises(IndexError, match="row 2"):
        gl.fill_bitmasks([m], bitmask, indices=[2])
    with pytest.raises(TypeError, match="int32"):
        gl.fill_bitmasks([m], bitmask.astype(np.int64))
    with pytest.raises(RuntimeError, match="tokenizer"):
        gl.fill_bitmasks([gl.compile(gl.Grammar.from_regex("a")).matcher()], bitmask)
