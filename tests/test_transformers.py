"""`GrammarLogitsProcessor` with ``model.generate()``: a tiny random-weight Llama over the real
GPT-2 tokenizer (output layer padded past the tokenizer), greedy, sampling and beam search.

A random model says nothing in particular, so whatever it generates under the masks must be in
the grammar's language: complete where it stopped, a viable prefix where ``max_new_tokens``
cut it off. Outputs are checked with independent references (``re.fullmatch``, ``json`` plus
``jsonschema``, lark's Earley parser) where the grammar has one.
"""

from __future__ import annotations

import json
import re

import jsonschema
import lark
import pytest
import torch
import transformers
from support.tiny_model import padded_vocab_size, tiny_model, tiny_tokenizer, tiny_tokenizer_info

import grammarlib as gl
from grammarlib.integrations.transformers import GrammarLogitsProcessor

PROMPTS = ["Phone number:", "Here is a much longer prompt, so the batch needs left padding:"]

PHONE = r"\d{3}-\d{4}"
COLORS = ["red", "green", "blue", "light blue", "ultraviolet"]
SCHEMA = {
    "type": "object",
    "properties": {
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "ok": {"type": "boolean"},
        "tag": {"enum": ["x", "yy", "zzz"]},
    },
    "required": ["age", "ok"],
    "additionalProperties": False,
}
PAIR_LARK = r"""
start: "(" NUM "," _ws? NUM ")"
NUM: /-?[1-9][0-9]?/
_ws: " "
"""
EXPR_LARK = r"""
start: sum
sum: sum "+" product | product
product: product "*" atom | atom
atom: /[0-9]+/ | "(" sum ")"
"""


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def info():
    return tiny_tokenizer_info()


def compiled(grammar: gl.Grammar, info) -> gl.CompiledGrammar:
    return gl.compile(grammar, info)


def encode(tok, prompts=PROMPTS):
    return tok(prompts, return_tensors="pt", padding=True)


def generated(out, enc, info) -> list[tuple[bytes, bool]]:
    """Per row: the bytes generated before the first stop token, and whether one came. Also
    checks that only pad / stop tokens follow it (transformers pads finished rows)."""
    rows = []
    for ids in out[:, enc["input_ids"].shape[1] :].tolist():
        stop = next((i for i, t in enumerate(ids) if t in info.stop_token_ids), None)
        body = ids if stop is None else ids[:stop]
        if stop is not None:
            assert set(ids[stop:]) <= set(info.stop_token_ids) | {tiny_tokenizer().pad_token_id}
        rows.append((b"".join(info.token_bytes[t] for t in body), stop is not None))
    return rows


def assert_in_language(c: gl.CompiledGrammar, data: bytes, finished: bool) -> None:
    m = c.matcher()
    assert m.accept_bytes(data), data
    if finished:
        assert m.can_terminate(), data


def generate(model, enc, proc, **kwargs):
    kwargs.setdefault("max_new_tokens", 24)
    kwargs.setdefault("do_sample", False)
    return model.generate(**enc, logits_processor=[proc], **kwargs)


# ---------------------------------------------------------------------------------- languages


def test_greedy_regex_batch_with_left_padding(model, tok, info):
    c = compiled(gl.Grammar.from_regex(PHONE), info)
    enc = encode(tok)
    assert (enc["attention_mask"][0] == 0).any()  # the short prompt is left-padded
    out = generate(model, enc, GrammarLogitsProcessor(c))
    rows = generated(out, enc, info)
    assert len(rows) == 2
    for data, finished in rows:
        assert finished  # a finite language: the masks force the stop
        assert re.fullmatch(PHONE, data.decode("utf-8")), data


@pytest.mark.parametrize("seed", [0, 1])
def test_sampling_choices_num_return_sequences(model, tok, info, seed):
    c = compiled(gl.Grammar.from_choices(COLORS), info)
    enc = encode(tok)
    torch.manual_seed(seed)
    out = generate(
        model,
        enc,
        GrammarLogitsProcessor(c),
        do_sample=True,
        temperature=1.5,
        top_k=20,
        num_return_sequences=3,
    )
    rows = generated(out, enc, info)
    assert len(rows) == 6
    for data, finished in rows:
        assert finished
        assert data.decode("utf-8") in COLORS


