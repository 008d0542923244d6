"""A Lark grammar for a small DSL: the model writes a valid robot program, which lark then parses.

pip install -e '.[generate]'
python examples/lark_dsl.py
"""

from __future__ import annotations

from typing import Any

import lark

import grammarlib as gl

ROBOT = r"""
start: command (";" _SP command)*
command: move | turn | "grab" | "drop"
move: "move" _SP STEPS
turn: "turn" _SP DIRECTION
STEPS: /[1-9][0-9]?/
DIRECTION: "left" | "right"
_SP: " "
"""

PROMPT = """Robot programs use: move N; turn left|right; grab; drop.
Task: go 3 steps, turn right, go 2 steps and pick up the box.
Program: """


def main(model: Any = None, tokenizer: Any = None, **options: Any) -> lark.Tree:
    if model is None:
        from grammarlib.integrations.models import load_model

        model, tokenizer = load_model()
    program = gl.generate(
        model, tokenizer, PROMPT, grammar=ROBOT, **{"max_new_tokens": 48, **options}
    )
    return lark.Lark(ROBOT, parser="earley", lexer="dynamic_complete").parse(program)


if __name__ == "__main__":
    print(main().pretty())
