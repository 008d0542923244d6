"""Hypothesis strategies for grammars, and mask checks to call from your own test suite.

``strings(grammar)`` draws strings of a grammar's language by random derivation over its IR (the
rules exactly as the front-end wrote them, not lark's view of them), so it covers what grammarlib
enforces. ``assert_masks_sound`` and ``assert_masks_complete`` check a grammar's token masks for a
real tokenizer against an independent reference::

    from hypothesis import given
    from grammarlib.integrations.hypothesis import strings

    @given(strings(gl.Grammar.from_lark(GRAMMAR)))
    def test_parser_round_trips(s):
        assert my_parser(s).unparse() == s
"""

from __future__ import annotations

import decimal
import functools
import json
import random
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grammarlib import json_keys
from grammarlib.analysis import INFINITE, byte_order, expr_cost, rule_costs
from grammarlib.compiler import CompiledGrammar
from grammarlib.compiler import compile as compile_grammar
from grammarlib.errors import EmptyLanguageError
from grammarlib.grammar import Grammar
from grammarlib.ir import Alt, Bytes, Expr, Lazy, Ref, Repeat, Seq
from grammarlib.jsonschema import exact_number, exact_validator
from grammarlib.masks.bitmask import allocate_token_bitmask, bits_to_bool
from grammarlib.masks.tokenizer import TokenizerInfo

__all__ = [
    "assert_masks_complete",
    "assert_masks_sound",
    "byte_strings",
    "instances",
    "lark_reference",
    "regex_reference",
    "schema_reference",
    "strings",
]

#: Extra repetitions allowed beyond the minimum of an unbounded repeat (``x*``, ``x+``, ``x{n,}``).
UNBOUNDED_EXTRA = 4
#: Rule expansions allowed per leaf of ``max_leaves`` (nullable recursion writes no bytes).
CALLS_PER_LEAF = 4
#: Rule nesting past which derivations take least-cost choices (keeps the Python stack small).
MAX_DEPTH = 40


def strings(grammar: Grammar | CompiledGrammar, *, max_leaves: int = 100) -> st.SearchStrategy[str]:
    """Strings of ``grammar``'s language (see :func:`byte_strings`), decoded from UTF-8.

    Grammars from the text front-ends (Lark, GBNF, regex, choices) only derive valid UTF-8; for a
    grammar over raw byte sets, derivations that are not valid UTF-8 are filtered out (use
    :func:`byte_strings` to get them). For JSON Schema grammars, texts that repeat a key in one
    object, or an item of a ``uniqueItems`` array, are left out too (the grammar's language
    excludes them; the rules alone cannot).
    """
    return byte_strings(grammar, max_leaves=max_leaves).map(_decode).filter(_is_str)


def byte_strings(
    grammar: Grammar | CompiledGrammar, *, max_leaves: int = 100
) -> st.SearchStrategy[bytes]:
    """Byte strings of ``grammar``'s language, by random derivation over its rules (for JSON
    Schema grammars, without the texts that repeat a key in one object or an item of a
    ``uniqueItems`` array).

    Every productive alternative and every repetition count is reachable (an unbounded repeat
    gets up to ``UNBOUNDED_EXTRA`` more than its minimum; no repeat more than the bytes left in
    the budget). Once a derivation has written ``max_leaves`` bytes, expanded
    ``CALLS_PER_LEAF * max_leaves`` rules or nested ``MAX_DEPTH`` rules deep, it finishes along
    least-cost choices (shortest string, then least rule nesting), which strictly lower the rule
    height, so drawing always terminates. Alternatives are numbered shortest first and counts
    start at the minimum, so hypothesis, which minimises the derivation's choices, shrinks toward
    short strings.
    Raises :class:`~grammarlib.EmptyLanguageError` for an empty language.
    """
    if isinstance(grammar, CompiledGrammar):
        grammar = grammar.grammar
    if not isinstance(grammar, Grammar):
        raise TypeError(f"expected a Grammar or CompiledGrammar, got {type(grammar).__name__}")
    if max_leaves < 0:
        raise ValueError(f"max_leaves must be >= 0, got {max_leaves}")
    plan = _plan(grammar)
    drawn = st.composite(lambda draw: _Derivation(plan, draw, max_leaves, None).run())()
    if grammar.unique_arrays:  # which arrays must not repeat an item: the automaton knows
        return drawn.filter(functools.partial(_in_language, compile_grammar(grammar)))
    return drawn.filter(_distinct_keys) if grammar.distinct_keys else drawn


def _distinct_keys(data: bytes) -> bool:
    """Whether no object of the JSON text ``data`` repeats a key."""
    return json_keys.advance(json_keys.START, data) is not None


