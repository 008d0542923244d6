"""`GrammarLogitsProcessor`: grammar-constrained ``model.generate()`` with Hugging Face
transformers (5.x).

    proc = GrammarLogitsProcessor(gl.compile(grammar, gl.TokenizerInfo.from_huggingface(tok)))
    out = model.generate(input_ids, logits_processor=[proc], max_new_tokens=64)

The processor keeps one `GrammarMatcher` per row of the batch, feeds it the token each step
appended, and sets the logits of the tokens the grammar does not allow to ``-inf`` (before
temperature, top-k and the other sampling warpers, which transformers runs after custom
processors). It needs no hook from ``generate``: it follows the rows by their token ids, so the
same processor can be reused across ``generate()`` calls, and it works with assisted decoding
(``assistant_model=``, ``prompt_lookup_num_tokens=``).
"""

from __future__ import annotations

import math
import sys
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList
except ModuleNotFoundError as e:  # the engine installs without them
    raise ModuleNotFoundError(
        f"grammarlib.integrations.transformers needs torch and transformers ({e}); "
        "pip install 'grammarlib[generate]'",
        name=e.name,
    ) from e

from grammarlib.compiler import CompiledGrammar
from grammarlib.compiler import compile as compile_grammar
from grammarlib.grammar import Grammar
from grammarlib.integrations.reasoning import (
    prompt_opens_reasoning,
    reasoning_grammar,
    resolve_delimiters,
)
from grammarlib.ir import GrammarIR, Ref, literal, seq
from grammarlib.masks.bitmask import apply_token_bitmask, bitmask_width, bool_to_bits
from grammarlib.matcher import GrammarMatcher

__all__ = ["GrammarLogitsProcessor", "HealedPrompts", "heal_prompts"]

_LIST_CALL = LogitsProcessorList.__call__.__code__


BUDGET_CHECKED = 32
"""How many of a row's best tokens are checked against the remaining budget per step."""


