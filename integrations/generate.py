"""`generate`: a model, a prompt and a constraint in; a validated Python value (or string) out.

The decoding loop is our own (not ``model.generate``) so that it can do two things a logits
processor cannot:

* **Jump-forward.** When the grammar forces the next bytes (``{"name": "`` after ``{`` in a schema
  with one required property), they are appended as tokens without a model call per token; the
  model reads them all in the next forward pass.
* **Overlap.** The mask for a step depends only on the tokens before it, so a worker thread fills
  it while the model runs that step's forward pass (torch releases the GIL).
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import inspect
import json
import os
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grammarlib import json_keys
from grammarlib.compiler import CompiledGrammar, compile
from grammarlib.errors import IncompleteOutputError, InvalidOutputError
from grammarlib.grammar import Grammar
from grammarlib.integrations.reasoning import (
    prompt_opens_reasoning,
    reasoning_grammar,
    resolve_delimiters,
)
from grammarlib.masks.bitmask import allocate_token_bitmask, apply_token_bitmask, bool_to_bits
from grammarlib.masks.tokenizer import TokenizerInfo
from grammarlib.matcher import GrammarMatcher

__all__ = [
    "GenerationResult",
    "IncompleteOutputError",
    "InvalidOutputError",
    "build_grammar",
    "generate",
    "generate_result",
    "tokenizer_info_for",
]


@dataclass
class GenerationResult:
    """What one generation produced, with counts for measuring it.

    The stop token is not part of the output: it is neither in ``token_ids`` nor counted in
    ``sampled_tokens`` (``stop_token`` says which one ended the output, if any), so
    ``sampled_tokens + forced_tokens == len(token_ids)``; the forward pass that chose it is
    counted in ``model_calls``. (With ``ignore_stop=True`` stop tokens are ordinary tokens.)
    """

    text: str
    value: Any  # the validated value (as `generate` returns it); None when cut off
    token_ids: list[int]  # the output's tokens, the stop token excluded
    model_calls: int = 0  # forward passes, the prompt's and the stop token's included
    sampled_tokens: int = 0  # output tokens the model chose (the stop token excluded)
    forced_tokens: int = 0  # output tokens appended by jump-forward
    seconds: float = 0.0
    mask_seconds: float = 0.0  # time spent waiting for masks after the forward pass ended
    stopped: str = field(default="stop")  # "stop" (a stop token or a complete output), "length"
    stop_token: int | None = None  # the stop token the model chose; None if it was not asked
    steered_tokens: int = 0  # sampled tokens replaced so the output ends within max_new_tokens
    shortest_output_bytes: int = 0  # the shortest complete output (at most as many tokens)
    healed_bytes: int = 0  # prompt bytes taken back by token healing (not part of ``text``)
    reasoning: str | None = None  # with reasoning=True: the thoughts (``text`` is the answer)


def build_grammar(
    *,
    schema: Any = None,
    pydantic: type | None = None,
    grammar: Grammar | str | None = None,
    regex: str | None = None,
    choices: Iterable[str] | None = None,
    whitespace: str | int = "dumps",
    strict: bool = True,
) -> Grammar | None:
    """The grammar of exactly one of the constraint arguments (``None`` if none is given).

    ``grammar`` is a :class:`Grammar`, or text in Lark's EBNF (GBNF when it uses ``::=``)."""
    given = [
        name
        for name, value in (
            ("schema", schema),
            ("pydantic", pydantic),
            ("grammar", grammar),
            ("regex", regex),
            ("choices", choices),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise TypeError(f"give one constraint, not {' and '.join(given)}")
    if schema is not None:
        return Grammar.from_json_schema(schema, whitespace=whitespace, strict=strict)
    if pydantic is not None:
        return Grammar.from_pydantic(pydantic, whitespace=whitespace, strict=strict)
    if isinstance(grammar, Grammar):
        return grammar
    if isinstance(grammar, str):
        return Grammar.from_gbnf(grammar) if "::=" in grammar else Grammar.from_lark(grammar)
    if grammar is not None:
        raise TypeError(f"grammar must be a Grammar or grammar text, not {type(grammar).__name__}")
    if regex is not None:
        return Grammar.from_regex(regex)
    if choices is not None:
        return Grammar.from_choices(choices)
    return None


def generate(
    model: Any,
    tokenizer: Any,
    prompt: str | Sequence[Mapping[str, str]],
    *,
    schema: Any = None,
    pydantic: type | None = None,
    grammar: Grammar | str | None = None,
    regex: str | None = None,
    choices: Iterable[str] | None = None,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    jump_forward: bool = True,
    whitespace: str | int = "dumps",
    strict: bool = True,
    token_healing: bool = True,
    reasoning: bool | tuple[str, str] = False,
    reasoning_budget: int | None = None,
) -> Any:
    """Generate under exactly one constraint and return the result as a Python value.

    * ``schema`` (dict or JSON text): the parsed JSON value, validated with ``jsonschema``;
    * ``pydantic`` (a model class): an instance of it;
    * ``grammar`` (a :class:`Grammar` or Lark/GBNF text), ``regex``, ``choices``: the string.

    ``prompt`` is text, or chat messages (``[{"role": "user", "content": ...}]``) rendered with the
    tokenizer's chat template. ``temperature=0`` is greedy decoding; otherwise sampling with
    ``temperature`` and ``top_p``, reproducible with ``seed``.

    The output is complete and valid within ``max_new_tokens`` whenever the grammar has an output
    that short: where the model's token would leave too little of the budget to finish, the
    token that starts a shortest completion is taken instead (``steered_tokens`` counts them).
    :class:`IncompleteOutputError` (with the partial text and the minimum) is raised only when
    ``max_new_tokens`` is below the shortest complete output.

    ``token_healing`` (for text prompts): the prompt's last token is taken back and the first
    generated tokens must spell its bytes again before the constrained output, so a prompt that
    ends inside what would be one token (``"The capital is Par"``, a trailing space) lets the
    model pick the token it would naturally use (``"Paris"``, ``" {"``).

    ``reasoning=True`` (or a ``(begin, end)`` pair of delimiters; by default the vocabulary's
    own, such as ``<think>``/``</think>``, see :mod:`grammarlib.integrations.reasoning`): the
    model first writes free text between them, then the constrained answer (a prompt that ends
    with the opening delimiter, as reasoning chat templates write it, starts inside the
    thoughts); ``reasoning_budget`` bounds that section in tokens, after which the way
    out (the end delimiter) is forced. The value comes from the answer;
    ``GenerationResult.reasoning`` holds the thoughts. (Object keys are not checked for repeats
    in this mode.)
    """
    if all(c is None for c in (schema, pydantic, grammar, regex, choices)):
        raise TypeError(
            "generate needs a constraint: schema=, pydantic=, grammar=, regex= or choices="
        )
    result = generate_result(
        model,
        tokenizer,
        prompt,
        schema=schema,
        pydantic=pydantic,
        grammar=grammar,
        regex=regex,
        choices=choices,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        jump_forward=jump_forward,
        whitespace=whitespace,
        strict=strict,
        token_healing=token_healing,
        reasoning=reasoning,
        reasoning_budget=reasoning_budget,
    )
    if result.stopped == "length":
        raise IncompleteOutputError(
            f"max_new_tokens={max_new_tokens} ran out before the output was complete (the "
            f"shortest complete output is {result.shortest_output_bytes} bytes, so "
            f"max_new_tokens={result.shortest_output_bytes} always suffices); "
            f"partial output: {result.text[:200]!r}",
            result.text,
        )
    return result.value


def generate_result(
    model: Any,
    tokenizer: Any,
    prompt: str | Sequence[Mapping[str, str]],
    *,
    schema: Any = None,
    pydantic: type | None = None,
    grammar: Grammar | CompiledGrammar | str | None = None,
    regex: str | None = None,
    choices: Iterable[str] | None = None,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    jump_forward: bool = True,
    whitespace: str | int = "dumps",
    strict: bool = True,
    ignore_stop: bool = False,
    token_healing: bool = True,
    reasoning: bool | tuple[str, str] = False,
    reasoning_budget: int | None = None,
) -> GenerationResult:
    """:func:`generate` with the same arguments, returning a :class:`GenerationResult`: the text,
    the value ``generate`` would return (``value``), counts and timings.

    An output cut off by ``max_new_tokens`` is not an error here: it has ``stopped="length"``
    and ``value=None``. ``grammar`` may also be a :class:`CompiledGrammar` (compiled for this
    tokenizer). With no constraint at all the model decodes freely (for comparisons);
    ``ignore_stop=True`` then keeps going to ``max_new_tokens``, stop tokens included. A complete
    output that fails the schema's validator raises :class:`InvalidOutputError`.
    """
    import torch

    g: Grammar | CompiledGrammar | None
    if isinstance(grammar, CompiledGrammar):
        others = [n for n, v in (("schema", schema), ("pydantic", pydantic), ("regex", regex),
                                 ("choices", choices)) if v is not None]  # fmt: skip
        if others:
            raise TypeError(f"give one constraint, not grammar and {' and '.join(others)}")
        g = grammar
    else:  # the constraint is checked (and a bad schema refused) before the model is touched
        g = build_grammar(
            schema=schema,
            pydantic=pydantic,
            grammar=grammar,
            regex=regex,
            choices=choices,
            whitespace=whitespace,
            strict=strict,
        )
    info = tokenizer_info_for(tokenizer, _output_size(model))
    prompt_ids = _prompt_ids(tokenizer, prompt)
    delimiters: tuple[str, str] | None = None
    if reasoning:
        if g is None:
            raise TypeError("reasoning needs a constraint for the answer")
        delimiters = resolve_delimiters(reasoning, info)
        answer = g.grammar if isinstance(g, CompiledGrammar) else g
        opened = prompt_opens_reasoning(info, prompt_ids, delimiters[0])
        g = reasoning_grammar(answer, info, delimiters, opened=opened)
        info = g.tokenizer_info  # type: ignore[assignment]  # special delimiters made ordinary
    compiled: CompiledGrammar | None
    if isinstance(g, CompiledGrammar):
        if g.tokenizer_info is None or g.tokenizer_info.fingerprint != info.fingerprint:
            raise ValueError("the compiled grammar was compiled for another tokenizer")
        compiled = g
    else:
        compiled = None if g is None else compile(g, info)
    matcher = compiled.matcher() if compiled is not None else None
    device = _device(model)
    generator = torch.Generator(device="cpu")
    if seed is not None:
        generator.manual_seed(seed)

    started = time.perf_counter()
    result = GenerationResult(text="", value=None, token_ids=[])
    if matcher is not None:
        result.shortest_output_bytes = matcher.min_completion_bytes()
    out = bytearray()
    healed = b""  # the prompt's last token, taken back: the output must spell it again first
    if token_healing and matcher is not None and isinstance(prompt, str) and len(prompt_ids) > 1:
        last = prompt_ids[-1]
        if last not in info.special_ids and 0 <= last < len(info.token_bytes):
            healed = info.token_bytes[last]
            prompt_ids = prompt_ids[:-1]
    remaining = healed
    healing_tokens = 0  # generated tokens that only spell taken-back prompt bytes
    next_input = list(prompt_ids)
    if matcher is not None and jump_forward and not remaining:
        forced = _forced_tokens(matcher, tokenizer, info, max_new_tokens)
        next_input += forced
        result.token_ids += forced
        result.forced_tokens += len(forced)
    bitmask = allocate_token_bitmask(1, info.vocab_size)
    past = None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grammarlib-mask")
    try:
        with torch.inference_mode(), _one_core_for_masks(torch, device):
            while True:
                if matcher is not None and _finished(matcher):
                    break  # only a stop token is allowed: no need to ask the model
                if len(result.token_ids) - healing_tokens >= max_new_tokens:
                    # the budget is spent: a complete output ends here (the stop token is free)
                    complete = matcher is not None and matcher.can_terminate()
                    result.stopped = "stop" if complete else "length"
                    break
                if remaining:  # healing: tokens that spell the taken-back bytes, then the output
                    left = max_new_tokens - (len(result.token_ids) - healing_tokens) + 1
                    bitmask[0] = _healing_row(matcher, info, remaining, left)
                    pending = None
                else:
                    pending = (
                        pool.submit(matcher.fill_next_token_bitmask, bitmask) if matcher else None
                    )
                ids = torch.tensor([next_input], dtype=torch.long, device=device)
                output = model(**_forward_kwargs(model, ids, past))
                result.model_calls += 1
                past = output.get(_cache_name(type(model)))
                logits = output.logits[0, -1].float()
                if pending is not None:
                    waited = time.perf_counter()
                    pending.result()
                    result.mask_seconds += time.perf_counter() - waited
                if matcher is not None:
                    apply_token_bitmask(logits, bitmask[0])
                token = _sample(logits, temperature, top_p, generator)
                if remaining:
                    data = info.token_bytes[token]
                    if remaining.startswith(data):
                        remaining = remaining[len(data) :]
                        healing_tokens += 1  # prompt bytes again: not counted in the budget
                    else:  # past the taken-back bytes: the rest is output
                        rest, remaining = data[len(remaining) :], b""
                        if not matcher.accept_bytes(rest):  # type: ignore[union-attr]
                            raise RuntimeError(f"healing token {token} was allowed but refused")
                    result.sampled_tokens += 1
                    result.token_ids.append(token)
                    next_input = [token]
                    if not remaining and jump_forward:
                        budget = max_new_tokens - (len(result.token_ids) - healing_tokens)
                        forced = _forced_tokens(matcher, tokenizer, info, budget)  # type: ignore[arg-type]
                        next_input += forced
                        result.token_ids += forced
                        result.forced_tokens += len(forced)
                    continue
                if (
                    delimiters is not None
                    and reasoning_budget is not None
                    and len(result.token_ids) >= reasoning_budget
                ):  # past the budget: still thinking? (only then is the output read back)
                    spent = b"".join(info.token_bytes[t] for t in result.token_ids)
                    if delimiters[1].encode() not in spent:
                        steer = matcher.completion_token()  # type: ignore[union-attr]
                        if steer is not None:  # toward the end delimiter: the shortest way out
                            token = steer
                            result.steered_tokens += 1
                if matcher is not None and not ignore_stop:
                    # the stop token is free: one more token than the output's budget
                    left = max_new_tokens - (len(result.token_ids) - healing_tokens) + 1
                    if not matcher.fits_budget(token, left):
                        steer = matcher.completion_token()
                        if steer is not None:
                            token = steer
                            result.steered_tokens += 1
                if matcher is not None and not matcher.accept_token(token):
                    raise RuntimeError(f"token {token} was allowed by the mask but refused")
                if token in info.stop_token_ids and not ignore_stop:
                    result.stop_token = token  # not an output token: not counted as one
                    break
                result.sampled_tokens += 1
                result.token_ids.append(token)
                next_input = [token]
                if matcher is not None and jump_forward:
                    budget = max_new_tokens - (len(result.token_ids) - healing_tokens)
                    forced = _forced_tokens(matcher, tokenizer, info, budget)
                    next_input += forced
                    result.token_ids += forced
                    result.forced_tokens += len(forced)
    finally:
        pool.shutdown(wait=True)
    for t in result.token_ids:
        out += info.token_bytes[t]
    result.healed_bytes = len(healed)
    result.text = bytes(out[len(healed) :]).decode("utf-8", errors="replace")
    if delimiters is not None:
        thoughts, found, answer_text = result.text.partition(delimiters[1])
        if found:
            result.reasoning = thoughts.removeprefix(delimiters[0])
            result.text = answer_text.lstrip(" \n")
    complete = matcher is None or matcher.is_terminated() or matcher.can_terminate()
    if result.stopped != "length" and not complete:
        result.stopped = "length"  # defensive: never report an incomplete output as finished
    result.seconds = time.perf_counter() - started
    if result.stopped == "stop":
        if schema is not None:
            result.value = _validated_json(result.text, schema)
        elif pydantic is not None:
            result.value = pydantic.model_validate_json(result.text)  # type: ignore[attr-defined]
        else:
            result.value = result.text
    return result


# -- helpers -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _one_core_for_masks(torch: Any, device: Any) -> Iterator[None]:
    """On the CPU, leave one core to the mask worker while the model runs.

    torch's intra-op threads wait for each other at every matrix product; when one of them
    shares its core with the mask worker (or anything else), a product of a few rows stalls for
    a scheduler time slice (measured on 2 cores: 16 ms instead of 0.3 ms per linear layer).
    A lower thread count set by the user is kept. (Unconstrained runs, which exist for
    comparisons, use the same count.)"""
    threads = torch.get_num_threads()
    wanted = max(1, (os.cpu_count() or 1) - 1)
    if getattr(device, "type", "cpu") != "cpu" or threads <= wanted:
        yield
        return
    torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


_infos: weakref.WeakKeyDictionary[Any, dict[int, TokenizerInfo]] = weakref.WeakKeyDictionary()
_infos_lock = threading.Lock()


def tokenizer_info_for(tokenizer: Any, vocab_size: int | None = None) -> TokenizerInfo:
    """``TokenizerInfo.from_huggingface(tokenizer, vocab_size)``, cached per tokenizer object."""
    with _infos_lock:
        try:
            per_size = _infos.setdefault(tokenizer, {})
        except TypeError:  # not weak-referenceable: no caching
            per_size = {}
        key = -1 if vocab_size is None else vocab_size
        if key not in per_size:
            base = TokenizerInfo.from_huggingface(tokenizer)
            size = max(vocab_size or 0, base.vocab_size)
            per_size[key] = TokenizerInfo(
                base.token_bytes, size, base.special_ids, base.stop_token_ids, base.name
            )
        return per_size[key]


def _forward_kwargs(model: Any, ids: Any, past: Any) -> dict[str, Any]:
    """Arguments of one forward pass; only the last position's logits are needed (after a
    jump-forward or the prompt, the others would cost a vocabulary-sized product each)."""
    kwargs = {"input_ids": ids, _cache_name(type(model)): past, "use_cache": True}
    if ids.shape[1] > 1 and _keeps_logits(type(model)):
        kwargs["logits_to_keep"] = 1
    return kwargs


@functools.cache
def _cache_name(cls: type) -> str:
    """The name of the KV cache, as an argument of ``forward`` and a key of its output:
    ``cache`` since transformers 5.2x (``past_key_values`` still works there, with a
    FutureWarning on every call), ``past_key_values`` before."""
    try:
        parameters = inspect.signature(cls.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in parameters else "past_key_values"


@functools.cache
def _keeps_logits(cls: type) -> bool:
    try:
        return "logits_to_keep" in inspect.signature(cls.forward).parameters
    except (TypeError, ValueError):
        return False


def _output_size(model: Any) -> int | None:
    layer = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(layer, "weight", None)
    if weight is not None:
        return int(weight.shape[0])
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    return int(size) if size else None


def _device(model: Any) -> Any:
    device = getattr(model, "device", None)
    if device is None:
        device = next(model.parameters()).device
    return device


def _prompt_ids(tokenizer: Any, prompt: str | Sequence[Mapping[str, str]]) -> list[int]:
    if isinstance(prompt, str):
        return list(tokenizer(prompt)["input_ids"])
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "chat messages need a tokenizer with a chat template, and this one has none; "
            "pass the prompt as text"
        )
    text = tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _healing_row(
    matcher: GrammarMatcher, info: TokenizerInfo, remaining: bytes, left: int
) -> np.ndarray:
    """The bitmask row during token healing: tokens that spell a prefix of ``remaining`` (the
    taken-back prompt bytes still to write), and tokens that spell all of it and go on with bytes
    the grammar accepts from ``matcher``'s state, leaving the output completable within ``left``
    tokens (the stop token included). Never a stop or special token."""
    tables = json_keys.vocabulary_tables(info.fingerprint, info.token_bytes)
    allowed = np.zeros(info.vocab_size, dtype=bool)
    for end in range(1, len(remaining) + 1):
        for t in tables.ids_with_bytes(remaining[:end]):
            allowed[t] = True
    first = matcher.next_bytes()
    words = tables.sorted_bytes
    i = bisect.bisect_right(words, remaining)
    while i < len(words) and words[i].startswith(remaining):
        data = words[i]
        after = matcher.copy()
        if (
            data[len(remaining)] in first
            and after.accept_bytes(data[len(remaining) :])
            and after.min_completion_bytes() + 1 <= left - 1
        ):
            for t in tables.ids_with_bytes(data):
                allowed[t] = True
        i += 1
    for t in (*info.special_ids, *info.stop_token_ids):
        if 0 <= t < len(allowed):
            allowed[t] = False
    return bool_to_bits(allowed)


def _finished(matcher: GrammarMatcher) -> bool:
    """The output is complete and nothing can follow it: only a stop token is allowed."""
    return matcher.is_terminated() or (matcher.can_terminate() and not matcher.next_bytes())


def _forced_tokens(
    matcher: GrammarMatcher, tokenizer: Any, info: TokenizerInfo, budget: int
) -> list[int]:
    """Tokens for the bytes the grammar forces next, accepted into ``matcher`` (jump-forward).

    The tokenizer's own encoding is used when its tokens spell exactly those bytes (so the model
    sees text as it was trained on); otherwise the longest vocabulary tokens that do."""
    forced = matcher.forced_bytes()
    if not forced or budget <= 0:
        return []
    tokens = None
    try:
        text = forced.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        encoded = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        if b"".join(info.token_bytes[t] for t in encoded) == forced and not any(
            t in info.special_ids for t in encoded
        ):
            tokens = encoded
    if tokens is None:
        tokens = _longest_match(info, forced)
    tokens = tokens[:budget]
    for i, t in enumerate(tokens):
        if not matcher.accept_token(t):  # cannot happen for forced bytes; stay safe
            return tokens[:i]
    return tokens


_longest: dict[str, tuple[dict[bytes, int], int]] = {}  # by tokenizer fingerprint


def _longest_match(info: TokenizerInfo, data: bytes) -> list[int]:
    """Greedy longest-match tokens spelling ``data`` (every byte has a token in the vocabularies
    we support: byte-level BPE and SentencePiece byte fallback)."""
    entry = _longest.get(info.fingerprint)
    if entry is None:
        table: dict[bytes, int] = {}
        for i, t in enumerate(info.token_bytes):
            if t and i not in info.special_ids:
                table.setdefault(t, i)
        entry = (table, max(map(len, table)))
        _longest[info.fingerprint] = entry
    table, longest = entry
    out, i = [], 0
    while i < len(data):
        for n in range(min(longest, len(data) - i), 0, -1):
            t = table.get(data[i : i + n])
            if t is not None:
                out.append(t)
                i += n
                break
        else:
            break  # a byte with no token: stop jumping here; the model takes over
    return out


def _sample(logits: Any, temperature: float, top_p: float, generator: Any) -> int:
    import torch

    if temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=-1).cpu()
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def _validated_json(text: str, schema: Any) -> Any:
    """The value of ``text``, after checking it against ``schema`` by exact decimal values (as
    the grammar does; see :func:`grammarlib.jsonschema.exact_validator`)."""
    import decimal

    import jsonschema

    from grammarlib.jsonschema import exact_number, exact_validator

    with decimal.localcontext() as context:
        context.prec = 4000  # exact remainders for multipleOf on long numbers
        error = jsonschema.exceptions.best_match(
            exact_validator(schema).iter_errors(json.loads(text, parse_float=exact_number))
        )
    if error is not None:
        raise InvalidOutputError(f"output does not validate: {error.message}", text)
    return json.loads(text)
