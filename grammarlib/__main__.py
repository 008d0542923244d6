"""``python -m grammarlib``: see :mod:`grammarlib.integrations.cli`."""

from grammarlib.integrations.cli import main

raise SystemExit(main())
