"""``python -m grammarlib``: see :mod:`grammarlib.integrations.cli`."""

import os
import sys

from grammarlib.integrations.cli import main

code = main()
if "torch" in sys.modules:
    # Tearing torch and transformers' modules down at exit takes seconds (3.7 s measured on 2
    # busy cores after a generation) and does nothing for a finished command: flush and leave.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
