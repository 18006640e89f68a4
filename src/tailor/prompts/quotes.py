"""Quotation, by runs of words in a row: keeping a target out of reasoning written by a
model that was shown it (REST-PG's reasoning data, RPO's trajectories: a line that quotes
the target is dropped), telling an answer that recites the user's history back, and
finding the spans it recites (the planted-strict metric gives them no credit)."""

import re

COPY_RUN = 8  # words in a row shared with the target that make a line a quotation


def _words(text: str) -> list[re.Match]:
    return list(re.finditer(r"\w+", text))


def _word_runs(text: str, n: int) -> set[tuple[str, ...]]:
    words = [w.group().lower() for w in _words(text)]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _run_length(source: str, run: int) -> int:
    """``run``, or all of ``source``'s words when it has fewer."""
    return max(1, min(run, len(re.findall(r"\w+", source))))


def quotes(text: str, source: str, run: int = COPY_RUN) -> bool:
    """Whether ``text`` shares ``run`` words in a row with ``source`` (all of a shorter source's)."""
    n = _run_length(source, run)
    return bool(_word_runs(text, n) & _word_runs(source, n))


def quoted_spans(text: str, source: str, run: int = COPY_RUN) -> list[tuple[int, int]]:
    """Where ``text`` quotes ``source``: the (start, end) character spans of its runs of
    ``run`` words in a row shared with ``source`` (all of a shorter source's), overlapping
    runs merged."""
    n = _run_length(source, run)
    shared, words = _word_runs(source, n), _words(text)
    spans: list[tuple[int, int]] = []
    for i in range(len(words) - n + 1):
        if tuple(w.group().lower() for w in words[i : i + n]) in shared:
            start, end = words[i].start(), words[i + n - 1].end()
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    return spans


def without_quotes(text: str, target: str, run: int = COPY_RUN) -> str:
    """The non-empty lines of ``text`` that do not quote ``target``."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip() and not quotes(line, target, run))
