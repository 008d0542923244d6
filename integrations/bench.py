"""Token-mask benchmark: grammarlib side by side with xgrammar and llguidance, in one run.

``python -m grammarlib bench`` (or ``python benchmarks/bench_masks.py``). Two workloads, each
replaying JSON documents token by token with a real tokenizer (Llama 3 by default): at every step
each engine fills its next-token bitmask (timed), the document's token is checked to be set in
that mask, and the token is accepted; the end-of-sequence token closes each document.

* ``grammar``: a generic JSON grammar (grammarlib: the Lark grammar :data:`JSON_LARK`; xgrammar:
  its builtin JSON grammar; llguidance: the schema ``{}``), the four documents of ``bench_data/``
  each spelled as ``json.dumps(v)`` and ``json.dumps(v, indent=2)``.
* ``schema``: each document against its own JSON Schema (``bench_data/<name>.schema.json``: required
  properties, enums, patterns, string lengths, integer and number bounds, ``$ref``, ``anyOf``),
  the document spelled as ``json.dumps(v)`` (``", "`` and ``": "``). grammarlib compiles with its
  default whitespace policy (``dumps``: an optional single space after ``,`` and ``:``); the
  peers cannot express an optional space, so they get exactly ``", "`` / ``": "`` and no other
  whitespace (xgrammar ``any_whitespace=False, separators=(", ", ": ")``; llguidance
  ``whitespace_flexible: false, item_separator: ", ", key_separator: ": "``). Every schema sets
  ``additionalProperties: false`` so that the three engines enforce the same objects.

"First mask" is compiling the grammar or schema plus filling the first bitmask, with each engine's
tokenizer preprocessing done beforehand; for grammarlib the tokenizer's vocabulary index is
built but the grammar's frame masks are cold (a fresh disk cache and empty in-process caches for
every run) unless ``--warm-grammar``. Its median over ``--repeat`` runs is reported (for the
schema workload: the mean over schemas of the per-schema medians, and each schema's median in a
second table). Peers that are not installed are left out with a line saying so.

``--workload real-world`` is separate (not in ``all``): every schema of a real-world corpus
(JSONSchemaBench, JSON Schema Store) through each engine with its default options, with
coverage, compile times and masks along random walks; see
:mod:`grammarlib.integrations.bench_real_world`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .bench_engines import (
    ENGINES,
    JSON_LARK,
    Case,
    Engine,
    RefusedToken,
    engine_version,
    grammarlib_cache_restored,
    load_tokenizer,
    make_engine,
)

__all__ = [
    "ENGINES",
    "JSON_LARK",
    "WORKLOADS",
    "Case",
    "RefusedToken",
    "cases",
    "format_tables",
    "load_tokenizer",
    "main",
    "run",
]

WORKLOADS = ("grammar", "schema")
_SCHEMA_SUFFIX = ".schema.json"


def _data_files() -> dict[str, tuple[Any, Any]]:
    """``name -> (document value, schema)`` for every document in ``bench_data/``."""
    data = importlib.resources.files(__package__ or "grammarlib.integrations") / "bench_data"
    out: dict[str, tuple[Any, Any]] = {}
    for entry in sorted(data.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json") or entry.name.endswith(_SCHEMA_SUFFIX):
            continue
        name = entry.name.removesuffix(".json")
        schema = data / (name + _SCHEMA_SUFFIX)
        out[name] = (
            json.loads(entry.read_text(encoding="utf-8")),
            json.loads(schema.read_text(encoding="utf-8")) if schema.is_file() else None,
        )
    if not out:
        raise FileNotFoundError(f"no benchmark documents in {data}")
    return out


def cases(workload: str, only: Sequence[str] | None = None) -> list[Case]:
    """The cases of ``workload`` (``"grammar"`` or ``"schema"``); ``only``: keep just the
    documents with these names (``catalog``, ``config``, ``geo``, ``github_issue``)."""
    files = _data_files()
    if only is not None:
        unknown = sorted(set(only) - set(files))
        if unknown:
            raise ValueError(f"unknown benchmark documents {unknown}; known: {sorted(files)}")
        files = {k: v for k, v in files.items() if k in only}
    if workload == "grammar":
        docs = []
        for value, _ in files.values():
            docs.append(json.dumps(value, ensure_ascii=False))
            docs.append(json.dumps(value, indent=2, ensure_ascii=False))
        return [Case("json", None, tuple(docs))]
    if workload == "schema":
        missing = [name for name, (_, schema) in files.items() if schema is None]
        if missing:
            raise FileNotFoundError(f"no {_SCHEMA_SUFFIX} for benchmark documents {missing}")
        return [
            Case(name, schema, (json.dumps(value, ensure_ascii=False),))
            for name, (value, schema) in files.items()
        ]
    raise ValueError(f"unknown workload {workload!r}; use one of {WORKLOADS}")


def _run_engine(
    engine: Engine, todo: list[Case], encoded: dict[str, list[list[int]]], eos: int, repeat: int
) -> dict[str, Any]:
    """Compile + first mask ``repeat`` times per case, then replay each case's documents once."""
    by_case: dict[str, float] = {}
    first_runs: list[float] = []
    times: list[float] = []
    for case in todo:
        firsts = [engine.first_mask(case) for _ in range(repeat)]
        by_case[case.name] = 1e3 * statistics.median(firsts)
        first_runs.append(1e3 * firsts[0])
        for ids in encoded[case.name]:
            times += engine.replay(case, ids, eos)
    us = np.array(times) * 1e6
    return {
        "first_mask_ms": statistics.fmean(by_case.values()),
        "first_run_ms": statistics.fmean(first_runs),
        "first_mask_ms_by_case": by_case,
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "mean_us": float(us.mean()),
        "masks": len(times),
        "allowed": len(times),  # every replayed token was set in its mask and accepted
    }


