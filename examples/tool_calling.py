"""Tool calling with a structural tag: free text, then exactly one tool call whose arguments
follow that tool's JSON Schema.

pip install -e '.[generate]'
python examples/tool_calling.py
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

import grammarlib as gl
from grammarlib.structural_tag import json_schema, tag, triggered_tags

TOOLS = {
    "get_weather": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "convert_currency": {
        "type": "object",
        "properties": {
            "amount": {"type": "number"},
            "from": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "to": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        "required": ["amount", "from", "to"],
        "additionalProperties": False,
    },
}

# One tag per tool: '<tool_call name="...">' opens it, its arguments follow its own schema.
SPEC = triggered_tags(
    ["<tool_call"],
    [
        tag(f'<tool_call name="{name}">', json_schema(schema), "</tool_call>")
        for name, schema in TOOLS.items()
    ],
    at_least_one=True,
    stop_after_first=True,
)

PROMPT = (
    "You can call these tools:\n"
    '<tool_call name="get_weather">{"city": ..., "unit": "celsius" | "fahrenheit"}</tool_call>\n'
    '<tool_call name="convert_currency">{"amount": ..., "from": "USD", "to": "EUR"}</tool_call>\n'
    "User: How much is 25 US dollars in euros?\n"
    "Assistant: "
)

CALL = re.compile(r'<tool_call name="(\w+)">(.*)</tool_call>', re.DOTALL)


def main(model: Any = None, tokenizer: Any = None, **options: Any) -> tuple[str, dict]:
    """The chosen tool and its arguments (validated against that tool's schema)."""
    if model is None:
        from grammarlib.integrations.models import load_model

        model, tokenizer = load_model()
    grammar = gl.Grammar.from_structural_tag(SPEC)
    text = gl.generate(
        model, tokenizer, PROMPT, grammar=grammar, **{"max_new_tokens": 80, **options}
    )
    match = CALL.search(text)
    assert match is not None, text  # the grammar guarantees exactly one call
    name, arguments = match.group(1), json.loads(match.group(2))
    jsonschema.validate(arguments, TOOLS[name])
    return name, arguments


if __name__ == "__main__":
    print(main())
