"""Reasoning sections for the transformers integrations: which delimiters a model thinks between,
whether its prompt already opened the section, and the grammar "thoughts, then the answer".

Reasoning models write free text between two delimiters before their answer. The delimiters
come from the vocabulary: the first pair of :data:`KNOWN_DELIMITERS` whose two strings are single
tokens of it (``<think>``/``</think>`` for DeepSeek-R1 and Qwen3, ``[THINK]``/``[/THINK]`` for
Magistral, ...), else ``<think>``/``</think>`` spelled by ordinary tokens. Where those tokens are
special (control) tokens, which grammars never allow, the reasoning grammar is compiled for a copy
of the tokenizer info in which these two are ordinary tokens with their text as bytes. Chat
templates of reasoning models often end the prompt with the opening delimiter: the grammar then
starts inside the thoughts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from grammarlib.compiler import CompiledGrammar, compile
from grammarlib.grammar import Grammar
from grammarlib.ir import GrammarIR
from grammarlib.masks.tokenizer import TokenizerInfo
from grammarlib.structural_tag import with_reasoning

__all__ = [
    "DEFAULT_DELIMITERS",
    "KNOWN_DELIMITERS",
    "prompt_opens_reasoning",
    "reasoning_delimiters",
    "reasoning_grammar",
    "reasoning_tokenizer",
    "resolve_delimiters",
]

#: Reasoning delimiters of known model families, most common first.
KNOWN_DELIMITERS: tuple[tuple[str, str], ...] = (
    ("<think>", "</think>"),  # DeepSeek-R1, Qwen3, QwQ, SmolLM3, Phi-4-reasoning
    ("[THINK]", "[/THINK]"),  # Magistral
    ("<thinking>", "</thinking>"),
    ("<seed:think>", "</seed:think>"),  # Seed-OSS
    ("<|START_THINKING|>", "<|END_THINKING|>"),  # Command A Reasoning
    ("<|begin_of_thought|>", "<|end_of_thought|>"),
)
DEFAULT_DELIMITERS = KNOWN_DELIMITERS[0]
_BLANKS = b" \t\r\n"


def _single_tokens(info: TokenizerInfo, texts: Sequence[str]) -> dict[str, int]:
    """Of ``texts``, those that one token of ``info`` spells exactly, with the lowest such id."""
    wanted = {t.encode(): t for t in texts}
    found: dict[str, int] = {}
    for i, data in enumerate(info.token_bytes):
        text = wanted.get(data)
        if text is not None and text not in found:
            found[text] = i
    return found


def reasoning_delimiters(info: TokenizerInfo) -> tuple[str, str]:
    """The (begin, end) reasoning delimiters of the vocabulary ``info``: the first known pair
    whose strings are both single tokens (special or not), else ``<think>``/``</think>``."""
    tokens = _single_tokens(info, [text for pair in KNOWN_DELIMITERS for text in pair])
    for begin, end in KNOWN_DELIMITERS:
        if begin in tokens and end in tokens:
            return begin, end
    return DEFAULT_DELIMITERS


def resolve_delimiters(reasoning: bool | tuple[str, str], info: TokenizerInfo) -> tuple[str, str]:
    """``reasoning`` as given (a pair) or, for ``True``, the vocabulary's own pair."""
    if isinstance(reasoning, tuple):
        if len(reasoning) != 2 or not all(isinstance(d, str) and d for d in reasoning):
            raise ValueError(f"reasoning delimiters must be two non-empty strings: {reasoning!r}")
        return reasoning
    return reasoning_delimiters(info)


def prompt_opens_reasoning(info: TokenizerInfo, prompt_ids: Sequence[int], begin: str) -> bool:
    """Whether the prompt ends with ``begin`` (blanks after it aside): the chat template opened
    the reasoning section, so the output starts inside the thoughts."""
    wanted = begin.encode()
    tail = b""
    for token in reversed(prompt_ids):  # enough trailing tokens to hold begin and some blanks
        if 0 <= token < len(info.token_bytes):
            tail = info.token_bytes[token] + tail
        if len(tail.rstrip(_BLANKS)) >= len(wanted):
            break
    return tail.rstrip(_BLANKS).endswith(wanted)


def reasoning_tokenizer(info: TokenizerInfo, delimiters: tuple[str, str]) -> TokenizerInfo:
    """``info``, with the delimiter tokens that are special (but not stop) tokens made ordinary,
    so that the grammar can allow them; ``info`` itself when none is."""
    ids = set(_single_tokens(info, delimiters).values())
    freed = (ids & info.special_ids) - info.stop_token_ids
    if not freed:
        return info
    return dataclasses.replace(info, special_ids=info.special_ids - freed)


def reasoning_grammar(
    answer: Grammar | GrammarIR,
    info: TokenizerInfo,
    delimiters: tuple[str, str],
    *,
    opened: bool = False,
) -> CompiledGrammar:
    """The compiled grammar "reasoning section, then a string of ``answer``" for ``info``
    (see :func:`grammarlib.structural_tag.with_reasoning`); ``opened``: the prompt already wrote
    the opening delimiter. Special delimiter tokens are allowed (:func:`reasoning_tokenizer`)."""
    ir = with_reasoning(answer, *delimiters, opened=opened)
    return compile(Grammar.from_ir(ir), reasoning_tokenizer(info, delimiters))
