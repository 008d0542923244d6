"""apply_token_bitmask on every torch device this machine has (CPU always; CUDA where present),
with each way of masking on an accelerator (torch operations everywhere; the Triton kernel on
CUDA where Triton is installed), against the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import grammarlib as gl
from grammarlib.masks.bitmask import bool_to_bits
from grammarlib.masks.bitmask_device import apply_on_device

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def has_triton() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


# (device, backend): the CPU path ignores the backend; the accelerator paths each by name.
PATHS = [("cpu", "auto")] + (
    [("cuda", "torch")] + ([("cuda", "triton")] if has_triton() else [])
    if torch.cuda.is_available()
    else []
)


def reference(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    padded = np.zeros(logits.shape, dtype=bool)
    padded[..., : allowed.shape[-1]] = allowed[..., : logits.shape[-1]]
    return np.where(padded, logits, -np.inf)


@pytest.mark.parametrize(("device", "backend"), PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("bitmask_on_device", [False, True])
def test_apply_matches_numpy(
    device: str, backend: str, dtype: torch.dtype, bitmask_on_device: bool
) -> None:
    rng = np.random.default_rng(7)
    vocab, padded_vocab = 128_256, 128_320  # Llama 3, and a padded output layer
    allowed = rng.random((3, vocab)) < 0.5
    allowed[:, -1] = True  # the last real token, bit 31 of a word in some layouts
    bits = bool_to_bits(allowed)
    logits = rng.standard_normal((3, padded_vocab)).astype(np.float32)
    expected = reference(logits, allowed)
    t = torch.from_numpy(logits).to(device=device, dtype=dtype)
    mask = torch.from_numpy(bits).to(device) if bitmask_on_device else bits
    gl.apply_token_bitmask(t, mask, backend=backend)
    got = t.float().cpu().numpy()
    assert np.array_equal(np.isinf(got), np.isinf(expected))
    finite = np.isfinite(expected)
    rounded = torch.from_numpy(logits).to(dtype).float().numpy()  # the input, at this dtype
    assert np.array_equal(got[finite], rounded[finite])  # allowed logits are left untouched


@pytest.mark.parametrize(("device", "backend"), PATHS)
def test_apply_rows_and_vectors(device: str, backend: str) -> None:
    allowed = np.zeros((2, 70), dtype=bool)
    allowed[0, [0, 31, 32, 69]] = True
    allowed[1, [5]] = True
    bits = bool_to_bits(allowed)
    logits = torch.zeros(4, 70, device=device)
    gl.apply_token_bitmask(logits, bits, indices=[1, 3], backend=backend)
    inf = torch.isinf(logits).cpu().numpy()
    assert not inf[0].any() and not inf[2].any()
    assert np.array_equal(~inf[1], allowed[0]) and np.array_equal(~inf[3], allowed[1])
    vector = torch.zeros(70, device=device)
    gl.apply_token_bitmask(vector, bits[0], backend=backend)
    assert np.array_equal(~torch.isinf(vector).cpu().numpy(), allowed[0])


@pytest.mark.parametrize("indices", [None, [4, 1]])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_torch_operations_on_cpu_tensors(indices: list[int] | None, dtype: torch.dtype) -> None:
    """The torch-operations path (MPS, XPU, CUDA without Triton) runs on CPU tensors too, so it
    is checked on every machine: rows, a padded vocabulary past the bitmask, a vector."""
    rng = np.random.default_rng(3)
    vocab, padded = 5000, 5100
    allowed = rng.random((2, vocab)) < 0.5
    bits = torch.from_numpy(bool_to_bits(allowed))
    rows = indices if indices is not None else [0, 1]
    logits = torch.from_numpy(rng.standard_normal((5 if indices else 2, padded)).astype(np.float32))
    logits = logits.to(dtype)
    full = np.zeros((2, padded), dtype=bool)
    full[:, :vocab] = allowed
    masked = torch.where(torch.from_numpy(full), logits[rows], float("-inf")).to(dtype)
    expected = logits.clone()
    expected[rows] = masked
    got = logits.clone()
    apply_on_device(torch, got, bits, indices, "torch")
    assert torch.equal(got, expected)
    vector = logits[rows[0]].clone()
    apply_on_device(torch, vector, bits[0].numpy(), None, "torch")
    assert torch.equal(vector, masked[0])


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        gl.apply_token_bitmask(
            torch.zeros(1, 32, device="meta"), np.zeros((1, 1), np.int32), backend="cuda"
        )


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
