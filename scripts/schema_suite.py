"""Run the JSON-Schema-Test-Suite (drafts 04, 06, 07, 2019-09 and 2020-12) through the JSON
Schema compiler.

For every test group: compile the schema (with the suite's remote schemas in the ``$ref``
registry, and ``format`` as the annotation draft 2020-12 makes it by default); feed each instance
as compact and as default ``json.dumps`` text through the matcher as Llama 3 tokens
(``accept_token`` per token id). A valid instance counts as accepted when both texts are accepted
and can terminate; an invalid one counts as rejected when neither is. A schema refused as
unsatisfiable counts as "unsat" (correct when every instance of the group is invalid).

The suite's instances list object keys in orders no schema fixes, so it runs with
``property_order="any"``; ``--schema-order`` runs it with the default ``"schema"`` instead (then
valid objects whose keys are out of schema order are refused).

Prints the per-keyword-file table (Markdown) and, with ``-v``, every refusal and failure.
``--update`` rewrites ``tests/data/schema_suite_expected.json``, the results that
``tests/test_schema_suite.py`` pins (``schema_suite_expected_<draft>.json`` for the older drafts).
``--draft NAME`` picks the draft (``draft2020-12`` by default; ``draft4``, ``draft6``, ``draft7``,
``draft2019-09``; ``all`` runs each); the suite's schemas have no ``$schema``, so each is read as
that draft, and the suite's remote documents of that draft are translated like the schemas.

Usage: ``python scripts/schema_suite.py [-v] [--update] [--schema-order] [--draft NAME]
[SUITE_DIR]``; without
``SUITE_DIR`` the suite is taken from the ``jsonschema==4.26.0`` sdist (fetched with pip into the
asset cache).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import grammarlib as gl
from grammarlib.errors import GrammarError
from grammarlib.jsonschema import schema_to_grammar

SDIST = "jsonschema==4.26.0"
_DIR = "jsonschema-4.26.0-suite-all-drafts"
DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
EXPECTED = DATA / "schema_suite_expected.json"
REMOTE_BASE = "http://localhost:1234/"
DRAFTS = ("draft4", "draft6", "draft7", "draft2019-09", "draft2020-12")


def expected_file(draft: str) -> Path:
    """Where the pinned results of ``draft`` live."""
    return EXPECTED if draft == "draft2020-12" else DATA / f"schema_suite_expected_{draft}.json"


def suite_root() -> Path:
    """The ``json/`` folder of the suite (``tests/draft2020-12`` and ``remotes``), extracted from
    the ``jsonschema`` sdist into the asset cache on first use."""
    from grammarlib.masks.assets import assets_dir

    target = assets_dir() / _DIR
    if all((target / "tests" / d / "type.json").is_file() for d in DRAFTS):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        subprocess.run([*cmd, "-d", tmp, SDIST], check=True, capture_output=True)
        (sdist,) = Path(tmp).glob("jsonschema-*.tar.gz")
        staging = Path(tmp) / "json"
        drafts = "|".join(re.escape(d) for d in DRAFTS)
        member = re.compile(rf"[^/]+/json/((?:tests/(?:{drafts})/[^/]+|remotes/.+)\.json)$")
        with tarfile.open(sdist) as tar:
            for info in tar.getmembers():
                m = member.match(info.name)
                if m and info.isfile():
                    out = staging / m.group(1)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    data = tar.extractfile(info)
                    assert data is not None
                    out.write_bytes(data.read())
        with contextlib.suppress(OSError):
            staging.rename(target)
    return target


def remotes_registry(root: Path, draft: str = "draft2020-12") -> Any:
    """The suite's remote schemas at ``http://localhost:1234/...`` (those of ``draft`` and the
    draft-independent ones at the top level), read as ``draft`` and translated into 2020-12
    as the compiler translates schemas."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    from grammarlib.jsonschema.dialects import detect_draft, draft_named, to_draft202012

    remotes = root / "remotes"
    pairs = []
    for path in sorted(remotes.rglob("*.json")):
        rel = path.relative_to(remotes).as_posix()
        top = rel.split("/")[0]
        if top.startswith("draft") and top != draft:
            continue
        contents = json.loads(path.read_text(encoding="utf-8"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            contents = to_draft202012(contents, detect_draft(contents, default=draft_named(draft)))
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        pairs.append((REMOTE_BASE + rel, resource))
    return Registry().with_resources(pairs)


def refusal_kind(message: str) -> str:
    """A short label for a refusal: the keyword named, or the kind of problem."""
    if "unsatisfiable" in message:
        return "unsatisfiable"
    m = re.search(r"unsupported (?:keyword )?'([^']+)'", message)
    if m:
        return m.group(1)
    m = re.search(r"'(\$\w+)' .* does not resolve", message)
    if m:
        return m.group(1) + " unresolved"
    if "recursive" in message:
        return "recursive $ref"
    if "expand to more than" in message:
        return "too many cases"
    return "other"


class Runner:
    """Compiles suite schemas and feeds instances as tokens."""

    def __init__(self, root: Path, property_order: str = "any", draft: str = "draft2020-12"):
        import tokenizers

        from grammarlib.masks.assets import tokenizer_json_dir

        self.root = root
        self.property_order = property_order
        self.draft = draft
        self.registry = remotes_registry(root, draft)
        tok_dir = tokenizer_json_dir("llama-bpe")
        if tok_dir is None:
            raise RuntimeError("no tokenizer.json for llama-bpe")
        self.tokenizer = tokenizers.Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
        self.info = gl.TokenizerInfo.from_huggingface(self.tokenizer)

    def accepts(self, compiled: gl.CompiledGrammar, text: str) -> bool:
        m = compiled.matcher()
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        return all(m.accept_token(t) for t in ids) and m.can_terminate()

    def group(self, group: dict[str, Any]) -> dict[str, Any]:
        """``{"description", "refused": None | label, "tests": ["accepted" | "rejected" ...]}``
        (tests are not run for a refused schema, except to check unsatisfiable ones)."""
        out: dict[str, Any] = {"description": group["description"], "refused": None}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                grammar = gl.Grammar.from_ir(
                    schema_to_grammar(
                        group["schema"],
                        formats=False,
                        registry=self.registry,
                        property_order=self.property_order,
                        draft=self.draft,
                        time_limit_s=None,
                    )
                )
                compiled = gl.compile(grammar, self.info, time_limit_s=None)
        except (GrammarError, RecursionError) as e:
            msg = str(e) if isinstance(e, GrammarError) else "recursion too deep"
            out["refused"] = refusal_kind(msg)
            out["message"] = msg
            out["tests"] = (
                ["rejected" for _ in group["tests"]] if out["refused"] == "unsatisfiable" else []
            )
            return out
        results = []
        for test in group["tests"]:
            texts = [json.dumps(test["data"]), json.dumps(test["data"], separators=(",", ":"))]
            ok = [self.accepts(compiled, t) for t in texts]
            results.append("accepted" if all(ok) else "rejected" if not any(ok) else "mixed")
        out["tests"] = results
        return out

    def run(self, verbose: bool = False) -> dict[str, list[dict[str, Any]]]:
        results: dict[str, list[dict[str, Any]]] = {}
        for path in sorted((self.root / "tests" / self.draft).glob("*.json")):
            groups = json.loads(path.read_text(encoding="utf-8"))
            results[path.stem] = rows = []
            for group in groups:
                started = time.perf_counter()
                rows.append(self.group(group))
                took = time.perf_counter() - started
                if verbose and took > 1:
                    print(f"  slow ({took:.1f} s) {path.stem}: {group['description']}")
        return results


def correct(group: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """The failures of a group's result: valid instances not accepted, invalid ones not
    rejected (a refused schema has none unless it was wrongly called unsatisfiable)."""
    bad = []
    if result["refused"] not in (None, "unsatisfiable"):
        return bad
    for test, outcome in zip(group["tests"], result["tests"], strict=True):
        want = "accepted" if test["valid"] else "rejected"
        if outcome != want:
            bad.append(f"{test['description']}: {outcome}, should be {want}")
    return bad


def table(root: Path, results: dict[str, list[dict[str, Any]]], draft: str = "draft2020-12") -> str:
    """The per-keyword-file table in Markdown."""
    lines = [
        "| keyword file | compiled | unsat | valid accepted | invalid rejected |",
        "|---|---:|---:|---:|---:|",
    ]
    totals = [0] * 7
    for name, rows in results.items():
        groups = json.loads((root / "tests" / draft / f"{name}.json").read_text())
        row = [len(rows), 0, 0, 0, 0, 0]  # groups, compiled, unsat, valid/acc, invalid/rej
        valid = [0, 0]
        invalid = [0, 0]
        for g, r in zip(groups, rows, strict=True):
            if r["refused"] == "unsatisfiable":
                row[2] += 1
            elif r["refused"] is None:
                row[1] += 1
                for t, o in zip(g["tests"], r["tests"], strict=True):
                    if t["valid"]:
                        valid[0] += 1
                        valid[1] += o == "accepted"
                    else:
                        invalid[0] += 1
                        invalid[1] += o == "rejected"
        cells = [row[0], row[1], row[2], *valid, *invalid]
        totals = [a + b for a, b in zip(totals, cells, strict=True)]
        lines.append(
            f"| {name} | {row[1]}/{row[0]} | {row[2] or ''} | {valid[1]}/{valid[0]} "
            f"| {invalid[1]}/{invalid[0]} |"
        )
    g, c, u, vt, va, it, ir = totals[0], totals[1], totals[2], *totals[3:]
    lines.append(f"| **total** | **{c}/{g}** | **{u}** | **{va}/{vt}** | **{ir}/{it}** |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    update = "--update" in argv
    order = "schema" if "--schema-order" in argv else "any"
    if update and order != "any":
        print("--update pins the results with property_order='any'")
        return 2
    draft = "draft2020-12"
    if "--draft" in argv:
        i = argv.index("--draft")
        draft = argv[i + 1]
        argv = argv[:i] + argv[i + 2 :]
    args = [a for a in argv if not a.startswith("-")]
    root = Path(args[0]).parents[1] if args else suite_root()
    failures = 0
    for name in DRAFTS if draft == "all" else (draft,):
        failures += run_draft(root, name, order, verbose, update)
    return 1 if failures else 0


def summary(results: dict[str, list[dict[str, Any]]]) -> tuple[int, int, int]:
    """(groups, compiled, proven unsatisfiable)."""
    rows = [r for rs in results.values() for r in rs]
    return (
        len(rows),
        sum(r["refused"] is None for r in rows),
        sum(r["refused"] == "unsatisfiable" for r in rows),
    )


def run_draft(root: Path, draft: str, order: str, verbose: bool, update: bool) -> int:
    """Run one draft's suite, print its table; the number of wrong outcomes."""
    started = time.time()
    runner = Runner(root, order, draft)
    results = runner.run(verbose)
    print(f"## {draft}\n")
    print(table(root, results, draft))
    failures = 0
    for name, rows in results.items():
        groups = json.loads((root / "tests" / draft / f"{name}.json").read_text())
        for g, r in zip(groups, rows, strict=True):
            bad = correct(g, r)
            failures += len(bad)
            if verbose:
                if r["refused"]:
                    print(f"  refused {name}: {g['description']}: {r.get('message', '')[:200]}")
                for b in bad:
                    print(f"  WRONG {name}: {g['description']}: {b}")
    print(f"\n{draft}: {failures} wrong outcomes; {time.time() - started:.1f} s\n")
    if update:
        pinned = {
            name: [{k: r[k] for k in ("description", "refused", "tests")} for r in rows]
            for name, rows in results.items()
        }
        target = expected_file(draft)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(pinned, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {target}")
    return failures


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
