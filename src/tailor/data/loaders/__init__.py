"""Dataset loaders. ``load_examples`` picks the right one from the path's shape."""

from pathlib import Path

from tailor.data.loaders._records import collecting, noted_any, read_json_list
from tailor.data.loaders.jsonl import load_jsonl, write_jsonl
from tailor.data.loaders.lamp import load_lamp
from tailor.data.loaders.lampqa import CATEGORIES, SPLITS, load_lampqa, load_lampqa_hub
from tailor.data.schema import Example
from tailor.errors import DataError

FORMATS = ("auto", "lampqa", "lamp", "longlamp", "jsonl")

__all__ = ["CATEGORIES", "FORMATS", "SPLITS", "collecting", "load_examples", "load_jsonl", "load_lamp", "load_lampqa", "load_lampqa_hub", "write_jsonl"]


def load_examples(path: str | Path, fmt: str = "auto", split: str | None = None) -> list[Example]:
    """Load any supported dataset (``_load``); a dataset or split with no records is an error."""
    examples = _load(Path(path), fmt, split)
    if not examples and not noted_any():
        raise DataError(str(path), None, "<records>", "holds no examples" + (f" in split {split!r}" if split else ""))
    return examples


def _load(path: Path, fmt: str, split: str | None) -> list[Example]:
    """Load any supported dataset. ``fmt='auto'`` decides from the path:
    ``.jsonl`` → Example JSONL; ``*_questions.json`` → LaMP/LongLaMP (a directory of
    task folders holding them: all tasks, each example's category its task); a directory of
    ``<Category>/<split>.json`` or a JSON list with ``rubric_aspects`` → LaMP-QA;
    a JSON list with ``input``/``output`` → LongLaMP."""
    path = Path(path)
    if not path.exists():
        raise DataError(str(path), None, "<file>", "does not exist")
    if split is not None and path.is_file():
        raise DataError(str(path), None, "<split>", f"--split {split} applies to a dataset directory; this is a single file")
    if fmt == "auto":
        fmt = _detect(path)
    if fmt == "jsonl":
        return load_jsonl(path)
    if fmt == "lampqa":
        return load_lampqa(path, split=split)
    if fmt in ("lamp", "longlamp"):
        if path.is_dir():
            pattern = f"{split}_questions.json" if split else "*_questions.json"
            files = sorted(path.glob(pattern))
            if files:
                return [e for f in files for e in load_lamp(f)]
            tasks = sorted(f.parent for f in path.glob(f"*/{pattern}"))
            if not tasks:
                raise DataError(str(path), None, "<files>", f"no {pattern} found, nor task folders holding one")
            # one folder per task (multi-task training): the task names each example's category
            return [e.model_copy(update={"category": task.name}) for task in tasks for f in sorted(task.glob(pattern)) for e in load_lamp(f)]
        return load_lamp(path)
    raise DataError(str(path), None, "<format>", f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _detect(path: Path) -> str:
    if path.suffix == ".jsonl":
        return "jsonl"
    if path.is_dir():
        if any(path.glob("*_questions.json")) or any(path.glob("*/*_questions.json")):
            return "lamp"
        if any(path.glob("*/*.json")):
            return "lampqa"
        raise DataError(str(path), None, "<format>", "cannot tell the dataset format of this directory; pass --format")
    if path.name.endswith("_questions.json"):
        return "lamp"
    records = read_json_list(path)
    if not records:
        raise DataError(str(path), None, "<records>", "holds no examples")
    first = records[0]
    if "rubric_aspects" in first or "narrative" in first:
        return "lampqa"
    if "input" in first:
        return "longlamp"
    raise DataError(str(path), None, "<format>", "cannot tell the dataset format from the first record; pass --format")
