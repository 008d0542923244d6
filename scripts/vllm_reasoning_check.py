"""Run vLLM with grammarlib's backend and vLLM's own reasoning parser: free thoughts, then a
constrained answer.

Run with the vLLM venv's Python (scripts/setup_vllm.sh makes it):

    .venv-vllm/bin/python scripts/vllm_reasoning_check.py --model DIR [--out results.json]

vLLM handles reasoning itself (``reasoning_parser="deepseek_r1"``, ``thinking_token_budget``):
the structured-outputs backend is neither advanced nor asked for a mask until the reasoning end
token, so grammarlib constrains only the answer. The default model (Gemma 3 270M) has no
``<think>`` tokens, so the model directory is copied with two of its unused tokens renamed
``<think>`` and ``</think>`` (ordinary added tokens, as in DeepSeek-R1 and Qwen3); weights and
config are linked, not copied. Prompts end with ``<think>\\n`` as reasoning chat templates write
them. Each output must be: at most the budget's thoughts, ``</think>``, then a valid answer.
Exit status 0 when every check passed; results go to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vllm_check  # the schema, regex and output checks

BUDGET = 8  # thinking tokens
RENAMED = {"<unused0>": "<think>", "<unused1>": "</think>"}
REQUESTS = [
    ("json_schema", "A JSON record of a person, with name, age and city.\n<think>\n",
     {"json": vllm_check.PERSON}, "json"),
    ("regex", "The date of the first moon landing (YYYY-MM-DD).\n<think>\n",
     {"regex": vllm_check.DATE_REGEX}, "regex"),
    ("choice", "Review: 'I loved this movie.' Sentiment?\n<think>\n",
     {"choice": vllm_check.CHOICES}, "choice"),
]  # fmt: skip


def thinking_model(model: Path, into: Path) -> Path:
    """``model`` with its tokenizer's ``<unused0>``/``<unused1>`` renamed to the think tokens."""
    into.mkdir(parents=True, exist_ok=True)
    for f in model.iterdir():
        if f.name != "tokenizer.json":
            (into / f.name).symlink_to(f.resolve())
    spec = json.loads((model / "tokenizer.json").read_text())
    for added in spec["added_tokens"]:
        if added["content"] in RENAMED:
            added["content"] = RENAMED[added["content"]]
            added["special"] = False
    vocab = spec["model"]["vocab"]
    for old, new in RENAMED.items():
        vocab[new] = vocab.pop(old)
    (into / "tokenizer.json").write_text(json.dumps(spec))
    return into


def run(model: Path) -> dict:
    from vllm import LLM, SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    llm = LLM(
        model=str(model),
        dtype="bfloat16",
        max_model_len=1024,
        enforce_eager=True,
        seed=0,
        reasoning_parser="deepseek_r1",
        structured_outputs_config={"backend": "grammarlib"},
    )
    tokenizer = llm.get_tokenizer()
    params = [
        SamplingParams(
            temperature=0.0,
            max_tokens=BUDGET + 64,
            thinking_token_budget=BUDGET,
            structured_outputs=StructuredOutputsParams(**so),
        )
        for _, _, so, _ in REQUESTS
    ]
    outputs = llm.generate([p for _, p, _, _ in REQUESTS], params, use_tqdm=False)
    items = []
    for (name, _, _, kind), out in zip(REQUESTS, outputs, strict=True):
        comp = out.outputs[0]
        thoughts, found, answer = comp.text.partition("</think>")
        ok, why = check_answer(kind, answer) if found else (False, "no </think>")
        why = "" if ok else why
        thought_tokens = len(tokenizer.encode(thoughts, add_special_tokens=False))
        items.append(
            {
                "name": name,
                "text": comp.text,
                "thoughts": thoughts,
                "thought_tokens": thought_tokens,
                "answer": answer,
                "finish_reason": comp.finish_reason,
                "valid": ok and comp.finish_reason == "stop",
                "why": why,
            }
        )
    # shut the engine down here: left to the interpreter's exit, it may wait until killed
    llm.llm_engine.engine_core.shutdown()
    return {"requests": items, "budget": BUDGET}


def check_answer(kind: str, answer: str) -> tuple[bool, str]:
    """The answer after ``</think>`` (blanks the model wrote first are not part of it)."""
    return vllm_check.check(kind, answer.lstrip(" \n"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="transformers model directory (Gemma 3)")
    ap.add_argument("--out", help="write the results here (JSON)")
    args = ap.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    with tempfile.TemporaryDirectory() as tmp:
        result = run(thinking_model(Path(args.model), Path(tmp) / "thinking-model"))
    problems = [
        f"{i['name']}: {i['why'] or i['finish_reason']} {i['text']!r}"
        for i in result["requests"]
        if not i["valid"]
    ]
    result["problems"] = problems
    for item in result["requests"]:
        mark = "ok " if item["valid"] else "BAD"
        print(f"  {mark} {item['name']:<12} {item['text']!r} {item['why']}", file=sys.stderr)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
