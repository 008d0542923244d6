"""Bitmask application and constrained generation on a CUDA GPU, side by side with xgrammar.

Run on a machine with a CUDA GPU (``scripts/gpu_check.sh`` installs what it needs first):

    python scripts/gpu_bench.py [--tokenizer DIR] [--out FILE]

1. ``apply_token_bitmask`` timed with CUDA events (median of many calls) for Llama 3 and Gemma 3
   vocabulary widths, batch 1 to 256, bf16 and fp32 logits, the bitmask already on the GPU or
   copied from numpy each call (what a logits processor does), for both of grammarlib's accelerator
   paths (its Triton kernel, torch operations), against xgrammar's Triton and CUDA kernels where
   xgrammar is installed. Every variant's result is checked against a reference.
2. ``GrammarLogitsProcessor`` with ``model.generate()`` on a random-weight Llama-shaped model
   (about 1B parameters, bf16, built on the GPU: nothing is downloaded) over a real tokenizer:
   milliseconds per generated token with and without the processor, cold and warm, batch 1/8/32.
   Every finished output is validated against the schema.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import grammarlib as gl
from grammarlib.masks.bitmask import bool_to_bits

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "country": {"type": "string", "maxLength": 24},
        "population": {"type": "integer", "minimum": 0},
        "coastal": {"type": "boolean"},
    },
    "required": ["name", "country", "population", "coastal"],
    "additionalProperties": False,
}


def cuda_median_us(fn, reps: int = 200, warmup: int = 20) -> float:
    """Median time of ``fn()`` in microseconds, each call between two CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000)
    return statistics.median(times)


def apply_variants():
    """name -> fn(logits, bits_gpu, bits_numpy) for every installed implementation."""
    variants = {
        "grammarlib torch ops (on GPU)": lambda lg, bg, bn: gl.apply_token_bitmask(
            lg, bg, backend="torch"
        ),
        "grammarlib triton (on GPU)": lambda lg, bg, bn: gl.apply_token_bitmask(
            lg, bg, backend="triton"
        ),
        "grammarlib (numpy bitmask)": lambda lg, bg, bn: gl.apply_token_bitmask(lg, bn),
    }
    try:
        import xgrammar as xgr

        variants["xgrammar triton (on GPU)"] = lambda lg, bg, bn: xgr.apply_token_bitmask_inplace(
            lg, bg, backend="triton"
        )
        variants["xgrammar cuda (on GPU)"] = lambda lg, bg, bn: xgr.apply_token_bitmask_inplace(
            lg, bg, backend="cuda"
        )
    except ImportError as e:
        print(f"xgrammar not installed ({e}); grammarlib alone")
    return variants


def bench_apply(lines: list[str]) -> None:
    rng = np.random.default_rng(0)
    variants = apply_variants()
    header = f"{'vocab':>7} {'batch':>5} {'dtype':>8}  " + "  ".join(f"{n:>28}" for n in variants)
    lines.append("apply_token_bitmask, median us per call (CUDA events)")
    lines.append(header)
    for vocab in (128_256, 262_144):
        for batch in (1, 16, 64, 256):
            for dtype in (torch.bfloat16, torch.float32):
                allowed = rng.random((batch, vocab)) < 0.5
                bits_numpy = bool_to_bits(allowed)
                bits_gpu = torch.from_numpy(bits_numpy).cuda()
                base = torch.randn(batch, vocab, device="cuda", dtype=dtype)
                expected = base.masked_fill(~torch.from_numpy(allowed).cuda(), float("-inf"))
                cells = []
                for fn in variants.values():
                    logits = base.clone()
                    call = functools.partial(fn, logits, bits_gpu, bits_numpy)
                    try:
                        call()
                        ok = torch.equal(logits, expected)
                        us = cuda_median_us(call)
                        cells.append(f"{us:>24.1f}{'' if ok else ' BAD':>4}")
                    except Exception as e:  # a peer's kernel may not support a dtype or size
                        cells.append(f"{type(e).__name__:>28}")
                lines.append(f"{vocab:>7} {batch:>5} {str(dtype)[6:]:>8}  " + "  ".join(cells))
                print(lines[-1], flush=True)


def random_llama(vocab_size: int, pad_token_id: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.eval()
    model.generation_config.pad_token_id = pad_token_id  # finished rows: dropped when decoding
    return model


def bench_generate(lines: list[str], tokenizer_dir: str) -> None:
    import jsonschema
    from transformers import AutoTokenizer

    from grammarlib.integrations.transformers import GrammarLogitsProcessor

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    tok.pad_token = tok.pad_token or tok.eos_token
    tok.padding_side = "left"
    model = random_llama(len(tok), tok.pad_token_id)
    params = sum(p.numel() for p in model.parameters()) / 1e9
    info = gl.TokenizerInfo.from_huggingface(tok, vocab_size=model.config.vocab_size)
    start = time.perf_counter()
    gl.compile(gl.Grammar.from_regex("[a-z]+"), info)  # builds the vocabulary index (cached)
    index_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    compiled = gl.compile(gl.Grammar.from_json_schema(SCHEMA), info)
    compile_ms = (time.perf_counter() - start) * 1000
    lines.append("")
    lines.append(
        f"generate(): random Llama {params:.2f}B bf16 on {torch.cuda.get_device_name()}, "
        f"vocab {len(tok)}, sampling, at most 64 new tokens; vocabulary index (once per "
        f"tokenizer) {index_ms:.0f} ms, schema compile {compile_ms:.1f} ms"
    )
    lines.append(
        f"{'batch':>5} {'plain ms/step':>14} {'grammar cold':>13} {'grammar warm':>13} {'valid':>7}"
    )
    for batch in (1, 8, 32):
        enc = tok(["Give me a city as JSON:"] * batch, return_tensors="pt", padding=True).to("cuda")

        def run(processor, enc=enc):
            torch.manual_seed(1)
            torch.cuda.synchronize()
            t = time.perf_counter()
            out = model.generate(
                **enc,
                do_sample=True,
                max_new_tokens=64,
                logits_processor=[processor] if processor else None,
                eos_token_id=tok.eos_token_id,
            )
            torch.cuda.synchronize()
            steps = out.shape[1] - enc["input_ids"].shape[1]
            return out, (time.perf_counter() - t) * 1000 / max(steps, 1)

        run(None)  # warm-up: kernels, allocator
        _, plain = run(None)
        _, cold = run(GrammarLogitsProcessor(compiled, max_new_tokens=64))
        out, warm = run(GrammarLogitsProcessor(compiled, max_new_tokens=64))
        valid = 0
        for row in out[:, enc["input_ids"].shape[1] :].cpu().tolist():
            text = tok.decode(row, skip_special_tokens=True)
            try:
                jsonschema.validate(json.loads(text), SCHEMA)
                valid += 1
            except (json.JSONDecodeError, jsonschema.ValidationError):
                pass  # cut by max_new_tokens: counted as not valid
        lines.append(f"{batch:>5} {plain:>14.2f} {cold:>13.2f} {warm:>13.2f} {valid:>4}/{batch}")
        print(lines[-1], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", help="a directory with tokenizer.json (Llama 3's)")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    lines: list[str] = [f"{torch.cuda.get_device_name()}, torch {torch.__version__}"]
    bench_apply(lines)
    if args.tokenizer:
        bench_generate(lines, args.tokenizer)
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
