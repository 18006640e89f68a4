"""Standing check: every file of a run folder is named in one place, ``tailor.runs``. No
other module builds a path from a run file's name written as a string."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from test_layout import SRC, own_part, sources

# Parts whose paths are never a run folder's: bundled data and datasets, model and cache
# folders, prompt templates, the environment checks.
NO_RUN_FOLDERS = {"data", "models", "paths", "prompts", "doctor", "metrics"}
# Names other modules may still join: the browser's own templates, and PEFT's names inside a
# LoRA adapter folder (its format, not tailor's).
NOT_RUN_FILES = {"templates", "adapter_config.json", "adapter_model.safetensors"}
FILE_NAME = re.compile(r"[\w.-]+\.(jsonl?|md|png|log|partial)")


def docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def text_of(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with ``{}`` for each value."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
    return None


def is_path_name(node: ast.AST) -> bool:
    """Whether ``node`` is ``Path(...).name``."""
    return (isinstance(node, ast.Attribute) and node.attr == "name" and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "Path")


def named_files(path: Path) -> Iterator[tuple[int, str]]:
    """The string literals of ``path`` that name a file in path-building code: joined with
    ``/``, passed to ``joinpath`` or ``with_name``, compared with ``Path(…).name`` — or shaped as a run file's name (``*.json``, ``*.jsonl``, ``*.md``, ``*.png``, ``*.log``)
    anywhere but a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = docstrings(tree)
    for node in ast.walk(tree):
        sides: list[ast.AST] = []
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            sides = [node.left, node.right]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("joinpath", "with_name"):
            sides = list(node.args)
        elif isinstance(node, ast.Compare) and any(is_path_name(n) for n in [node.left, *node.comparators]):
            sides = [node.left, *node.comparators]
        elif isinstance(node, ast.Constant) and id(node) not in skip and isinstance(node.value, str) and FILE_NAME.fullmatch(node.value):
            sides = [node]
        for side in sides:
            text = text_of(side)
            if text is not None and text not in NOT_RUN_FILES:
                yield side.lineno, text


def test_no_module_but_runs_names_a_run_file():
    found = sorted({
        f"{path.relative_to(SRC)}:{line}: {text!r}"
        for path in sources() if path != SRC / "runs.py" and own_part(path) not in NO_RUN_FOLDERS
        for line, text in named_files(path)
    })
    assert found == []
