"""The rows the training loops write and read: jsonl stage files, SFT and DPO rows built
from a request and its replies, and the selections over scored rows."""

import json
from pathlib import Path
from statistics import mean

from tailor.data.schema import Example
from tailor.io import atomic_write_text
from tailor.llm.types import ChatRequest


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def sft_row(request: ChatRequest, reply: str, weight: float | None = None) -> dict:
    """The request's messages, then the whole reply (which starts with the prefill); a
    ``weight`` scales the row's loss (reward-weighted SFT)."""
    row = {"messages": [m.model_dump() for m in request.messages] + [{"role": "assistant", "content": reply}]}
    return row if weight is None else {**row, "weight": weight}


def json_reply(field: str, value: str) -> str:
    return json.dumps({field: value}, ensure_ascii=False)


def dpo_row(request: ChatRequest, chosen: str, rejected: str) -> dict:
    """A preference pair of whole replies over the request's prompt."""
    *prompt, better = sft_row(request, chosen)["messages"]
    return {"prompt": prompt, "chosen": [better], "rejected": sft_row(request, rejected)["messages"][-1:]}


def parsed(row: dict) -> bool:
    """Whether a stage row's model output parsed; rows written before the flag existed did."""
    return row.get("parsed", True)


def unparsed_scored(score, ok: bool):
    """A reply's score, or None when it did not parse: unparsed output is never a target."""
    return score if ok else None


def holdout_split(rows: list[dict], share: float) -> tuple[list[dict], list[dict]]:
    """(training rows, held-out rows): every k-th row held out, k = round(1 / share), as
    many as ``share`` of the rows makes whole (none under one)."""
    count = int(len(rows) * share)
    if count == 0:
        return rows, []
    step = max(2, round(1 / share))
    held = list(range(step - 1, len(rows), step))[:count]
    held += [i for i in range(len(rows) - 1, -1, -1) if i not in held][: count - len(held)]  # shares over 1/2
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def top_scored(rows: list[dict], examples: list[Example], limit: int = 1, threshold: float | None = None) -> list[dict]:
    """Per example (in order), its ``limit`` highest-scored rows scoring at least
    ``threshold``; ties go to the earlier row, and rows without a score (unscored or
    unparsed) never count."""
    kept = []
    for example in examples:
        scored = [row for row in rows if row["id"] == example.id and row["score"] is not None and (threshold is None or row["score"] >= threshold)]
        kept += sorted(scored, key=lambda row: -row["score"])[:limit]  # a stable sort keeps ties in row order
    return kept


def mean_scored(rows: list[dict]) -> float:
    """The mean ``score`` of the rows that have one (NaN when none has)."""
    scored = [row["score"] for row in rows if row["score"] is not None]
    return mean(scored) if scored else float("nan")