def _in_language(compiled: CompiledGrammar, data: bytes) -> bool:
    """Whether ``data`` is a whole string of the compiled grammar's language (the checks
    beside the automaton included: distinct keys, distinct items of unique arrays)."""
    m = compiled.matcher()
    return m.accept_bytes(data) and m.can_terminate()


_DECIMAL_DIGITS = 4000
_strings = strings  # assert_masks_complete's ``strings`` argument shadows the name


def instances(schema: Any, *, max_leaves: int = 200, **options: Any) -> st.SearchStrategy[Any]:
    """Python values valid under a JSON Schema (dict, bool or JSON text), or instances of a
    pydantic v2 model class.

    Drawn from the schema's compiled grammar (JSON texts, decoded with ``json.loads``), so they
    cover exactly what grammarlib enforces: every keyword the schema uses and grammarlib accepts.
    Texts that repeat a key in one object are left out (``json.loads`` would keep only the last
    value, which the schema may not allow). Raises :class:`~grammarlib.SchemaError` for a schema
    grammarlib refuses or one that is unsatisfiable.
    """
    model = schema if isinstance(schema, type) else None
    if model is not None:
        if not hasattr(model, "model_json_schema"):
            raise TypeError(f"expected a JSON Schema or a pydantic model, got {model.__name__}")
        grammar = Grammar.from_pydantic(model, **options)
    else:
        grammar = Grammar.from_json_schema(schema, **options)
    values = strings(grammar, max_leaves=max_leaves).map(_json_value).filter(_is_value)
    if model is not None:
        return values.map(model.model_validate)  # type: ignore[attr-defined]
    return values


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey
    return out


_NOT_A_VALUE = object()


