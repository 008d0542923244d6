"""Applying packed token bitmasks to logits that live on an accelerator (CUDA, MPS, XPU, ...).

On CUDA with Triton installed (every CUDA build of torch ships it) one fused kernel reads the
bitmask and writes ``-inf`` over the disallowed logits; elsewhere a few torch operations do the
same. A numpy bitmask is copied to the device through a reused page-locked buffer. Measured on
an H200 (``scripts/gpu_bench.py``, ``benchmarks/gpu_h200.txt``), per call for batch 1-256 of a
128k-262k vocabulary: the kernel 28-290 us, the torch operations 50-430 us (64-670 us before
this module, with five kernel launches and a padding copy).
"""

from __future__ import annotations

from typing import Any

BACKENDS = ("auto", "triton", "torch")
_BITS = 32
_BLOCK = 4096  # logits per Triton program: 128 bitmask words

_kernel: Any = None  # the compiled Triton kernel, once asked for; False when Triton is missing
_powers: dict = {}  # (device, dtype) -> 1 << arange(32), for the torch path
_staging: dict = {}  # (device, shape) -> (pinned tensor, event of its last copy)


def apply_on_device(
    torch: Any, logits: Any, bitmask: Any, indices: Any, backend: str = "auto"
) -> None:
    """Set the disallowed ``logits`` (a tensor on an accelerator) to ``-inf`` in place.

    ``bitmask`` is numpy or torch (any device); bitmask row ``i`` applies to logits row
    ``indices[i]`` when ``indices`` is given, else to row ``i``. Columns beyond the bitmask are
    disallowed."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    bitmask = _to_device(torch, bitmask, logits.device)
    if bitmask.dtype != torch.int32:
        bitmask = bitmask.to(torch.int32)
    kernel = _triton_kernel() if backend != "torch" and logits.device.type == "cuda" else None
    if backend == "triton" and kernel is None:
        raise RuntimeError("backend='triton' needs a CUDA tensor and the triton package")
    if kernel is not None and logits.stride(-1) == 1:
        _apply_triton(torch, kernel, logits, bitmask, indices)
    else:
        _apply_torch_ops(torch, logits, bitmask, indices)


def _to_device(torch: Any, bitmask: Any, device: Any) -> Any:
    """The bitmask as a tensor on ``device``; numpy arrays go through a page-locked buffer (an
    asynchronous copy; the buffer is reused once its previous copy has finished)."""
    if isinstance(bitmask, torch.Tensor):
        return bitmask.to(device=device, non_blocking=True)
    import numpy as np

    words = torch.from_numpy(np.ascontiguousarray(bitmask))
    if device.type != "cuda":
        return words.to(device)
    key = (device, tuple(words.shape))
    staged = _staging.get(key)
    if staged is None:
        if len(_staging) > 16:
            _staging.clear()
        staged = _staging[key] = (torch.empty_like(words).pin_memory(), torch.cuda.Event())
    buffer, copied = staged
    copied.synchronize()  # the previous copy out of this buffer has finished
    buffer.copy_(words)
    on_device = buffer.to(device, non_blocking=True)
    copied.record(torch.cuda.current_stream(device))
    return on_device


def _apply_torch_ops(torch: Any, logits: Any, bitmask: Any, indices: Any) -> None:
    device = logits.device
    key = (device, bitmask.dtype)
    powers = _powers.get(key)
    if powers is None:
        powers = _powers[key] = torch.ones(
            _BITS, device=device, dtype=bitmask.dtype
        ) << torch.arange(_BITS, device=device, dtype=bitmask.dtype)
    words = bitmask.reshape(-1, bitmask.shape[-1])  # rows of words, also for one row
    disallowed = ((words.unsqueeze(-1) & powers) == 0).reshape(words.shape[0], -1)
    rows_2d = logits.unsqueeze(0) if logits.dim() == 1 else logits  # a view: writes go through
    covered = min(rows_2d.shape[-1], disallowed.shape[-1])
    disallowed = disallowed[..., :covered]

    def mask(target: Any) -> None:
        target[..., :covered].masked_fill_(disallowed, float("-inf"))
        target[..., covered:] = float("-inf")  # past the bitmask: a padded output layer

    if indices is None:
        mask(rows_2d)
    else:
        rows = torch.as_tensor(indices, device=device, dtype=torch.long)
        selected = rows_2d[rows]  # a copy (advanced indexing): masked, then written back
        mask(selected)
        rows_2d[rows] = selected


def _apply_triton(torch: Any, kernel: Any, logits: Any, bitmask: Any, indices: Any) -> None:
    rows_2d = logits.unsqueeze(0) if logits.dim() == 1 else logits
    words = bitmask.reshape(1, -1) if bitmask.dim() == 1 else bitmask
    if words.stride(-1) != 1:
        words = words.contiguous()
    vocab = rows_2d.shape[-1]
    if indices is None:
        rows = rows_2d.shape[0]
        row_ids = words  # unused: the kernel is specialised without row indices
    else:
        row_ids = torch.as_tensor(indices, device=logits.device, dtype=torch.int64)
        rows = row_ids.shape[0]
    grid = (rows, (vocab + _BLOCK - 1) // _BLOCK)
    kernel[grid](
        rows_2d,
        words,
        row_ids,
        vocab,
        words.shape[-1] * _BITS,
        rows_2d.stride(0),
        words.stride(0),
        HAS_ROWS=indices is not None,
        BLOCK=_BLOCK,
    )


def _triton_kernel() -> Any:
    """The Triton kernel (compiled per dtype on first use), or None without Triton."""
    global _kernel
    if _kernel is None:
        try:
            _kernel = _build_triton_kernel()
        except ImportError:
            _kernel = False
    return _kernel or None


def _build_triton_kernel() -> Any:
    import triton
    import triton.language as tl

    @triton.jit
    def mask_logits(
        logits_ptr,
        bitmask_ptr,
        row_ids_ptr,
        vocab,
        covered,
        logits_row_stride,
        bitmask_row_stride,
        HAS_ROWS: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        mask_row = tl.program_id(0)
        if HAS_ROWS:
            logits_row = tl.load(row_ids_ptr + mask_row).to(tl.int64)
        else:
            logits_row = mask_row.to(tl.int64)
        ids = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        in_vocab = ids < vocab
        words = tl.load(
            bitmask_ptr + mask_row * bitmask_row_stride + ids // 32,
            mask=in_vocab & (ids < covered),
            other=0,
        )
        allowed = ((words >> (ids % 32)) & 1) != 0
        tl.store(
            logits_ptr + logits_row * logits_row_stride + ids,
            tl.full([BLOCK], float("-inf"), tl.float32),
            mask=in_vocab & ~allowed,
        )

    return mask_logits