class GrammarLogitsProcessor(LogitsProcessor):
    """Masks a transformers model's next-token scores to the tokens a grammar allows.

    ``compiled`` is one `CompiledGrammar` for every row, or a sequence of them: one per row, or
    one per prompt when the batch is a whole multiple of its length (``num_return_sequences=n``
    and ``num_beams=n`` make ``len(prompts) * n`` rows, prompt ``i``'s at ``i*n .. i*n+n-1``, so
    grammar ``i`` is repeated ``n`` times). Every grammar must be compiled with the model's
    tokenizer (``gl.compile(g, gl.TokenizerInfo.from_huggingface(tok))``).

    Stop tokens (the tokenizer info's ``stop_token_ids``) are allowed exactly where the output is
    complete; the model's ``generation_config.eos_token_id`` must be one of them for generation
    to stop there (see `check_generation_config`). A row that has accepted a stop token is
    finished: it is allowed only the stop tokens and ``pad_token_id`` (when given), and the
    tokens transformers appends to it afterwards (its pad token) are not fed to the grammar.
    Ids past the tokenizer's vocabulary (a model's padded output layer) are never allowed.

    A new ``generate()`` call is recognised by itself (a new processor list from transformers,
    another batch size, or rows that do not extend the previous step's rows by one token), so
    the processor can be reused; `reset` forces a fresh start. Beam search works: rows are
    matched to the previous step's rows by their token ids, so reordered beams take their
    parent's matcher. Beams that transformers extends with a disallowed token (it does when fewer
    allowed continuations than beams exist; their score is ``-inf``) allow nothing afterwards.
    Outside beam search a disallowed token (another processor after this one re-enabled it)
    raises ``ValueError``.

    Assisted decoding works (``assistant_model=`` with the model's tokenizer,
    ``prompt_lookup_num_tokens=``; batch size 1, as transformers requires): transformers then
    scores prefixes of candidate sequences rather than one new token per step, and each row's
    matcher follows the prefix it is given (rolling back to what it shares with the previous
    call). The assistant model's own ``generate()`` runs under the same masks, so its drafts are
    grammatical; a draft token the grammar refuses is scored ``-inf`` and rejected. Greedy output
    is the same as without assistance. An assistant with another tokenizer
    (``assistant_tokenizer=``) is refused (``ValueError``). One generation at a time: a
    processor is not thread-safe.

    Given the ``max_new_tokens`` of the ``generate()`` call, every output ends complete within it
    (whenever the grammar has an output that short, see
    :meth:`GrammarMatcher.min_completion_bytes`): of each row's :data:`BUDGET_CHECKED` best
    tokens, those after which the rest of the budget could not finish the output are removed, and
    where none is left only the token that starts a shortest completion is allowed. Greedy
    decoding and beam search pick among checked tokens, so the guarantee is complete there; with
    sampling a less likely token may still be drawn.

    ``reasoning=True`` (or a ``(begin, end)`` pair; by default the vocabulary's own, such as
    ``<think>``/``</think>``, see :mod:`grammarlib.integrations.reasoning`) lets every row first
    write free text between the delimiters, then its grammar's output (see
    :func:`grammarlib.structural_tag.with_reasoning`); a row whose prompt ends with the opening
    delimiter starts inside the thoughts. Past ``reasoning_budget`` generated tokens a row still
    reasoning is steered out of it.
    """

    def __init__(
        self,
        compiled: CompiledGrammar | Sequence[CompiledGrammar],
        *,
        pad_token_id: int | None = None,
        max_new_tokens: int | None = None,
        reasoning: bool | tuple[str, str] = False,
        reasoning_budget: int | None = None,
    ) -> None:
        grammars = (compiled,) if isinstance(compiled, CompiledGrammar) else tuple(compiled)
        if not grammars:
            raise ValueError("GrammarLogitsProcessor needs at least one compiled grammar")
        for i, g in enumerate(grammars):
            if not isinstance(g, CompiledGrammar):
                raise TypeError(
                    f"compiled[{i}] must be a CompiledGrammar (gl.compile(...)), "
                    f"got {type(g).__name__}"
                )
            if g.tokenizer_info is None:
                raise ValueError(
                    f"compiled[{i}] has no tokenizer: compile it with the model's tokenizer, "
                    f"gl.compile(grammar, gl.TokenizerInfo.from_huggingface(tokenizer))"
                )
        if pad_token_id is not None and (isinstance(pad_token_id, bool) or pad_token_id < 0):
            raise ValueError(f"pad_token_id must be a token id, got {pad_token_id!r}")
        self.reasoning: tuple[str, str] | None = None
        # with reasoning, grammar i + len(compiled) is grammar i for prompts that end with the
        # opening delimiter (compiled when a row first needs it)
        self._answers = grammars
        if reasoning:
            self.reasoning = resolve_delimiters(reasoning, grammars[0].tokenizer_info)
            grammars = tuple(
                reasoning_grammar(g.grammar, g.tokenizer_info, self.reasoning) for g in grammars
            )
        if reasoning_budget is not None and (self.reasoning is None or reasoning_budget < 0):
            raise ValueError("reasoning_budget needs reasoning=True and a non-negative int")
        self.reasoning_budget = reasoning_budget
        self._grammars: list[CompiledGrammar | None] = list(grammars)
        if self.reasoning is not None:
            self._grammars += [None] * len(grammars)
        self._per_row = not isinstance(compiled, CompiledGrammar)
        self.pad_token_id = pad_token_id
        if max_new_tokens is not None and (isinstance(max_new_tokens, bool) or max_new_tokens < 1):
            raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
        self.max_new_tokens = max_new_tokens
        self.reset()

    # ------------------------------------------------------------------ public

    def reset(self) -> None:
        """Forget the current generation: the next call starts every row at the grammar's start."""
        self._matchers: list[GrammarMatcher | None] = []  # None: a dead beam
        self._row_grammar: list[int] = []
        self._prev_ids: torch.Tensor | None = None
        self._same_grammar: torch.Tensor | None = None
        self._owner: weakref.ref | None = None
        self._beam = False
        self._prompt_len = 0
        self._bitmask: np.ndarray | None = None
        self._finished_rows: dict[int, np.ndarray] = {}
        # "step": one token per call (sampling, beam search); "prefix": assisted decoding, where
        # each call scores some prefix of a candidate sequence (see `_call_assisted`).
        self._mode = "step"
        self._prompt: torch.Tensor | None = None
        self._accepted: list[list[int]] = []  # prefix mode: the tokens each matcher accepted

    def check_generation_config(self, generation_config: Any) -> None:
        """Raise ``ValueError`` unless the model stops on a token the grammars treat as stop.

        transformers ends a row on ``generation_config.eos_token_id``; the masks allow only the
        tokenizer info's stop tokens, and only where the output is complete. With no overlap a
        row could never end before ``max_new_tokens``.
        """
        eos = getattr(generation_config, "eos_token_id", None)
        if isinstance(eos, torch.Tensor):
            eos = eos.tolist()
        eos_ids = set() if eos is None else {eos} if isinstance(eos, int) else set(eos)
        for i, g in enumerate(self._answers):
            stops = g.tokenizer_info.stop_token_ids
            if not eos_ids & stops:
                raise ValueError(
                    f"the model stops on eos_token_id {sorted(eos_ids) or None}, but grammar {i}'s "
                    f"tokenizer info has stop_token_ids {sorted(stops)}: build it with "
                    f"TokenizerInfo.from_huggingface(tok, stop_token_ids=...) or set the "
                    f"generation config's eos_token_id to one of them"
                )

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask ``scores`` (``(batch, vocab)``, any device) in place and return them."""
        if input_ids.dim() != 2 or scores.dim() != 2 or input_ids.shape[0] != scores.shape[0]:
            raise ValueError(
                f"expected input_ids (batch, length) and scores (batch, vocab) with the same "
                f"batch, got {tuple(input_ids.shape)} and {tuple(scores.shape)}"
            )
        assisted = _assisted_decoding()
        if assisted is not None:
            return self._call_assisted(input_ids, scores, *assisted)
        owner = _calling_list()
        parents = None
        prev = self._prev_ids
        if (
            self._mode == "step"
            and prev is not None
            and (owner is None or self._owner is None or self._owner() is owner)
            and input_ids.shape[0] == prev.shape[0]
            and input_ids.shape[1] == prev.shape[1] + 1
        ):
            parents = self._parents(input_ids)
        if parents is None:
            self._start(input_ids, scores.shape[-1], owner)
        else:
            self._advance(parents, input_ids[:, -1].tolist())
        self._prev_ids = input_ids.detach().clone()
        self._fill(scores.shape[-1])
        apply_token_bitmask(scores, self._bitmask)
        generated = input_ids.shape[1] - self._prompt_len
        if self.reasoning_budget is not None and generated >= self.reasoning_budget:
            self._end_reasoning(scores, input_ids)
        if self.max_new_tokens is not None:
            self._keep_within_budget(scores, generated)
        return scores

    def __repr__(self) -> str:
        return f"<GrammarLogitsProcessor grammars={len(self._answers)} rows={len(self._matchers)}>"

    # ------------------------------------------------------------------ internals

    def _start(self, input_ids: torch.Tensor, vocab: int, owner: Any) -> None:
        """A new generation: fresh matchers, one grammar per row."""
        batch = input_ids.shape[0]
        n = len(self._answers)
        if not self._per_row or n == 1:
            row_grammar = [0] * batch
        elif batch % n == 0:
            row_grammar = [r // (batch // n) for r in range(batch)]
        else:
            raise ValueError(
                f"{n} grammars for a batch of {batch} rows: give one per row, or one per prompt "
                f"when every prompt has the same number of rows (num_return_sequences / "
                f"num_beams), i.e. a batch that is a multiple of {n}"
            )
        if self.reasoning is not None:  # rows whose prompt opened the reasoning section
            prompts = input_ids.tolist()
            for row, i in enumerate(row_grammar):
                info = self._answers[i].tokenizer_info
                if prompt_opens_reasoning(info, prompts[row], self.reasoning[0]):
                    row_grammar[row] = i + n
                    if self._grammars[i + n] is None:
                        self._grammars[i + n] = reasoning_grammar(
                            self._answers[i].grammar, info, self.reasoning, opened=True
                        )
        for i in sorted(set(row_grammar)):
            tokens = len(self._grammars[i].tokenizer_info.token_bytes)
            if tokens > vocab:
                raise ValueError(
                    f"the scores have {vocab} columns but grammar {i}'s tokenizer has {tokens} "
                    f"tokens: compile the grammar with the model's tokenizer"
                )
        self._row_grammar = row_grammar
        self._matchers = [self._grammars[i].matcher() for i in row_grammar]
        self._prompt_len = input_ids.shape[1]
        self._owner = weakref.ref(owner) if owner is not None else None
        self._mode = "step"
        self._prompt = None
        self._accepted = []
        loop = next((n for n in _caller_names() if n in ("_sample", "_beam_search")), None)
        self._beam = loop == "_beam_search"
        rg = torch.tensor(row_grammar, device=input_ids.device)
        self._same_grammar = rg[:, None] == rg[None, :]
        width = bitmask_width(vocab)
        if self._bitmask is None or self._bitmask.shape != (batch, width):
            self._bitmask = np.zeros((batch, width), dtype=np.int32)
            self._finished_rows = {}

    def _call_assisted(
        self, input_ids: torch.Tensor, scores: torch.Tensor, owner: Any, generator: Any
    ) -> torch.Tensor:
        """Assisted decoding (``assistant_model=``, ``prompt_lookup_num_tokens=``).

        transformers calls the processor on prefixes of candidate sequences, in any order: the
        assistant model's own ``generate()`` (one token per step, from the accepted sequence),
        prompt lookup's check of its candidates, and the main model's verification (every prefix
        of the candidate, shortest first). Each row's matcher follows the tokens generated after
        the prompt: it rolls back to the longest common prefix with what it accepted before and
        accepts the rest. A candidate token the grammar refuses (a draft that never went through
        the masks) leaves the matcher at the valid prefix and the row gets that prefix's mask:
        transformers rejects that draft token at its own position (its score is ``-inf``), so
        what is scored after it is never used.
        """
        if _different_tokenizers(generator):
            raise ValueError(
                "GrammarLogitsProcessor does not support assisted decoding with an assistant "
                "that has another tokenizer (assistant_tokenizer=): the assistant's token ids "
                "are not the grammar's; use an assistant with the model's tokenizer"
            )
        vocab = scores.shape[-1]
        owner_ref = self._owner() if self._owner is not None else None
        prompt = self._prompt
        if (
            self._mode != "prefix"
            or owner_ref is not owner
            or prompt is None
            or input_ids.shape[0] != prompt.shape[0]
            or input_ids.shape[1] < prompt.shape[1]
            or not torch.equal(input_ids[:, : prompt.shape[1]], prompt)
        ):
            self._start(input_ids, vocab, None)
            self._mode = "prefix"
            self._owner = weakref.ref(owner) if owner is not None else None
            self._prompt = input_ids.detach().clone()
            self._accepted = [[] for _ in self._matchers]
            self._prev_ids = None
        bitmask = self._bitmask
        for row, tokens in enumerate(input_ids[:, self._prompt_len :].tolist()):
            m = self._matchers[row]
            done = self._accepted[row]
            n = len(done)
            if tokens[:n] != done:
                limit, n = min(n, len(tokens)), 0
                while n < limit and done[n] == tokens[n]:
                    n += 1
                m.rollback(len(done) - n)
                del done[n:]
            for token in tokens[n:]:
                if not m.accept_token(token):
                    break
                done.append(token)
            self._fill_row(bitmask, row, m, vocab)
        apply_token_bitmask(scores, bitmask)
        return scores

    def _parents(self, input_ids: torch.Tensor) -> list[int] | None:
        """For each row, a row of the previous step it extends by one token (same grammar);
        None when some row extends none (a new generation)."""
        prev = self._prev_ids
        body = input_ids[:, :-1]
        if torch.equal(body, prev):
            return list(range(input_ids.shape[0]))
        match = (body[:, None, :] == prev[None, :, :]).all(-1) & self._same_grammar
        if not bool(match.any(1).all()):
            return None
        self._beam = True  # rows were reordered: only beam search does that
        return match.to(torch.int8).argmax(1).tolist()

    def _advance(self, parents: list[int], tokens: list[int]) -> None:
        old = self._matchers
        used: set[int] = set()
        matchers: list[GrammarMatcher | None] = []
        for p in parents:  # copy before advancing: two beams may share a parent
            m = old[p]
            if m is not None and p in used:
                m = m.copy()
            used.add(p)
            matchers.append(m)
        pad = self.pad_token_id
        for row, (m, token) in enumerate(zip(matchers, tokens, strict=True)):
            if m is None:
                continue
            if m.is_terminated():
                stops = m.compiled.tokenizer_info.stop_token_ids
                if token == pad or token in stops or (pad is None and not self._beam):
                    continue  # a finished row: transformers pads it
                if self._beam:
                    matchers[row] = None
                    continue
                raise ValueError(
                    f"row {row} is finished (its grammar accepted a stop token) but got token "
                    f"{token}, not a stop token or pad_token_id {pad}"
                )
            if m.accept_token(token):
                continue
            if self._beam:
                matchers[row] = None  # a -inf beam transformers kept anyway
                continue
            info = m.compiled.tokenizer_info
            data = info.token_bytes[token] if 0 <= token < len(info.token_bytes) else None
            raise ValueError(
                f"row {row}: token {token} ({data!r}) is not allowed by its grammar after "
                f"{self._prev_ids.shape[1] - self._prompt_len} generated tokens; the "
                f"processor had masked it, so something after it (another logits processor?) "
                f"changed the scores"
            )
        self._matchers = matchers

    def _end_reasoning(self, scores: torch.Tensor, input_ids: torch.Tensor) -> None:
        """Past ``reasoning_budget``, rows still inside their reasoning section may only take
        the way out (the token that starts a shortest completion: toward the end delimiter)."""
        end = self.reasoning[1].encode()  # type: ignore[index]
        for row, m in enumerate(self._matchers):
            if m is None or m.is_terminated():
                continue
            info = m.compiled.tokenizer_info
            ids = input_ids[row, self._prompt_len :].tolist()
            if end in b"".join(info.token_bytes[t] for t in ids if t < len(info.token_bytes)):
                continue
            steer = m.completion_token()
            if steer is not None:
                keep = scores[row, steer].clone()
                scores[row] = -math.inf
                scores[row, steer] = keep if keep > -math.inf else 0.0

    def _keep_within_budget(self, scores: torch.Tensor, generated: int) -> None:
        """Remove, of each row's best tokens, those that leave too little of ``max_new_tokens``
        (which counts the stop token, as transformers does) to finish the output."""
        left = self.max_new_tokens - generated  # type: ignore[operator]
        k = min(BUDGET_CHECKED, scores.shape[-1])
        top = torch.topk(scores, k, dim=-1)
        # One copy to the host: reading scores element by element would synchronise a GPU
        # once per token checked (measured on an H200: 20 ms a step at batch 32).
        best, best_scores = top.indices.tolist(), top.values.tolist()
        for row, m in enumerate(self._matchers):
            if m is None or m.is_terminated():
                continue
            fits = {
                t
                for t, score in zip(best[row], best_scores[row], strict=True)
                if score > -math.inf and m.fits_budget(t, left)
            }
            if len(fits) == k:
                continue
            scores[row, [t for t in best[row] if t not in fits]] = -math.inf
            if not fits:
                steer = m.completion_token()
                if steer is not None:
                    keep = scores[row, steer].clone()
                    scores[row] = -math.inf
                    scores[row, steer] = keep if keep > -math.inf else 0.0

    def _fill(self, vocab: int) -> None:
        bitmask = self._bitmask
        for row, m in enumerate(self._matchers):
            if m is None:
                bitmask[row] = 0
            else:
                self._fill_row(bitmask, row, m, vocab)

    def _fill_row(self, bitmask: np.ndarray, row: int, m: GrammarMatcher, vocab: int) -> None:
        """Row ``row`` of ``bitmask``: the matcher's mask, or a finished row's stop/pad tokens."""
        if m.is_terminated():
            bitmask[row] = self._finished_row(self._row_grammar[row], vocab)
            return
        m.fill_next_token_bitmask(bitmask, row)
        if not bitmask[row].any():
            raise ValueError(
                f"row {row}: no token can continue the output and its grammar's "
                f"tokenizer info has no stop token to end it"
            )

    def _finished_row(self, grammar: int, vocab: int) -> np.ndarray:
        """The mask of a finished row: its stop tokens and the pad token."""
        row = self._finished_rows.get(grammar)
        if row is None:
            allowed = np.zeros(vocab, dtype=bool)
            ids = set(self._grammars[grammar].tokenizer_info.stop_token_ids)
            if self.pad_token_id is not None:
                ids.add(self.pad_token_id)
            allowed[[i for i in ids if i < vocab]] = True
            row = self._finished_rows[grammar] = bool_to_bits(allowed)
        return row


@dataclass(frozen=True)
class HealedPrompts:
    """What :func:`heal_prompts` returns: the prompts to pass to ``generate()`` (their last
    token taken back), one grammar per row for :class:`GrammarLogitsProcessor`, and per row the
    bytes taken back, which every output then starts with (drop them from the decoded text)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor | None
    grammars: tuple[CompiledGrammar, ...]
    healed: tuple[bytes, ...]


