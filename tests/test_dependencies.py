"""The declared dependencies are exactly what the code imports: a plain `pip install` runs
every command, and nothing is declared that no module uses."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import reachwatch

ROOT = Path(__file__).resolve().parents[1]
SOURCES = Path(reachwatch.__file__).resolve().parent


def _name(requirement: str) -> str:
    name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported() -> set[str]:
    names: set[str] = set()
    for path in SOURCES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "reachwatch"}


def test_every_import_is_a_declared_dependency_and_every_dependency_is_imported() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    owners = packages_distributions()
    used: set[str] = set()
    for module in sorted(_imported()):
        dists = {_name(d) for d in owners.get(module, [])}
        assert dists & declared, f"{module} is imported, {dists or 'its package'} not declared"
        used |= dists & declared
    assert declared - used == set(), "declared, never imported"
