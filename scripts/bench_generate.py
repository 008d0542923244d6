"""Generation speed on a real model: tokens/s with and without constraints, and jump-forward.

Same prompt, same number of tokens: each schema is generated constrained (with and without
jump-forward), then the model generates the same number of tokens unconstrained (stop tokens
ignored). Greedy decoding; every run after one warm-up; median of ``--repeat`` runs.

    python scripts/bench_generate.py [--model PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import grammarlib as gl
from grammarlib.integrations.generate import generate_result
from grammarlib.integrations.models import load_model

WORKLOADS = {
    "person": (
        "Alice Martin is a 31 year old nurse from Lyon who speaks French and English.\n"
        "The same facts as JSON: ",
        {
            "type": "object",
            "properties": {
                "first_name": {"type": "string", "maxLength": 30},
                "last_name": {"type": "string", "maxLength": 30},
                "age": {"type": "integer", "minimum": 0, "maximum": 150},
                "occupation": {"type": "string", "maxLength": 30},
                "city": {"type": "string", "maxLength": 30},
                "languages": {
                    "type": "array",
                    "items": {"enum": ["English", "French", "German", "Spanish"]},
                    "maxItems": 4,
                },
            },
            "required": ["first_name", "last_name", "age", "occupation", "city", "languages"],
            "additionalProperties": False,
        },
    ),
    "invoice": (
        "Invoice 2024-117 from ACME Ltd: 3 hammers at 12.50, 2 saws at 30.00; paid.\nJSON: ",
        {
            "type": "object",
            "properties": {
                "invoice_number": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{1,4}$"},
                "supplier": {"type": "string", "maxLength": 40},
                "status": {"enum": ["paid", "unpaid", "overdue"]},
                "lines": {
                    "type": "array",
                    "maxItems": 5,
                    "items": {
                        "type": "object",
                        "properties": {
                            "item": {"type": "string", "maxLength": 20},
                            "quantity": {"type": "integer", "minimum": 1, "maximum": 999},
                        },
                        "required": ["item", "quantity"],
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["invoice_number", "supplier", "status", "lines"],
            "additionalProperties": False,
        },
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    args = parser.parse_args(argv)
    model, tok = load_model(args.model)
    print(f"model: {args.model or 'Gemma 3 270M (default)'}; greedy; median of {args.repeat} runs")
    header = f"{'workload':10} {'mode':22} {'tokens':>6} {'calls':>6} {'s':>7} {'tokens/s':>9}"
    print(header)
    for name, (prompt, schema) in WORKLOADS.items():
        grammar = gl.Grammar.from_json_schema(schema)
        generate_result(model, tok, prompt, grammar=grammar, max_new_tokens=args.max_new_tokens)
        rows = {}
        for mode, kwargs in (
            ("constrained+jump", {"jump_forward": True}),
            ("constrained", {"jump_forward": False}),
        ):
            runs = [
                generate_result(
                    model,
                    tok,
                    prompt,
                    grammar=grammar,
                    max_new_tokens=args.max_new_tokens,
                    **kwargs,
                )
                for _ in range(args.repeat)
            ]
            rows[mode] = runs
        n = len(rows["constrained"][0].token_ids)
        rows["unconstrained"] = [
            generate_result(model, tok, prompt, max_new_tokens=n, ignore_stop=True)
            for _ in range(args.repeat)
        ]
        for mode, runs in rows.items():
            seconds = statistics.median(r.seconds for r in runs)
            tokens = len(runs[0].token_ids)
            print(
                f"{name:10} {mode:22} {tokens:6d} {runs[0].model_calls:6d} {seconds:7.2f} "
                f"{tokens / seconds:9.2f}"
            )
        print(f"{'':10} output: {rows['constrained+jump'][0].text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
