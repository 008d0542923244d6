"""Run the JSON-Schema-Test-Suite (draft 2020-12) through ``Grammar.from_json_schema``.

For every test group: compile the schema; feed each instance as compact and as default
``json.dumps`` text through a byte-level matcher. A valid instance counts as accepted when both
texts are accepted and can terminate; an invalid one counts as rejected when neither is. Prints a
per-keyword-file table (groups compiled / valid accepted / invalid rejected) and lists failures.

Usage: ``python scripts/schema_suite.py SUITE_DIR`` where ``SUITE_DIR`` is
``json/tests/draft2020-12`` of the ``jsonschema==4.26.0`` sdist
(``pip download --no-deps --no-binary :all: jsonschema==4.26.0``).
Optional ``-v`` lists every failing instance and refused schema.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import grammarlib as gl
from grammarlib.errors import GrammarError


def accepts(compiled: gl.CompiledGrammar, text: str) -> bool:
    m = compiled.matcher()
    return m.accept_string(text) and m.can_terminate()


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    if not args:
        print(__doc__)
        return 2
    root = Path(args[0])
    totals = [0] * 6
    print(f"{'file':28} {'compiled':>10} {'valid ok':>10} {'invalid rej':>12}")
    started = time.time()
    for path in sorted(root.glob("*.json")):
        groups = json.loads(path.read_text())
        row = [0] * 6  # groups, compiled, valid, valid accepted, invalid, invalid rejected
        for group in groups:
            row[0] += 1
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    compiled = gl.compile(gl.Grammar.from_json_schema(group["schema"]))
            except (GrammarError, RecursionError) as e:
                if verbose:
                    print(f"  refused {path.stem}: {group['description']}: {e}")
                continue
            row[1] += 1
            for test in group["tests"]:
                texts = [json.dumps(test["data"]), json.dumps(test["data"], separators=(",", ":"))]
                results = [accepts(compiled, t) for t in texts]
                if test["valid"]:
                    row[2] += 1
                    ok = all(results)
                    row[3] += ok
                else:
                    row[4] += 1
                    ok = not any(results)
                    row[5] += ok
                if not ok and verbose:
                    kind = "valid refused" if test["valid"] else "invalid accepted"
                    print(f"  {kind} {path.stem}: {group['description']}: {test['description']}")
        totals = [t + r for t, r in zip(totals, row, strict=True)]
        cells = f"{row[1]:>4}/{row[0]:<5} {row[3]:>4}/{row[2]:<5} {row[5]:>5}/{row[4]:<6}"
        print(f"{path.stem:28} {cells}")
    print(
        f"{'TOTAL':28} {totals[1]:>4}/{totals[0]:<5} {totals[3]:>4}/{totals[2]:<5} "
        f"{totals[5]:>5}/{totals[4]:<6}  ({time.time() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
