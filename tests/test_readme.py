"""The README's library snippet runs as written, on the real offline model."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def library_snippet() -> str:
    section = README.read_text(encoding="utf-8").split("## Library\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.model
def test_the_readme_library_snippet_runs():
    scope: dict = {}
    exec(compile(library_snippet(), str(README), "exec"), scope)
    assert len(scope["answers"]) == 4 and all(a.text and a.trace["retrieved"] for a in scope["answers"])
    assert len(scope["baseline"]) == 2 and "retrieved" not in scope["baseline"][0].trace
    assert set(scope["METHODS"]) >= {"nopers", "rag", "rag_random", "planpers", "vac", "rpo", "popi"}
