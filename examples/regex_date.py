"""A regular expression as the constraint: an ISO date and a time slot.

pip install -e '.[generate]'
python examples/regex_date.py
"""

from __future__ import annotations

from typing import Any

import grammarlib as gl

SLOT = r"20[2-3][0-9]-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) (0[89]|1[0-7]):(00|30)"

PROMPT = "Book the dentist for the fourth of March 2027 at half past nine.\nSlot: "


def main(model: Any = None, tokenizer: Any = None, **options: Any) -> str:
    if model is None:
        from grammarlib.integrations.models import load_model

        model, tokenizer = load_model()
    return gl.generate(model, tokenizer, PROMPT, regex=SLOT, **{"max_new_tokens": 24, **options})


if __name__ == "__main__":
    print(main())