def _json_value(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey:
        return _NOT_A_VALUE


def _is_value(value: Any) -> bool:
    return value is not _NOT_A_VALUE


# -- derivation -----------------------------------------------------------------------------------


class _Plan:
    """What a derivation needs, computed once per grammar: rules, costs, ordered alternatives."""

    def __init__(self, grammar: Grammar):
        self.rules = grammar.rules
        self.start = grammar.start
        self.costs = rule_costs(self.rules)
        if self.costs[self.start] == INFINITE:
            compile_grammar(grammar)  # raises EmptyLanguageError saying why
            raise EmptyLanguageError(f"the grammar accepts no string (start {self.start!r})")
        self._alternatives: dict[Alt, tuple[Expr, ...]] = {}

    def alternatives(self, expr: Alt) -> tuple[Expr, ...]:
        """Productive items of ``expr``, least cost first (index 0 is what hypothesis shrinks
        to)."""
        out = self._alternatives.get(expr)
        if out is None:
            costed = [(expr_cost(i, self.costs), n, i) for n, i in enumerate(expr.items)]
            out = tuple(i for c, _, i in sorted(costed, key=lambda x: x[:2]) if c != INFINITE)
            self._alternatives[expr] = out
        return out

    def cost(self, expr: Expr) -> tuple[float, float]:
        return expr_cost(expr, self.costs)


@functools.lru_cache(maxsize=64)
def _plan(grammar: Grammar) -> _Plan:
    return _Plan(grammar)


@functools.lru_cache(maxsize=4096)
def _byte_choices(mask: int) -> st.SearchStrategy[int]:
    return st.sampled_from(byte_order(mask))


class _Derivation:
    """One random derivation. ``record``, if given, collects ``(alt, index)`` choices (tests use
    it to measure coverage)."""

    def __init__(self, plan: _Plan, draw: Callable[[Any], Any], budget: int, record: set | None):
        self.plan = plan
        self.draw = draw
        self.budget = budget
        self.calls = CALLS_PER_LEAF * budget
        self.record = record
        self.out = bytearray()

    def run(self) -> bytes:
        self.expand(Ref(self.plan.start), 0)
        return bytes(self.out)

    @property
    def forced(self) -> bool:
        return self.budget <= 0 or self.calls <= 0

    def expand(self, expr: Expr, depth: int) -> None:
        if isinstance(expr, Bytes):
            self.budget -= 1
            if expr.mask & (expr.mask - 1):
                self.out.append(self.draw(_byte_choices(expr.mask)))
            else:
                self.out.append(expr.mask.bit_length() - 1)
        elif isinstance(expr, Seq):
            for item in expr.items:
                self.expand(item, depth)
        elif isinstance(expr, Ref):
            self.calls -= 1
            self.expand(self.plan.rules[expr.name], depth + 1)
        elif isinstance(expr, Alt):
            options = self.plan.alternatives(expr)
            if self.forced or depth > MAX_DEPTH or len(options) == 1:
                # Least cost first: following these choices strictly lowers rule heights.
                index = 0
            else:
                index = self.draw(_counts(0, len(options) - 1))
            if self.record is not None:
                self.record.add((expr, expr.items.index(options[index])))
            self.expand(options[index], depth)
        elif isinstance(expr, Repeat):
            self.repeat(expr, depth)
        elif isinstance(expr, Lazy):
            self.walk(expr, depth)
        else:
            raise TypeError(f"not an IR expression: {expr!r}")

    def walk(self, expr: Lazy, depth: int) -> None:
        """A machine's states, one step at a time (a loop: a long string is many steps)."""
        node: Lazy | None = expr
        while node is not None:
            step = node.machine.step(node.state)
            options = self.plan.alternatives(step) if isinstance(step, Alt) else (step,)
            if self.forced or depth > MAX_DEPTH or len(options) == 1:
                index = 0  # least cost first: the shortest way to the end
            else:
                index = self.draw(_counts(0, len(options) - 1))
            chosen = options[index]
            node = None
            for item in chosen.items if isinstance(chosen, Seq) else (chosen,):
                if isinstance(item, Lazy):
                    node = item
                else:
                    self.expand(item, depth)

    def repeat(self, expr: Repeat, depth: int) -> None:
        low = expr.min
        if self.forced or depth > MAX_DEPTH or self.plan.cost(expr.item) == INFINITE:
            high = low
        else:
            high = low + UNBOUNDED_EXTRA if expr.max is None else expr.max
            high = min(high, low + self.budget)  # x{0,1000} with 100 bytes left: at most 100
        count = low if high == low else self.draw(_counts(low, high))
        for _ in range(count):
            self.expand(expr.item, depth)


@functools.lru_cache(maxsize=1024)
def _counts(low: int, high: int) -> st.SearchStrategy[int]:
    # Shrinks toward ``low``; hypothesis's shrinker also deletes the draws of dropped items.
    return st.integers(low, high)


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_str(value: str | None) -> bool:
    return value is not None


# -- references -----------------------------------------------------------------------------------


def lark_reference(text: str, start: str = "start") -> Callable[[str], bool]:
    """Membership by lark's Earley parser with ``lexer="dynamic_complete"`` (the semantics
    grammarlib implements for Lark grammars): an independent reference for the mask checks."""
    from lark import Lark
    from lark.exceptions import UnexpectedInput

    parser = Lark(text, parser="earley", lexer="dynamic_complete", start=start, ambiguity="forest")

    def accepts(s: str) -> bool:
        try:
            parser.parse(s)
        except UnexpectedInput:
            return False
        return True

    return accepts


def schema_reference(schema: Any, *, registry: Any = None) -> Callable[[str], bool]:
    """Membership by ``jsonschema`` (the schema's own draft, format checking on): the text is
    JSON without repeated keys and its value is valid. ``registry`` (a ``referencing.Registry``)
    resolves references to other documents."""

    validator = exact_validator(schema, registry=registry)

    def accepts(text: str) -> bool:
        try:
            value = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=exact_number)
        except ValueError:
            return False
        with decimal.localcontext() as context:
            context.prec = _DECIMAL_DIGITS  # exact remainders for multipleOf on long numbers
            return validator.is_valid(value)

    return accepts


def regex_reference(pattern: str) -> Callable[[str], bool]:
    """Membership by ``re.fullmatch(pattern, s)``: the reference for ``Grammar.from_regex``."""
    compiled = re.compile(pattern)
    return lambda s: compiled.fullmatch(s) is not None


# -- mask checks ----------------------------------------------------------------------------------


