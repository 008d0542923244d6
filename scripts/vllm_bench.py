"""vLLM structured-outputs backends on the scheduler's critical path: grammarlib, xgrammar and
guidance (llguidance) side by side, without a model.

Run with the vLLM venv's Python (scripts/setup_vllm.sh):

    .venv-vllm/bin/python scripts/vllm_bench.py --model DIR [--batch 1,8,32] [--json out.json]

Every step of vLLM's engine core, ``StructuredOutputManager.grammar_bitmask`` fills one bitmask
row per structured request (``fill_bitmask``) in one Python thread, and the sampled tokens are
then fed back (``accept_tokens``). This replays that loop: ``B`` concurrent requests, each a JSON
document of ``integrations/bench_data`` against its own schema (request ``i`` takes document
``i mod 4``), spelled ``json.dumps(doc, ensure_ascii=False)`` and tokenized by the model's
tokenizer; every step fills the rows of the unfinished requests, then accepts each one's next
token (the document's tokens, then EOS). Each backend is built as vLLM builds it
(``XgrammarBackend``, ``GuidanceBackend``, ``GrammarlibBackend`` with the same tokenizer and
vocabulary size).

Each batch size runs twice, ``cold`` then ``warm`` (what a backend caches per schema or per
grammar state is filled by the first pass). Reported per backend, batch size and pass: the
compile time of the batch's grammars (``compile_grammar`` for every request; the tokenizer
preprocessing is done beforehand, in "setup"), the median and p99 time of one scheduler step
(fill + accept for the whole batch), and the time per output token (all steps' time / tokens).
These are the milliseconds vLLM's engine core spends per step on structured outputs, to compare
with the model's forward time.
"""

from __future__ import annotations

import argparse
import gc
import importlib.resources
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

NAMES = ("catalog", "config", "geo", "github_issue")


def documents() -> list[tuple[str, dict, Any]]:
    data = importlib.resources.files("grammarlib.integrations") / "bench_data"
    out = []
    for name in NAMES:
        schema = json.loads((data / f"{name}.schema.json").read_text())
        doc = json.loads((data / f"{name}.json").read_text())
        out.append((name, schema, doc))
    return out


def make_backend(name: str, tokenizer: Any, vocab_size: int) -> Any:
    config = SimpleNamespace(
        structured_outputs_config=SimpleNamespace(
            disable_any_whitespace=False, disable_additional_properties=False
        ),
        model_config=None,
        speculative_config=None,
    )
    if name == "grammarlib":
        from grammarlib.integrations.vllm import GrammarlibBackend

        return GrammarlibBackend(config, tokenizer=tokenizer, vocab_size=vocab_size)
    if name == "xgrammar":
        from vllm.v1.structured_output.backend_xgrammar import XgrammarBackend

        return XgrammarBackend(config, tokenizer=tokenizer, vocab_size=vocab_size)
    if name == "guidance":
        from vllm.v1.structured_output.backend_guidance import GuidanceBackend

        return GuidanceBackend(config, tokenizer=tokenizer, vocab_size=vocab_size)
    raise ValueError(name)


def run_batch(backend: Any, docs: list, tokenizer: Any, batch: int, eos: int) -> dict:
    from vllm.v1.structured_output.backend_types import StructuredOutputOptions

    t0 = time.perf_counter()
    grammars = []
    token_lists = []
    for i in range(batch):
        _, schema, doc = docs[i % len(docs)]
        grammars.append(
            backend.compile_grammar(StructuredOutputOptions.JSON, json.dumps(schema), {eos})
        )
        ids = tokenizer.encode(json.dumps(doc, ensure_ascii=False), add_special_tokens=False)
        token_lists.append([*ids, eos])
    compile_s = time.perf_counter() - t0
    bitmask = backend.allocate_token_bitmask(batch)
    steps = []
    tokens = 0
    position = [0] * batch
    while True:
        active = [i for i in range(batch) if position[i] < len(token_lists[i])]
        if not active:
            break
        t = time.perf_counter()
        for row, i in enumerate(active):
            grammars[i].fill_bitmask(bitmask, row)
        for i in active:
            token = token_lists[i][position[i]]
            if not grammars[i].accept_tokens(str(i), [token]):
                raise RuntimeError(f"request {i}: token {token} refused at {position[i]}")
            position[i] += 1
        steps.append((time.perf_counter() - t, len(active)))
        tokens += len(active)
    times = sorted(s for s, _ in steps)
    total = sum(times)
    return {
        "batch": batch,
        "compile_ms": round(compile_s * 1e3, 1),
        "steps": len(steps),
        "step_ms_p50": round(statistics.median(times) * 1e3, 3),
        "step_ms_p99": round(times[min(len(times) - 1, int(0.99 * len(times)))] * 1e3, 3),
        "us_per_token": round(total / tokens * 1e6, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model directory (for its tokenizer)")
    ap.add_argument("--batch", default="1,8,32")
    ap.add_argument("--backends", default="grammarlib,xgrammar,guidance")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    eos = tokenizer.eos_token_id
    config = json.loads(Path(args.model, "config.json").read_text())
    vocab_size = config.get("vocab_size") or config.get("text_config", {}).get("vocab_size")
    docs = documents()
    results = []
    for name in args.backends.split(","):
        t0 = time.perf_counter()
        try:
            backend = make_backend(name, tokenizer, vocab_size)
        except Exception as e:
            print(f"{name}: not available ({e})", file=sys.stderr)
            continue
        setup_s = time.perf_counter() - t0
        for batch in (int(b) for b in args.batch.split(",")):
            # twice: the first pass is cold for what a backend caches per schema (grammarlib's
            # masks per state, xgrammar's compiled grammars), the second is warm
            for rep in ("cold", "warm"):
                gc.collect()
                try:
                    r = run_batch(backend, docs, tokenizer, batch, eos)
                except Exception as e:
                    print(f"{name} batch {batch}: failed: {e}", file=sys.stderr)
                    break
                r.update(backend=name, setup_s=round(setup_s, 1), pass_=rep)
                results.append(r)
                print(
                    f"{name:<10} B={batch:<3} {rep}  compile {r['compile_ms']:8.1f} ms"
                    f"  step p50 {r['step_ms_p50']:7.3f} ms  p99 {r['step_ms_p99']:7.3f} ms"
                    f"  {r['us_per_token']:8.1f} us/token  (setup {setup_s:.1f} s)",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
