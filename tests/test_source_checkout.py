"""A source checkout imports without `pip install`: masks/ and integrations/ are reached as
grammarlib.masks and grammarlib.integrations (installed, setuptools' package-dir maps them)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_public_api_imports_from_a_checkout_without_installing() -> None:
    # -S: no site initialisation, so no .pth file (the editable install's finder) is read; the
    # dependencies come from site-packages by PYTHONPATH, grammarlib only from the checkout.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), sysconfig.get_path("purelib")])}
    code = (
        "import grammarlib as gl, grammarlib.masks, grammarlib.integrations.hypothesis as h;"
        "assert grammarlib.masks.__file__.startswith({!r});"
        "m = gl.compile(gl.Grammar.from_regex('[0-9]+')).matcher();"
        "assert m.accept_string('12') and m.can_terminate(); print(h.strings.__name__)"
    ).format(str(ROOT / "masks"))
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "strings"
