"""The benchmark (``python -m grammarlib bench``): its data, its cases and a small real run."""

from __future__ import annotations

import importlib.util
import json

import jsonschema
import pytest

from grammarlib.integrations import bench
from grammarlib.masks import cache

pytest.importorskip("transformers")

DOCS = ("catalog", "config", "geo", "github_issue")


def test_every_document_is_valid_under_its_schema():
    for case in bench.cases("schema"):
        jsonschema.Draft202012Validator.check_schema(case.schema)
        (text,) = case.documents
        jsonschema.validate(json.loads(text), case.schema, cls=jsonschema.Draft202012Validator)
        assert ", " in text and ": " in text and "\n" not in text  # json.dumps default spacing
    assert [c.name for c in bench.cases("schema")] == list(DOCS)


def test_grammar_cases_spell_each_document_twice():
    (case,) = bench.cases("grammar", ["geo", "config"])
    assert case.schema is None
    assert len(case.documents) == 4
    assert [json.loads(d) for d in case.documents[::2]] == [
        json.loads(d) for d in case.documents[1::2]
    ]
    assert "\n" not in case.documents[0] and "\n  " in case.documents[1]


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown workload"):
        bench.cases("yaml")
    with pytest.raises(ValueError, match="unknown benchmark documents"):
        bench.cases("schema", ["nope"])
    with pytest.raises(ValueError, match="unknown engine"):
        bench.run(["schema"], "gpt-2", ["outlines"], 1)


def _check_engine(result: dict, workload: str, engine: str, tokens: int) -> None:
    r = result["workloads"][workload]["results"][engine]
    assert "error" not in r, r.get("error")
    # one mask per document token plus one for the end-of-sequence token of each document
    assert r["masks"] == r["allowed"] == tokens
    assert 0 < r["p50_us"] <= r["p99_us"]
    assert r["mean_us"] > 0
    assert r["first_mask_ms"] > 0 and r["first_run_ms"] > 0
    assert set(r["first_mask_ms_by_case"]) == set(result["workloads"][workload]["cases"])


def test_run_grammarlib_small_workload(tmp_path):
    before = cache.cache_dir()
    result = bench.run(["grammar", "schema"], "gpt-2", ["grammarlib"], 1, documents=["config"])
    assert cache.cache_dir() == before  # the cold runs' scratch cache is not left in place
    assert result["tokenizer"] == "gpt-2" and result["vocab_size"] >= 50257
    assert set(result["workloads"]) == {"grammar", "schema"}
    for workload, n_docs in (("grammar", 2), ("schema", 1)):
        info = result["workloads"][workload]["cases"]
        assert sum(c["documents"] for c in info.values()) == n_docs
        tokens = sum(c["tokens"] + c["documents"] for c in info.values())
        assert tokens > 100
        _check_engine(result, workload, "grammarlib", tokens)
    table = bench.format_tables(result)
    assert table.count("| grammarlib |") == 2
    json.dumps(result)  # what --json writes


@pytest.mark.parametrize("peer", ["xgrammar", "llguidance"])
def test_peer_accepts_every_token_with_the_same_schema(peer):
    if importlib.util.find_spec(peer) is None:
        pytest.skip(f"{peer} is not installed")
    result = bench.run(["schema"], "gpt-2", [peer], 1, documents=["config"])
    info = result["workloads"]["schema"]["cases"]["config"]
    _check_engine(result, "schema", peer, info["tokens"] + 1)


def test_main_writes_json_and_returns_status(tmp_path, capsys, monkeypatch):
    calls = []

    def fake_run(workloads, tokenizer_name, **kw):
        calls.append((tuple(workloads), tokenizer_name, kw["repeat"], kw["warm_grammar"]))
        return {
            "tokenizer": tokenizer_name,
            "vocab_size": 3,
            "machine": "m",
            "date": "d",
            "repeat": kw["repeat"],
            "skipped": {"xgrammar": "not installed"},
            "workloads": {
                "schema": {
                    "cases": {"config": {"documents": 1, "tokens": 5}},
                    "results": {"llguidance": {"error": "RefusedToken: boom"}},
                }
            },
        }

    monkeypatch.setattr(bench, "run", fake_run)
    out = tmp_path / "r.json"
    status = bench.main(
        ["--workload", "schema", "--tokenizer", "t", "--repeat", "2", "--json", str(out)]
    )
    assert status == 1  # an engine failed
    assert calls == [(("schema",), "t", 2, False)]
    assert json.loads(out.read_text())["workloads"]["schema"]["results"]["llguidance"]
    printed = capsys.readouterr().out
    assert "failed: RefusedToken: boom" in printed and "xgrammar left out" in printed