def assert_masks_sound(
    grammar: Grammar,
    tokenizer_info: TokenizerInfo,
    *,
    reference: Callable[[str], bool],
    samples: int = 20,
    max_steps: int = 200,
    stop_probability: float = 0.3,
    seed: int = 0,
) -> None:
    """Random generation under the masks only ever produces strings ``reference`` accepts.

    Each sample picks uniformly among the tokens the filled mask allows, picking a stop token with
    probability ``stop_probability`` when one is allowed, until it stops or ``max_steps`` tokens
    (unfinished samples are not judged). Also checks at every step that a stop token is allowed
    exactly when the matcher can terminate, that the mask is never empty before a stop, and that
    every allowed token is accepted. Raises ``AssertionError`` naming the sample, step and token.
    """
    compiled = compile_grammar(grammar, tokenizer_info)
    rng = random.Random(seed)
    stops = np.array(sorted(tokenizer_info.stop_token_ids), dtype=np.int64)
    bitmask = allocate_token_bitmask(1, tokenizer_info.vocab_size)
    finished = 0
    for sample in range(samples):
        matcher = compiled.matcher()
        out = bytearray()
        for step in range(max_steps):
            matcher.fill_next_token_bitmask(bitmask)
            allowed = bits_to_bool(bitmask[0], tokenizer_info.vocab_size)
            where = f"sample {sample}, step {step}, after {bytes(out)!r}"
            stop_allowed = bool(allowed[stops].any()) if len(stops) else False
            if stop_allowed != matcher.can_terminate():
                raise AssertionError(
                    f"{where}: a stop token is {'' if stop_allowed else 'not '}allowed but "
                    f"can_terminate() is {matcher.can_terminate()}"
                )
            if len(stops):
                allowed[stops] = False
            ids = np.flatnonzero(allowed)
            if stop_allowed and (not len(ids) or rng.random() < stop_probability):
                stop = int(stops[_allowed(bitmask, stops)][0])
                if not matcher.accept_token(stop):
                    raise AssertionError(f"{where}: stop token {stop} allowed but refused")
                break
            if not len(ids):
                raise AssertionError(f"{where}: the mask allows nothing and no stop token")
            token = int(ids[rng.randrange(len(ids))])
            data = tokenizer_info.token_bytes[token]
            if not matcher.accept_token(token):
                raise AssertionError(
                    f"{where}: token {token} ({data!r}) allowed by the mask but refused"
                )
            out += data
        if not matcher.is_terminated():
            continue
        finished += 1
        try:
            text = bytes(out).decode("utf-8")
        except UnicodeDecodeError:
            raise AssertionError(
                f"sample {sample}: generated {bytes(out)!r}, which is not valid UTF-8"
            ) from None
        if not reference(text):
            raise AssertionError(
                f"sample {sample}: generated {text!r} under the masks, the reference rejects it"
            )
    if samples and not finished:
        raise AssertionError(
            f"none of {samples} samples stopped within {max_steps} tokens; nothing was judged "
            "(raise max_steps or stop_probability)"
        )


def _allowed(bitmask: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Whether each token of ``ids`` is allowed in row 0 of ``bitmask``."""
    words = bitmask[0].view(np.uint32)[ids // 32]
    return (words >> (ids % 32).astype(np.uint32)) & 1 == 1


def assert_masks_complete(
    grammar: Grammar,
    tokenizer_info: TokenizerInfo,
    *,
    tokenize: Callable[[str], list[int]],
    strings: Iterable[str] | None = None,
    examples: int = 50,
    max_leaves: int = 100,
) -> None:
    """Every string of the language, tokenized by the real tokenizer, passes the masks.

    ``tokenize`` is the tokenizer's encode without special tokens. Each token must be allowed by
    the filled mask and accepted, and at the end a stop token must be allowed. The strings are
    ``strings`` if given, else ``examples`` draws of :func:`strings` (hypothesis shrinks a failure
    to a small string). Raises ``AssertionError`` naming the string, step and token.
    """
    compiled = compile_grammar(grammar, tokenizer_info)
    stops = np.array(sorted(tokenizer_info.stop_token_ids), dtype=np.int64)
    if not len(stops):
        raise ValueError("assert_masks_complete needs a tokenizer with stop tokens")
    bitmask = allocate_token_bitmask(1, tokenizer_info.vocab_size)

    def check(text: str) -> None:
        ids = [int(i) for i in tokenize(text)]
        data = text.encode("utf-8")
        joined = b"".join(tokenizer_info.token_bytes[i] for i in ids)
        if joined != data:
            raise AssertionError(
                f"tokenize({text!r}) gives tokens whose bytes are {joined!r}: the tokenizer and "
                "tokenizer_info disagree"
            )
        matcher = compiled.matcher()
        done = 0
        for step, token in enumerate(ids):
            matcher.fill_next_token_bitmask(bitmask)
            piece = tokenizer_info.token_bytes[token]
            if not _allowed(bitmask, np.array([token]))[0]:
                raise AssertionError(
                    f"string {text!r}, step {step}: token {token} ({piece!r}) is masked out "
                    f"after {data[:done]!r}"
                )
            if not matcher.accept_token(token):
                raise AssertionError(
                    f"string {text!r}, step {step}: token {token} ({piece!r}) allowed but "
                    f"refused after {data[:done]!r}"
                )
            done += len(piece)
        matcher.fill_next_token_bitmask(bitmask)
        if not _allowed(bitmask, stops).any():
            raise AssertionError(
                f"string {text!r}: no stop token is allowed after all {len(ids)} tokens"
            )

    if strings is not None:
        for text in strings:
            check(text)
        return
    strategy = _strings(grammar, max_leaves=max_leaves)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(text: str) -> None:
        check(text)

    run()
