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
import contextlib
import importlib.metadata
import importlib.resources
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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

ENGINES = ("grammarlib", "xgrammar", "llguidance")
WORKLOADS = ("grammar", "schema")

# JSON (RFC 8259) with whitespace between tokens, as in json.dumps output of any indentation.
JSON_LARK = r"""
start: _ws value _ws
?value: object | array | STRING | NUMBER | "true" | "false" | "null"
object: "{" _ws (pair (_ws "," _ws pair)*)? _ws "}"
pair: STRING _ws ":" _ws value
array: "[" _ws (value (_ws "," _ws value)*)? _ws "]"
_ws: /[ \t\n\r]*/
STRING: /"([^"\\\x00-\x1f]|\\["\\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/
NUMBER: /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/
"""

_SCHEMA_SUFFIX = ".schema.json"


@dataclass(frozen=True)
class Case:
    """One thing to compile (the generic JSON grammar when ``schema`` is None, else a JSON
    Schema) and the documents replayed against it."""

    name: str
    schema: dict[str, Any] | None
    documents: tuple[str, ...]


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


class RefusedToken(Exception):
    """An engine's mask or matcher refused a token of a document that it should accept."""


def _bit(bitmask: Any, token: int) -> bool:
    """Whether ``token`` is set in row 0 of a packed int32 bitmask (numpy array or tensor)."""
    return bool((int(bitmask[0, token >> 5]) >> (token & 31)) & 1)


class _Engine:
    """One engine's compile + first mask and replay, behind a common interface.

    The primitives (``new_matcher``, ``allocate``, ``fill``, ``accept``, ``is_terminated``)
    work on a case compiled by :meth:`first_mask`; the real-world workload
    (:mod:`grammarlib.integrations.bench_real_world`) drives its random walks with them."""

    name: str
    vocab_size: int
    # seconds of the compile part (no bitmask) of the last successful first_mask
    last_compile_s: float = 0.0

    def first_mask(self, case: Case) -> float:
        """Compile ``case`` and fill the first bitmask; seconds. Keeps the compiled form."""
        raise NotImplementedError

    def new_matcher(self, case: Case) -> Any:
        """A matcher at the start of ``case`` (compiled by :meth:`first_mask`)."""
        raise NotImplementedError

    def allocate(self) -> Any:
        """A one-row bitmask of this engine's kind."""
        raise NotImplementedError

    def fill(self, matcher: Any, bitmask: Any) -> None:
        """Write ``matcher``'s allowed next tokens into row 0 of ``bitmask``."""
        raise NotImplementedError

    def accept(self, matcher: Any, token: int) -> bool:
        """Advance ``matcher`` by ``token``; whether it was accepted."""
        raise NotImplementedError

    def is_terminated(self, matcher: Any) -> bool:
        """Whether ``matcher`` accepted a stop token."""
        raise NotImplementedError

    def drop(self, case: Case) -> None:
        """Forget the compiled form of ``case``."""
        raise NotImplementedError

    def _why(self, matcher: Any) -> str:
        return ""

    def replay(self, case: Case, ids: list[int], eos: int) -> list[float]:
        """Fill, check and accept along ``ids`` then EOS with the compiled ``case``; the fill
        times in seconds. Raises :class:`RefusedToken` when a token is not allowed."""
        m = self.new_matcher(case)
        bitmask = self.allocate()
        times = []
        for i, token in enumerate([*ids, eos]):
            t0 = time.perf_counter()
            self.fill(m, bitmask)
            times.append(time.perf_counter() - t0)
            if not _bit(bitmask, token) or not self.accept(m, token):
                raise RefusedToken(
                    f"{self.name} refuses token {token} at step {i} of {case.name}{self._why(m)}"
                )
        return times


