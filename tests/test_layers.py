"""The package's import graph: no module imports itself through others (no import cycle), and
each layer imports only downward.

Layers, lowest first: the IR (expressions, the grammar value, the passes over them), the
front-ends (text and schemas to IR), :class:`grammarlib.Grammar`, the runtime (automata,
matchers, the compiler, token masks), and the API and integrations on top. The graph is read from
the source with :mod:`ast`: every import of a grammarlib module, also inside functions, except
those under ``if TYPE_CHECKING:`` (never run).
"""

from __future__ import annotations

import ast
import pickle
from collections import deque
from pathlib import Path

import pytest

import grammarlib as gl
from grammarlib.analysis import shortest
from grammarlib.gbnf import grammar_from_gbnf
from grammarlib.ir import GrammarIR
from grammarlib.jsonschema import schema_to_grammar
from grammarlib.lark_frontend import grammar_from_lark
from grammarlib.structural_tag import grammar_from_structural_tag, with_reasoning

ROOT = Path(__file__).resolve().parents[1]

#: Source folders and the packages they are installed as (setuptools' package-dir).
PACKAGES = {
    "grammarlib": ROOT / "grammarlib",
    "grammarlib.jsonschema": ROOT / "grammarlib" / "jsonschema",
    "grammarlib.masks": ROOT / "masks",
    "grammarlib.integrations": ROOT / "integrations",
}

IR = {
    "grammarlib.collector",
    "grammarlib.errors",
    "grammarlib.ir",
    "grammarlib.graphs",
    "grammarlib.charsets",
    "grammarlib.thompson",
    "grammarlib.normalize",
    "grammarlib.analysis",
}
FRONT_ENDS = {
    "grammarlib.regex",
    "grammarlib.regular",
    "grammarlib.bounded",
    "grammarlib.divisible",
    "grammarlib.formats",
    "grammarlib.gbnf",
    "grammarlib.lark_frontend",
    "grammarlib.structural_tag",
    "grammarlib.jsonschema",  # and its modules, see layer()
}
GRAMMAR = {"grammarlib.grammar"}
RUNTIME = {
    "grammarlib.automata",
    "grammarlib.runtime",
    "grammarlib.completion",
    "grammarlib.json_keys",
    "grammarlib.matcher",
    "grammarlib.compiler",
    "grammarlib.masks",  # and its modules
}
API = {
    "grammarlib",
    "grammarlib.__main__",
    "grammarlib.integrations",  # and its modules
}
LAYERS = [
    ("IR", IR),
    ("front-end", FRONT_ENDS),
    ("Grammar", GRAMMAR),
    ("runtime", RUNTIME),
    ("API", API),
]


def layer(module: str) -> int | None:
    """The index in :data:`LAYERS` of ``module`` (a package's modules are in its layer)."""
    for i, (_, members) in enumerate(LAYERS):
        for name in members:
            if module == name or (name != "grammarlib" and module.startswith(name + ".")):
                return i
    return None


