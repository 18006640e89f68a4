"""docs/architecture.md is drawn from the code: every arrow of its diagram is an import
between the parts it joins, and every import between two parts follows the arrows."""

import re
from pathlib import Path

from test_layout import SRC, imports, own_part, part_of, sources

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
NODE = re.compile(r'^\s*(\w+)\["([^"]*)"\]', re.M)
CHAIN = re.compile(r"^\s*\w+(?:\s*-->\s*\w+)+\s*$", re.M)
PART_NAME = re.compile(r"\b([a-z_]+)(?:/|\.py)")


def diagram() -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """The diagram's nodes (node -> the parts its label names, as ``x/`` or ``x.py``) and
    its arrows."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("```mermaid", 1)[1].split("```", 1)[0]
    nodes = {node: set(PART_NAME.findall(label.split(" — ")[0] if " — " in label else label)) for node, label in NODE.findall(block)}
    arrows = set()
    for chain in CHAIN.findall(block):
        names = [name.strip() for name in chain.split("-->")]
        arrows |= set(zip(names, names[1:]))
    return nodes, arrows


def part_imports() -> set[tuple[str, str]]:
    """(importer, imported) for every import between two parts of tailor."""
    edges = set()
    for path in sources():
        mine = own_part(path)
        edges |= {(mine, part) for module in imports(path) if (part := part_of(module)) and part != mine and mine != "__init__"}
    return edges


def reachable(arrows: set[tuple[str, str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for a, b in arrows:
            if a == here and b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def test_the_diagram_names_every_part_once():
    nodes, _ = diagram()
    named = [part for parts in nodes.values() for part in parts]
    parts = {own_part(p) for p in sources()} - {"__init__"}
    assert sorted(named) == sorted(parts), "each part of src/tailor in exactly one node of docs/architecture.md"
    assert all((SRC / part).is_dir() or (SRC / f"{part}.py").is_file() for part in named)


def test_every_arrow_is_an_import():
    nodes, arrows = diagram()
    edges = part_imports()
    assert arrows
    unbacked = sorted((a, b) for a, b in arrows if not any((x, y) in edges for x in nodes[a] for y in nodes[b]))
    assert unbacked == [], "arrows with no import behind them"


def test_every_import_follows_the_arrows():
    nodes, arrows = diagram()
    node_of = {part: node for node, parts in nodes.items() for part in parts}
    hidden = sorted(
        (a, b) for a, b in part_imports()
        if node_of[a] != node_of[b] and node_of[b] not in reachable(arrows, node_of[a])
    )
    assert hidden == [], "imports the diagram does not draw (no path of arrows from importer to imported)"
