"""Validation helpers: ``jsonschema`` validators that judge numbers exactly, as grammarlib does."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from .dialects import detect_draft

__all__ = ["exact_number", "exact_validator"]


def exact_validator(schema: Any, *, registry: Any = None) -> Any:
    """A ``jsonschema`` validator (the schema's draft as grammarlib reads it, format checking on
    for the formats grammarlib enforces; others are annotations) for values parsed with
    ``json.loads(text, parse_float=exact_number)``: numbers are then judged by their exact
    decimal value, as grammarlib does. (With Python floats, a long number text such as
    ``670966873035357577.028`` rounds to an integral float and would count as an integer.)"""
    import jsonschema

    from ..formats import FORMATS

    text = schema if isinstance(schema, str) else json.dumps(schema)
    root = json.loads(text, parse_float=exact_number)
    cls = jsonschema.validators.validator_for({"$schema": detect_draft(root)})
    checker = jsonschema.FormatChecker(formats=())
    # grammarlib enforces its formats in every draft (an older draft's schema that says
    # "uuid" means one), so the formats a draft's checker lacks come from the newest draft's.
    newest = jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers
    own = cls.FORMAT_CHECKER.checkers
    checker.checkers = {k: own.get(k, newest.get(k)) for k in FORMATS if k in own or k in newest}
    extra = {} if registry is None else {"registry": registry}
    return cls(root, format_checker=checker, **extra)


def exact_number(text: str) -> int | Decimal:
    """A JSON number with a fraction or exponent, exactly: an ``int`` when its value is integral
    (``jsonschema`` counts ``1.0`` as an integer too) below ``1e1000``, else a ``Decimal``.
    Raises ``ValueError`` for an exponent beyond what ``Decimal`` can hold."""
    try:
        value = Decimal(text)
    except ArithmeticError:  # decimal.InvalidOperation: an exponent past Decimal's range
        raise ValueError(f"the number {text[:40]!r} is beyond exact decimal arithmetic") from None
    if value.adjusted() < 1000 and value == value.to_integral_value():
        return int(value)
    return value  # huge exponents stay Decimal (only "number" schemas allow exponents)
