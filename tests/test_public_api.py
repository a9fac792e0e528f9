"""The public surface: explicit __all__, lazy heavy imports."""

from __future__ import annotations

import subprocess
import sys

import verticalize


def test_all_names_resolve() -> None:
    for name in verticalize.__all__:
        assert getattr(verticalize, name) is not None, name


def test_import_does_not_pull_torch() -> None:
    code = "import sys, verticalize; from verticalize import Adapter; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_errors_are_verticalize_errors() -> None:
    for name in ("RecipeError", "UnknownNameError", "DataError", "MissingDependencyError", "ModelLoadError",
                 "RunError", "SandboxError"):
        assert issubclass(getattr(verticalize, name), verticalize.VerticalizeError)
