"""The ingest hot path listed in setup.py's COMPILED is installed as compiled extensions."""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _compiled() -> list[str]:
    """setup.py's COMPILED, read from its source: importing setup.py would run setup()."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "COMPILED"
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return [str(path) for path in value]
    raise AssertionError("setup.py has no COMPILED = [...] list")


COMPILED = _compiled()


def test_compiled_list_names_existing_modules() -> None:
    assert COMPILED
    missing = [path for path in COMPILED if not (REPO / "src" / path).is_file()]
    assert not missing, f"setup.py's COMPILED names files that are not in src/: {missing}"


@pytest.mark.skipif(
    bool(os.environ.get("REACHWATCH_PURE_PYTHON")),
    reason="REACHWATCH_PURE_PYTHON is set: the package is built without compiling",
)
@pytest.mark.parametrize("path", COMPILED)
def test_module_is_compiled(path: str) -> None:
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    file = module.__file__ or ""
    assert file.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), (
        f"{module.__name__} is not a compiled extension in the installed package: {file}"
    )


@pytest.mark.skipif(
    not os.environ.get("REACHWATCH_PURE_PYTHON"),
    reason="REACHWATCH_PURE_PYTHON is not set: the compiled build is tested above",
)
@pytest.mark.parametrize("path", COMPILED)
def test_module_is_interpreted_in_the_pure_build(path: str) -> None:
    # `make unit-pure` tests the interpreted package: it must not import a compiled module.
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    file = module.__file__ or ""
    assert file.endswith(".py"), f"{module.__name__} is compiled in a pure-Python build: {file}"
