"""The packages under src/reachwatch are layered along the data flow, and the imports show it.

Every `import` and `from ... import` of every module is read with `ast`, wherever it stands:
at the top, inside a function (an import deferred to call time still runs, and deferring one
is the usual way a cycle is hidden), and under `if TYPE_CHECKING:` (a type named in a signature
is a dependency of the design that mypy and readers follow; the guard is the other usual way to
hide a cycle). Both count like any other import. Dynamic imports by name (`importlib`) are not
seen; only the command line uses one, to register its own commands.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = SRC / "reachwatch"
README = REPO / "README.md"

# The layers, bottom first. A package may import only from layers below its own: never from its
# own layer, never from one above. The order follows DESIGN.md's data flow: the shared
# vocabulary and file formats at the bottom, then the classifier (one measurement, its
# verdicts), then what makes or keeps measurements and judges them with it (probe, store), then
# what drives those (the control repeats the probe's steps; ingest fills the store), the lab
# that runs probe and control in a censored network, detection over stored verdicts, cases
# checked against incidents, the report and the simulator that build on cases, the evidence
# bundle that carries a report, the web service over all of these, and the command line on
# top. README.md shows the same list.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("net", "formats", "catalog", "cluster"),
    ("classify",),
    ("probe", "store"),
    ("control", "ingest"),
    ("lab",),
    ("detect",),
    ("cases", "watch"),
    ("report", "simulate"),
    ("evidence",),
    ("web",),
    ("cli",),
)
RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}
# The package root (`reachwatch/__init__.py`) runs before any of its subpackages, so what it
# imports is loaded for everyone: only the vocabulary it re-exports, up to the classifier's.
ROOT = "reachwatch"
ROOT_MAX_RANK = RANK["classify"]


@dataclass(frozen=True)
class Import:
    source: str  # the importing module's file, relative to src/
    line: int
    importer: str  # top-level part of reachwatch the importing module belongs to
    imported: str  # top-level part it imports from
    module: str  # the module named in the statement


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str | None:
    """The top-level part of reachwatch a module belongs to ("reachwatch" for the root)."""
    parts = module.split(".")
    if parts[0] != ROOT:
        return None
    return parts[1] if len(parts) > 1 else ROOT


def _named_modules(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    if base == ROOT:  # `from reachwatch import store` names the subpackage
        return [f"{ROOT}.{alias.name}" for alias in node.names]
    return [base]


def _imports() -> Iterator[Import]:
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        importer = _part(module)
        assert importer is not None
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for named in _named_modules(node, module, path.name == "__init__.py"):
                imported = _part(named)
                if imported is not None and imported != importer:
                    rel = path.relative_to(SRC).as_posix()
                    yield Import(rel, node.lineno, importer, imported, named)


IMPORTS = list(_imports())


def _parts() -> set[str]:
    found = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    return found | {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def _shown(imports: list[Import]) -> str:
    return "; ".join(f"{i.source}:{i.line} imports {i.module}" for i in imports)


def test_the_graph_sees_the_imports_it_is_about() -> None:
    # A parser that found nothing would pass every check below.
    edges = {(i.importer, i.imported) for i in IMPORTS}
    assert {("ingest", "store"), ("control", "probe"), ("cli", "ingest")} <= edges
    deferred = [i for i in IMPORTS if i.source == "reachwatch/probe/_run.py" and i.line > 100]
    assert deferred, "the function-level import of the classifier in the probe was not seen"


def test_every_part_of_reachwatch_has_a_layer() -> None:
    unplaced = sorted(_parts() - RANK.keys())
    assert not unplaced, f"place {unplaced} in LAYERS (tests/test_import_graph.py) and README.md"
    gone = sorted(RANK.keys() - _parts())
    assert not gone, f"LAYERS names parts that do not exist: {gone}"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_parts() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for i in IMPORTS:
        edges[i.importer].add(i.imported)
    cycles = _cycles(edges)
    details = [
        _shown([i for i in IMPORTS if i.importer in cycle and i.imported in cycle])
        for cycle in cycles
    ]
    assert not cycles, f"import cycles: {cycles}: {details}"


def test_no_part_imports_its_own_layer_or_one_above() -> None:
    upward = [
        i
        for i in IMPORTS
        if i.importer != ROOT and i.imported in RANK and RANK[i.imported] >= RANK[i.importer]
    ]
    assert not upward, f"imports against the layers: {_shown(upward)}"


def test_the_package_root_imports_only_the_vocabulary() -> None:
    heavy = [i for i in IMPORTS if i.importer == ROOT and RANK[i.imported] > ROOT_MAX_RANK]
    assert not heavy, f"reachwatch/__init__.py loads more than it re-exports: {_shown(heavy)}"


def test_only_the_command_line_imports_the_command_line() -> None:
    outside = [i for i in IMPORTS if i.imported == "cli"]
    assert not outside, f"the library must not depend on reachwatch.cli: {_shown(outside)}"


def _user_error_uses() -> Iterator[str]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("cli/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and rel == "errors.py":
                continue  # where it is defined
            named = (
                (isinstance(node, ast.Name) and node.id == "UserError")
                or (isinstance(node, ast.Attribute) and node.attr == "UserError")
                or (
                    isinstance(node, ast.ImportFrom)
                    and any(a.name == "UserError" for a in node.names)
                )
            )
            if named:
                yield f"{rel}:{getattr(node, 'lineno', '?')}"


def test_user_error_stays_at_the_command_line() -> None:
    """The library raises its own ReachwatchError family; UserError is the command line's."""
    uses = list(_user_error_uses())
    assert not uses, f"UserError outside reachwatch/cli: {uses}"


def test_every_exported_exception_is_a_reachwatch_error() -> None:
    """What a package exports for its callers to catch belongs to one family, which the command
    line turns into one line and an exit code. The exceptions listed here are caught inside
    reachwatch (a record's fate, a control that did not answer) and never reach a user."""
    import importlib

    from reachwatch.errors import ReachwatchError, UserError

    internal = {
        "classify.InvalidMeasurement",  # quarantined by ingest, counted by classify
        "classify.Unsupported",  # stored raw by ingest
        "control.ControlUnavailable",  # recorded as the measurement's control_failure
    }
    exported: dict[str, type[BaseException]] = {}
    for part in sorted(_parts() - {"cli", "errors"}):
        package = importlib.import_module(f"reachwatch.{part}")
        for name in getattr(package, "__all__", ()):
            value = getattr(package, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                exported[f"{part}.{name}"] = value
    assert "store.StoreError" in exported and "probe.TargetError" in exported
    strays = sorted(
        name
        for name, cls in exported.items()
        if name not in internal and not issubclass(cls, ReachwatchError)
    )
    assert not strays, f"exported exceptions outside the ReachwatchError family: {strays}"
    assert not [n for n, cls in exported.items() if issubclass(cls, UserError)]
    assert sorted(internal - exported.keys()) == [], "an exception listed as internal is gone"


def _readme_layers() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- layers: .*? -->\n```\n(.*?)```", text, re.S)
    if match is None:
        pytest.fail("README.md has no layers block (<!-- layers: ... --> and a code block)")
    # Top first in the README, as a reader meets it; each line is one layer.
    lines = [line.split("#")[0] for line in match.group(1).splitlines()]
    return [re.findall(r"[a-z]+", line) for line in reversed(lines) if line.strip()]


def test_the_readme_shows_the_same_layers() -> None:
    assert [set(layer) for layer in _readme_layers()] == [set(layer) for layer in LAYERS]
