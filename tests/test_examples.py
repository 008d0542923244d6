"""The examples run and produce what their grammar says."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import jsonschema
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_raw_loop_output_matches_its_grammar() -> None:
    raw_loop = load("raw_loop")
    for seed in range(5):
        text = raw_loop.main(seed)
        value = json.loads(text)
        assert set(value) == {"name", "age"}
        assert re.fullmatch(r"[A-Z][a-z]{1,10}", value["name"])
        assert 1 <= value["age"] <= 99


def test_model_examples_with_a_tiny_model() -> None:
    """The model examples produce what their constraint says (a random tiny model stands in for
    the default one; tests/test_real_model.py runs the real one)."""
    pytest.importorskip("transformers")
    from support.tiny_model import tiny_model, tiny_tokenizer

    model, tok = tiny_model(), tiny_tokenizer()
    extract = load("extract_pydantic")
    dsl = load("lark_dsl")
    regex = load("regex_date")
    tools = load("tool_calling")
    for seed in range(3):
        name, arguments = tools.main(model, tok, temperature=1.0, seed=seed)
        jsonschema.validate(arguments, tools.TOOLS[name])
        person = extract.main(model, tok, temperature=1.0, seed=seed)
        assert isinstance(person, extract.Person)
        assert dsl.main(model, tok, temperature=1.0, seed=seed, max_new_tokens=200).data == "start"
        assert re.fullmatch(regex.SLOT, regex.main(model, tok, temperature=1.0, seed=seed))
