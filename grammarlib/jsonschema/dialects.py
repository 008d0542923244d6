"""Reading JSON Schemas of every draft: which draft a schema is written in, whether its shape is
valid under that draft's meta-schema, and its translation into draft 2020-12.

The compiler (:mod:`grammarlib.jsonschema`) understands draft 2020-12 only; a schema of an older
draft is rewritten into the 2020-12 schema that accepts exactly the same instances:

* draft-04 ``id`` is ``$id`` (a plain-name fragment is an ``$anchor``); boolean
  ``exclusiveMinimum``/``exclusiveMaximum`` become the numeric forms;
* array-form ``items`` is ``prefixItems``, ``additionalItems`` then is ``items`` (and is ignored
  next to a schema-form ``items``, as those drafts say);
* ``dependencies`` splits into ``dependentRequired`` (arrays) and ``dependentSchemas``;
* up to draft-07 every keyword next to ``$ref`` is ignored (only containers of definitions are
  kept, so JSON pointers into them still resolve);
* 2019-09 ``$recursiveRef``/``$recursiveAnchor`` become ``$dynamicRef``/``$dynamicAnchor``;
* a keyword that a draft does not have (``const`` in draft-04) is an annotation there, as the
  specification says, and is dropped with a warning.

JSON pointers in ``$ref`` that pass through a renamed keyword are rewritten to the new place.
"""

from __future__ import annotations

import copy
import functools
import re
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from ..errors import SchemaError

__all__ = [
    "ANNOTATION_KEYWORDS",
    "DRAFT4",
    "DRAFT6",
    "DRAFT7",
    "DRAFT201909",
    "DRAFT202012",
    "DRAFTS",
    "check_shape",
    "detect_draft",
    "draft_named",
    "known_keywords",
    "subschemas",
    "to_draft202012",
    "translated_metaschemas",
]

DRAFT4 = "http://json-schema.org/draft-04/schema#"
DRAFT6 = "http://json-schema.org/draft-06/schema#"
DRAFT7 = "http://json-schema.org/draft-07/schema#"
DRAFT201909 = "https://json-schema.org/draft/2019-09/schema"
DRAFT202012 = "https://json-schema.org/draft/2020-12/schema"
DRAFTS = (DRAFT4, DRAFT6, DRAFT7, DRAFT201909, DRAFT202012)
_DRAFT_NAMES = {
    DRAFT4: "draft-04",
    DRAFT6: "draft-06",
    DRAFT7: "draft-07",
    DRAFT201909: "draft 2019-09",
    DRAFT202012: "draft 2020-12",
}

ANNOTATION_KEYWORDS = frozenset(
    {"title", "description", "$comment", "default", "examples", "deprecated", "readOnly",
     "writeOnly", "contentMediaType", "contentEncoding", "contentSchema"}
)  # fmt: skip
"""The annotation vocabulary: ignored silently, and a shape problem in one is only a warning."""

# Keywords of each draft (core, applicators, validation, annotations, format).
_COMMON = frozenset(
    {"$ref", "$schema", "title", "description", "default", "type", "enum", "multipleOf",
     "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength",
     "pattern", "items", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties",
     "required", "properties", "patternProperties", "additionalProperties", "allOf", "anyOf",
     "oneOf", "not", "format"}
)  # fmt: skip
_DRAFT4_ONLY = frozenset({"id", "definitions", "additionalItems", "dependencies"})
_DRAFT6_ADDED = frozenset({"$id", "const", "contains", "propertyNames", "examples"})
_DRAFT7_ADDED = frozenset(
    {"if", "then", "else", "$comment", "readOnly", "writeOnly", "contentMediaType",
     "contentEncoding"}
)  # fmt: skip
_DRAFT201909_ADDED = frozenset(
    {"$anchor", "$defs", "$vocabulary", "$recursiveRef", "$recursiveAnchor", "dependentRequired",
     "dependentSchemas", "unevaluatedProperties", "unevaluatedItems", "maxContains",
     "minContains", "deprecated", "contentSchema"}
)  # fmt: skip
_KEYWORDS = {
    DRAFT4: _COMMON | _DRAFT4_ONLY,
    DRAFT6: _COMMON | (_DRAFT4_ONLY - {"id"}) | _DRAFT6_ADDED,
    DRAFT7: _COMMON | (_DRAFT4_ONLY - {"id"}) | _DRAFT6_ADDED | _DRAFT7_ADDED,
}
_KEYWORDS[DRAFT201909] = (
    _COMMON
    | {"additionalItems"}
    | _DRAFT6_ADDED
    | _DRAFT7_ADDED
    | _DRAFT201909_ADDED
    | {"definitions"}  # not a keyword, but referenced as a container by countless schemas
)
_KEYWORDS[DRAFT202012] = (
    _KEYWORDS[DRAFT201909] - {"additionalItems", "$recursiveRef", "$recursiveAnchor"}
) | {"prefixItems", "$dynamicRef", "$dynamicAnchor"}

