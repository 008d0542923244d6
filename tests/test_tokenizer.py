"""TokenizerInfo: exact token bytes for real vocabularies, special and stop tokens, constructors.

The reference is llama.cpp's vocabulary files from the ``llama-cpp-python`` sdist (fetched once
per session by `grammarlib.masks.assets`; a failed download fails these tests): the token ids of
each reference tokenization must concatenate to exactly the bytes of its text.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from pathlib import Path

import gguf
import numpy as np
import pytest
import tiktoken
import tokenizers

from grammarlib.masks import TokenizerInfo, assets
from grammarlib.masks.tokenizer import _read_gguf

# llama.cpp vocabularies with reference tokenizations (bert-bge is WordPiece: not supported)
REFERENCE_VOCABS = [
    "gpt-2",
    "llama-bpe",
    "llama-spm",
    "qwen2",
    "phi-3",
    "deepseek-coder",
    "gemma-4",
    "qwen35",
    "command-r",
    "deepseek-llm",
    "falcon",
    "mpt",
    "refact",
    "starcoder",
]
# vocabularies with a tokenizer.json: built from the GGUF files (or ../shared/tokenizers)
JSON_VOCABS = ["gpt-2", "llama-bpe", "llama-spm", "qwen2", "phi-3", "deepseek-coder"]
# SentencePiece vocabularies with a dummy prefix: their references tokenize " " + text
DUMMY_PREFIX = {"llama-spm", "phi-3"}


@pytest.fixture(scope="session")
def vocab_dir() -> Path:
    return assets.ensure_llama_cpp_vocabs()


@functools.cache
def _from_gguf(name: str) -> TokenizerInfo:
    return TokenizerInfo.from_gguf(assets.vocab_gguf(name))


@functools.cache
def _from_json(name: str) -> TokenizerInfo:
    d = assets.tokenizer_json_dir(name)
    assert d is not None, f"no tokenizer.json for {name}"
    return TokenizerInfo.from_huggingface(tokenizers.Tokenizer.from_file(str(d / "tokenizer.json")))


@pytest.fixture(scope="session")
def from_gguf(vocab_dir):
    return _from_gguf


@pytest.fixture(scope="session")
def from_json(vocab_dir):
    return _from_json


def _expected(name: str, text: str) -> bytes:
    prefix = b" " if name in DUMMY_PREFIX and text else b""
    return prefix + text.encode("utf-8")


# ------------------------------------------------------------------ reference tokenizations


@pytest.mark.parametrize("name", REFERENCE_VOCABS)
def test_reference_token_ids_concatenate_to_the_text(name, from_gguf):
    info = from_gguf(name)
    refs = assets.reference_tokenizations(name)
    assert len(refs) >= 40
    for text, ids in refs:
        assert not set(ids) & info.special_ids, (text, ids)
        got = b"".join(info.token_bytes[i] for i in ids)
        assert got == _expected(name, text), (text, ids)


@pytest.mark.parametrize("name", REFERENCE_VOCABS)
def test_dummy_prefix_convention_matches_the_gguf_metadata(name, vocab_dir):
    meta, _ = _read_gguf(assets.vocab_gguf(name))
    spm_prefix = meta["tokenizer.ggml.model"] == "llama" and meta.get(
        "tokenizer.ggml.add_space_prefix", True
    )
    assert spm_prefix == (name in DUMMY_PREFIX)


def test_reference_files_parse_like_llama_cpp(vocab_dir):
    # gemma-4's .inp lacks the final separator: its last text is still a test
    refs = assets.reference_tokenizations("gemma-4")
    assert len(refs) == 46
    assert refs[-1][0].endswith("We'Ve a'lL")
    texts = [t for t, _ in assets.reference_tokenizations("llama-spm")]
    assert "" in texts and " " in texts and "\n\n" in texts
    assert [ids for t, ids in assets.reference_tokenizations("llama-spm") if t == ""] == [[]]


# ------------------------------------------------------------------ GGUF vs tokenizer.json


@pytest.mark.parametrize("name", JSON_VOCABS)
def test_gguf_and_tokenizer_json_agree(name, from_gguf, from_json):
    g, h = from_gguf(name), from_json(name)
    assert len(g.token_bytes) == len(h.token_bytes) == g.vocab_size == h.vocab_size
    assert g.special_ids == h.special_ids
    assert g.stop_token_ids == h.stop_token_ids
    diff = [
        i
        for i in range(len(g.token_bytes))
        if i not in g.special_ids and g.token_bytes[i] != h.token_bytes[i]
    ]
    assert diff == []
    assert g.fingerprint == h.fingerprint


def _json_encodings_roundtrip(path: Path, name: str, texts: list[str]) -> None:
    tok = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    info = TokenizerInfo.from_huggingface(tok)
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert not set(ids) & info.special_ids, (text, ids)
        assert b"".join(info.token_bytes[i] for i in ids) == _expected(name, text), (text, ids)


@pytest.mark.parametrize("name", JSON_VOCABS)
def test_tokenizer_json_encodings_concatenate_to_the_text(name, vocab_dir):
    texts = [t for t, _ in assets.reference_tokenizations(name)]
    _json_encodings_roundtrip(assets.tokenizer_json_dir(name), name, texts)


def test_gemma3_tokenizer_json(vocab_dir):
    path = assets.tokenizer_json_dir("gemma-3")
    if path is None:
        pytest.skip("gemma-3 tokenizer.json only comes from ../shared/tokenizers (no GGUF source)")
    texts = [t for t, _ in assets.reference_tokenizations("gemma-4")]
    texts += ["\t\tx  y\n\n\nz", "Ünïcödé 😀 日本語", "<table><tr>"]
    _json_encodings_roundtrip(path, "gemma-3", texts)
    info = TokenizerInfo.from_huggingface(
        tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    )
    assert len(info.token_bytes) == info.vocab_size == 262144
    assert info.stop_token_ids == {1, 106}  # <eos>, <end_of_turn>
    assert {0, 2, 3, 4, 105} <= info.special_ids  # <pad> <bos> <unk> <mask> <start_of_turn>
    assert info.token_bytes[106] == b"<end_of_turn>"
    assert info.token_bytes[108] == b"\n\n" and 108 not in info.special_ids
    assert info.token_bytes[212] == b"</s>" and 212 not in info.special_ids  # an HTML tag here
    assert {6, 7, 262143} <= info.special_ids  # <unused0>, <unused1>, <unused6241>


@pytest.mark.parametrize("name", JSON_VOCABS)
def test_built_tokenizer_json_reproduces_the_references(name, vocab_dir, tmp_path):
    out = assets.build_tokenizer_json(assets.vocab_gguf(name), tmp_path / name)
    tok = tokenizers.Tokenizer.from_file(str(out / "tokenizer.json"))
    for text, ids in assets.reference_tokenizations(name):
        assert tok.encode(text, add_special_tokens=False).ids == ids, text
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert config["eos_token"] == tok.id_to_token(_eos(name))


def _eos(name: str) -> int:
    meta, _ = _read_gguf(assets.vocab_gguf(name))
    return meta["tokenizer.ggml.eos_token_id"]


def test_tokenizer_json_dir_builds_into_the_cache(vocab_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(assets, "_shared_tokenizers", lambda: tmp_path / "no-shared")
    root = tmp_path / "cache"
    shutil.copytree(vocab_dir, root / vocab_dir.name)
    assert assets.tokenizer_json_dir("gemma-3", root) is None
    assert assets.tokenizer_json_dir("phi-3", root, build=False) is None
    d = assets.tokenizer_json_dir("phi-3", root)
    assert d == root / "tokenizers" / "phi-3"
    assert assets.tokenizer_json_dir("phi-3", root) == d  # cached
    info = TokenizerInfo.from_huggingface(tokenizers.Tokenizer.from_file(str(d / "tokenizer.json")))
    assert info.fingerprint == _from_gguf("phi-3").fingerprint


def test_from_huggingface_with_a_transformers_tokenizer(vocab_dir):
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(str(assets.tokenizer_json_dir("phi-3")))
    info = TokenizerInfo.from_huggingface(tok, vocab_size=32128)
    assert info.vocab_size == 32128 and len(info.token_bytes) == 32064
    assert info.stop_token_ids == {32000, 32007}  # EOS <|endoftext|>, <|end|>
    assert info.token_bytes[:32064] == _from_gguf("phi-3").token_bytes
    assert info.name.endswith("phi-3")


# ------------------------------------------------------------------ special and stop tokens


def test_gpt2_specials(from_gguf):
    info = from_gguf("gpt-2")
    assert info.special_ids == info.stop_token_ids == {50256}
    assert info.token_bytes[50256] == b"<|endoftext|>"
    assert info.token_bytes[220] == b" "  # "Ġ"
    assert info.token_bytes[198] == b"\n"  # "Ċ"
    assert max(map(len, info.token_bytes)) == 128


def test_llama3_specials(from_gguf):
    info = from_gguf("llama-bpe")
    assert info.stop_token_ids == {128001, 128009}  # <|end_of_text|>, <|eot_id|>
    assert info.special_ids == set(range(128000, 128256))
    assert info.token_bytes[128009] == b"<|eot_id|>"


def test_llama2_specials_and_byte_tokens(from_gguf):
    info = from_gguf("llama-spm")
    assert info.special_ids == {0, 1, 2} and info.stop_token_ids == {2}
    assert info.token_bytes[3] == b"\x00" and info.token_bytes[13] == b"\n"  # <0x00>, <0x0A>
    assert info.token_bytes[258] == b"\xff"
    assert info.token_bytes[29871] == b" "  # "▁"
    assert info.token_bytes[15043] == b" Hello"


def test_qwen2_placeholders_are_special(from_gguf):
    info = from_gguf("qwen2")
    assert info.stop_token_ids == {151643, 151645}  # <|endoftext|>, <|im_end|>
    assert info.special_ids == set(range(151643, 151936))
    assert info.token_bytes[151646] == b"[PAD151646]"


def test_phi3_specials(from_gguf):
    info = from_gguf("phi-3")
    assert info.stop_token_ids == {32000, 32007}  # <|endoftext|>, <|end|>
    assert {0, 1, 32001, 32002, 32010} <= info.special_ids
    assert set(range(32011, 32064)) <= info.special_ids  # [PADn], typed UNKNOWN
    # </s> is user-defined text in Phi-3 (its EOS is <|endoftext|>)
    assert 2 not in info.special_ids and info.token_bytes[2] == b"</s>"


def test_deepseek_coder_user_defined_tokens_are_text(from_gguf):
    info = from_gguf("deepseek-coder")
    assert info.stop_token_ids == {32014}  # <｜end▁of▁sentence｜>
    assert 32013 in info.special_ids  # <｜begin▁of▁sentence｜>
    # the added single characters are their text, not byte-level characters
    assert info.token_bytes[32000] == "õ".encode() and 32000 not in info.special_ids
    assert info.token_bytes[32014] == "<｜end▁of▁sentence｜>".encode()
    assert set(range(32022, 32256)) <= info.special_ids  # [PADn]


def test_gemma4_specials(from_gguf):
    info = from_gguf("gemma-4")
    assert info.stop_token_ids == {1, 106}  # <eos>, <turn|>
    assert {0, 2, 3, 4} <= info.special_ids
    assert 6 in info.special_ids and info.token_bytes[6] == b"<unused0>"  # typed NORMAL
    assert 52 not in info.special_ids and info.token_bytes[52] == b'<|"|>'  # user-defined


def test_explicit_stop_tokens(vocab_dir):
    info = TokenizerInfo.from_gguf(assets.vocab_gguf("llama-bpe"), stop_token_ids=[128009])
    assert info.stop_token_ids == {128009}
    assert 128001 in info.special_ids


# ------------------------------------------------------------------ vocab size


def test_padded_vocab_size(vocab_dir, from_gguf):
    path = assets.vocab_gguf("qwen2")
    info = TokenizerInfo.from_gguf(path, vocab_size=152064)
    assert info.vocab_size == 152064 and len(info.token_bytes) == 151936
    assert info.fingerprint != from_gguf("qwen2").fingerprint
    with pytest.raises(ValueError, match="smaller than the tokenizer's 151936 tokens"):
        TokenizerInfo.from_gguf(path, vocab_size=151935)


def test_gguf_model_file_with_padded_embedding(tmp_path):
    tokens = ["<unk>", "<s>", "</s>", "<0x0A>", "▁a", "b▁", "<|user|>", "<end_of_turn>"]
    types = [2, 3, 3, 6, 1, 1, 4, 3]
    path = tmp_path / "tiny.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_eos_token_id(2)
    w.add_bos_token_id(1)
    w.add_tensor("token_embd.weight", np.zeros((16, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    info = TokenizerInfo.from_gguf(path)
    assert info.vocab_size == 16  # the embedding's rows
    assert info.token_bytes == (
        *(b"<unk>", b"<s>", b"</s>", b"\n", b" a", b"b ", b"<|user|>", b"<end_of_turn>"),
    )
    assert info.special_ids == {0, 1, 2, 7}
    assert info.stop_token_ids == {2, 7}
    assert info.name == "tiny"
    assert TokenizerInfo.from_gguf(path, vocab_size=8).vocab_size == 8


def test_gguf_reader_matches_the_gguf_package(vocab_dir):
    path = assets.vocab_gguf("phi-3")
    meta, rows = _read_gguf(path)
    reader = gguf.GGUFReader(str(path))
    assert rows is None
    assert set(meta) == set(reader.fields) - {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"}
    tokens = reader.fields["tokenizer.ggml.tokens"]
    assert meta["tokenizer.ggml.tokens"] == [bytes(tokens.parts[i]) for i in tokens.data]
    for key in ("tokenizer.ggml.token_type", "tokenizer.ggml.scores"):
        assert np.array_equal(meta[key], reader.fields[key].contents())
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.eos_token_id", "general.name"):
        assert meta[key] == reader.fields[key].contents()


def test_gguf_errors(tmp_path, vocab_dir):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(ValueError, match="not a GGUF file"):
        TokenizerInfo.from_gguf(bad)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(assets.vocab_gguf("gpt-2").read_bytes()[:100_000])
    with pytest.raises(ValueError, match="malformed GGUF"):
        TokenizerInfo.from_gguf(truncated)
    with pytest.raises(ValueError, match="cannot read GGUF file"):
        TokenizerInfo.from_gguf(tmp_path / "missing.gguf")
    with pytest.raises(ValueError, match="tokenizer model 'bert' is not supported"):
        TokenizerInfo.from_gguf(assets.vocab_gguf("bert-bge"))


# ------------------------------------------------------------------ other constructors


def test_from_vocab():
    info = TokenizerInfo.from_vocab(
        ["a", b"b", "é", b"\xc3", b"", "<eos>"], stop_token_ids=[5], vocab_size=8, name="toy"
    )
    assert info.token_bytes == (b"a", b"b", "é".encode(), b"\xc3", b"", b"<eos>")
    assert info.vocab_size == 8
    assert info.stop_token_ids == {5}
    assert info.special_ids == {4, 5}  # the empty token and the stop token
    assert "toy" in repr(info)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.vocab_size = 9


def test_from_vocab_errors():
    with pytest.raises(TypeError, match=r"tokens\[1\] must be bytes or str"):
        TokenizerInfo.from_vocab(["a", 1], stop_token_ids=())
    with pytest.raises(ValueError, match=r"stop_token_ids \[3\] out of range"):
        TokenizerInfo.from_vocab(["a", "b"], stop_token_ids=[3])
    with pytest.raises(ValueError, match="special_ids"):
        TokenizerInfo.from_vocab(["a", "b"], stop_token_ids=(), special_ids=[-1])
    with pytest.raises(ValueError, match="smaller than"):
        TokenizerInfo.from_vocab(["a", "b"], stop_token_ids=(), vocab_size=1)
    with pytest.raises(TypeError, match="integer token ids"):
        TokenizerInfo.from_vocab(["a", "b"], stop_token_ids=["a"])
    with pytest.raises(ValueError, match="at least one token"):
        TokenizerInfo.from_vocab([], stop_token_ids=())


def test_fingerprint():
    def make(**kw):
        args = {"stop_token_ids": [2], "special_ids": (), "vocab_size": None, "name": ""} | kw
        return TokenizerInfo.from_vocab(args.pop("tokens", ["a", "b", "c"]), **args)

    base = make()
    assert base.fingerprint == make(name="other").fingerprint
    assert len(base.fingerprint) == 64
    others = [
        make(stop_token_ids=[1]),
        make(special_ids=[0]),
        make(vocab_size=4),
        make(tokens=["a", "bc", ""]),
        make(tokens=["ab", "c", ""]),
    ]
    assert len({base.fingerprint, *(o.fingerprint for o in others)}) == 1 + len(others)


def test_from_tiktoken():
    ranks = {bytes([b]): b for b in range(256)}
    ranks |= {b"ab": 256, b" ab": 257, b"\xe2\x96": 258}  # a partial UTF-8 token
    enc = tiktoken.Encoding(
        "tiny",
        pat_str=r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 300, "<|im_end|>": 301, "<|fim_prefix|>": 302},
    )
    info = TokenizerInfo.from_tiktoken(enc)
    assert len(info.token_bytes) == info.vocab_size == 303
    assert info.token_bytes[257] == b" ab" and info.token_bytes[258] == b"\xe2\x96"
    assert info.token_bytes[300] == b"<|endoftext|>"
    assert info.stop_token_ids == {300, 301}
    assert info.special_ids == set(range(259, 303))  # holes 259..299 have no bytes
    text = "ab ab x ▁"
    assert b"".join(info.token_bytes[i] for i in enc.encode(text)) == text.encode()
    assert TokenizerInfo.from_tiktoken(enc, stop_token_ids=302).stop_token_ids == {302}


def test_from_huggingface_decoders():
    # a byte-fallback SentencePiece-style BPE built in memory, Metaspace decoder
    vocab = {"<unk>": 0, "<0x0A>": 1, "▁": 2, "a": 3, "▁a": 4, "<|eot_id|>": 5}
    tok = tokenizers.Tokenizer(
        tokenizers.models.BPE(vocab, [("▁", "a")], unk_token="<unk>", byte_fallback=True)
    )
    tok.decoder = tokenizers.decoders.Metaspace()
    tok.add_special_tokens(["<|eot_id|>"])
    tok.add_tokens(["<tab>"])
    info = TokenizerInfo.from_huggingface(tok, vocab_size=10)
    assert info.token_bytes == (b"<unk>", b"\n", b" ", b"a", b" a", b"<|eot_id|>", b"<tab>")
    assert info.special_ids == {0, 5} and info.stop_token_ids == {5}
    assert info.vocab_size == 10
    with pytest.raises(ValueError, match="smaller than"):
        TokenizerInfo.from_huggingface(tok, vocab_size=6)

    tok.decoder = tokenizers.decoders.WordPiece()
    with pytest.raises(ValueError, match="decoder 'WordPiece' is not supported"):
        TokenizerInfo.from_huggingface(tok)
    tok.decoder = None
    with pytest.raises(ValueError, match="no decoder"):
        TokenizerInfo.from_huggingface(tok)
    with pytest.raises(TypeError, match="tokenizers-backed"):
        TokenizerInfo.from_huggingface(object())


# ------------------------------------------------------------------ the asset cache


def test_assets_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAMMARLIB_ASSETS", str(tmp_path / "x"))
    assert assets.assets_dir() == tmp_path / "x"
    monkeypatch.delenv("GRAMMARLIB_ASSETS")
    assert assets.assets_dir() == Path.home() / ".cache" / "grammarlib" / "assets"


def test_vocab_gguf_unknown_name(vocab_dir):
    with pytest.raises(ValueError, match=r"no vocabulary 'nope'; available: .*llama-bpe"):
        assets.vocab_gguf("nope")


def test_corrupted_cache_is_fetched_again(vocab_dir, tmp_path):
    root = tmp_path / "cache"
    shutil.copytree(vocab_dir, root / vocab_dir.name)
    victim = root / vocab_dir.name / "ggml-vocab-gpt-2.gguf"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(data)
    assert not assets._verified(root / vocab_dir.name)
    fresh = assets.ensure_llama_cpp_vocabs(root)
    assert fresh == root / vocab_dir.name
    assert victim.read_bytes() == (vocab_dir / victim.name).read_bytes()
    assert assets._verified(fresh)