class _Grammarlib(_Engine):
    name = "grammarlib"

    def __init__(self, hf_tokenizer: Any, warm_grammar: bool, scratch: Path):
        import grammarlib as gl

        self.gl = gl
        self.info = gl.TokenizerInfo.from_huggingface(hf_tokenizer)
        self.vocab_size = self.info.vocab_size
        self.warm_grammar = warm_grammar
        self.scratch = scratch
        self.compiled: dict[str, Any] = {}

    def first_mask(self, case: Case) -> float:
        from grammarlib import compiler
        from grammarlib.masks import cache, store

        gl = self.gl
        compiler.vocab_index(self.info)  # tokenizer preprocessing, as the peers' tokenizer setup
        if not self.warm_grammar:  # forget every grammar-dependent result, in memory and on disk
            compiler._cache.clear()
            store._shared.clear()
            cache.set_cache_dir(tempfile.mkdtemp(dir=self.scratch))
        t0 = time.perf_counter()
        if case.schema is None:
            grammar = gl.Grammar.from_lark(JSON_LARK)
        else:
            grammar = gl.Grammar.from_json_schema(case.schema)
        compiled = gl.compile(grammar, self.info)
        t1 = time.perf_counter()
        bitmask = gl.allocate_token_bitmask(1, self.info.vocab_size)
        compiled.matcher().fill_next_token_bitmask(bitmask)
        elapsed = time.perf_counter() - t0
        self.compiled[case.name] = compiled
        self.last_compile_s = t1 - t0
        return elapsed

    def new_matcher(self, case: Case) -> Any:
        return self.compiled[case.name].matcher()

    def allocate(self) -> Any:
        return self.gl.allocate_token_bitmask(1, self.info.vocab_size)

    def fill(self, matcher: Any, bitmask: Any) -> None:
        matcher.fill_next_token_bitmask(bitmask)

    def accept(self, matcher: Any, token: int) -> bool:
        return matcher.accept_token(token)

    def is_terminated(self, matcher: Any) -> bool:
        return matcher.is_terminated()

    def drop(self, case: Case) -> None:
        self.compiled.pop(case.name, None)


class _XGrammar(_Engine):
    """``default_options``: compile schemas with xgrammar's defaults (any whitespace) instead of
    exactly ``json.dumps``' spacing."""

    name = "xgrammar"

    def __init__(self, hf_tokenizer: Any, default_options: bool = False):
        import xgrammar as xgr

        self.xgr = xgr
        self.info = xgr.TokenizerInfo.from_huggingface(hf_tokenizer)
        self.vocab_size = self.info.vocab_size
        self.default_options = default_options
        self.compiled: dict[str, Any] = {}

    def first_mask(self, case: Case) -> float:
        xgr = self.xgr
        t0 = time.perf_counter()
        compiler = xgr.GrammarCompiler(self.info, cache_enabled=False)
        if case.schema is None:
            compiled = compiler.compile_builtin_json_grammar()
        elif self.default_options:
            compiled = compiler.compile_json_schema(case.schema)
        else:
            compiled = compiler.compile_json_schema(
                case.schema, any_whitespace=False, separators=(", ", ": "), strict_mode=True
            )
        t1 = time.perf_counter()
        bitmask = xgr.allocate_token_bitmask(1, self.info.vocab_size)
        xgr.GrammarMatcher(compiled).fill_next_token_bitmask(bitmask)
        elapsed = time.perf_counter() - t0
        self.compiled[case.name] = compiled
        self.last_compile_s = t1 - t0
        return elapsed

    def new_matcher(self, case: Case) -> Any:
        return self.xgr.GrammarMatcher(self.compiled[case.name])

    def allocate(self) -> Any:
        return self.xgr.allocate_token_bitmask(1, self.info.vocab_size)

    def fill(self, matcher: Any, bitmask: Any) -> None:
        matcher.fill_next_token_bitmask(bitmask)

    def accept(self, matcher: Any, token: int) -> bool:
        return matcher.accept_token(token)

    def is_terminated(self, matcher: Any) -> bool:
        return matcher.is_terminated()

    def drop(self, case: Case) -> None:
        self.compiled.pop(case.name, None)


# llguidance options giving exactly json.dumps' default spacing and no other whitespace.
LLGUIDANCE_DUMPS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


