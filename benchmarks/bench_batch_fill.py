"""Batch mask filling: ``gl.fill_bitmasks`` vs one ``fill_next_token_bitmask`` call per row.

A serving loop fills one bitmask row per running request every step. This measures, on the
Llama 3 vocabulary (128,256 tokens, 4,008 words a row) and a JSON schema, the time to fill
1, 16 and 64 rows with warm mask caches (the steady state of a server) in two batches:

* ``distinct``: every row at a different grammar state (positions along real JSON instances);
* ``shared``: rows drawn from 8 states (many requests of one schema at the same points).

Also ``draft``: ``fill_next_token_bitmasks`` for a draft of k tokens vs k + 1 single fills
(accept, fill, then roll back), as speculative decoding needs.

    python benchmarks/bench_batch_fill.py [--tokenizer llama-bpe] [--repeat 200]

With xgrammar installed (`pip install -e ".[bench]"`) its single and batch fills
(`BatchGrammarMatcher`) on the same rows are printed beside.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

import tokenizers

import grammarlib as gl
from grammarlib.masks import assets

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "zip": {"type": "string"}},
            "required": ["street", "zip"],
        },
        "active": {"type": "boolean"},
    },
    "required": ["name", "age", "tags", "address", "active"],
}


PROPERTIES = ("name", "age", "email", "tags", "address", "street", "zip", "active")


def variant(text: str, k: int) -> str:
    """JSON text (a schema or an instance) with every property name suffixed by ``k``: another
    request's schema, which compiles to another grammar."""
    for key in PROPERTIES:
        text = text.replace(f'"{key}":', f'"{key}{k}":')  # keys
        text = text.replace(f'"{key}",', f'"{key}{k}",').replace(f'"{key}"]', f'"{key}{k}"]')
    return text


