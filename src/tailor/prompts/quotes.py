"""Keeping a target out of reasoning written by a model that was shown it (REST-PG's
reasoning data, RPO's trajectories): a line that shares a run of words with the target
quotes it, and is dropped."""

import re

COPY_RUN = 8  # words in a row shared with the target that make a line a quotation


def _word_runs(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def without_quotes(text: str, target: str, run: int = COPY_RUN) -> str:
    """The non-empty lines of ``text`` sharing no ``run`` words in a row with ``target``
    (fewer for a shorter target: all of its words)."""
    n = max(1, min(run, len(re.findall(r"\w+", target))))
    quoted = _word_runs(target, n)
    return "\n".join(line.strip() for line in text.splitlines() if line.strip() and not (_word_runs(line, n) & quoted))