def test_json_schema_sampling(model, tok, info):
    c = compiled(gl.Grammar.from_json_schema(SCHEMA, whitespace="compact"), info)
    enc = encode(tok)
    torch.manual_seed(3)
    out = generate(
        model, enc, GrammarLogitsProcessor(c), do_sample=True, max_new_tokens=40, top_k=50
    )
    for data, finished in generated(out, enc, info):
        assert finished, data
        value = json.loads(data)
        jsonschema.validate(value, SCHEMA)


def test_lark_finite_grammar(model, tok, info):
    c = compiled(gl.Grammar.from_lark(PAIR_LARK), info)
    parser = lark.Lark(PAIR_LARK, parser="earley", lexer="dynamic_complete")
    enc = encode(tok)
    torch.manual_seed(5)
    out = generate(model, enc, GrammarLogitsProcessor(c), do_sample=True, num_return_sequences=2)
    for data, finished in generated(out, enc, info):
        assert finished
        parser.parse(data.decode("utf-8"))


def test_lark_recursive_grammar_cut_off_is_a_viable_prefix(model, tok, info):
    c = compiled(gl.Grammar.from_lark(EXPR_LARK), info)
    enc = encode(tok)
    torch.manual_seed(7)
    out = generate(model, enc, GrammarLogitsProcessor(c), do_sample=True, max_new_tokens=10)
    rows = generated(out, enc, info)
    for data, finished in rows:
        assert_in_language(c, data, finished)
        assert data  # something was generated in every row
    parser = lark.Lark(EXPR_LARK, parser="earley", lexer="dynamic_complete")
    for data, finished in rows:
        if finished:
            parser.parse(data.decode("utf-8"))


def test_per_row_grammars_and_per_prompt_expansion(model, tok, info):
    phone = compiled(gl.Grammar.from_regex(PHONE), info)
    colors = compiled(gl.Grammar.from_choices(COLORS), info)
    enc = encode(tok)
    out = generate(model, enc, GrammarLogitsProcessor([phone, colors]))
    (d0, f0), (d1, f1) = generated(out, enc, info)
    assert f0 and f1
    assert re.fullmatch(PHONE, d0.decode())
    assert d1.decode() in COLORS

    # One grammar per prompt, repeated for each of the prompt's num_return_sequences rows.
    torch.manual_seed(0)
    out = generate(
        model,
        enc,
        GrammarLogitsProcessor([phone, colors]),
        do_sample=True,
        num_return_sequences=3,
    )
    rows = generated(out, enc, info)
    assert len(rows) == 6
    for data, finished in rows[:3]:
        assert finished and re.fullmatch(PHONE, data.decode())
    for data, finished in rows[3:]:
        assert finished and data.decode() in COLORS


def test_grammar_list_must_fit_the_batch(model, tok, info):
    c = compiled(gl.Grammar.from_regex(PHONE), info)
    proc = GrammarLogitsProcessor([c, c, c])
    with pytest.raises(ValueError, match="3 grammars for a batch of 2 rows"):
        generate(model, encode(tok), proc)


# ---------------------------------------------------------------------------------- reuse


def test_processor_reused_across_generate_calls(model, tok, info):
    c = compiled(gl.Grammar.from_lark(EXPR_LARK), info)
    enc = encode(tok)
    one = encode(tok, PROMPTS[:1])
    proc = GrammarLogitsProcessor(c)
    kw = {"max_new_tokens": 8}

    first = generate(model, enc, proc, **kw)
    assert torch.equal(first, generate(model, enc, GrammarLogitsProcessor(c), **kw))
    # Same processor: another batch size, then the same batch again.
    assert torch.equal(
        generate(model, one, proc, **kw), generate(model, one, GrammarLogitsProcessor(c), **kw)
    )
    assert torch.equal(generate(model, enc, proc, **kw), first)

    # Continuing from a cut-off call's output: exactly one token longer than the last step the
    # processor saw, every row extending it; still a new generation, the grammar from its start.
    phone = compiled(gl.Grammar.from_regex(PHONE), info)
    proc = GrammarLogitsProcessor(phone)
    cut = generate(model, enc, proc, max_new_tokens=2)
    for data, finished in generated(cut, enc, info):
        assert not finished and data.endswith(b"-")  # "ddd-" (the prompt of the next call)
    cont = {"input_ids": cut, "attention_mask": torch.ones_like(cut)}
    again = generate(model, cont, proc, max_new_tokens=12)
    fresh = generate(model, cont, GrammarLogitsProcessor(phone), max_new_tokens=12)
    assert torch.equal(again, fresh)
    for data, finished in generated(again, cont, info):
        assert finished and re.fullmatch(PHONE, data.decode())


