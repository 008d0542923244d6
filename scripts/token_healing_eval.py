"""Token healing on prompts cut mid-word, with the default model: exact-match rate with and
without healing.

Each prompt is a sentence cut inside its last word; the constraint is ``[a-z]+`` (the rest of
the word) and the output must equal the missing letters. Without healing the model has to go on
from the odd token the cut left (``"Par"``); with it, the last prompt token is taken back and the
model writes the word as it would (``"Paris"``). Greedy decoding.

Usage: ``python scripts/token_healing_eval.py [--model PATH]``
"""

from __future__ import annotations

import sys

import grammarlib as gl
from grammarlib.integrations.models import load_model

CASES = [
    ("The capital of France is Par", "is"),
    ("The largest planet in the solar system is Jup", "iter"),
    ("Water freezes at zero degrees Cel", "sius"),
    ("The Eiffel Tower is in the city of Pa", "ris"),
    ("Romeo and Juliet was written by William Shakesp", "eare"),
    ("The opposite of hot is co", "ld"),
    ("Monday, Tuesday, Wednes", "day"),
    ("One, two, three, fo", "ur"),
    ("The first month of the year is Janu", "ary"),
    ("Apples are red and bananas are yel", "low"),
    ("The chemical formula of water is H2", "o"),
    ("Dogs bark and cats me", "ow"),
]


def main(argv: list[str]) -> int:
    model_path = argv[argv.index("--model") + 1] if "--model" in argv else None
    model, tokenizer = load_model(model_path)
    rows = []
    for prompt, expected in CASES:
        outputs = []
        for healing in (False, True):
            try:
                text = gl.generate(
                    model, tokenizer, prompt, regex=r"[a-z]+", max_new_tokens=8,
                    token_healing=healing,
                )  # fmt: skip
            except gl.IncompleteOutputError as e:
                text = e.partial_text
            outputs.append(text)
        rows.append((prompt, expected, *outputs))
    print("| prompt | expected | without healing | with healing |")
    print("|---|---|---|---|")
    for prompt, expected, plain, healed in rows:
        print(f"| {prompt!r} | {expected} | {plain} | {healed} |")
    plain_hits = sum(r[2] == r[1] for r in rows)
    healed_hits = sum(r[3] == r[1] for r in rows)
    print(f"\nexact match: without {plain_hits}/{len(rows)}, with {healed_hits}/{len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