def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> source file."""
    out = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.glob("*.py")):
            out[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of ``tree`` that run: not those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return found


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The grammarlib modules that ``module`` imports (run-time imports only). Importing
    ``a.b.c`` also runs ``a.b``'s ``__init__``: parent packages count, except those ``module``
    itself is in (they are being imported already)."""
    is_package = path.stem == "__init__"
    package = module if is_package else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = f"{base}.{node.module}" if node.module else base
        else:
            base = node.module or ""
        for alias in node.names:  # `from package import module` imports the module
            sub = f"{base}.{alias.name}"
            targets.add(sub if sub in known else base)
    out = set()
    for target in targets:
        if target != "grammarlib" and not target.startswith("grammarlib."):
            continue
        parts = target.split(".")
        for n in range(1, len(parts) + 1):
            name = ".".join(parts[:n])
            inside = module == name or module.startswith(name + ".")
            if name in known and (n == len(parts) or not inside) and name != module:
                out.add(name)
    return out


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports(name, path, known) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path back to its first module) per group of modules that import each
    other, directly or not."""

    def path(source: str, target: str, allowed: set[str]) -> list[str] | None:
        parent: dict[str, str] = {}
        todo = deque([source])
        while todo:
            node = todo.popleft()
            for child in sorted(graph[node] & allowed):
                if child == target:
                    out = [target, node]
                    while out[-1] != source:
                        out.append(parent[out[-1]])
                    return out[::-1]
                if child not in parent:
                    parent[child] = node
                    todo.append(child)
        return None

    reach = {name: _reachable(graph, name) for name in graph}
    seen: set[str] = set()
    out = []
    for name in sorted(graph):
        if name in seen or name not in reach[name]:
            continue
        group = {other for other in reach[name] if name in reach[other]}
        seen |= group
        cycle = path(name, name, group)
        assert cycle is not None
        out.append(cycle)
    return out


def _reachable(graph: dict[str, set[str]], source: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[source])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return seen


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "grammarlib.jsonschema.compiler" in graph
    assert "grammarlib.masks.store" in graph
    assert "grammarlib.integrations.cli" in graph
    # absolute, relative, inside functions, `from package import module`, parent packages
    assert "grammarlib.masks.store" in graph["grammarlib.compiler"]
    assert "grammarlib.jsonschema.dialects" in graph["grammarlib.grammar"]
    assert "grammarlib.jsonschema" in graph["grammarlib.grammar"]
    assert "grammarlib.ir" in graph["grammarlib.structural_tag"]
    assert "grammarlib.regular" in graph["grammarlib.jsonschema.emit"]
    # not the imports for type checkers only
    assert "grammarlib.compiler" not in graph["grammarlib.matcher"]


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_every_module_has_a_layer() -> None:
    missing = sorted(name for name in import_graph() if layer(name) is None)
    assert not missing, f"modules in no layer of tests/test_layers.py: {missing}"


def test_layers_import_only_downward() -> None:
    wrong = []
    for name, targets in sorted(import_graph().items()):
        own = layer(name)
        for target in sorted(targets):
            theirs = layer(target)
            if own is not None and theirs is not None and theirs > own:
                wrong.append(f"{name} ({LAYERS[own][0]}) imports {target} ({LAYERS[theirs][0]})")
    assert not wrong, "imports that go up a layer:\n" + "\n".join(wrong)


def test_front_ends_and_ir_do_not_import_the_runtime() -> None:
    forbidden = {
        "grammarlib",
        "grammarlib.grammar",
        "grammarlib.automata",
        "grammarlib.runtime",
        "grammarlib.completion",
        "grammarlib.json_keys",
        "grammarlib.compiler",
        "grammarlib.matcher",
    }
    wrong = []
    for name, targets in sorted(import_graph().items()):
        if layer(name) not in (0, 1):
            continue
        for target in sorted(targets):
            top = ".".join(target.split(".")[:2])
            if target in forbidden or top in ("grammarlib.masks", "grammarlib.integrations"):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_front_ends_return_the_ir_value() -> None:
    cases = [
        (grammar_from_lark('start: "a" b\nb: "b"'), gl.Grammar.from_lark('start: "a" b\nb: "b"')),
        (
            grammar_from_gbnf('root ::= "a" b\nb ::= "b"'),
            gl.Grammar.from_gbnf('root ::= "a" b\nb ::= "b"'),
        ),
        (schema_to_grammar({"type": "integer"}), gl.Grammar.from_json_schema({"type": "integer"})),
        (
            grammar_from_structural_tag({"type": "const_string", "value": "x"}),
            gl.Grammar.from_structural_tag({"type": "const_string", "value": "x"}),
        ),
    ]
    for value, grammar in cases:
        assert isinstance(value, GrammarIR)
        assert gl.Grammar.from_ir(value) == grammar
        assert value.distinct_keys == grammar.distinct_keys
        assert dict(value.positions) == dict(grammar.positions)
        assert shortest(value) == shortest(grammar)
        assert pickle.loads(pickle.dumps(value)) == value
    assert cases[2][0].distinct_keys
    assert cases[1][0].positions == {"root": (1, 1), "b": (2, 1)}
    reasoning = with_reasoning(gl.Grammar.from_regex("[0-9]"))
    assert shortest(reasoning) == b"<think></think>0"
    assert gl.Grammar.from_ir(reasoning).example() == "<think></think>0"


def test_an_empty_language_says_why_without_the_compiler() -> None:
    text = 'start: a\na: "x" a'
    with pytest.raises(gl.EmptyLanguageError) as compiled:
        gl.compile(gl.Grammar.from_lark(text))
    with pytest.raises(gl.EmptyLanguageError) as analysed:
        shortest(grammar_from_lark(text))
    assert str(analysed.value) == str(compiled.value)
    assert "(line 2)" in str(analysed.value)
