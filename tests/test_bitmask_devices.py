"""apply_token_bitmask on every torch device this machine has (CPU always; CUDA where present),
against the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import grammarlib as gl
from grammarlib.masks.bitmask import bool_to_bits

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def reference(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    padded = np.zeros(logits.shape, dtype=bool)
    padded[..., : allowed.shape[-1]] = allowed[..., : logits.shape[-1]]
    return np.where(padded, logits, -np.inf)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("bitmask_on_device", [False, True])
def test_apply_matches_numpy(device: str, dtype: torch.dtype, bitmask_on_device: bool) -> None:
    rng = np.random.default_rng(7)
    vocab, padded_vocab = 128_256, 128_320  # Llama 3, and a padded output layer
    allowed = rng.random((3, vocab)) < 0.5
    allowed[:, -1] = True  # the last real token, bit 31 of a word in some layouts
    bits = bool_to_bits(allowed)
    logits = rng.standard_normal((3, padded_vocab)).astype(np.float32)
    expected = reference(logits, allowed)
    t = torch.from_numpy(logits).to(device=device, dtype=dtype)
    mask = torch.from_numpy(bits).to(device) if bitmask_on_device else bits
    gl.apply_token_bitmask(t, mask)
    got = t.float().cpu().numpy()
    assert np.array_equal(np.isinf(got), np.isinf(expected))
    finite = np.isfinite(expected)
    rounded = torch.from_numpy(logits).to(dtype).float().numpy()  # the input, at this dtype
    assert np.array_equal(got[finite], rounded[finite])  # allowed logits are left untouched


@pytest.mark.parametrize("device", DEVICES)
def test_apply_rows_and_vectors(device: str) -> None:
    allowed = np.zeros((2, 70), dtype=bool)
    allowed[0, [0, 31, 32, 69]] = True
    allowed[1, [5]] = True
    bits = bool_to_bits(allowed)
    logits = torch.zeros(4, 70, device=device)
    gl.apply_token_bitmask(logits, bits, indices=[1, 3])
    inf = torch.isinf(logits).cpu().numpy()
    assert not inf[0].any() and not inf[2].any()
    assert np.array_equal(~inf[1], allowed[0]) and np.array_equal(~inf[3], allowed[1])
    vector = torch.zeros(70, device=device)
    gl.apply_token_bitmask(vector, bits[0])
    assert np.array_equal(~torch.isinf(vector).cpu().numpy(), allowed[0])


@pytest.mark.parametrize("device", DEVICES)
def test_fill_wants_a_cpu_bitmask(device: str) -> None:
    info = gl.TokenizerInfo.from_vocab([b"a", b"b", b""], stop_token_ids=[2])
    m = gl.compile(gl.Grammar.from_regex("a+"), info).matcher()
    bitmask = torch.zeros((1, 1), dtype=torch.int32, device=device)
    if device == "cpu":
        m.fill_next_token_bitmask(bitmask)
        assert int(bitmask[0, 0]) == 1  # only "a"
    else:
        with pytest.raises(ValueError, match="CPU bitmask"):
            m.fill_next_token_bitmask(bitmask)
