"""Token-mask benchmark: grammarlib side by side with xgrammar and llguidance, in one run.

Replays JSON documents token by token with a real tokenizer (Llama 3 by default): at every step
each engine fills its next-token bitmask (timed), the document's token is checked to be allowed
and is accepted. Also times the first mask: compiling the JSON grammar plus filling the first
bitmask, with each engine's tokenizer preprocessing done beforehand (for grammarlib: the
tokenizer's on-disk cache is warm, the grammar's frame masks are not, unless --warm-grammar).

    pip install -e '.[bench]'
    python benchmarks/bench_masks.py [--tokenizer llama-bpe] [--repeat 3]

Peers that are not installed are left out of the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import grammarlib as gl
from grammarlib.masks import assets, cache
from grammarlib.masks.bitmask import bits_to_bool

HERE = Path(__file__).parent

# JSON (RFC 8259) with whitespace between tokens, as in json.dumps output of any indentation.
JSON_LARK = r"""
start: _ws value _ws
?value: object | array | STRING | NUMBER | "true" | "false" | "null"
object: "{" _ws (pair (_ws "," _ws pair)*)? _ws "}"
pair: STRING _ws ":" _ws value
array: "[" _ws (value (_ws "," _ws value)*)? _ws "]"
_ws: /[ \t\n\r]*/
STRING: /"([^"\\\x00-\x1f]|\\["\\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/
NUMBER: /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/
"""


def documents() -> list[str]:
    """The JSON documents replayed: each file in two spellings (compact-ish and indented)."""
    docs = []
    for path in sorted((HERE / "data").glob("*.json")):
        value = json.loads(path.read_text())
        docs.append(json.dumps(value, ensure_ascii=False))
        docs.append(json.dumps(value, indent=2, ensure_ascii=False))
    return docs


class Engine:
    """One engine's compile / fill / accept, behind a common interface."""

    name: str

    def first_mask(self) -> float:
        """Compile the JSON grammar and fill the first bitmask; seconds."""
        raise NotImplementedError

    def replay(self, ids: list[int], eos: int) -> list[float]:
        """Fill + accept along ``ids`` then EOS; the fill times in seconds."""
        raise NotImplementedError


class Grammarlib(Engine):
    name = "grammarlib"

    def __init__(self, hf_tokenizer, warm_grammar: bool):
        self.info = gl.TokenizerInfo.from_huggingface(hf_tokenizer)
        self.warm_grammar = warm_grammar
        self.grammar = gl.Grammar.from_lark(JSON_LARK)
        self.compiled = None

    def first_mask(self) -> float:
        from grammarlib import compiler
        from grammarlib.masks import store

        if not self.warm_grammar:  # forget everything but the tokenizer's index
            compiler._cache.clear()
            store._shared.clear()
            frames = cache.cache_dir() / cache.FORMAT_VERSION / "frames"
            for f in frames.rglob("*.npz") if frames.exists() else []:
                f.unlink()
        compiler.vocab_index(self.info)  # tokenizer preprocessing, as the peers' tokenizer setup
        t0 = time.perf_counter()
        grammar = gl.Grammar.from_lark(JSON_LARK)
        compiled = gl.compile(grammar, self.info)
        bitmask = gl.allocate_token_bitmask(1, self.info.vocab_size)
        compiled.matcher().fill_next_token_bitmask(bitmask)
        elapsed = time.perf_counter() - t0
        self.compiled = compiled
        return elapsed

    def replay(self, ids: list[int], eos: int) -> list[float]:
        m = self.compiled.matcher()
        bitmask = gl.allocate_token_bitmask(1, self.info.vocab_size)
        times = []
        for token in [*ids, eos]:
            t0 = time.perf_counter()
            m.fill_next_token_bitmask(bitmask)
            times.append(time.perf_counter() - t0)
            assert bits_to_bool(bitmask[0], token + 1)[token], f"grammarlib refuses {token}"
            assert m.accept_token(token)
        return times


class XGrammar(Engine):
    name = "xgrammar"

    def __init__(self, hf_tokenizer):
        import xgrammar as xgr

        self.xgr = xgr
        self.info = xgr.TokenizerInfo.from_huggingface(hf_tokenizer)
        self.compiled = None

    def first_mask(self) -> float:
        xgr = self.xgr
        t0 = time.perf_counter()
        compiler = xgr.GrammarCompiler(self.info, cache_enabled=False)
        compiled = compiler.compile_builtin_json_grammar()
        bitmask = xgr.allocate_token_bitmask(1, self.info.vocab_size)
        xgr.GrammarMatcher(compiled).fill_next_token_bitmask(bitmask)
        elapsed = time.perf_counter() - t0
        self.compiled = compiled
        return elapsed

    def replay(self, ids: list[int], eos: int) -> list[float]:
        xgr = self.xgr
        m = xgr.GrammarMatcher(self.compiled)
        bitmask = xgr.allocate_token_bitmask(1, self.info.vocab_size)
        times = []
        for token in [*ids, eos]:
            t0 = time.perf_counter()
            m.fill_next_token_bitmask(bitmask)
            times.append(time.perf_counter() - t0)
            assert m.accept_token(token), f"xgrammar refuses {token}"
        return times


class LLGuidance(Engine):
    name = "llguidance"

    def __init__(self, hf_tokenizer):
        import llguidance
        import llguidance.hf
        import llguidance.numpy

        self.llg = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(hf_tokenizer)
        self.grammar = llguidance.LLMatcher.grammar_from_json_schema({})

    def first_mask(self) -> float:
        llg = self.llg
        t0 = time.perf_counter()
        m = llg.LLMatcher(self.tokenizer, self.grammar)
        bitmask = llg.numpy.allocate_token_bitmask(1, self.tokenizer.vocab_size)
        llg.numpy.fill_next_token_bitmask(m, bitmask)
        elapsed = time.perf_counter() - t0
        assert not m.is_error(), m.get_error()
        return elapsed

    def replay(self, ids: list[int], eos: int) -> list[float]:
        llg = self.llg
        m = llg.LLMatcher(self.tokenizer, self.grammar)
        bitmask = llg.numpy.allocate_token_bitmask(1, self.tokenizer.vocab_size)
        times = []
        for token in [*ids, eos]:
            t0 = time.perf_counter()
            llg.numpy.fill_next_token_bitmask(m, bitmask)
            times.append(time.perf_counter() - t0)
            assert m.consume_token(token), f"llguidance refuses {token}: {m.get_error()}"
        return times


def _try(make: Callable[[], Engine], name: str) -> Engine | None:
    try:
        return make()
    except ImportError:
        print(f"({name} is not installed; pip install -e '.[bench]')")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", default="llama-bpe")
    parser.add_argument("--repeat", type=int, default=3, help="first-mask repetitions (median)")
    parser.add_argument("--warm-grammar", action="store_true", help="keep grammarlib's frame cache")
    args = parser.parse_args()

    import transformers

    tok_dir = assets.tokenizer_json_dir(args.tokenizer)
    hf = transformers.AutoTokenizer.from_pretrained(str(tok_dir))
    docs = documents()
    encoded = [hf.encode(d, add_special_tokens=False) for d in docs]
    eos = hf.eos_token_id
    if cache.cache_dir() is None:
        cache.set_cache_dir(tempfile.mkdtemp(prefix="grammarlib-bench-"))

    engines = [
        Grammarlib(hf, args.warm_grammar),
        _try(lambda: XGrammar(hf), "xgrammar"),
        _try(lambda: LLGuidance(hf), "llguidance"),
    ]
    rows = []
    for engine in filter(None, engines):
        firsts = [engine.first_mask() for _ in range(args.repeat)]
        times: list[float] = []
        for ids in encoded:
            times += engine.replay(ids, eos)
        us = np.array(times) * 1e6
        rows.append(
            (
                engine.name,
                1e3 * statistics.median(firsts),
                1e3 * firsts[0],
                np.percentile(us, 50),
                np.percentile(us, 99),
                us.mean(),
                len(us),
            )
        )
    print(
        f"\nJSON masks, {args.tokenizer} tokenizer ({len(hf)} tokens), {len(docs)} documents, "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}"
    )
    header = ("engine", "first mask ms", "(1st run)", "p50 us", "p99 us", "mean us", "masks")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, *numbers, n in rows:
        print(f"| {name} | " + " | ".join(f"{x:.1f}" for x in numbers) + f" | {n} |")


if __name__ == "__main__":
    main()