def test_direct_calls_and_reset(info):
    """Called by hand (no LogitsProcessorList): rows are followed by their token ids."""
    c = compiled(gl.Grammar.from_choices(["123", "456"]), info)
    proc = GrammarLogitsProcessor(c)
    vocab = padded_vocab_size(len(info.token_bytes))
    ids = torch.tensor([[11, 12]])
    one, four = info.token_bytes.index(b"1"), info.token_bytes.index(b"4")
    scores = proc(ids, torch.zeros(1, vocab))
    assert torch.isfinite(scores[0, one]) and torch.isfinite(scores[0, four])
    ids = torch.cat([ids, torch.tensor([[one]])], dim=1)
    scores = proc(ids, torch.zeros(1, vocab))
    assert not torch.isfinite(scores[0, four])  # after "1" only "23" continues
    assert torch.isfinite(scores[0, info.token_bytes.index(b"2")])
    proc.reset()
    scores = proc(ids, torch.zeros(1, vocab))  # starts over: "1" is now part of the prompt
    assert torch.isfinite(scores[0, four])


# ---------------------------------------------------------------------------------- masks


def test_finished_rows_get_only_stop_and_padded_vocab_is_masked(model, tok, info):
    c = compiled(gl.Grammar.from_choices(["red", "light blue and a long tail of words"]), info)
    enc = encode(tok)
    proc = GrammarLogitsProcessor(c, pad_token_id=tok.pad_token_id)
    out = model.generate(
        **enc,
        logits_processor=[proc],
        max_new_tokens=48,
        do_sample=False,
        output_scores=True,
        return_dict_in_generate=True,
    )
    start = enc["input_ids"].shape[1]
    seqs = out.sequences[:, start:]
    n = len(info.token_bytes)
    assert model.config.vocab_size > n
    finish_ok = {tok.pad_token_id} | set(info.stop_token_ids)
    saw_finished = False
    for step, scores in enumerate(out.scores):
        assert scores.shape[-1] == model.config.vocab_size
        assert torch.isneginf(scores[:, n:]).all()  # the padded ids are never allowed
        for row in range(scores.shape[0]):
            token = int(seqs[row, step])
            assert torch.isfinite(scores[row, token])  # the chosen token was allowed
            if any(int(t) in info.stop_token_ids for t in seqs[row, :step]):
                saw_finished = True
                allowed = torch.isfinite(scores[row]).nonzero().flatten().tolist()
                assert set(allowed) <= finish_ok and allowed
    assert saw_finished  # the rows finished at different steps
    for data, finished in generated(out.sequences, enc, info):
        assert finished and data.decode() in ("red", "light blue and a long tail of words")


def test_tokenizer_info_without_model_padding(model, tok):
    """TokenizerInfo built for the tokenizer alone (vocab_size = 50,257): the model's extra
    output ids are still masked."""
    info = gl.TokenizerInfo.from_huggingface(tok)
    assert info.vocab_size < model.config.vocab_size
    c = compiled(gl.Grammar.from_regex(PHONE), info)
    enc = encode(tok)
    out = model.generate(
        **enc,
        logits_processor=[GrammarLogitsProcessor(c)],
        max_new_tokens=12,
        do_sample=False,
        output_scores=True,
        return_dict_in_generate=True,
    )
    assert all(torch.isneginf(s[:, info.vocab_size :]).all() for s in out.scores)
    for data, finished in generated(out.sequences, enc, info):
        assert finished and re.fullmatch(PHONE, data.decode())


def test_scores_narrower_than_tokenizer_is_an_error(info):
    c = compiled(gl.Grammar.from_regex(PHONE), info)
    proc = GrammarLogitsProcessor(c)
    with pytest.raises(ValueError, match="the scores have 1000 columns"):
        proc(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 1000))


class ForceToken(transformers.LogitsProcessor):
    """Allows only ``token`` (after the grammar processor: breaks its masks on purpose)."""

    def __init__(self, token: int):
        self.token = token

    def __call__(self, input_ids, scores):
        scores[:] = float("-inf")
        scores[:, self.token] = 0.0
        return scores


def test_refused_token_raises_naming_row_and_token(model, tok, info):
    c = compiled(gl.Grammar.from_regex(PHONE), info)
    x = info.token_bytes.index(b"x")
    with pytest.raises(ValueError, match=rf"row 0: token {x} \(b'x'\) is not allowed"):
        model.generate(
            **encode(tok),
            logits_processor=[GrammarLogitsProcessor(c), ForceToken(x)],
            max_new_tokens=4,
            do_sample=False,
        )


