"""`compile`: a Grammar (and optionally a tokenizer) to an immutable `CompiledGrammar`."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from grammarlib.masks.cache import load_arrays, save_arrays
from grammarlib.masks.store import MaskStore
from grammarlib.masks.vocab import VocabIndex

from .automata import DEFAULT_MAX_STATES, Automaton
from .collector import collection_paused
from .completion import Distances
from .grammar import Grammar
from .matcher import GrammarMatcher
from .normalize import Deadline, inline_candidates, normalize
from .runtime import Runtime

if TYPE_CHECKING:
    from grammarlib.masks.tokenizer import TokenizerInfo

_CACHE_SIZE = 64
DEFAULT_TIME_LIMIT_S = 1.0
"""Default bound on the seconds :func:`compile` spends normalising a grammar."""
_cache: OrderedDict[tuple, CompiledGrammar] = OrderedDict()
_cache_lock = threading.Lock()


class CompiledGrammar:
    """A grammar's automata (and, with a tokenizer, its mask store), ready to make matchers.

    Immutable in meaning and safe to share across threads; masks are computed lazily and cached.
    """

    __slots__ = (
        "_distances",
        "_key_tables",
        "_runtime",
        "automaton",
        "grammar",
        "mask_store",
        "rules",
        "tokenizer_info",
    )

    def __init__(
        self,
        grammar: Grammar,
        tokenizer_info: TokenizerInfo | None = None,
        *,
        max_states: int = DEFAULT_MAX_STATES,
        time_limit_s: float | None = None,
        _automaton: tuple[dict, Automaton] | None = None,
    ):
        self.grammar = grammar
        if _automaton is None:
            deadline = Deadline(time_limit_s)
            self.rules = normalize(
                grammar.rules, grammar.start, positions=_positions(grammar), deadline=deadline
            )
            inline = inline_candidates(
                self.rules,
                grammar.start,
                keep=grammar.unique_arrays | grammar.fixed_keys,
                deadline=deadline,
            )
            self.automaton: Automaton = Automaton(
                self.rules, grammar.start, inline=inline, max_states=max_states
            )
        else:
            self.rules, self.automaton = _automaton
        self._runtime = Runtime(self.automaton)
        self._key_tables: Any = None  # json_keys.KeyChecker, made on first use
        self._distances: Any = None  # completion.Distances, made on first use
        self.tokenizer_info = tokenizer_info
        self.mask_store: MaskStore | None = None
        if tokenizer_info is not None:
            self.mask_store = MaskStore(
                self.automaton,
                self._runtime,
                vocab_index(tokenizer_info),
                tokenizer_info.vocab_size,
                tokenizer_info.stop_token_ids,
                tokenizer_key=tokenizer_info.fingerprint,
                # named by the schema's hash where there is one (the fingerprint hashes every
                # rule: milliseconds for a large grammar), with the fingerprint checked inside
                bundle_name=lambda: grammar.source_key or grammar.fingerprint,
                bundle_check=(lambda: grammar.fingerprint) if grammar.source_key else None,
            )

    def save_cache(self) -> None:
        """Write this grammar's token classifications to the disk cache now, as one bundle
        file that a later process reads in one go (also done at exit; nothing without a
        tokenizer or with the disk cache off)."""
        if self.mask_store is not None:
            self.mask_store.save_bundle()

    def matcher(self) -> GrammarMatcher:
        """A new matcher at the start of the grammar."""
        return GrammarMatcher(self)

    @property
    def distances(self) -> Distances:
        """Shortest completions of this grammar's states (built on first use)."""
        if self._distances is None:
            self._distances = Distances(self._runtime)
        return self._distances

    def __repr__(self) -> str:
        tok = f" tokenizer={self.tokenizer_info.name!r}" if self.tokenizer_info else ""
        return (
            f"<CompiledGrammar rules={len(self.rules)} frames={self.automaton.num_frames} "
            f"start={self.grammar.start!r}{tok}>"
        )


def _positions(grammar: Grammar) -> dict[str, tuple[int, int]]:
    return {name: pos for name in grammar.rules if (pos := grammar.position(name)) is not None}


def compile(
    grammar: Grammar,
    tokenizer_info: TokenizerInfo | None = None,
    *,
    max_states: int = DEFAULT_MAX_STATES,
    time_limit_s: float | None = DEFAULT_TIME_LIMIT_S,
) -> CompiledGrammar:
    """Compile ``grammar``, for ``tokenizer_info`` if given (token masks) or byte-level only.

    Results are cached per grammar content, tokenizer and ``max_states``; the automaton is
    shared between tokenizers. Compiling is normalisation only (automaton states and masks are
    made as matchers reach them): ``time_limit_s`` bounds it (``None``: no bound), past which
    it stops with :class:`GrammarTooLargeError` naming the rule it was at; ``max_states``
    bounds the automaton frames made later.
    """
    if not isinstance(grammar, Grammar):
        raise TypeError(f"compile() expects a Grammar, got {type(grammar).__name__}")
    tok_key = tokenizer_info.fingerprint if tokenizer_info is not None else None
    key = (grammar, tok_key, max_states)  # by value: Grammar compares its rules structurally
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    with collection_paused():
        if tokenizer_info is None:
            compiled = CompiledGrammar(grammar, max_states=max_states, time_limit_s=time_limit_s)
        else:
            base = compile(grammar, max_states=max_states, time_limit_s=time_limit_s)
            compiled = CompiledGrammar(
                grammar,
                tokenizer_info,
                max_states=max_states,
                _automaton=(base.rules, base.automaton),
            )
    with _cache_lock:
        _cache[key] = compiled
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


_index_cache: dict[str, VocabIndex] = {}


def vocab_index(tokenizer_info: TokenizerInfo) -> VocabIndex:
    """The tokenizer's :class:`VocabIndex`, built once per process (per tokenizer content)."""
    key = tokenizer_info.fingerprint
    index = _index_cache.get(key)
    if index is None:
        arrays = load_arrays(f"vocab/{key}.npz")
        if arrays is not None:
            try:
                index = VocabIndex.from_arrays(arrays)
            except (KeyError, ValueError):
                index = None
        if index is None or not _index_matches(index, tokenizer_info):
            index = VocabIndex.build(
                tokenizer_info.token_bytes, frozenset(tokenizer_info.special_ids)
            )
            save_arrays(f"vocab/{key}.npz", index.to_arrays())
        _index_cache[key] = index
    return index


def _index_matches(index: VocabIndex, tokenizer_info: TokenizerInfo) -> bool:
    """Spot-check a loaded index against the tokenizer (the checksum already caught corruption;
    this catches an index written for other tokens under the same name)."""
    if index.size == 0:
        return not any(tokenizer_info.token_bytes)
    token_bytes = tokenizer_info.token_bytes
    step = max(1, index.size // 512)
    ids = index.ids.tolist()
    return all(
        0 <= ids[p] < len(token_bytes) and token_bytes[ids[p]] == index.token_bytes[p]
        for p in range(0, index.size, step)
    )
