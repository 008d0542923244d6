"""Run vLLM for real with grammarlib's structured-outputs backend (and xgrammar to compare).

Run with the vLLM venv's Python (scripts/setup_vllm.sh makes it):

    .venv-vllm/bin/python scripts/vllm_check.py --model DIR [--backends grammarlib,xgrammar]
        [--spec] [--out results.json]

DIR is a transformers model directory (the default model converted by grammarlib:
``python -c "from grammarlib.integrations.models import ensure_default_model as e; print(e())"``
in the project venv). For every backend named, one ``LLM`` (engine in its default separate
process) runs the same greedy requests: a JSON schema, json_object, regex, choice, a Lark and a
GBNF grammar, compact JSON (disable_any_whitespace), and a schema grammarlib refuses (which must
be a request error). ``--spec`` adds a grammarlib engine with ngram speculative decoding whose
outputs must equal the plain greedy ones. Results (texts, validity, tokens/s) go to ``--out`` as
JSON; the exit status is 0 when every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "city": {"type": "string", "maxLength": 20},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}
DATE_REGEX = r"(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
CHOICES = ["positive", "negative", "neutral"]
LARK = r"""
start: "The capital is " CITY "."
CITY: /[A-Z][a-z]{1,15}/
"""
GBNF = r"""
root ::= answer ", because " reason "."
answer ::= "yes" | "no"
reason ::= [a-z ]{1,40}
"""
# the same language as GBNF, so the backends can be compared token for token
LARK_FOR_XGRAMMAR = LARK
# exactly one tool call (at_least_one + stop_after_first), its arguments under a schema
TOOL_TAG = {
    "type": "structural_tag",
    "format": {
        "type": "triggered_tags",
        "triggers": ["<tool>"],
        "tags": [
            {
                "begin": "<tool>",
                "content": {
                    "type": "json_schema",
                    "json_schema": {
                        "type": "object",
                        "properties": {"city": {"type": "string", "maxLength": 20}},
                        "required": ["city"],
                        "additionalProperties": False,
                    },
                },
                "end": "</tool>",
            }
        ],
        "at_least_one": True,
        "stop_after_first": True,
    },
}
REFUSED = {"type": "integer", "minimum": 5, "maximum": 3}  # empty language: a request error

# (name, prompt, structured-outputs kwargs, how to check the text)
REQUESTS = [
    (
        "json_schema",
        "Here is a JSON record of a person, with name, age and city:\n",
        {"json": PERSON},
        "json",
    ),
    (
        "json_object",
        "The coordinates of Paris as a JSON object with the keys lat and lon:\n",
        {"json_object": True},
        "object",
    ),
    (
        "regex",
        "The first moon landing happened on the date (YYYY-MM-DD): ",
        {"regex": DATE_REGEX},
        "regex",
    ),
    (
        "choice",
        "Review: 'I loved this movie, it was wonderful.' Sentiment:",
        {"choice": CHOICES},
        "choice",
    ),
    ("lark", "Question: what is the capital of France? Answer: ", {"grammar": LARK}, "lark"),
    ("gbnf", "Is the sky blue? Answer yes or no, with a reason: ", {"grammar": GBNF}, "gbnf"),
    (
        "structural_tag",
        "Call the weather tool for Paris: ",
        {"structural_tag": json.dumps(TOOL_TAG)},
        "tag",
    ),
    (
        "json_compact",
        "Here is a JSON record of a person, with name, age and city:\n",
        {"json": PERSON, "disable_any_whitespace": True},
        "json_compact",
    ),
]
SPEC_PROMPT = (
    'Records: {"name": "Ada", "age": 36, "city": "London"} '
    '{"name": "Alan", "age": 41, "city": "London"} '
    '{"name": "Grace", "age": 45, "city": "New York"}\nNext record: '
)


def check(kind: str, text: str) -> tuple[bool, str]:
    """(valid, why) for one output text."""
    import jsonschema

    try:
        if kind in ("json", "json_compact"):
            value = json.loads(text)
            jsonschema.validate(value, PERSON)
            if kind == "json_compact" and text != json.dumps(value, separators=(",", ":")):
                return False, "not compact"
            return True, ""
        if kind == "object":
            return isinstance(json.loads(text), dict), "not an object"
        if kind == "regex":
            return re.fullmatch(DATE_REGEX, text) is not None, "no full match"
        if kind == "choice":
            return text in CHOICES, "not a choice"
        if kind == "lark":
            return re.fullmatch(r"The capital is [A-Z][a-z]{1,15}\.", text) is not None, "no match"
        if kind == "tag":
            m = re.fullmatch(r"<tool>(.*)</tool>", text, re.DOTALL)
            if m is None:
                return False, "no single <tool>...</tool>"
            args = json.loads(m.group(1))
            return isinstance(args, dict) and set(args) == {"city"}, "bad arguments"
        if kind == "gbnf":
            return re.fullmatch(r"(yes|no), because [a-z ]{1,40}\.", text) is not None, "no match"
    except (ValueError, jsonschema.ValidationError) as e:
        return False, str(e).splitlines()[0]
    return False, f"unknown check {kind}"


def run_engine(model: str, backend: str, spec: bool, max_tokens: int) -> dict:
    """One LLM, all requests; returns the results as a dict (run in a child process)."""
    from vllm import LLM, SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    kwargs: dict = {}
    if spec:
        kwargs["speculative_config"] = {
            "method": "ngram",
            "num_speculative_tokens": 4,
            "prompt_lookup_max": 4,
            "prompt_lookup_min": 2,
        }
        kwargs["disable_log_stats"] = False  # for the speculative-decoding counters
    t0 = time.perf_counter()
    llm = LLM(
        model=model,
        dtype="bfloat16",
        max_model_len=1024,
        enforce_eager=True,
        seed=0,
        structured_outputs_config={"backend": backend},
        **kwargs,
    )
    startup = time.perf_counter() - t0
    result: dict = {"backend": backend, "spec": spec, "startup_s": round(startup, 1)}

    requests = [(n, p, so, k) for n, p, so, k in REQUESTS]
    if spec:
        requests = [("spec_json", SPEC_PROMPT, {"json": PERSON}, "json")] + [
            r for r in requests if r[0] in ("json_schema", "regex", "gbnf")
        ]
    params = [
        SamplingParams(
            temperature=0.0,
            max_tokens=max_tokens,
            structured_outputs=StructuredOutputsParams(**so),
        )
        for _, _, so, _ in requests
    ]
    prompts = [p for _, p, _, _ in requests]
    # warm-up: compiles the grammars' first masks, loads the vocabulary index
    llm.generate(prompts[:1], params[:1], use_tqdm=False)
    t0 = time.perf_counter()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    elapsed = time.perf_counter() - t0
    items = []
    n_tokens = 0
    for (name, _, _, kind), out in zip(requests, outputs, strict=True):
        comp = out.outputs[0]
        n_tokens += len(comp.token_ids)
        ok, why = check(kind, comp.text)
        items.append(
            {
                "name": name,
                "text": comp.text,
                "tokens": len(comp.token_ids),
                "finish_reason": comp.finish_reason,
                "valid": ok and comp.finish_reason == "stop",
                "why": "" if ok else why,
                "first_prompt_token": out.prompt_token_ids[0] if out.prompt_token_ids else None,
            }
        )
    result["requests"] = items
    result["batch_s"] = round(elapsed, 2)
    result["batch_tokens"] = n_tokens
    result["batch_tok_per_s"] = round(n_tokens / elapsed, 1)

    if spec:
        result["spec_metrics"] = {
            m.name: getattr(m, "value", None)
            for m in llm.get_metrics()
            if m.name.startswith("vllm:spec_decode") and isinstance(getattr(m, "value", None), int)
        }

    # one request at a time: the per-request cost of the backend shows there
    t0 = time.perf_counter()
    single = llm.generate(prompts[:1], params[:1], use_tqdm=False)
    e1 = time.perf_counter() - t0
    result["single_tok_per_s"] = round(len(single[0].outputs[0].token_ids) / e1, 1)

    if backend == "grammarlib" and not spec:
        try:
            llm.generate(
                ["x"],
                SamplingParams(
                    max_tokens=4, structured_outputs=StructuredOutputsParams(json=REFUSED)
                ),
                use_tqdm=False,
            )
            result["refused"] = {"raised": False}
        except Exception as e:
            result["refused"] = {"raised": True, "type": type(e).__name__, "message": str(e)}
        # the engine still serves requests after the refused one
        after = llm.generate(prompts[:1], params[:1], use_tqdm=False)
        result["after_refused_valid"] = check("json", after[0].outputs[0].text)[0]
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="transformers model directory")
    ap.add_argument("--backends", default="grammarlib,xgrammar")
    ap.add_argument("--spec", action="store_true", help="also run ngram speculative decoding")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--out", help="write the results here (JSON)")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # BACKEND[:spec], run one engine
    args = ap.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB of KV cache on the CPU

    if args.child:
        backend, _, spec = args.child.partition(":")
        res = run_engine(args.model, backend, spec == "spec", args.max_tokens)
        print("RESULT " + json.dumps(res))
        return 0

    runs = [(b, False) for b in args.backends.split(",") if b]
    if args.spec:
        runs.append(("grammarlib", True))
    results = []
    for backend, spec in runs:
        child = f"{backend}:spec" if spec else backend
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--model",
                args.model,
                "--child",
                child,
                "--max-tokens",
                str(args.max_tokens),
            ],
            capture_output=True,
            text=True,
        )
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            results.append({"backend": backend, "spec": spec, "error": proc.stderr[-4000:]})
            print(f"{child}: FAILED\n{proc.stderr[-4000:]}", file=sys.stderr)
            continue
        res = json.loads(line[len("RESULT ") :])
        res["wall_s"] = round(time.perf_counter() - t0, 1)
        results.append(res)
        print(
            f"{child}: startup {res['startup_s']} s, batch {res['batch_tokens']} tokens in "
            f"{res['batch_s']} s ({res['batch_tok_per_s']} tok/s), single "
            f"{res['single_tok_per_s']} tok/s",
            file=sys.stderr,
        )
        for item in res["requests"]:
            mark = "ok " if item["valid"] else "BAD"
            print(f"  {mark} {item['name']:<13} {item['text']!r} {item['why']}", file=sys.stderr)
        if "refused" in res:
            print(f"  refused schema: {res['refused']}", file=sys.stderr)

    summary = summarize(results)
    if args.out:
        Path(args.out).write_text(json.dumps({"runs": results, "summary": summary}, indent=1))
    print(json.dumps(summary, indent=1))
    return 0 if summary["ok"] else 1


def same_json(a: str, b: str) -> bool | None:
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return None


def summarize(results: list[dict]) -> dict:
    problems = []
    by = {(r["backend"], r["spec"]): r for r in results}
    for r in results:
        if "error" in r:
            problems.append(f"{r['backend']} spec={r['spec']}: engine failed")
    gl_run = by.get(("grammarlib", False))
    if gl_run and "requests" in gl_run:
        for item in gl_run["requests"]:
            if not item["valid"]:
                problems.append(f"grammarlib {item['name']}: invalid {item['text']!r}")
        ref = gl_run.get("refused", {})
        if not ref.get("raised") or "grammarlib" not in ref.get("message", ""):
            problems.append(f"refused schema not a grammarlib request error: {ref}")
        if not gl_run.get("after_refused_valid"):
            problems.append("engine did not serve a request after the refused one")
    spec_run = by.get(("grammarlib", True))
    if spec_run and "requests" in spec_run:
        for item in spec_run["requests"]:
            if not item["valid"]:
                problems.append(f"spec {item['name']}: invalid {item['text']!r}")
        metrics = spec_run.get("spec_metrics", {})
        drafts = metrics.get("vllm:spec_decode_num_draft_tokens")
        if drafts is not None and drafts <= 0:
            problems.append(f"no draft tokens were proposed: {metrics}")
    comparison = {}
    xg = by.get(("xgrammar", False))
    if gl_run and xg and "requests" in gl_run and "requests" in xg:
        xtexts = {i["name"]: i for i in xg["requests"]}
        for item in gl_run["requests"]:
            other = xtexts.get(item["name"])
            if other is not None:
                comparison[item["name"]] = {
                    "same_text": other["text"] == item["text"],
                    "same_json": same_json(other["text"], item["text"]),
                    "xgrammar_valid": other["valid"],
                }
    if spec_run and gl_run and "requests" in spec_run:
        plain = {i["name"]: i["text"] for i in gl_run.get("requests", [])}
        comparison["ngram_same_as_plain"] = {
            i["name"]: plain[i["name"]] == i["text"]
            for i in spec_run["requests"]
            if i["name"] in plain
        }
        comparison["spec_metrics"] = spec_run.get("spec_metrics")
    return {
        "ok": not problems,
        "problems": problems,
        "vs_xgrammar": comparison,
        "tok_per_s": {
            f"{r['backend']}{'+ngram' if r['spec'] else ''}": {
                "batch": r.get("batch_tok_per_s"),
                "single": r.get("single_tok_per_s"),
            }
            for r in results
            if "requests" in r
        },
    }


if __name__ == "__main__":
    sys.exit(main())
