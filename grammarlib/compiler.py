"""`compile`: a Grammar (and optionally a tokenizer) to an immutable `CompiledGrammar`."""

from __future__ import annotations

import threading
from collections import OrderedDict

from .automata import DEFAULT_MAX_STATES, Automaton, build_automaton
from .grammar import Grammar
from .matcher import GrammarMatcher
from .normalize import normalize
from .runtime import Runtime

_CACHE_SIZE = 64
_cache: OrderedDict[tuple, CompiledGrammar] = OrderedDict()
_cache_lock = threading.Lock()


class CompiledGrammar:
    """A grammar's automata, ready to make matchers. Immutable and safe to share across threads."""

    __slots__ = ("_runtime", "automaton", "grammar", "rules")

    def __init__(self, grammar: Grammar, *, max_states: int = DEFAULT_MAX_STATES):
        self.grammar = grammar
        self.rules = normalize(grammar.rules, grammar.start, positions=_positions(grammar))
        self.automaton: Automaton = build_automaton(self.rules, grammar.start, max_states)
        self._runtime = Runtime(self.automaton)

    def matcher(self) -> GrammarMatcher:
        """A new matcher at the start of the grammar."""
        return GrammarMatcher(self)

    def __repr__(self) -> str:
        return (
            f"<CompiledGrammar rules={len(self.rules)} frames={self.automaton.num_frames} "
            f"start={self.grammar.start!r}>"
        )


def _positions(grammar: Grammar) -> dict[str, tuple[int, int]]:
    return {name: pos for name in grammar.rules if (pos := grammar.position(name)) is not None}


def compile(grammar: Grammar, *, max_states: int = DEFAULT_MAX_STATES) -> CompiledGrammar:
    """Compile ``grammar``; results are cached per grammar content and options."""
    if not isinstance(grammar, Grammar):
        raise TypeError(f"compile() expects a Grammar, got {type(grammar).__name__}")
    key = (grammar.fingerprint, max_states)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    compiled = CompiledGrammar(grammar, max_states=max_states)
    with _cache_lock:
        _cache[key] = compiled
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled
