"""The command line: ``python -m grammarlib generate | check | bench``.

* ``generate`` runs a constrained generation with a model (the embedded Gemma 3 270M by default)
  and prints the output;
* ``check`` says whether a text belongs to a grammar's language and, if not, points at the first
  byte that breaks it (exit code 0 valid, 1 invalid, 2 bad usage or a bad grammar);
* ``bench`` runs the token-mask benchmark, side by side with the peers that are installed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from grammarlib.errors import GrammarError, GrammarlibError
from grammarlib.grammar import Grammar

__all__ = ["check_text", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from grammarlib.integrations.bench import main as bench_main

        return bench_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "check":
            return _check(args)
        return _generate(args)
    except GrammarlibError as e:  # a bad grammar or schema, a model that cannot be loaded
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grammarlib", description="Exact constrained generation."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="generate text under a constraint")
    _constraint_args(gen)
    gen.add_argument("--prompt", required=True, help="the prompt text")
    gen.add_argument(
        "--model", help="a .gguf file or a transformers model directory (default: Gemma 3 270M)"
    )
    gen.add_argument("--max-new-tokens", type=int, default=256)
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--no-jump-forward", action="store_true", help="one model call per token")
    gen.add_argument("--stats", action="store_true", help="print counts and timings to stderr")

    check = commands.add_parser("check", help="check a text against a grammar")
    _constraint_args(check)
    check.add_argument("text", help="the text to check, or - to read it from stdin")

    commands.add_parser(
        "bench", help="token-mask benchmark (options: python -m grammarlib bench --help)",
        add_help=False,
    )  # fmt: skip
    return parser


def _constraint_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--schema", metavar="FILE", help="a JSON Schema file")
    group.add_argument("--grammar", metavar="FILE", help="a Lark (.lark) or GBNF (.gbnf) grammar")
    group.add_argument("--regex", metavar="PATTERN", help="a regular expression (Python syntax)")
    group.add_argument("--choices", nargs="+", metavar="TEXT", help="one of these strings")


def _grammar(args: argparse.Namespace) -> tuple[Grammar, Any]:
    """The grammar of the constraint arguments, and the schema (or ``None``)."""
    if args.schema:
        text = Path(args.schema).read_text(encoding="utf-8")
        try:
            schema = json.loads(text)
        except json.JSONDecodeError as e:
            raise GrammarError(
                f"{args.schema} is not JSON: {e.msg}", line=e.lineno, column=e.colno
            ) from None
        return Grammar.from_json_schema(schema), schema
    if args.grammar:
        text = Path(args.grammar).read_text(encoding="utf-8")
        if args.grammar.endswith(".gbnf") or (not args.grammar.endswith(".lark") and "::=" in text):
            return Grammar.from_gbnf(text), None
        return Grammar.from_lark(text), None
    if args.regex is not None:
        return Grammar.from_regex(args.regex), None
    return Grammar.from_choices(args.choices), None


# -- check ---------------------------------------------------------------------------------------


def check_text(grammar: Grammar, text: str) -> str | None:
    """``None`` when ``text`` is a complete string of ``grammar``'s language; otherwise a message
    pointing at the first byte that breaks it (line, column, the byte and what could come there)."""
    from grammarlib.compiler import compile

    matcher = compile(grammar).matcher()
    data = text.encode("utf-8")
    for offset in range(len(data)):
        allowed = matcher.next_bytes()
        if not matcher.accept_bytes(data[offset : offset + 1]):
            line, column, line_text = _locate(data, offset)
            return (
                f"line {line}, column {column} (byte {offset}): {_show_byte(data[offset])} "
                f"is not allowed here; expected {_describe(allowed)}\n"
                f"  {line_text}\n  {' ' * (column - 1)}^"
            )
    if not matcher.can_terminate():
        line, column, line_text = _locate(data, len(data))
        return (
            f"line {line}, column {column} (end of text): the text is incomplete; "
            f"expected {_describe(matcher.next_bytes())}\n  {line_text}\n  {' ' * (column - 1)}^"
        )
    return None


def _check(args: argparse.Namespace) -> int:
    grammar, _ = _grammar(args)
    text = sys.stdin.read() if args.text == "-" else args.text
    problem = check_text(grammar, text)
    if problem is None:
        print("ok: the text is in the language")
        return 0
    print(problem)
    return 1


def _locate(data: bytes, offset: int) -> tuple[int, int, str]:
    """1-based line and column (in characters) of byte ``offset``, and that line's text."""
    start = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    line_bytes = data[start : len(data) if end < 0 else end]
    column = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column, line_bytes.decode("utf-8", errors="replace")


def _show_byte(b: int) -> str:
    return repr(chr(b)) if 0x20 <= b < 0x7F else f"byte 0x{b:02x}"


def _describe(allowed: frozenset[int]) -> str:
    if not allowed:
        return "nothing (the text should end here)"
    shown = [_show_byte(b) for b in sorted(allowed) if 0x20 <= b < 0x7F]
    other = len(allowed) - len(shown)
    if len(shown) > 12:
        shown = [*shown[:12], "..."]
    if other:
        shown.append(f"{other} other byte{'s' if other > 1 else ''}")
    return "one of " + ", ".join(shown) if len(shown) > 1 else shown[0]


# -- generate ------------------------------------------------------------------------------------


def _generate(args: argparse.Namespace) -> int:
    from grammarlib.integrations.generate import InvalidOutputError, generate_result
    from grammarlib.integrations.models import ModelError, load_model

    grammar, schema = _grammar(args)  # a bad constraint fails here, before the model loads
    try:
        model, tokenizer = load_model(args.model)
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # The schema itself when there is one, so the output is validated against it as well.
    constraint: dict[str, Any] = {"schema": schema} if schema is not None else {"grammar": grammar}
    try:
        result = generate_result(
            model,
            tokenizer,
            args.prompt,
            **constraint,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            seed=args.seed,
            jump_forward=not args.no_jump_forward,
        )
    except InvalidOutputError as e:
        print(e.text)
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(result.text)
    if args.stats:
        print(stats_line(result), file=sys.stderr)
    if result.stopped == "length":
        print(
            f"error: --max-new-tokens {args.max_new_tokens} ran out before the output was "
            f"complete (the partial output is above)",
            file=sys.stderr,
        )
        return 1
    return 0


def stats_line(result: Any) -> str:
    """``--stats``: counts and speed of a :class:`GenerationResult`. Tokens are the output's
    tokens; the stop token that ended it is not one of them (nor counted as sampled), though
    the model call that chose it is counted."""
    tokens = len(result.token_ids)
    if result.stop_token is not None:
        ending = "then a stop token, not counted"
    elif result.stopped == "length":
        ending = "cut off at the budget"
    else:
        ending = "complete without asking for a stop token"
    return (
        f"{tokens} tokens ({result.sampled_tokens} sampled + {result.forced_tokens} forced; "
        f"{ending}) in {result.model_calls} model calls, {result.seconds:.2f} s "
        f"({tokens / result.seconds:.1f} tokens/s)"
    )
