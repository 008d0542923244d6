"""Run README.md's main-job command exactly as written, as a new user would, and check its output.

The command is read from README.md (the ``bash`` block under "## Try it: the main job"), so the
README and CI cannot drift. It runs in a copy of the repository (the files git tracks plus the
untracked ones it does not ignore: what a fresh clone of the working tree holds) in a temporary
directory, so the ``.venv`` it creates is new and separate from the one running this script, and
with a fresh model directory (``GRAMMARLIB_MODELS``) and mask cache (``GRAMMARLIB_CACHE_DIR``),
so the first run converts the default model as on a new machine. The JSON it prints on stdout
must validate against ``examples/person.schema.json`` (``jsonschema``, formats checked).

    python scripts/main_job_ci.py [--runs 2] [--keep] [--print-command]

``--runs 2`` (the default) runs the command a second time in the same copy: the warm path (the
venv and the converted model exist). Exit status 0 when every run exits 0 and prints valid JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Try it: the main job"
SCHEMA = "examples/person.schema.json"


def main_job_command(readme: Path = ROOT / "README.md") -> str:
    """The one command of the ``bash`` block in README.md's main-job section."""
    text = readme.read_text(encoding="utf-8")
    start = text.find(f"\n{SECTION}\n")
    if start < 0:
        raise SystemExit(f"README.md has no section {SECTION!r}")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end >= 0 else len(text)]
    blocks = re.findall(r"^```bash\n(.*?)^```", section, flags=re.S | re.M)
    if len(blocks) != 1:
        raise SystemExit(f"README.md's {SECTION!r} should have one bash block, has {len(blocks)}")
    lines = [line for line in blocks[0].splitlines() if line.strip()]
    if len(lines) != 1:
        raise SystemExit(f"the main-job bash block should be one command line, has {len(lines)}")
    return lines[0]


def copy_checkout(destination: Path) -> None:
    """The files a clone of the working tree would hold (no .venv, caches or build outputs)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if not source.is_file():  # deleted in the working tree, or a submodule
            continue
        target = destination / os.fsdecode(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def clean_environment(home: Path) -> dict[str, str]:
    """This process's environment without its virtual environment: the command's ``python3`` is
    the system's, as on a new machine; grammarlib's model and cache directories are fresh."""
    env = dict(os.environ)
    for name in (
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PIP_REQUIRE_VIRTUALENV",
    ):
        env.pop(name, None)
    ours = {str(Path(sys.prefix) / "bin"), str(Path(sys.executable).parent)}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and p not in ours
    )
    env["GRAMMARLIB_MODELS"] = str(home / "models")
    env["GRAMMARLIB_CACHE_DIR"] = str(home / "cache")
    return env


def printed_json(stdout: str) -> object:
    """The JSON document at the end of the command's stdout (pip may print above it)."""
    lines = stdout.strip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        try:
            return json.loads("\n".join(lines[i:]))
        except json.JSONDecodeError:
            continue
    raise ValueError(f"no JSON at the end of stdout: {stdout[-500:]!r}")


def check_output(stdout: str, schema: dict) -> object:
    import jsonschema

    value = printed_json(stdout)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        raise ValueError(f"the output does not validate: {error.message} (at {error.json_path})")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="1 = cold only; 2 = cold then warm")
    parser.add_argument(
        "--timeout", type=float, default=40 * 60, help="seconds for the first run (later: 10 min)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--print-command", action="store_true", help="print it and stop")
    args = parser.parse_args(argv)

    command = main_job_command()
    if args.print_command:
        print(command)
        return 0
    schema = json.loads((ROOT / SCHEMA).read_text(encoding="utf-8"))
    work = Path(tempfile.mkdtemp(prefix="grammarlib-main-job-"))
    checkout = work / "grammarlib"  # no ../shared beside it, as for a user
    failures = 0
    try:
        copy_checkout(checkout)
        env = clean_environment(work / "home")
        print(f"main job: in {checkout}\n$ {command}", file=sys.stderr, flush=True)
        for run in range(1, args.runs + 1):
            label = "cold" if run == 1 else "warm"
            limit = args.timeout if run == 1 else min(args.timeout, 600.0)
            started = time.perf_counter()
            try:
                done = subprocess.run(
                    ["bash", "-c", command],
                    cwd=checkout,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=None,  # pip, conversion and --stats go to the CI log as they come
                    text=True,
                    timeout=limit,
                )
            except subprocess.TimeoutExpired:
                print(f"main job ({label}): FAILED: over {limit:.0f} s", file=sys.stderr)
                return 1
            seconds = time.perf_counter() - started
            sys.stdout.write(done.stdout)
            sys.stdout.flush()
            if done.returncode != 0:
                print(
                    f"main job ({label}): FAILED: exit status {done.returncode} "
                    f"after {seconds:.1f} s",
                    file=sys.stderr,
                )
                return 1
            try:
                check_output(done.stdout, schema)
            except ValueError as e:
                print(f"main job ({label}): FAILED: {e}", file=sys.stderr)
                failures += 1
                continue
            print(
                f"main job ({label}): ok in {seconds:.1f} s; the output validates against {SCHEMA}",
                file=sys.stderr,
            )
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
