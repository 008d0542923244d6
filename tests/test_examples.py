"""The examples run and produce what their grammar says."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

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