# Bytes a JSON text's key scanner reads as structure: a token with one is not taken back in
# front of a grammar whose objects must not repeat keys (the scanner reads the whole output).
_STRUCTURAL = frozenset(b'"{}[],:\\')


def heal_prompts(
    compiled: CompiledGrammar | Sequence[CompiledGrammar],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
) -> HealedPrompts:
    """Token healing for ``model.generate()``: a prompt that ends in the middle of what would be
    one token (``"The capital is Par"``, a trailing space) makes the model continue from an odd
    token boundary. This takes each row's last prompt token back and puts its bytes in front of
    the row's grammar, so the first generated tokens spell them again, exactly, in whatever
    tokens the model prefers (``"Par"`` + ``"is"`` may become ``"Paris"``).

    ``compiled``: one grammar for every row or one per row, compiled with the model's tokenizer;
    ``input_ids`` (and ``attention_mask``) as for ``generate()``, left-padded. Rows are healed
    together, as one column of the batch is removed: when some row cannot be (its prompt is a
    single token, its last token is a special one, or for a JSON Schema grammar the token
    holds JSON punctuation), nothing is taken back and the prompts come back unchanged.
    """
    rows = input_ids.shape[0]
    grammars = (compiled,) * rows if isinstance(compiled, CompiledGrammar) else tuple(compiled)
    if len(grammars) != rows:
        raise ValueError(f"{len(grammars)} grammars for {rows} rows: give one, or one per row")
    unchanged = HealedPrompts(input_ids, attention_mask, grammars, (b"",) * rows)
    if input_ids.dim() != 2 or input_ids.shape[1] < 2:
        return unchanged
    taken: list[bytes] = []
    for row, (g, token) in enumerate(zip(grammars, input_ids[:, -1].tolist(), strict=True)):
        info = g.tokenizer_info
        if info is None:
            raise ValueError(f"grammar {row} has no tokenizer: compile it with the model's")
        real = attention_mask is None or bool(attention_mask[row, -2])
        data = info.token_bytes[token] if 0 <= token < len(info.token_bytes) else b""
        if not real or token in info.special_ids or not data:
            return unchanged
        if g.grammar.distinct_keys and _STRUCTURAL & set(data):
            return unchanged
        taken.append(data)
    healed = []
    for g, data in zip(grammars, taken, strict=True):
        rules = dict(g.grammar.rules)
        start = f"{g.grammar.start}__healed"
        while start in rules:
            start += "_"
        rules[start] = seq(literal(data), Ref(g.grammar.start))
        value = GrammarIR(
            rules,
            start,
            g.grammar.positions,
            g.grammar.distinct_keys,
            g.grammar.unique_arrays,
            g.grammar.fixed_keys,
        )
        healed.append(compile_grammar(Grammar.from_ir(value), g.tokenizer_info))
    mask = attention_mask[:, :-1] if attention_mask is not None else None
    return HealedPrompts(input_ids[:, :-1], mask, tuple(healed), tuple(taken))


