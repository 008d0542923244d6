"""The JSON-Schema-Test-Suite (drafts 04, 06, 07, 2019-09 and 2020-12), pinned.

Every group's schema is compiled and every instance fed as Llama 3 tokens (see
``scripts/schema_suite.py``). Two checks: the invariant (in every compiled group each valid
instance is accepted and each invalid one rejected; a schema refused as unsatisfiable has only
invalid instances), and the checked-in results (``tests/data/schema_suite_expected.json``), so
that any change, a regression or an unrecorded improvement, fails until the file is regenerated.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import schema_suite

pytestmark = pytest.mark.slow

REGENERATE = (
    "regenerate with `python scripts/schema_suite.py --draft all --update` if the change is "
    "intended"
)


@pytest.fixture(scope="module", params=schema_suite.DRAFTS)
def suite(request: pytest.FixtureRequest) -> tuple[Path, str, dict[str, list[dict[str, Any]]]]:
    root = schema_suite.suite_root()
    draft = request.param
    return root, draft, schema_suite.Runner(root, draft=draft).run()


def _groups(root: Path, draft: str, name: str) -> list[dict[str, Any]]:
    path = root / "tests" / draft / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_compiled_schema_is_exact(suite: tuple[Path, str, dict[str, Any]]) -> None:
    root, draft, results = suite
    wrong = [
        f"{draft} {name}: {group['description']}: {bad}"
        for name, rows in results.items()
        for group, row in zip(_groups(root, draft, name), rows, strict=True)
        for bad in schema_suite.correct(group, row)
    ]
    assert not wrong, "\n".join(wrong)


def test_results_match_the_pinned_ones(suite: tuple[Path, str, dict[str, Any]]) -> None:
    _, draft, results = suite
    expected = json.loads(schema_suite.expected_file(draft).read_text(encoding="utf-8"))
    assert sorted(expected) == sorted(results), f"keyword files differ; {REGENERATE}"
    diffs = []
    for name, rows in results.items():
        pinned = expected[name]
        if len(pinned) != len(rows):
            diffs.append(f"{name}: {len(rows)} groups, {len(pinned)} pinned")
            continue
        for want, got in zip(pinned, rows, strict=True):
            for key in ("refused", "tests"):
                if want[key] != got[key]:
                    diffs.append(
                        f"{name}: {got['description']}: {key} {got[key]!r}, pinned {want[key]!r}"
                    )
    assert not diffs, "\n".join([*diffs, REGENERATE])


def test_coverage(suite: tuple[Path, str, dict[str, Any]]) -> None:
    """At least 95 % of the groups of every draft compile or are proven unsatisfiable."""
    _, _, results = suite
    rows = [r for rs in results.values() for r in rs]
    handled = sum(r["refused"] in (None, "unsatisfiable") for r in rows)
    assert handled >= 0.95 * len(rows), f"{handled}/{len(rows)}"
