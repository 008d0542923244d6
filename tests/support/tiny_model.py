"""A tiny random-weight causal LM with the real GPT-2 tokenizer, for tests that run
``model.generate()`` (no network, no weights to download, built in well under a second).

The model's output layer is padded past the tokenizer's 50,257 tokens to a multiple of 64 (as
real models pad theirs), so the padded-vocabulary path is exercised. Its weights come from a
fixed seed, so its (meaningless) outputs are deterministic.
"""

from __future__ import annotations

import functools
from typing import Any

VOCAB = "gpt-2"
PAD_MULTIPLE = 64


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> Any:
    """The GPT-2 tokenizer (``transformers`` fast tokenizer) from the project's tokenizer assets,
    with left padding and ``<|endoftext|>`` as its pad token."""
    from transformers import AutoTokenizer

    from grammarlib.masks import assets

    path = assets.tokenizer_json_dir(VOCAB)
    if path is None:  # pragma: no cover - the assets always have a recipe for gpt-2
        raise RuntimeError(f"no tokenizer.json for {VOCAB}")
    tok = AutoTokenizer.from_pretrained(str(path))
    tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def padded_vocab_size(n: int, multiple: int = PAD_MULTIPLE) -> int:
    """``n`` rounded up to a multiple of ``multiple``, plus one more multiple when ``n`` is
    already one, so there are always padding ids."""
    return (n // multiple + 1) * multiple


@functools.lru_cache(maxsize=4)
def tiny_model(seed: int = 0, hidden: int = 32, layers: int = 2, heads: int = 2) -> Any:
    """A `LlamaForCausalLM` with random weights over the GPT-2 tokenizer, output layer padded
    (``config.vocab_size`` > the tokenizer's size), in eval mode, on the CPU. Shared: do not
    modify it (``.to(device)`` returns the same object; use ``copy.deepcopy`` first)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=padded_vocab_size(len(tok)),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=1024,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.eval()
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
    )
    return model


def tiny_tokenizer_info(vocab_size: int | None = None) -> Any:
    """`TokenizerInfo` of `tiny_tokenizer`; ``vocab_size`` defaults to the tiny model's padded
    output size."""
    return _info(padded_vocab_size(len(tiny_tokenizer())) if vocab_size is None else vocab_size)


@functools.lru_cache(maxsize=4)
def _info(vocab_size: int) -> Any:
    import grammarlib as gl

    return gl.TokenizerInfo.from_huggingface(tiny_tokenizer(), vocab_size=vocab_size)