def run(
    workloads: Sequence[str] = WORKLOADS,
    tokenizer_name: str = "llama-bpe",
    engines: Sequence[str] = ENGINES,
    repeat: int = 3,
    *,
    warm_grammar: bool = False,
    documents: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return its results (see :func:`main` for the printed form).

    ``documents`` keeps only those benchmark documents (by name). Peers that cannot be imported
    are listed under ``"skipped"``; an engine that fails to compile a case or refuses a token
    gets ``{"error": message}`` instead of numbers.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    for name in engines:
        if name not in ENGINES:
            raise ValueError(f"unknown engine {name!r}; use some of {ENGINES}")
    plan = {w: cases(w, documents) for w in workloads}
    say = log or (lambda _msg: None)
    hf = load_tokenizer(tokenizer_name)
    eos = hf.eos_token_id
    if eos is None:
        raise ValueError(f"tokenizer {tokenizer_name!r} has no end-of-sequence token")
    result: dict[str, Any] = {
        "tokenizer": tokenizer_name,
        "vocab_size": len(hf),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "repeat": repeat,
        "warm_grammar": warm_grammar,
        "versions": {name: engine_version(name) for name in engines},
        "skipped": {},
        "workloads": {},
    }
    with tempfile.TemporaryDirectory(prefix="grammarlib-bench-") as tmp:
        made: list[Engine] = []
        for name in engines:
            try:
                made.append(make_engine(name, hf, warm_grammar, Path(tmp)))
            except ImportError as e:
                result["skipped"][name] = f"not installed ({e})"
                say(f"({name} is not installed; pip install -e '.[bench]')")
        with grammarlib_cache_restored():
            for workload, case_list in plan.items():
                encoded = {
                    c.name: [hf.encode(d, add_special_tokens=False) for d in c.documents]
                    for c in case_list
                }
                results: dict[str, Any] = {}
                for engine in made:
                    say(f"{workload}: {engine.name} ...")
                    try:
                        results[engine.name] = _run_engine(engine, case_list, encoded, eos, repeat)
                    except Exception as e:  # a peer's refusal must not hide the others' numbers
                        results[engine.name] = {"error": f"{type(e).__name__}: {e}"}
                result["workloads"][workload] = {
                    "cases": {
                        c.name: {
                            "documents": len(c.documents),
                            "tokens": sum(len(ids) for ids in encoded[c.name]),
                        }
                        for c in case_list
                    },
                    "results": results,
                }
    return result


_TITLES = {
    "grammar": "generic JSON grammar, each document as json.dumps(v) and json.dumps(v, indent=2)",
    "schema": "JSON Schema per document, document as json.dumps(v)",
}


def format_tables(result: dict[str, Any]) -> str:
    """Markdown tables of ``result`` (from :func:`run`): one per workload, plus the first mask
    of each schema for workloads with several cases."""
    lines = []
    for workload, data in result["workloads"].items():
        case_info = data["cases"]
        docs = sum(c["documents"] for c in case_info.values())
        tokens = sum(c["tokens"] for c in case_info.values())
        lines += [
            "",
            f"{workload} workload: {_TITLES.get(workload, workload)}; {result['tokenizer']} "
            f"tokenizer ({result['vocab_size']} tokens), {docs} documents, {tokens} tokens, "
            f"{result['machine']}, {result['date']}",
        ]
        header = ("engine", "first mask ms", "(1st run)", "p50 us", "p99 us", "mean us", "masks")
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for name, r in data["results"].items():
            if "error" in r:
                lines.append(f"| {name} | failed: {r['error']} |")
                continue
            numbers = (r[k] for k in ("first_mask_ms", "first_run_ms", "p50_us", "p99_us"))
            cells = [f"{x:.1f}" for x in numbers] + [f"{r['mean_us']:.1f}", str(r["masks"])]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        if len(case_info) > 1:
            names = list(case_info)
            lines += [
                "",
                f"{workload} workload, compile + first mask per case, ms (median of "
                f"{result['repeat']}):",
                "| engine | " + " | ".join(names) + " |",
                "|" + "---|" * (len(names) + 1),
            ]
            for name, r in data["results"].items():
                if "error" not in r:
                    by_case = r["first_mask_ms_by_case"]
                    lines.append(
                        f"| {name} | " + " | ".join(f"{by_case[n]:.1f}" for n in names) + " |"
                    )
    for name, why in result["skipped"].items():
        lines.append(f"({name} left out: {why})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m grammarlib bench``: run, print the tables, optionally write JSON. Exit
    status 1 when an engine failed on some workload. ``--workload real-world`` runs
    :mod:`grammarlib.integrations.bench_real_world` with the other arguments (its own options)."""
    rest = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(rest):
        if arg == "--workload=real-world" or (
            arg == "--workload" and rest[i + 1 : i + 2] == ["real-world"]
        ):
            from grammarlib.integrations import bench_real_world

            return bench_real_world.main(rest[:i] + rest[i + (1 if "=" in arg else 2) :])
    parser = argparse.ArgumentParser(
        prog="python -m grammarlib bench", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--workload", choices=(*WORKLOADS, "all", "real-world", "vllm"), default="all"
    )
    parser.add_argument("--tokenizer", default="llama-bpe", help="vocabulary name (llama-bpe)")
    parser.add_argument("--repeat", type=int, default=3, help="first-mask repetitions (median)")
    parser.add_argument("--warm-grammar", action="store_true", help="keep grammarlib's frame cache")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args, extra = parser.parse_known_args(argv)
    if args.workload == "vllm":
        return _vllm_workload(extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    workloads = WORKLOADS if args.workload == "all" else (args.workload,)
    result = run(
        workloads,
        args.tokenizer,
        repeat=args.repeat,
        warm_grammar=args.warm_grammar,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(format_tables(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    failed = any("error" in r for w in result["workloads"].values() for r in w["results"].values())
    return 1 if failed else 0


def _vllm_workload(extra: list[str]) -> int:
    """``--workload vllm``: grammarlib, xgrammar and guidance as vLLM backends, on the
    ``integrations/bench_data`` schemas with the default model, at 1, 8 and 32 concurrent
    requests: requests per second and time per output token through a real OpenAI server
    (``scripts/vllm_serve_bench.py``), then each backend's own cost on the scheduler's path
    (``scripts/vllm_bench.py``). Both run in the vLLM venv (``$GRAMMARLIB_VLLM_VENV``, else
    ``.venv-vllm`` in the checkout; ``scripts/setup_vllm.sh`` makes it). ``--part serve`` or
    ``--part backend`` runs one of them, passing further arguments to it."""
    import os
    import subprocess

    root = Path(__file__).resolve().parents[1]
    venv = Path(os.environ.get("GRAMMARLIB_VLLM_VENV") or root / ".venv-vllm")
    python = venv / "bin" / "python"
    part = "both"
    if "--part" in extra:
        i = extra.index("--part")
        part = extra[i + 1] if i + 1 < len(extra) else ""
        extra = extra[:i] + extra[i + 2 :]
    scripts = {"serve": "vllm_serve_bench.py", "backend": "vllm_bench.py"}
    if part not in (*scripts, "both"):
        print("--part must be serve, backend or both", file=sys.stderr)
        return 2
    chosen = list(scripts) if part == "both" else [part]
    if not all((root / "scripts" / scripts[c]).is_file() for c in chosen):
        print("the vLLM workload runs from a source checkout (scripts/)", file=sys.stderr)
        return 2
    if not python.is_file():
        print(f"no vLLM venv at {venv}: make it with `bash scripts/setup_vllm.sh`", file=sys.stderr)
        return 2
    if "--model" not in extra:
        from grammarlib.integrations.models import ensure_default_model

        extra = ["--model", str(ensure_default_model()), *extra]
    if part == "both" and len(extra) != 2:
        print("options other than --model need --part serve or --part backend", file=sys.stderr)
        return 2
    status = 0
    for c in chosen:
        args = list(extra)
        if c == "serve" and "--backends" not in args:
            args += ["--backends", "grammarlib,xgrammar,guidance"]
        script = str(root / "scripts" / scripts[c])
        status |= subprocess.run([str(python), script, *args], check=False).returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main())
