"""The vLLM backend's grammar objects, driven the way vLLM's StructuredOutputManager drives them
(accept, draft validation, bitmask rows for drafts, rollback, termination, stop tokens), on a
small vocabulary and without vLLM. The real engine is exercised by test_vllm_real.py."""

from __future__ import annotations

import importlib.util
import json
import random
from types import SimpleNamespace

import numpy as np
import pytest

import grammarlib as gl
from grammarlib.integrations import vllm as glv

EOS, EOT = 0, 1
PIECES = [
    '{"',
    '":',
    '": ',
    '", "',
    '","',
    "name",
    "age",
    "city",
    "true",
    "12",
    "abc",
    "pos",
    "itive",
    "neg",
    "ative",
    "neutral",
    "19",
    "20",
    "-0",
]
TOKENS = [b"<eos>", b"<eot>"] + [bytes([c]) for c in range(32, 127)] + [b"\n"]
TOKENS += [p.encode() for p in PIECES]
NEWLINE = TOKENS.index(b"\n")
VOCAB_SIZE = 200  # the model's output layer is wider than the tokenizer: padding
TOK = gl.TokenizerInfo.from_vocab(
    TOKENS, stop_token_ids=[EOS], special_ids=[EOT], vocab_size=VOCAB_SIZE
)
IDS = {t: i for i, t in enumerate(TOKENS)}

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
GBNF = 'root ::= answer ", " word\nanswer ::= "yes" | "no"\nword ::= [a-z]{1,5}\n'
LARK = 'start: "The capital is " CITY "."\nCITY: /[A-Z][a-z]{1,9}/\n'


def encode(text: str) -> list[int]:
    """Greedy longest-match tokenization over the small vocabulary."""
    data, out, i = text.encode(), [], 0
    while i < len(data):
        for j in range(len(data), i, -1):
            t = IDS.get(data[i:j])
            if t is not None and t not in (EOS, EOT):
                out.append(t)
                i = j
                break
        else:
            raise AssertionError(f"cannot encode {data[i:]!r}")
    return out


def backend(**so: object) -> glv.GrammarlibBackend:
    config = SimpleNamespace(structured_outputs_config=SimpleNamespace(**so)) if so else None
    return glv.GrammarlibBackend(config, tokenizer=TOK, vocab_size=VOCAB_SIZE)