def instances(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = ["alpha", "Beta", "gamma", "δέλτα", "east", "west", "x", "north 12", "42"]
    out = []
    for i in range(n):
        value = {
            "name": " ".join(rng.choice(words) for _ in range(rng.randint(1, 3))),
            "age": rng.randint(0, 99) * (i + 1),
            "email": f"user{i}@example.org",
            "tags": [rng.choice(words) for _ in range(rng.randint(0, 4))],
            "address": {"street": f"{rng.randint(1, 500)} {rng.choice(words)}", "zip": "0123"},
            "active": rng.random() < 0.5,
        }
        out.append(json.dumps(value))
    return out


VARIANTS = 3


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds per call."""
    fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def _xgrammar(path, schemas: list[str]) -> Callable | None:
    """xgrammar's single and batch fills on the same rows, when it is installed."""
    try:
        import xgrammar
        from transformers import AutoTokenizer
    except ImportError:
        print("xgrammar is not installed: its columns are left out")
        return None
    info = xgrammar.TokenizerInfo.from_huggingface(AutoTokenizer.from_pretrained(str(path)))
    compiler = xgrammar.GrammarCompiler(info)
    compiled = [
        compiler.compile_json_schema(s, any_whitespace=False, separators=(", ", ": "))
        for s in schemas
    ]
    batcher = xgrammar.BatchGrammarMatcher()

    def measure(picked, repeat: int) -> tuple[float, float]:
        matchers = []
        for _, k, ids in picked:
            m = xgrammar.GrammarMatcher(compiled[k])
            for token in ids:
                assert m.accept_token(token)
            matchers.append(m)
        bitmask = xgrammar.allocate_token_bitmask(len(matchers), info.vocab_size)

        def single() -> None:
            for i, m in enumerate(matchers):
                m.fill_next_token_bitmask(bitmask, i)

        def batch() -> None:
            batcher.batch_fill_next_token_bitmask(matchers, bitmask)

        return timed(single, repeat), timed(batch, repeat)

    return measure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", default="llama-bpe")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)

    path = assets.tokenizer_json_dir(args.tokenizer)
    if path is None:
        raise SystemExit(f"no tokenizer.json for {args.tokenizer}")
    hf = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    info = gl.TokenizerInfo.from_huggingface(hf)
    schemas = [variant(json.dumps(SCHEMA), k) for k in range(VARIANTS)]
    grammars = [gl.compile(gl.Grammar.from_json_schema(s), info) for s in schemas]
    compiled = grammars[0]

    # Matchers at every position of real instances; keep one per distinct (grammar, state),
    # with the tokens that led there (to put xgrammar's matchers at the same points).
    by_state: dict = {}
    for k, g in enumerate(grammars):
        for text in instances(8, seed=k):
            m = g.matcher()
            ids = hf.encode(variant(text, k), add_special_tokens=False).ids
            for i, token in enumerate(ids):
                assert m.accept_token(token), text
                by_state.setdefault((k, m.state), (m.copy(), k, ids[: i + 1]))
    distinct = list(by_state.values())
    print(
        f"{args.tokenizer}: vocab {info.vocab_size}, {VARIANTS} schemas, "
        f"{len(distinct)} distinct (grammar, state) pairs"
    )
    if len(distinct) < 64:
        raise SystemExit("fewer than 64 distinct states; use more instances")
    xgr = _xgrammar(path, schemas)
    rng = random.Random(1)
    scratch = gl.allocate_token_bitmask(1, info.vocab_size)
    for m, _, _ in distinct:  # warm: every state's mask is cached, as in a server's steady state
        m.fill_next_token_bitmask(scratch)

    print(f"\nfill {args.tokenizer} rows (median of {args.repeat}; warm mask cache)")
    header = f"{'batch':>10} {'rows':>5} {'single calls':>14} {'fill_bitmasks':>14} {'speedup':>8}"
    if xgr is not None:
        header += f" {'xgr single':>14} {'xgr batch':>14}"
    print(header)
    for kind in ("distinct", "shared"):
        pool = rng.sample(distinct, 64) if kind == "distinct" else rng.sample(distinct, 8)
        for rows in (1, 16, 64):
            picked = [pool[i % len(pool)] for i in range(rows)]
            matchers = [m.copy() for m, _, _ in picked]
            bitmask = gl.allocate_token_bitmask(rows, info.vocab_size)

            def single(matchers=matchers, bitmask=bitmask) -> None:
                for i, m in enumerate(matchers):
                    m.fill_next_token_bitmask(bitmask, i)

            def batch(matchers=matchers, bitmask=bitmask) -> None:
                gl.fill_bitmasks(matchers, bitmask)

            t_single = timed(single, args.repeat)
            t_batch = timed(batch, args.repeat)
            line = (
                f"{kind:>10} {rows:>5} {t_single * 1e6:>11.1f} µs {t_batch * 1e6:>11.1f} µs "
                f"{t_single / t_batch:>7.2f}x"
            )
            if xgr is not None:
                x_single, x_batch = xgr(picked, args.repeat)
                line += f" {x_single * 1e6:>11.1f} µs {x_batch * 1e6:>11.1f} µs"
            print(line)

    print(f"\ndraft rows on {args.tokenizer} (k draft tokens -> k + 1 rows)")
    print(f"{'k':>5} {'accept+fill+rollback':>21} {'fill_next_token_bitmasks':>25} {'speedup':>8}")
    text = variant(instances(1)[0], 0)
    ids = hf.encode(text, add_special_tokens=False).ids
    for k in (1, 4, 8):
        start = compiled.matcher()
        for token in ids[:5]:
            assert start.accept_token(token)
        draft = ids[5 : 5 + k]
        bitmask = gl.allocate_token_bitmask(k + 1, info.vocab_size)

        def stepwise(m=start, draft=draft, bitmask=bitmask) -> None:
            m.fill_next_token_bitmask(bitmask, 0)
            n = 0
            for i, token in enumerate(draft):
                if not m.accept_token(token):
                    break
                n += 1
                m.fill_next_token_bitmask(bitmask, i + 1)
            m.rollback(n)

        def drafted(m=start, draft=draft, bitmask=bitmask) -> None:
            m.fill_next_token_bitmasks(bitmask, draft)

        t_step = timed(stepwise, args.repeat)
        t_draft = timed(drafted, args.repeat)
        print(
            f"{k:>5} {t_step * 1e6:>18.1f} µs {t_draft * 1e6:>22.1f} µs {t_step / t_draft:>7.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
