"""Property tests of the regex corpus (tests/corpus/regexes.txt) against ``re.fullmatch``."""

from __future__ import annotations

import functools
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import (
    EXTRA_CHARS,
    byte_mutations,
    check_mutant,
    check_pieces,
    check_valid,
    corpus_patterns,
    mutations,
    regex_accepts,
    regex_strings,
    scaled,
)

import grammarlib as gl

CORPUS = Path(__file__).parent / "corpus"
PATTERNS = corpus_patterns()

SETTINGS = settings(
    max_examples=scaled(8),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def compiled(pattern: str) -> gl.CompiledGrammar:
    return gl.compile(gl.Grammar.from_regex(pattern))


def test_patterns_compile_in_re() -> None:
    assert len(PATTERNS) >= 20
    for p in PATTERNS:
        re.compile(p)


@pytest.mark.parametrize("pattern", PATTERNS)
@SETTINGS
@given(data=st.data())
def test_valid_strings_accepted(pattern: str, data: st.DataObject) -> None:
    s = data.draw(regex_strings(pattern), label="valid")
    m = compiled(pattern).matcher()
    assert m.accept_string(s) and m.can_terminate()
    check_valid(compiled(pattern).matcher, regex_accepts(pattern), s.encode(), data.draw)


@pytest.mark.parametrize("pattern", PATTERNS)
@SETTINGS
@given(data=st.data())
def test_mutated_strings_agree_with_re(pattern: str, data: st.DataObject) -> None:
    s = data.draw(regex_strings(pattern), label="valid")
    original = s.encode()
    alphabet = EXTRA_CHARS + "".join(c for c in pattern if c.isprintable())
    if data.draw(st.booleans(), label="char-level"):
        mutant = data.draw(mutations(s, alphabet), label="mutant").encode()
    else:
        mutant = data.draw(byte_mutations(original), label="mutant")
    units = sorted({c.encode() for c in alphabet + s})
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    check_mutant(compiled(pattern).matcher, regex_accepts(pattern), original, mutant, units, rng)


@pytest.mark.parametrize("pattern", PATTERNS)
@SETTINGS
@given(data=st.data())
def test_rollback_copy_reset(pattern: str, data: st.DataObject) -> None:
    s = data.draw(regex_strings(pattern), label="valid")
    if data.draw(st.booleans(), label="mutate"):
        s = data.draw(mutations(s, EXTRA_CHARS), label="mutant")
    check_pieces(compiled(pattern).matcher, s.encode(), data.draw)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"\d{3}-\d{4}", "٣٤٥-١٢٣٤"),  # \d is Unicode Nd in re
        (r"[^\W\d_]+", "Straße"),
        (r"(?i)hello|world", "HeLLo"),
        (r"(?i:straße|grüße) [a-z]+", "GRÜßE ok"),
        (r"\w+@\w+\.com", "ü_1@例子.com"),
    ],
)
def test_unicode_examples(pattern: str, text: str) -> None:
    assert re.fullmatch(pattern, text)
    m = compiled(pattern).matcher()
    assert m.accept_string(text) and m.can_terminate()