def test_constructor_and_config_errors(model, tok, info):
    with pytest.raises(ValueError, match="has no tokenizer"):
        GrammarLogitsProcessor(gl.compile(gl.Grammar.from_regex(PHONE)))
    with pytest.raises(TypeError, match="must be a CompiledGrammar"):
        GrammarLogitsProcessor([gl.Grammar.from_regex(PHONE)])
    with pytest.raises(ValueError, match="at least one"):
        GrammarLogitsProcessor([])
    proc = GrammarLogitsProcessor(compiled(gl.Grammar.from_regex(PHONE), info))
    proc.check_generation_config(model.generation_config)  # eos 50256 is the stop token
    wrong = transformers.GenerationConfig(eos_token_id=[13, 198])
    with pytest.raises(ValueError, match=r"eos_token_id \[13, 198\].*stop_token_ids \[50256\]"):
        proc.check_generation_config(wrong)


# ---------------------------------------------------------------------------------- beams


@pytest.mark.parametrize("grammar", ["regex", "forced"])
def test_beam_search(model, tok, info, grammar):
    if grammar == "regex":
        c = compiled(gl.Grammar.from_regex(PHONE), info)
        ok = lambda s: re.fullmatch(PHONE, s)  # noqa: E731
    else:
        text = "an entirely forced answer"
        c = compiled(gl.Grammar.from_choices([text]), info)
        ok = lambda s: s == text  # noqa: E731
    enc = encode(tok)
    out = generate(model, enc, GrammarLogitsProcessor(c), num_beams=4, num_return_sequences=2)
    rows = generated(out, enc, info)
    assert len(rows) == 4
    for data, finished in rows:
        assert finished and ok(data.decode()), data


def test_beam_search_per_prompt_grammars(model, tok, info):
    """Beams are reordered only within their prompt; each keeps its prompt's grammar, also when
    one prompt's beams are all finished while the other's go on."""
    phone = compiled(gl.Grammar.from_regex(PHONE), info)
    seven = compiled(gl.Grammar.from_choices(["7"]), info)
    enc = encode(tok)
    out = generate(model, enc, GrammarLogitsProcessor([seven, phone]), num_beams=3)
    (d0, f0), (d1, f1) = generated(out, enc, info)
    assert f0 and d0 == b"7"
    assert f1 and re.fullmatch(PHONE, d1.decode())


def test_dead_beams_allow_nothing(info):
    """Beam search can keep a beam whose score is already -inf and extend it with a token the
    grammar refuses; that beam then allows nothing, while the others go on. Driven by hand:
    swapped rows show the processor it is beam search."""
    c = compiled(gl.Grammar.from_choices(["123", "456"]), info)
    proc = GrammarLogitsProcessor(c)
    vocab = padded_vocab_size(len(info.token_bytes))
    one, four = info.token_bytes.index(b"1"), info.token_bytes.index(b"4")
    x = info.token_bytes.index(b"x")
    ids = torch.tensor([[11, 12], [11, 12]])
    proc(ids, torch.zeros(2, vocab))
    ids = torch.cat([ids, torch.tensor([[one], [four]])], dim=1)
    proc(ids, torch.zeros(2, vocab))
    # Swap the rows (a reorder) and extend the "4" beam with a refused token.
    ids = torch.cat([ids[[1, 0]], torch.tensor([[x], [info.token_bytes.index(b"2")]])], dim=1)
    scores = proc(ids, torch.zeros(2, vocab))
    assert torch.isneginf(scores[0]).all()  # dead
    allowed = torch.isfinite(scores[1]).nonzero().flatten().tolist()
    assert info.token_bytes.index(b"3") in allowed  # "12" goes on with "3"
    assert all(info.token_bytes[t] == b"3" for t in allowed)


def test_beam_search_rows_are_reordered(model, tok, info):
    """Beams take their parent's matcher when transformers reorders them: every returned beam of
    an open-ended grammar is in the language."""
    c = compiled(gl.Grammar.from_lark(EXPR_LARK), info)
    enc = encode(tok)
    proc = GrammarLogitsProcessor(c)
    out = generate(model, enc, proc, num_beams=4, num_return_sequences=4, max_new_tokens=12)
    assert proc._beam  # detected (by the caller, or by rows moving)
    rows = generated(out, enc, info)
    assert len({d for d, _ in rows}) > 1
    for data, finished in rows:
        assert_in_language(c, data, finished)


