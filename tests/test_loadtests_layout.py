"""`loadtests/` is divided by role, and the roles depend on each other one way only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "loadtests"
# What each role may import from loadtests: the load and the analysis stand alone, publishing
# reads the analysis, the runners put the three together.
MAY_IMPORT = {
    "load": {"load"},
    "analysis": {"analysis"},
    "publishing": {"analysis", "publishing"},
    "runners": {"load", "analysis", "publishing", "runners"},
}
MAX_LINES = 300


def modules() -> list[Path]:
    return sorted(p for p in ROOT.glob("*/*.py") if p.name != "__init__.py")


def loadtests_imports(path: Path) -> set[str]:
    """Every `loadtests.<role>.<module>` (or `loadtests.<role>`) the file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("loadtests"):
            if node.module.count(".") == 1:  # from loadtests.analysis import plots
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("loadtests")}
    return found


def test_every_module_has_a_role_folder() -> None:
    assert {p.parent.name for p in modules()} == set(MAY_IMPORT)
    assert [p.name for p in ROOT.glob("*.py")] == ["__init__.py"]


def test_roles_depend_one_way_and_no_runner_reaches_into_another() -> None:
    wrong = []
    for path in modules():
        role, name = path.parent.name, path.stem
        for imported in loadtests_imports(path):
            _, other_role, other = [*imported.split("."), ""][:3]
            if other_role not in MAY_IMPORT[role]:
                wrong.append(f"{role}/{name} imports {imported}")
            # A runner may use its own helper modules (bench -> bench_plan), never another
            # runner's: what two runners share belongs in load/, analysis/ or publishing/.
            if role == other_role == "runners" and not other.startswith(f"{name}_"):
                wrong.append(f"runner {name} imports runner {other}")
    assert wrong == []


def test_no_module_is_longer_than_a_reader_can_hold() -> None:
    lengths = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in modules()}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}