# Where subschemas sit: a keyword's value is a schema, a list of schemas, or a dict of them.
_SCHEMA_VALUED = frozenset(
    {"additionalItems", "additionalProperties", "not", "if", "then", "else", "contains",
     "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
)  # fmt: skip
_LIST_VALUED = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_DICT_VALUED = frozenset(
    {"properties", "patternProperties", "definitions", "$defs", "dependentSchemas"}
)
_CONTAINERS = frozenset({"definitions", "$defs"})


def known_keywords(draft: str) -> frozenset[str]:
    """The keywords that ``draft`` defines (all others are annotations there)."""
    return frozenset(_KEYWORDS[draft])


def _normalise_uri(uri: str) -> str | None:
    """The draft a ``$schema`` URI names, or None for another meta-schema."""
    u = uri.strip().rstrip("#")
    if u.startswith("https://"):
        u = "http://" + u[len("https://") :]
    table = {
        "http://json-schema.org/draft-04/schema": DRAFT4,
        "http://json-schema.org/draft-06/schema": DRAFT6,
        "http://json-schema.org/draft-07/schema": DRAFT7,
        "http://json-schema.org/draft/2019-09/schema": DRAFT201909,
        "http://json-schema.org/draft/2020-12/schema": DRAFT202012,
        "http://json-schema.org/schema": DRAFT202012,  # "the latest"
    }
    return table.get(u)


def _near_draft(uri: str) -> str | None:
    """The draft whose URI ``uri`` misspells by a character or two (``json-schema-org``), if
    any."""
    import difflib

    u = uri.strip().rstrip("#")
    spellings = {d.rstrip("#"): d for d in DRAFTS}
    spellings |= {k.replace("http://", "https://"): v for k, v in spellings.items()}
    close = difflib.get_close_matches(u, list(spellings), n=1, cutoff=0.96)
    if not close:
        return None
    version = re.compile(r"draft[-/][0-9-]+")
    named, meant = version.search(u), version.search(close[0])
    if named is None or meant is None or named.group() != meant.group():
        return None  # another draft (draft-03), not a misspelling of this one
    return spellings[close[0]]


_DRAFT_ALIASES = {
    "draft-04": DRAFT4,
    "draft4": DRAFT4,
    "draft-06": DRAFT6,
    "draft6": DRAFT6,
    "draft-07": DRAFT7,
    "draft7": DRAFT7,
    "2019-09": DRAFT201909,
    "draft2019-09": DRAFT201909,
    "2020-12": DRAFT202012,
    "draft2020-12": DRAFT202012,
}


def draft_named(name: str) -> str:
    """The meta-schema URI of a draft given by URI or by name (``"draft-07"``, ``"2020-12"``)."""
    draft = _DRAFT_ALIASES.get(name) or _normalise_uri(name)
    if draft is None:
        known = ", ".join(_DRAFT_ALIASES)
        raise SchemaError(f"unknown draft {name!r}; use a meta-schema URI or one of {known}")
    return draft


def detect_draft(schema: Any, default: str | None = None) -> str:
    """The draft ``schema`` is written in: its ``$schema``; else ``default`` (a URI or name) if
    given; else draft 2020-12 unless it uses something that only makes sense in an older draft
    (array-form ``items``, ``additionalItems``, ``dependencies``, boolean
    ``exclusiveMinimum``/``exclusiveMaximum``, ``id``): then draft-04 when it has draft-04's
    forms, draft-07 otherwise."""
    if default is not None and not (isinstance(schema, dict) and "$schema" in schema):
        return draft_named(default)
    if isinstance(schema, dict) and "$schema" in schema:
        uri = schema["$schema"]
        if not isinstance(uri, str):
            raise SchemaError(f"'$schema' at # must be a string, not {uri!r}")
        draft = _normalise_uri(uri)
        if draft is None and (near := _near_draft(uri)) is not None:
            warnings.warn(
                f"'$schema' {uri!r} at # is not a meta-schema grammarlib knows; did you mean "
                f"{near!r}? (read as that draft)",
                stacklevel=3,
            )
            draft = near
        if draft is None:
            if "draft-03" in uri:
                raise SchemaError(f"unsupported '$schema' {uri!r} at # (draft-03 is not supported)")
            raise SchemaError(
                f"unsupported '$schema' {uri!r} at # (a custom meta-schema; grammarlib reads "
                "draft-04, -06, -07, 2019-09 and 2020-12)"
            )
        return draft
    old = draft4 = False
    for node, _ in subschemas(schema, "#"):
        items = node.get("items")
        if isinstance(items, list) or "additionalItems" in node or "dependencies" in node:
            old = True
        if isinstance(node.get("id"), str) and "$id" not in node:
            old = draft4 = True
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            if isinstance(node.get(key), bool):
                old = draft4 = True
    if draft4:
        return DRAFT4
    return DRAFT7 if old else DRAFT202012


def subschemas(schema: Any, where: str = "#") -> Iterator[tuple[dict[str, Any], str]]:
    """Every subschema object below ``schema`` (itself included), with its JSON pointer, walking
    only the keywords whose values are schemas (never ``enum``/``const``/``default``)."""
    stack = [(schema, where)]
    while stack:
        node, at = stack.pop()
        if not isinstance(node, dict):
            continue
        yield node, at
        for key, value in node.items():
            for child, pointer in _children(key, value, at):
                stack.append((child, pointer))


def _children(key: str, value: Any, at: str) -> Iterator[tuple[Any, str]]:
    here = f"{at}/{_escape(key)}"
    if key in _SCHEMA_VALUED or (key == "items" and not isinstance(value, list)):
        yield value, here
    elif key in _LIST_VALUED or key == "items":
        if isinstance(value, list):
            for i, x in enumerate(value):
                yield x, f"{here}/{i}"
    elif (key in _DICT_VALUED or key == "dependencies") and isinstance(value, dict):
        for name, x in value.items():
            if key != "dependencies" or not isinstance(x, list):
                yield x, f"{here}/{_escape(name)}"


def _escape(part: str) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


# -- the meta-schema check ------------------------------------------------------------------------


def check_shape(schema: Any, draft: str) -> None:
    """Raise :class:`SchemaError` at the JSON pointer of the first shape problem of ``schema``
    under ``draft``'s meta-schema; a problem inside an annotation keyword only warns.

    Harmless slips that real schemas are full of are warnings too, where draft-04 is stricter
    than the drafts after it and the meaning is plain: an empty ``required`` list (nothing is
    required) and an ``enum`` that lists a value twice (the same set of values)."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise SchemaError(f"a schema must be an object or a boolean at #, not {schema!r}")
    if _passes_fast_check(schema, draft):
        return
    validator = _metaschema_validator(draft)
    errors = sorted(validator.iter_errors(schema), key=lambda e: (len(e.absolute_path), str(e)))
    for error in errors:
        path = list(error.absolute_path)
        pointer = "#" + "".join(f"/{_escape(str(p))}" for p in path)
        keyword = _keyword_of(schema, path)
        message = f"malformed schema at {pointer}: {error.message}"
        if keyword in ANNOTATION_KEYWORDS:
            warnings.warn(f"{message} (ignored: an annotation)", stacklevel=4)
            continue
        reading = _harmless(error, keyword)
        if reading is not None:
            warnings.warn(f"{message} (harmless: {reading})", stacklevel=4)
            continue
        if keyword is not None:
            message = f"malformed {keyword!r} at {pointer}: {error.message}"
        raise SchemaError(message)


def _passes_fast_check(schema: dict[str, Any], draft: str) -> bool:
    """Whether ``jsonschema-rs`` (the ``fast`` extra), where installed, finds ``schema`` valid
    under ``draft``'s meta-schema: then there is nothing to report, at a hundredth of the cost
    (p50 0.05 ms against 4 ms on the real-world schemas). Anything else, its errors, a value it
    cannot read or its absence, goes to the ``jsonschema`` check, which says where and why."""
    validator = _fast_metaschema_validator(draft)
    if validator is None:
        return False
    try:
        return bool(validator.is_valid(schema))
    except Exception:  # (a value that is not JSON, a recursion limit: the slow check decides)
        return False


@functools.cache
def _fast_metaschema_validator(draft: str) -> Any | None:
    try:
        import jsonschema_rs
    except ImportError:
        return None
    try:
        return jsonschema_rs.validator_for(
            _metaschema_validator(draft).schema, validate_formats=False
        )
    except Exception:  # an unknown draft or version: the jsonschema check is always there
        return None


@functools.cache
def _metaschema_validator(draft: str) -> Any:
    """A validator of ``draft``'s meta-schema (made once: making one sets up its references).
    No format checking: ``pattern`` is ECMA-262, not Python."""
    from jsonschema.validators import validator_for

    cls = validator_for({"$schema": draft})
    return cls(cls.META_SCHEMA)


def _keyword_of(schema: Any, path: list[Any]) -> str | None:
    """The schema keyword under which ``path`` ends (walking schema positions only)."""
    keyword = None
    node: Any = schema
    at_schema = True
    for part in path:
        if at_schema:
            if not isinstance(node, dict) or part not in node:
                return keyword
            keyword, node = part, node[part]
            if keyword in _SCHEMA_VALUED or (keyword == "items" and not isinstance(node, list)):
                continue
            if keyword in _LIST_VALUED | _DICT_VALUED or keyword in ("items", "dependencies"):
                at_schema = False  # a list or dict of schemas: the next part names one
                continue
            return keyword  # inside a plain keyword's value
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return keyword
        if keyword == "dependencies" and isinstance(node, list):
            return keyword
        at_schema = True
    return keyword


def _harmless(error: Any, keyword: str | None) -> str | None:
    """How a shape problem that later drafts allow is read, or None if it is not one: an empty
    ``required`` list (draft-04 wants one name at least), repeated ``enum`` values (draft-04
    wants them distinct)."""
    if keyword == "required" and error.validator == "minItems" and error.instance == []:
        return "nothing is required"
    if keyword == "enum" and error.validator == "uniqueItems":
        return "the repeated values are one value"
    return None


# -- translation into draft 2020-12 -----------------------------------------------------------


def to_draft202012(schema: Any, draft: str) -> Any:
    """The draft 2020-12 schema with exactly the instances of ``schema`` under ``draft`` (a deep
    copy; the input is not changed). Keywords that ``draft`` does not have are dropped (they are
    annotations there), with a warning when a later draft makes them assertions."""
    if draft == DRAFT202012 or isinstance(schema, bool):
        return schema
    renames: dict[str, str] = {}  # old pointer prefix -> new pointer prefix
    out = _translate(copy.deepcopy(schema), draft, "#", "#", renames)
    if renames:
        _rewrite_refs(out, renames)
    if isinstance(out, dict):
        out["$schema"] = DRAFT202012
    return out


@functools.cache
def translated_metaschemas() -> tuple[tuple[str, Any], ...]:
    """The meta-schemas of drafts 04, 06 and 07 translated into 2020-12, by URI (with and
    without the empty fragment), so a schema that refers to its meta-schema compiles."""
    from jsonschema.validators import validator_for

    out = []
    for draft in (DRAFT4, DRAFT6, DRAFT7):
        meta = validator_for({"$schema": draft}).META_SCHEMA
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            contents = to_draft202012(meta, draft)
        contents.pop("$id", None)
        out += [(draft, contents), (draft.rstrip("#"), contents)]
    return tuple(out)


_LATER_ASSERTIONS = frozenset(
    {"const", "contains", "propertyNames", "if", "then", "else", "dependentRequired",
     "dependentSchemas", "unevaluatedProperties", "unevaluatedItems", "maxContains",
     "minContains", "prefixItems", "$dynamicRef"}
)  # fmt: skip


def _translate(
    node: Any, draft: str, old: str, new: str, renames: dict[str, str], recursive: bool = False
) -> Any:
    """``node`` in draft 2020-12; ``old``/``new``: its pointer before and after; ``recursive``:
    whether the enclosing resource has ``$recursiveAnchor: true`` (2019-09)."""
    if not isinstance(node, dict):
        return node
    if old == "#" or "$id" in node:
        recursive = node.get("$recursiveAnchor") is True
    known = _KEYWORDS[draft]
    name = _DRAFT_NAMES[draft]
    embedded = node.get("$schema")
    if old != "#" and isinstance(embedded, str) and _normalise_uri(embedded) == draft:
        node = {**node, "$schema": DRAFT202012}  # an embedded resource of the same draft
    if draft in (DRAFT4, DRAFT6, DRAFT7) and "$ref" in node:
        # every sibling of $ref is ignored; definition containers stay for pointers into them
        node = {k: v for k, v in node.items() if k == "$ref" or k in _CONTAINERS}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _LATER_ASSERTIONS and key not in known:
            warnings.warn(
                f"{key!r} at {old} is not a keyword of {name} (the schema's draft), so it is an "
                "annotation there and is ignored; declare a later '$schema' to enforce it",
                stacklevel=5,
            )
            continue
        out[key] = value
    node = out
    if draft == DRAFT4:
        if "id" in node and "$id" not in node:
            node["$id"] = node.pop("id")
        for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            if isinstance(node.get(flag), bool) and node.pop(flag) and bound in node:
                node[flag] = node.pop(bound)
    if draft in (DRAFT4, DRAFT6, DRAFT7) and isinstance(node.get("$id"), str):
        _split_id(node)
    if draft == DRAFT201909:
        if node.pop("$recursiveAnchor", False) is True:
            node["$dynamicAnchor"] = "__recursive__"
        if "$recursiveRef" in node:  # only "#" is allowed: the resource's root, dynamically
            ref = node.pop("$recursiveRef")
            if recursive:
                node["$dynamicRef"] = "#__recursive__"
            else:
                node["$ref"] = ref
    items = node.get("items")
    if isinstance(items, list):
        node["prefixItems"] = node.pop("items")
        renames[f"{old}/items"] = f"{new}/prefixItems"
        if "additionalItems" in node:
            node["items"] = node.pop("additionalItems")
            renames[f"{old}/additionalItems"] = f"{new}/items"
    else:
        node.pop("additionalItems", None)
    if "dependencies" in node and draft in (DRAFT4, DRAFT6, DRAFT7):
        deps = node.pop("dependencies")
        if isinstance(deps, dict):
            for dep_name, dep in deps.items():
                target = "dependentRequired" if isinstance(dep, list) else "dependentSchemas"
                node.setdefault(target, {})[dep_name] = dep
                renames[f"{old}/dependencies/{_escape(dep_name)}"] = (
                    f"{new}/{target}/{_escape(dep_name)}"
                )
        else:
            node["dependencies"] = deps  # malformed: left for the meta-schema check
    for key in list(node):
        value = node[key]
        old_key = key
        if key == "prefixItems" and f"{old}/items" in renames:
            old_key = "items"
        if key == "items" and f"{old}/additionalItems" in renames:
            old_key = "additionalItems"
        here_old, here_new = f"{old}/{_escape(old_key)}", f"{new}/{_escape(key)}"
        if key in _SCHEMA_VALUED or key == "items":
            node[key] = _translate(value, draft, here_old, here_new, renames, recursive)
        elif key in _LIST_VALUED and isinstance(value, list):
            node[key] = [
                _translate(x, draft, f"{here_old}/{i}", f"{here_new}/{i}", renames, recursive)
                for i, x in enumerate(value)
            ]
        elif key in _DICT_VALUED and isinstance(value, dict):
            if key == "dependentSchemas" and draft in (DRAFT4, DRAFT6, DRAFT7):
                here_old = f"{old}/dependencies"
            node[key] = {
                k: _translate(
                    x,
                    draft,
                    f"{here_old}/{_escape(k)}",
                    f"{here_new}/{_escape(k)}",
                    renames,
                    recursive,
                )
                for k, x in value.items()
            }
    return node


def _split_id(node: dict[str, Any]) -> None:
    """An old-draft ``$id`` may carry a plain-name fragment (an anchor in 2020-12)."""
    ident: str = node["$id"]
    base, _, fragment = ident.partition("#")
    if fragment and not fragment.startswith("/"):
        node["$anchor"] = unquote(fragment)
    if base:
        node["$id"] = base
    else:
        del node["$id"]


def _rewrite_refs(schema: Any, renames: dict[str, str]) -> None:
    """Point local ``$ref`` JSON pointers at the renamed places (the longest renamed prefix;
    renames already carry the renamed places above them)."""
    ordered = sorted(renames.items(), key=lambda kv: -len(kv[0]))
    for node, _ in subschemas(schema, "#"):
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            continue
        for old, new in ordered:
            if ref == old or ref.startswith(old + "/"):
                node["$ref"] = new + ref[len(old) :]
                break