@pytest.mark.parametrize("grammar", ["schema", "expr"])
@pytest.mark.parametrize("mode", ["greedy", "beam"])
def test_outputs_end_within_max_new_tokens(model, tok, info, grammar: str, mode: str):
    """Told the budget, the processor makes every row end complete within it: the random model
    alone would run on (EXPR_LARK can grow forever; SCHEMA has unbounded integers)."""
    g = (
        gl.Grammar.from_json_schema(SCHEMA)
        if grammar == "schema"
        else gl.Grammar.from_lark(EXPR_LARK)
    )
    c = compiled(g, info)
    shortest = c.matcher().min_completion_bytes() + 1  # the stop token counts in transformers
    enc = encode(tok)
    for budget in (shortest, shortest + 2, shortest + 9):
        proc = GrammarLogitsProcessor(c, max_new_tokens=budget, pad_token_id=tok.pad_token_id)
        extra = {"num_beams": 2} if mode == "beam" else {}
        out = generate(model, enc, proc, max_new_tokens=budget, **extra)
        for data, finished in generated(out, enc, info):
            assert finished, (budget, data)
            assert_in_language(c, data, finished)
    with pytest.raises(ValueError, match="max_new_tokens"):
        GrammarLogitsProcessor(c, max_new_tokens=0)


def test_reasoning_then_the_grammar(model, tok, info):
    """reasoning=True: each row writes <think> free text </think>, bounded by reasoning_budget
    generated tokens, then a string of its grammar."""
    c = compiled(gl.Grammar.from_json_schema(SCHEMA), info)
    proc = GrammarLogitsProcessor(c, reasoning=True, reasoning_budget=6, max_new_tokens=70)
    enc = encode(tok)
    out = generate(model, enc, proc, max_new_tokens=70, do_sample=True, top_k=0)
    for data, finished in generated(out, enc, info):
        assert finished
        text = data.decode("utf-8")
        thoughts, _, answer = text.partition("</think>")
        assert thoughts.startswith("<think>")
        assert len(tok(thoughts, add_special_tokens=False)["input_ids"]) <= 6 + 3
        jsonschema.validate(json.loads(answer.lstrip(" \n")), SCHEMA)
    with pytest.raises(ValueError, match="reasoning_budget needs reasoning"):
        GrammarLogitsProcessor(c, reasoning_budget=3)


def test_reasoning_opened_by_the_prompt(model, tok, info):
    """A row whose prompt ends with <think> starts inside the thoughts; the other row writes
    <think> first."""
    c = compiled(gl.Grammar.from_regex(PHONE), info)
    proc = GrammarLogitsProcessor(c, reasoning=True, reasoning_budget=4, max_new_tokens=40)
    enc = encode(tok, ["Phone number: <think>\n", "Phone number:"])
    out = generate(model, enc, proc, max_new_tokens=40)
    (opened, ok_opened), (closed, ok_closed) = generated(out, enc, info)
    assert ok_opened and ok_closed
    assert not opened.startswith(b"<think>") and b"</think>" in opened
    assert closed.startswith(b"<think>")
    for data in (opened, closed):
        assert re.fullmatch(PHONE, data.partition(b"</think>")[2].decode().lstrip(" \n"))


# ---------------------------------------------------------------------------------- device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_generate(tok, info):
    import copy

    model = copy.deepcopy(tiny_model()).to("cuda")
    c = compiled(gl.Grammar.from_json_schema(SCHEMA, whitespace="compact"), info)
    enc = {k: v.to("cuda") for k, v in encode(tok).items()}
    torch.manual_seed(0)
    out = generate(model, enc, GrammarLogitsProcessor(c), do_sample=True, max_new_tokens=40)
    assert out.device.type == "cuda"
    for data, finished in generated(out.cpu(), enc, info):
        assert finished
        jsonschema.validate(json.loads(data), SCHEMA)


# ------------------------------------------------------------------------------ token healing


