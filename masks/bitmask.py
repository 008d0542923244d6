"""Packed token bitmasks and applying them to logits.

A bitmask is an ``int32`` array of shape ``(batch, ceil(vocab_size / 32))``: bit ``i`` of word
``w`` of a row is token ``32 * w + i``, and 1 means allowed. ``int32`` (not ``uint32``) because
torch has no unsigned 32-bit tensors; bit 31 is the sign bit, which the shifts below handle.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grammarlib.masks.bitmask_device import apply_on_device

BITS = 32


def bitmask_width(vocab_size: int) -> int:
    """Words per row for ``vocab_size`` tokens."""
    return (vocab_size + BITS - 1) // BITS


def allocate_token_bitmask(batch_size: int, vocab_size: int) -> np.ndarray:
    """A zeroed ``int32`` bitmask of shape ``(batch_size, ceil(vocab_size / 32))``.

    numpy, so it needs no torch; ``torch.from_numpy`` shares its memory when a tensor is wanted.
    """
    if batch_size < 1 or vocab_size < 1:
        raise ValueError(
            f"batch_size and vocab_size must be positive, got {batch_size}, {vocab_size}"
        )
    return np.zeros((batch_size, bitmask_width(vocab_size)), dtype=np.int32)


def bits_to_bool(bitmask: np.ndarray, vocab_size: int) -> np.ndarray:
    """Unpack a numpy bitmask (1-D or 2-D) to booleans over the first ``vocab_size`` ids."""
    words = np.ascontiguousarray(bitmask).view(np.uint32)
    as_bytes = words.astype("<u4", copy=False).view(np.uint8)
    bits = np.unpackbits(as_bytes, axis=-1, bitorder="little")
    if bits.shape[-1] < vocab_size:
        pad = [(0, 0)] * (bits.ndim - 1) + [(0, vocab_size - bits.shape[-1])]
        bits = np.pad(bits, pad)
    return bits[..., :vocab_size].astype(bool)


def bool_to_bits(allowed: np.ndarray) -> np.ndarray:
    """Pack booleans (last axis = token ids) into an ``int32`` bitmask."""
    allowed = np.asarray(allowed, dtype=bool)
    width = bitmask_width(allowed.shape[-1])
    pad = [(0, 0)] * (allowed.ndim - 1) + [(0, width * BITS - allowed.shape[-1])]
    packed = np.packbits(np.pad(allowed, pad), axis=-1, bitorder="little")
    return packed.view("<u4").astype(np.uint32).view(np.int32)


def apply_token_bitmask(
    logits: Any, bitmask: Any, *, indices: Any = None, backend: str = "auto"
) -> None:
    """Set disallowed logits to ``-inf``, in place.

    ``logits`` is ``(batch, vocab)`` or ``(vocab,)``, a torch tensor (any device) or numpy array;
    ``bitmask`` is the matching int32 bitmask (numpy or torch; moved to the logits' device).
    Columns beyond the bitmask (a model's padded vocabulary) are disallowed. ``indices``
    optionally picks which logits rows the bitmask rows apply to: bitmask row ``i`` masks
    logits row ``indices[i]``. ``backend`` chooses how tensors on an accelerator are masked:
    ``"auto"`` (a Triton kernel on CUDA where Triton is installed, else torch operations),
    ``"triton"`` or ``"torch"``; CPU tensors and numpy arrays ignore it.
    """
    if isinstance(logits, np.ndarray):
        _apply_numpy(logits, np.asarray(bitmask), indices)
        return
    try:
        import torch
    except ImportError as e:  # pragma: no cover - only without torch and with non-numpy logits
        raise TypeError(f"logits must be a numpy array or torch tensor, got {type(logits)}") from e
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a numpy array or torch tensor, got {type(logits)}")
    _apply_torch(torch, logits, bitmask, indices, backend)


def _apply_numpy(logits: np.ndarray, bitmask: np.ndarray, indices: Any) -> None:
    vocab = logits.shape[-1]
    allowed = bits_to_bool(bitmask, vocab)
    if logits.ndim == 1:
        logits[~allowed.reshape(-1)[:vocab]] = -np.inf
        return
    if indices is None:
        logits[~allowed] = -np.inf
    else:
        rows = np.asarray(indices)
        sub = logits[rows]
        sub[~allowed] = -np.inf
        logits[rows] = sub


_NEG_INF_BITS = np.int32(-8388608)  # 0xFF800000, the bits of float32 -inf


def _penalty(words: np.ndarray, vocab: int) -> np.ndarray:
    """float32: 0 for allowed ids, ``-inf`` for the others (ids past the bitmask too), built
    with integer operations."""
    penalty = bits_to_bool(words, vocab).astype(np.int32)
    penalty -= 1  # allowed: 0, else -1 (all bits set)
    penalty &= _NEG_INF_BITS
    return penalty.view(np.float32)


def _apply_torch(torch: Any, logits: Any, bitmask: Any, indices: Any, backend: str) -> None:
    if logits.device.type == "cpu":
        # numpy's unpackbits is several times faster on the CPU than shifting in torch.
        words = bitmask.numpy() if isinstance(bitmask, torch.Tensor) else np.asarray(bitmask)
        if indices is None and logits.dtype == torch.float32 and float(logits.max()) < math.inf:
            # Adding a 0 / -inf penalty beats a masked fill several times over on the CPU (not
            # with +inf or nan among the logits: +inf + -inf would be nan).
            penalty = torch.from_numpy(_penalty(words, logits.shape[-1]))
            logits.add_(penalty.reshape(logits.shape))
            return
        disallowed = torch.from_numpy(~bits_to_bool(words, logits.shape[-1]))
        if logits.dim() == 1:
            logits.masked_fill_(disallowed.reshape(-1)[: logits.shape[-1]], float("-inf"))
        elif indices is None:
            logits.masked_fill_(disallowed, float("-inf"))
        else:
            rows = torch.as_tensor(indices, dtype=torch.long)
            logits[rows] = logits[rows].masked_fill(disallowed, float("-inf"))
        return
    apply_on_device(torch, logits, bitmask, indices, backend)