def allowed(grammar: glv.GrammarlibGrammar, bitmask=None, row: int = 0) -> set[int]:
    """The ids set in the grammar's bitmask row."""
    if bitmask is None:
        bitmask = np.zeros((1, (VOCAB_SIZE + 31) // 32), dtype=np.int32)
    grammar.fill_bitmask(bitmask, row)
    return row_ids(bitmask, row)


def row_ids(bitmask, row: int) -> set[int]:
    words = np.asarray(bitmask[row]).view(np.uint32)
    return set(np.flatnonzero(np.unpackbits(words.view(np.uint8), bitorder="little")).tolist())


def brute_force(grammar: glv.GrammarlibGrammar) -> set[int]:
    """Every id the grammar object accepts next, by trying each one (no state change)."""
    return {t for t in range(VOCAB_SIZE) if grammar.validate_tokens([t]) == [t]}


# -- requests -> grammars -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "syntax"),
    [
        ('root ::= "a"', "gbnf"),
        ('# a comment: with a colon\nroot ::= x\nx ::= "b"', "gbnf"),
        ('<root> ::= "a"', "gbnf"),
        ('start: "a"', "lark"),
        ('?start: x\nx: "::="', "lark"),
        ('start: "a" // not gbnf ::= here\n', "lark"),
        ('rule.2: "a"\nstart: rule', "lark"),
        ('root ::= ":" | "a:b"', "gbnf"),
        (LARK, "lark"),
        (GBNF, "gbnf"),
    ],
)
def test_grammar_syntax(text: str, syntax: str) -> None:
    assert glv.grammar_syntax(text) == syntax


def test_grammar_request_kinds() -> None:
    def language(kind, spec, good, bad, **kw):
        m = gl.compile(glv.grammar_for_request(kind, spec, **kw)).matcher()
        for s in good:
            assert m.accept_string(s) and m.can_terminate(), (kind, s)
            m.reset()
        for s in bad:
            assert not (m.accept_string(s) and m.can_terminate()), (kind, s)
            m.reset()

    person = '{"name": "ab", "age": 3}'
    language("JSON", json.dumps(PERSON), [person, person.replace(": ", ":")], ['{"name": "ab"}'])
    language("json", PERSON, [person], ['{"age": 3, "name": "ab"}'])
    language("JSON", PERSON, ['{"name":"ab","age":3}'], [person], disable_any_whitespace=True)
    language("JSON_OBJECT", "", ["{}", '{"a": [1]}'], ["[]", "1"])
    language("REGEX", r"\d{2}-[ab]", ["12-a"], ["1-a", "12-c"])
    language("CHOICE", json.dumps(["pos", "neg"]), ["pos", "neg"], ["neutral", "posneg"])
    language("GRAMMAR", GBNF, ["yes, abc", "no, z"], ["maybe, a", "yes, abcdef"])
    language("GRAMMAR", LARK, ["The capital is Paris."], ["The capital is paris."])
    # an enum member works as well as its name
    language(SimpleNamespace(name="REGEX"), "a|b", ["a", "b"], ["c"])


def test_refused_requests_are_value_errors_with_our_message() -> None:
    with pytest.raises(ValueError, match=r"unsatisfiable.*#"):
        gl.compile(glv.grammar_for_request("JSON", {"type": "integer", "minimum": 5, "maximum": 3}))
    with pytest.raises(ValueError, match="not valid JSON"):
        glv.grammar_for_request("JSON", "{not json")
    with pytest.raises(ValueError, match="list of strings"):
        glv.grammar_for_request("CHOICE", json.dumps({"a": 1}))
    with pytest.raises(ValueError, match="LARK grammar"):
        glv.grammar_for_request("GRAMMAR", "start: undefined_rule")
    with pytest.raises(ValueError, match="unknown structured-output request type"):
        glv.grammar_for_request("PICTURE", "x")
    with pytest.raises(gl.GrammarError):
        glv.grammar_for_request("REGEX", "(unclosed")


def test_structural_tag() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    tag = {
        "type": "structural_tag",
        "format": {
            "type": "triggered_tags",
            "triggers": ["<tool>"],
            "tags": [
                {
                    "begin": "<tool>",
                    "content": {"type": "json_schema", "json_schema": schema},
                    "end": "</tool>",
                }
            ],
        },
    }
    if not hasattr(gl.Grammar, "from_structural_tag"):
        with pytest.raises(ValueError, match="structural_tag"):
            glv.grammar_for_request("STRUCTURAL_TAG", json.dumps(tag))
        return
    m = gl.compile(glv.grammar_for_request("STRUCTURAL_TAG", json.dumps(tag))).matcher()
    assert m.accept_string('hi <tool>{"a": 1}</tool> bye') and m.can_terminate()
    m.reset()
    assert not m.accept_string('hi <tool>{"b"')
    compact = glv.grammar_for_request(
        "STRUCTURAL_TAG", json.dumps(tag), disable_any_whitespace=True
    )
    m = gl.compile(compact).matcher()
    assert not m.accept_string('<tool>{"a": 1}')
    assert m.accept_string('<tool>{"a":1}</tool>')


# -- the grammar objects, driven as vLLM drives them ------------------------------------------


def test_choice_to_termination_then_tokens_are_ignored() -> None:
    g = backend().compile_grammar("CHOICE", json.dumps(["positive", "negative", "neutral"]))
    assert not g.is_terminated()
    assert allowed(g) == brute_force(g)
    assert EOS not in allowed(g)
    assert g.accept_tokens("r", encode("positive"))
    assert allowed(g) == {EOS}  # the output is complete: only the stop token
    assert g.accept_tokens("r", [EOS])
    assert g.is_terminated()
    assert g.validate_tokens([EOS, IDS[b"a"]]) == []
    assert g.accept_tokens("r", [IDS[b"a"]])  # after the end: ignored, as vLLM expects
    g.reset()
    assert not g.is_terminated() and g.accept_tokens("r", encode("neg"))


def test_refused_token_returns_false_and_keeps_state() -> None:
    g = backend().compile_grammar("REGEX", r"\d\d")
    assert g.accept_tokens("r", [IDS[b"1"]])
    before = allowed(g)
    assert not g.accept_tokens("r", [IDS[b"x"]])
    assert allowed(g) == before
    assert g.accept_tokens("r", [IDS[b"2"], EOS]) and g.is_terminated()


@pytest.mark.parametrize("seed", range(4))
def test_masks_equal_brute_force_on_random_walks(seed: int) -> None:
    rng = random.Random(seed)
    b = backend()
    for kind, spec in [("JSON", json.dumps(PERSON)), ("GRAMMAR", GBNF), ("GRAMMAR", LARK)]:
        g = b.compile_grammar(kind, spec)
        for _ in range(40):
            mask = allowed(g)
            assert mask == brute_force(g), (kind, spec)
            assert all(t < len(TOKENS) for t in mask)  # padding ids never allowed
            assert EOT not in mask  # special tokens never allowed
            if not mask:
                break
            t = rng.choice(sorted(mask))
            assert g.accept_tokens("r", [t])
            if g.is_terminated():
                break


def test_validate_tokens_is_the_longest_valid_prefix_and_changes_nothing() -> None:
    g = backend().compile_grammar("JSON", PERSON)
    good = encode('{"name": "abc", "age": 12}')
    assert g.accept_tokens("r", good[:2])
    before = allowed(g)
    draft = [*good[2:6], IDS[b"]"], *good[6:]]
    assert g.validate_tokens(draft) == good[2:6]
    assert allowed(g) == before  # state unchanged
    assert g.validate_tokens([*good[2:], EOS, IDS[b"a"]]) == [*good[2:], EOS]
    assert g.validate_tokens([]) == []
    assert not g.is_terminated()


def test_speculative_round_like_the_scheduler() -> None:
    """vLLM's grammar_bitmask: for each draft token fill a row, accept it; fill the bonus
    row; then roll back the accepted drafts. Every row must be the mask of its prefix."""
    b = backend()
    g = b.compile_grammar("JSON", PERSON)
    text = encode('{"name": "abc", "age": 12}')
    reference = b.compile_grammar("JSON", PERSON)
    bitmask = b.allocate_token_bitmask(8)
    prefix = text[:3]
    assert g.accept_tokens("r", prefix) and reference.accept_tokens("r", prefix)
    drafts = g.validate_tokens([*text[3:7], IDS[b"["]])
    assert drafts == text[3:7]
    advanced = 0
    for i, t in enumerate(drafts):
        g.fill_bitmask(bitmask, i)
        assert g.accept_tokens("r", [t])
        advanced += 1
    g.fill_bitmask(bitmask, len(drafts))
    g.rollback(advanced)
    for i in range(len(drafts) + 1):
        assert row_ids(bitmask, i) == allowed(reference), i
        if i < len(drafts):
            assert reference.accept_tokens("r", [drafts[i]])
    # after the rollback the grammar is back where it was: the target model accepted 2 drafts
    assert g.accept_tokens("r", drafts[:2])
    assert allowed(g) == brute_force(g)


def test_rollback_over_termination() -> None:
    g = backend().compile_grammar("CHOICE", json.dumps(["ab"]))
    assert g.accept_tokens("r", [IDS[b"a"], IDS[b"b"], EOS]) and g.is_terminated()
    g.rollback(2)
    assert not g.is_terminated()
    assert allowed(g) == {IDS[b"b"]}
    g.rollback(1)
    with pytest.raises(ValueError):
        g.rollback(1)


def test_request_stop_tokens() -> None:
    """vLLM passes the request's stop ids (its EOS and the user's stop_token_ids): each is
    allowed exactly where the output is complete and ends it; the tokenizer's other stops
    are not allowed at all."""
    b = backend()
    # EOT (special) and a plain-text token (newline) as extra stops
    g = b.compile_grammar("REGEX", r"[a-z\n]+", stop_token_ids={EOS, EOT, NEWLINE})
    assert NEWLINE not in allowed(g)  # a stop token is not content
    assert g.validate_tokens([IDS[b"a"], NEWLINE, IDS[b"b"]]) == [IDS[b"a"], NEWLINE]
    assert g.accept_tokens("r", [IDS[b"a"]])
    assert {EOS, EOT, NEWLINE} <= allowed(g)
    assert allowed(g) == brute_force(g)
    assert g.accept_tokens("r", [EOT]) and g.is_terminated()
    assert g.validate_tokens([EOS]) == []
    g.rollback(1)
    assert not g.is_terminated() and EOT in allowed(g)
    assert g.accept_tokens("r", [NEWLINE]) and g.is_terminated()
    g.rollback(1)
    assert g.accept_tokens("r", [EOS]) and g.is_terminated()

    # the request stops only on EOT: EOS is never allowed
    g = b.compile_grammar("REGEX", "a", stop_token_ids={EOT})
    assert g.accept_tokens("r", [IDS[b"a"]])
    assert allowed(g) == {EOT}
    assert not g.accept_tokens("r", [EOS])
    assert g.validate_tokens([EOS]) == []
    # the same stops as the tokenizer, or none given: the tokenizer's
    for stops in ({EOS}, set(), None):
        g = b.compile_grammar("REGEX", "a", stop_token_ids=stops)
        assert g.accept_tokens("r", [IDS[b"a"]]) and allowed(g) == {EOS}


def test_extra_stop_on_the_sign_bit() -> None:
    """A stop id at bit 31 of its word (the int32 sign bit) is set and cleared correctly."""
    stop = 63
    b = backend()
    g = b.compile_grammar("REGEX", "a+", stop_token_ids={EOS, stop})
    assert stop not in allowed(g)
    assert g.accept_tokens("r", [IDS[b"a"]])
    assert stop in allowed(g) and EOS in allowed(g)


def test_disable_any_whitespace_from_config_or_request() -> None:
    spaced = encode('{"name": "a", "age": 1}')
    g = backend(disable_any_whitespace=True).compile_grammar("JSON", json.dumps(PERSON))
    assert len(g.validate_tokens(spaced)) < len(spaced)
    assert g.accept_tokens("r", [*encode('{"name":"a","age":1}'), EOS])
    token = glv._request_options.set({"disable_any_whitespace": True})
    try:
        g = backend().compile_grammar("JSON", json.dumps(PERSON))
    finally:
        glv._request_options.reset(token)
    assert len(g.validate_tokens(spaced)) < len(spaced)
    g = backend().compile_grammar("JSON", json.dumps(PERSON))
    assert g.validate_tokens(spaced) == spaced


def test_bitmask_allocation_and_torch_rows() -> None:
    b = backend()
    bm = b.allocate_token_bitmask(3)
    assert tuple(bm.shape) == (3, (VOCAB_SIZE + 31) // 32)
    g = b.compile_grammar("CHOICE", json.dumps(["abc"]))
    g.fill_bitmask(bm, 2)
    assert allowed(g) == {IDS[b"a"], IDS[b"abc"]}
    assert int(np.asarray(bm[0]).view(np.uint32)[0]) == 0xFFFFFFFF  # other rows untouched


def test_backend_compiles_are_cached_and_grammars_independent() -> None:
    b = backend()
    g1 = b.compile_grammar("REGEX", "ab")
    g2 = b.compile_grammar("REGEX", "ab")
    assert g1.matcher.compiled is g2.matcher.compiled
    assert g1.accept_tokens("r", [IDS[b"a"]])
    assert allowed(g2) == {IDS[b"a"]}


def test_vocabulary_sizes() -> None:
    # a tokenizer wider than the model keeps its size
    b = glv.GrammarlibBackend(None, tokenizer=TOK, vocab_size=100)
    assert b.tokenizer_info.vocab_size == VOCAB_SIZE
    # a model wider than the tokenizer: the padding ids are never allowed
    b = glv.GrammarlibBackend(None, tokenizer=TOK, vocab_size=300)
    assert b.tokenizer_info.vocab_size == 300
    bm = b.allocate_token_bitmask(1)
    assert tuple(bm.shape) == (1, 10)
    g = b.compile_grammar("REGEX", ".")
    g.fill_bitmask(bm, 0)
    ids = row_ids(bm, 0)
    assert ids and max(ids) < len(TOKENS)


@pytest.mark.skipif(
    importlib.util.find_spec("vllm") is not None, reason="vLLM is installed in this venv"
)
def test_register_without_vllm_reports_instead_of_raising(caplog) -> None:
    problems, _ = glv.check_vllm_compatibility()
    assert problems and "not installed" in problems[0]
    assert glv.register() is False
    assert glv.early_register() is None
    assert "NOT registered" in caplog.text
