"""Standing checks of the code's shape: small files, a thin CLI, and imports that only go
down the floors (no cycles), metrics on their own floor below training."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tailor"

# Lowest floor first: a module may import its own floor and those below, never above.
FLOORS = [
    {"errors", "paths", "io", "config", "progress", "logs", "render", "kvstore", "runs", "run_history", "models", "names", "source"},
    {"data"},
    {"llm"},
    {"retrieval"},
    {"prompts"},
    {"methods"},
    {"metrics"},
    {"pool"},
    {"train"},
    {"pipeline"},
    {"eval", "run_status"},
    {"browser"},
    {"service", "doctor"},
    {"cli"},
]
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}


def part_of(module: str) -> str | None:
    """The top-level part of tailor a dotted module name belongs to."""
    parts = module.split(".")
    return parts[1] if parts[0] == "tailor" and len(parts) > 1 else None


def imports(path: Path) -> set[str]:
    """Every tailor module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m == "tailor" or m.startswith("tailor.")}


def own_part(path: Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0].removesuffix(".py")


def sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_source_file_is_longer_than_400_lines():
    long = {str(p.relative_to(SRC)): n for p in sources() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_the_command_line_only_parses_arguments_in_short_modules():
    cli = sorted((SRC / "cli").glob("*.py"))
    assert cli and not (SRC / "cli.py").exists()
    long = {p.name: n for p in cli if (n := len(p.read_text(encoding="utf-8").splitlines())) >= 300}
    assert long == {}


def test_training_never_imports_the_evaluation_harness():
    offenders = {str(p.relative_to(SRC)): sorted(m for m in imports(p) if part_of(m) == "eval") for p in (SRC / "train").rglob("*.py")}
    assert {path: found for path, found in offenders.items() if found} == {}


def test_every_part_is_on_a_floor():
    parts = {own_part(p) for p in sources()} - {"__init__"}
    assert parts - set(FLOOR) == set()


def test_imports_only_go_down_the_floors():
    upward = []
    for path in sources():
        mine = own_part(path)
        if mine == "__init__":
            continue
        for module in imports(path):
            target = part_of(module)
            if target and target != mine and FLOOR[target] > FLOOR[mine]:
                upward.append(f"{path.relative_to(SRC)} imports {module}")
    assert upward == []


def test_the_parts_import_each_other_without_cycles():
    edges: dict[str, set[str]] = {}
    for path in sources():
        mine = own_part(path)
        edges.setdefault(mine, set()).update(t for m in imports(path) if (t := part_of(m)) and t != mine)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in edges.get(start, ()))

    assert [part for part in edges if reaches(part, part, set())] == []
