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


# -- the real-world workload (--workload real-world) ------------------------------------------

SMALL_CORPUS = {
    "small/flags.json": {"type": "array", "items": {"type": "boolean"}, "maxItems": 3},
    "small/point.json": {
        "type": "object",
        "properties": {"a": {"enum": [1, 2]}, "b": {"type": "boolean"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
    # grammarlib refuses it: uniqueItems over objects (scalars are checked at run time)
    "small/tags.json": {"type": "array", "items": {"type": "object"}, "uniqueItems": True},
}


def _small_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    for rel, schema in SMALL_CORPUS.items():
        (corpus / rel).parent.mkdir(parents=True, exist_ok=True)
        (corpus / rel).write_text(json.dumps(schema))
    (corpus / "index.json").write_text(json.dumps({"files": sorted(SMALL_CORPUS)}))
    return corpus


def test_real_world_workload_on_a_small_corpus(tmp_path):
    from grammarlib.integrations import bench_real_world as rw

    peers = [p for p in rw.PEERS if importlib.util.find_spec(p) is not None]
    before = cache.cache_dir()
    result = rw.run(
        "jsonschemabench",
        corpus_dir=_small_corpus(tmp_path),
        engines=["grammarlib", *peers],
        tokenizer_name="gpt-2",
        tokens=48,
        seed=1,
    )
    assert cache.cache_dir() == before  # the per-schema cache directories are not left in place
    assert result["rows"] == ["grammarlib cold", "grammarlib warm", *peers]
    assert [e["path"] for e in result["schemas"]] == sorted(SMALL_CORPUS)
    for row in ("grammarlib cold", "grammarlib warm"):
        summary = rw.summarize(result, row)
        assert summary["status"] == {"ok": 2, "refused": 1, "too slow": 0, "error": 0}
        assert summary["finished"] == summary["valid"] == 2  # bounded languages: always finish
    for peer in peers:
        summary = rw.summarize(result, peer)
        assert summary["schemas"] == 3 and summary["status"]["error"] == 0
        assert summary["status"]["ok"] >= 2
    for entry in result["schemas"]:
        results = entry["results"]
        assert set(results) == set(result["rows"])
        if entry["path"] == "small/tags.json":
            assert "uniqueItems" in results["grammarlib cold"]["message"]
        for row, r in results.items():
            if r["status"] != "ok":
                continue
            assert r["first_mask_ms"] >= r["compile_ms"] > 0
            assert len(r["mask_us"]) == r["tokens"] + 1 and min(r["mask_us"]) > 0
            if row.startswith("grammarlib"):
                assert r["terminated"] and r["stop"] == "eos"
            if r["terminated"]:  # each engine's own instance is valid under the schema
                assert r["valid"] is True, (row, entry["path"], r["text"], r.get("invalid"))
                jsonschema.validate(json.loads(r["text"]), SMALL_CORPUS[entry["path"]])
            else:
                assert r["stop"] == "budget" and r["tokens"] == 48
        cold, warm = results["grammarlib cold"], results["grammarlib warm"]
        if cold["status"] == "ok":  # the same seed and the same masks: the same walk
            assert cold["ids"] == warm["ids"]
    table = rw.format_tables(result)
    for row in result["rows"]:
        assert table.count(f"| {row} | ") == 2  # all schemas, and those every engine compiles
    assert "| grammarlib cold | 2/3 (66.7 %) | 1 | 0 | 0 |" in table
    assert "cold and warm walks gave the same tokens on 2/2" in table
    json.loads(json.dumps(result))  # what --json writes
    if importlib.util.find_spec("matplotlib") is not None:
        rw.plot(result, tmp_path / "real-world.png")
        assert (tmp_path / "real-world.png").read_bytes()[:4] == b"\x89PNG"


def test_real_world_compile_past_the_time_limit_is_too_slow(tmp_path):
    from grammarlib.integrations import bench_real_world as rw

    result = rw.run(
        corpus="jsonschemabench",
        corpus_dir=_small_corpus(tmp_path),
        limit=2,
        engines=["grammarlib"],
        tokenizer_name="gpt-2",
        time_limit_s=1e-9,
    )
    assert [e["path"] for e in result["schemas"]] == ["small/flags.json", "small/point.json"]
    assert rw.summarize(result, "grammarlib cold")["status"]["too slow"] == 2
    assert rw.summarize(result, "grammarlib warm")["status"]["too slow"] == 2
    assert "over the 0 schemas that every engine compiles" in rw.format_tables(result)


def test_real_world_without_a_corpus_says_so(tmp_path, capsys):
    from grammarlib.integrations import bench_real_world as rw

    missing = tmp_path / "nothing"
    assert rw.run("jsonschemabench", corpus_dir=missing) is None
    argv = ["--workload", "real-world", "--corpus", "jsonschemabench", "--corpus-dir", str(missing)]
    assert bench.main(argv) == 0
    assert "no real-world schema corpus" in capsys.readouterr().out


def test_real_world_sample_spreads_over_the_corpus():
    from grammarlib.integrations import bench_real_world as rw

    files = [rw.SchemaFile("c", f"{folder}/{i}.json", None) for folder in "abcd" for i in range(5)]
    picked = rw.sample(files, 4)
    assert [f.path for f in picked] == ["a/0.json", "b/0.json", "c/0.json", "d/0.json"]
    assert rw.sample(files, None) == files and rw.sample(files, 99) == files
