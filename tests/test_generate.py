"""`gl.generate` and the CLI with a tiny random-weight model (fast; the real model is in
test_real_model.py). A random model makes arbitrary choices, so every output is checked against an
independent reference (`re`, `jsonschema`, lark, pydantic), never against a fixed string."""

from __future__ import annotations

import json
import re
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
from grammarlib.integrations.models import ModelError, load_model

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
    grammar = build_grammar(regex=pattern)
    fast = generate_result(model, tok, "Record: ", grammar)
    slow = generate_result(model, tok, "Record: ", grammar, jump_forward=False)
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
    result = generate_result(model, tok, "Hello", None, max_new_tokens=7, ignore_stop=True)
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


# -- models and the CLI ---------------------------------------------------------------------------


def test_load_model_errors(tmp_path: Any) -> None:
    with pytest.raises(ModelError, match="no such model"):
        load_model(tmp_path / "missing.gguf")
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelError, match=r"not a \.gguf file"):
        load_model(tmp_path / "weights.bin")
    with pytest.raises(ModelError, match=r"config\.json"):
        load_model(tmp_path)


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
