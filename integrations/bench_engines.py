"""The engines of the token-mask benchmarks behind one interface: grammarlib, xgrammar and
llguidance compile a grammar or schema, fill bitmasks and accept tokens through
:class:`Engine`. Used by :mod:`grammarlib.integrations.bench` (replays of fixed documents) and
:mod:`grammarlib.integrations.bench_real_world` (real-world schemas and random walks); the peers
are optional imports.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENGINES = ("grammarlib", "xgrammar", "llguidance")

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


@dataclass(frozen=True)
class Case:
    """One thing to compile (the generic JSON grammar when ``schema`` is None, else a JSON
    Schema) and the documents replayed against it."""

    name: str
    schema: dict[str, Any] | None
    documents: tuple[str, ...]


class RefusedToken(Exception):
    """An engine's mask or matcher refused a token of a document that it should accept."""


def bit_set(bitmask: Any, token: int) -> bool:
    """Whether ``token`` is set in row 0 of a packed int32 bitmask (numpy array or tensor)."""
    return bool((int(bitmask[0, token >> 5]) >> (token & 31)) & 1)


class Engine:
    """One engine's compile + first mask and replay, behind a common interface.

    The primitives (``new_matcher``, ``allocate``, ``fill``, ``accept``, ``is_terminated``)
    work on a case compiled by :meth:`first_mask`; the real-world workload
    (:mod:`grammarlib.integrations.bench_real_world`) drives its random walks with them."""

    name: str
    vocab_size: int
    compiled: dict[str, Any]
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
        """Write ``matcher``'s allowed next tokens into row 0 of ``bitmask`` (grammarlib and
        xgrammar matchers share these method names)."""
        matcher.fill_next_token_bitmask(bitmask)

    def accept(self, matcher: Any, token: int) -> bool:
        """Advance ``matcher`` by ``token``; whether it was accepted."""
        return matcher.accept_token(token)

    def is_terminated(self, matcher: Any) -> bool:
        """Whether ``matcher`` accepted a stop token."""
        return matcher.is_terminated()

    def drop(self, case: Case) -> None:
        """Forget the compiled form of ``case``."""
        self.compiled.pop(case.name, None)

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
            if not bit_set(bitmask, token) or not self.accept(m, token):
                raise RefusedToken(
                    f"{self.name} refuses token {token} at step {i} of {case.name}{self._why(m)}"
                )
        return times


class GrammarlibEngine(Engine):
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

    def drop(self, case: Case) -> None:
        """Forget the compiled form of ``case``, after writing its classifications to the
        disk cache (one bundle: what a warm run reads), as a server does at exit."""
        compiled = self.compiled.pop(case.name, None)
        if compiled is not None:
            compiled.save_cache()

    def allocate(self) -> Any:
        return self.gl.allocate_token_bitmask(1, self.info.vocab_size)


class XGrammarEngine(Engine):
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


# llguidance options giving exactly json.dumps' default spacing and no other whitespace.
LLGUIDANCE_DUMPS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


class LLGuidanceEngine(Engine):
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


def make_engine(name: str, hf: Any, warm_grammar: bool, scratch: Path) -> Engine:
    if name == "grammarlib":
        return GrammarlibEngine(hf, warm_grammar, scratch)
    if name == "xgrammar":
        return XGrammarEngine(hf)
    if name == "llguidance":
        return LLGuidanceEngine(hf)
    raise ValueError(f"unknown engine {name!r}; use some of {ENGINES}")


def engine_version(dist: str) -> str | None:
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
def grammarlib_cache_restored() -> Iterator[None]:
    """Put grammarlib's disk-cache setting back as it was (cold runs point it elsewhere)."""
    from grammarlib.masks import cache

    saved = cache._override
    try:
        yield
    finally:
        cache._override = saved