def _calling_list() -> LogitsProcessorList | None:
    """The `LogitsProcessorList` calling us, if any: transformers builds a new one for every
    ``generate()`` call, so a different one means a new generation."""
    try:
        frame = sys._getframe(2)
    except ValueError:
        return None
    if frame.f_code is not _LIST_CALL:
        return None
    owner = frame.f_locals.get("self")
    return owner if isinstance(owner, LogitsProcessorList) else None


_ASSISTED_DEPTH = 48


def _assisted_decoding() -> tuple[Any, Any] | None:
    """When transformers' assisted decoding loop is on the stack (the main model's, even if the
    call comes from the assistant model's nested ``generate()``): its logits processor list, the
    same object for the whole ``generate()`` call, and its candidate generator."""
    try:
        frame = sys._getframe(2)
    except ValueError:
        return None
    for _ in range(_ASSISTED_DEPTH):
        if frame is None:
            return None
        if (
            frame.f_code.co_name == "_assisted_decoding"
            and "transformers" in frame.f_code.co_filename
        ):
            local = frame.f_locals
            return local.get("logits_processor"), local.get("candidate_generator")
        frame = frame.f_back
    return None


def _different_tokenizers(generator: Any) -> bool:
    """Whether ``generator`` drafts with an assistant of another tokenizer (universal assisted
    decoding), whose token ids the grammar cannot follow."""
    try:
        from transformers.generation.candidate_generator import (
            AssistedCandidateGeneratorDifferentTokenizers,
        )
    except ImportError:  # pragma: no cover - other transformers versions
        return type(generator).__name__.endswith("DifferentTokenizers")
    return isinstance(generator, AssistedCandidateGeneratorDifferentTokenizers)


def _caller_names(limit: int = 16) -> list[str]:
    """Names of the functions up to ``limit`` frames above the processor's ``__call__`` (called
    from `_start`): how transformers is driving us (``_sample``, ``_beam_search``, ...)."""
    try:
        frame = sys._getframe(3)
    except ValueError:
        return []
    names = []
    while frame is not None and len(names) < limit:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names