class _LLGuidance(_Engine):
    """``default_options``: compile schemas with llguidance's defaults (flexible whitespace)
    instead of exactly ``json.dumps``' spacing."""

    name = "llguidance"

    def __init__(self, hf_tokenizer: Any, default_options: bool = False):
        import llguidance
        import llguidance.hf
        import llguidance.numpy

        self.llg = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(hf_tokenizer)
        self.vocab_size = self.tokenizer.vocab_size
        self.default_options = default_options
        self.grammars: dict[str, str] = {}

    def _grammar(self, case: Case) -> str:
        if case.schema is None:  # generic JSON, llguidance's default (flexible) whitespace
            return self.llg.LLMatcher.grammar_from_json_schema({})
        if self.default_options:
            return self.llg.LLMatcher.grammar_from_json_schema(case.schema)
        return self.llg.LLMatcher.grammar_from_json_schema(
            case.schema,
            overrides=LLGUIDANCE_DUMPS,  # type: ignore[arg-type]
        )

    def first_mask(self, case: Case) -> float:
        llg = self.llg
        t0 = time.perf_counter()
        grammar = self._grammar(case)
        m = llg.LLMatcher(self.tokenizer, grammar)
        t1 = time.perf_counter()
        bitmask = llg.numpy.allocate_token_bitmask(1, self.tokenizer.vocab_size)
        llg.numpy.fill_next_token_bitmask(m, bitmask)
        elapsed = time.perf_counter() - t0
        if m.is_error():
            raise RuntimeError(f"llguidance cannot compile {case.name}: {m.get_error()}")
        self.grammars[case.name] = grammar
        self.last_compile_s = t1 - t0
        return elapsed

    def new_matcher(self, case: Case) -> Any:
        return self.llg.LLMatcher(self.tokenizer, self.grammars[case.name])

    def allocate(self) -> Any:
        return self.llg.numpy.allocate_token_bitmask(1, self.tokenizer.vocab_size)

    def fill(self, matcher: Any, bitmask: Any) -> None:
        self.llg.numpy.fill_next_token_bitmask(matcher, bitmask)

    def accept(self, matcher: Any, token: int) -> bool:
        return matcher.consume_token(token)

    def is_terminated(self, matcher: Any) -> bool:
        return matcher.is_stopped() and not matcher.is_error()  # (stopped is also set on errors)

    def drop(self, case: Case) -> None:
        self.grammars.pop(case.name, None)

    def _why(self, matcher: Any) -> str:
        return f": {matcher.get_error()}"


def _make_engine(name: str, hf: Any, warm_grammar: bool, scratch: Path) -> _Engine:
    if name == "grammarlib":
        return _Grammarlib(hf, warm_grammar, scratch)
    if name == "xgrammar":
        return _XGrammar(hf)
    if name == "llguidance":
        return _LLGuidance(hf)
    raise ValueError(f"unknown engine {name!r}; use some of {ENGINES}")


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def load_tokenizer(name: str) -> Any:
    """A transformers tokenizer for the vocabulary ``name`` (``llama-bpe``, ``gpt-2``, ...), from
    :func:`grammarlib.masks.assets.tokenizer_json_dir` (no hub access)."""
    import transformers

    from grammarlib.masks import assets

    directory = assets.tokenizer_json_dir(name)
    if directory is None:
        raise FileNotFoundError(f"no tokenizer.json for vocabulary {name!r}")
    return transformers.AutoTokenizer.from_pretrained(str(directory))


@contextlib.contextmanager
def _grammarlib_cache_restored() -> Iterator[None]:
    """Put grammarlib's disk-cache setting back as it was (cold runs point it elsewhere)."""
    from grammarlib.masks import cache

    saved = cache._override
    try:
        yield
    finally:
        cache._override = saved


def _run_engine(
    engine: _Engine, todo: list[Case], encoded: dict[str, list[list[int]]], eos: int, repeat: int
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
        "versions": {name: _version(name) for name in engines},
        "skipped": {},
        "workloads": {},
    }
    with tempfile.TemporaryDirectory(prefix="grammarlib-bench-") as tmp:
        made: list[_Engine] = []
        for name in engines:
            try:
                made.append(_make_engine(name, hf, warm_grammar, Path(tmp)))
            except ImportError as e:
                result["skipped"][name] = f"not installed ({e})"
                say(f"({name} is not installed; pip install -e '.[bench]')")
        with _grammarlib_cache_restored():
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