def test_heal_prompts_takes_the_last_token_back_and_respells_it(model, tok, info):
    """Prompts that end mid-word: each row's last token is taken back and its grammar starts
    with those bytes, so the output spells them again (in any tokens: " Par" + "is" may come
    as " Paris") and then a string of the language, which continues the original prompt."""
    from grammarlib.integrations.transformers import heal_prompts

    choices = gl.compile(gl.Grammar.from_choices(["is", "ma", "adise"]), info)
    enc = encode(tok, ["The capital of France is Par", "A city in Italy: Par"])
    prompt_bytes = [tok.convert_ids_to_tokens(int(ids[-1])) for ids in enc["input_ids"]]
    healed = heal_prompts(choices, enc["input_ids"], enc["attention_mask"])
    assert healed.input_ids.shape[1] == enc["input_ids"].shape[1] - 1
    assert healed.attention_mask.shape == healed.input_ids.shape
    assert all(h.endswith(b"Par") for h in healed.healed), (healed.healed, prompt_bytes)
    proc = GrammarLogitsProcessor(healed.grammars)
    out = model.generate(
        input_ids=healed.input_ids,
        attention_mask=healed.attention_mask,
        logits_processor=[proc],
        max_new_tokens=12,
        do_sample=False,
    )
    for row, (text, finished) in enumerate(generated(out, {"input_ids": healed.input_ids}, info)):
        assert text.startswith(healed.healed[row])
        rest = text[len(healed.healed[row]) :]
        assert_in_language(choices, rest, finished)  # the language continues the prompt


def test_heal_prompts_leaves_prompts_it_cannot_heal(tok, info):
    from grammarlib.integrations.transformers import heal_prompts

    schema = gl.compile(gl.Grammar.from_json_schema(SCHEMA), info)
    enc = encode(tok, ['Answer: {"'])  # the last token is JSON punctuation
    healed = heal_prompts(schema, enc["input_ids"], enc["attention_mask"])
    assert healed.input_ids is enc["input_ids"] and healed.healed == (b"",)
    single = encode(tok, ["Hi"])
    assert heal_prompts(schema, single["input_ids"]).healed == (b"",)
    with pytest.raises(ValueError, match="grammars for 1 rows"):
        heal_prompts([schema, schema], enc["input_ids"])


HEALING_CASES = [
    # (prompt, what follows it, the grammar's language): cut inside a word, after a space, and
    # after a character that byte-level vocabularies split into several tokens (inside UTF-8).
    ("The capital of France is Par", "is", ["is", "ma"]),
    ("The capital of France is ", "Paris", ["Paris", "Lyon"]),
    ("The clef 𝄞", " is old", [" is old", " is new"]),
]


@pytest.mark.parametrize("vocab", ["llama-bpe", "llama-spm", "qwen2"])
@pytest.mark.parametrize("case", range(len(HEALING_CASES)))
def test_healed_grammar_accepts_the_tokens_of_the_whole_text(vocab, case):
    """On real BPE and SentencePiece vocabularies: with the prompt's last token taken back, the
    healed grammar accepts the tokens the tokenizer gives the whole text (prompt + answer) past
    the shortened prompt, also where a token crosses the old boundary (" Par" + "is" ->
    " Paris"), and its masks allow exactly those tokens at every step."""
    from transformers import AutoTokenizer

    from grammarlib.integrations.transformers import heal_prompts
    from grammarlib.masks import assets
    from grammarlib.masks.bitmask import bits_to_bool

    prompt, answer, language = HEALING_CASES[case]
    hf = AutoTokenizer.from_pretrained(str(assets.tokenizer_json_dir(vocab)))
    info = gl.TokenizerInfo.from_huggingface(hf)
    compiled = gl.compile(gl.Grammar.from_choices(language), info)
    prompt_ids = hf(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    whole_ids = hf(prompt + answer, add_special_tokens=False)["input_ids"]
    healed = heal_prompts(compiled, prompt_ids)
    kept = healed.input_ids[0].tolist()
    assert len(kept) == prompt_ids.shape[1] - 1
    assert whole_ids[: len(kept)] == kept  # the shortened prompt is a prefix of the whole text
    rest = whole_ids[len(kept) :]
    assert b"".join(info.token_bytes[t] for t in rest) == healed.healed[0] + answer.encode()
    m = healed.grammars[0].matcher()
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    for token in rest:
        m.fill_next_token_bitmask(bitmask)
        assert bits_to_bool(bitmask[0], info.vocab_size)[token], (vocab, case, token)
        assert m.accept_token(token)
    assert m.can_terminate()


def test_import_without_the_generate_extra_says_what_to_install(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    monkeypatch.delitem(sys.modules, "grammarlib.integrations.transformers", raising=False)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'grammarlib\[generate\]'"):
        importlib.import_module("grammarlib.integrations.transformers")
