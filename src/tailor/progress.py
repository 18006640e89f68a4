"""Rich progress bars for long work; silent when TAILOR_PROGRESS=0. A bar opened while
another is showing is transient: it shows the work under way, then makes way, so each
long step leaves one bar behind."""

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")
_open = threading.local()  # how many bars this thread is showing


def enabled() -> bool:
    return os.environ.get("TAILOR_PROGRESS", "1") != "0"


@contextlib.contextmanager
def _progress(*extra_columns) -> Iterator[Progress]:
    depth = getattr(_open, "depth", 0)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), *extra_columns)
    _open.depth = depth + 1
    try:
        with Progress(*columns, transient=depth > 0) as progress:
            yield progress
    finally:
        _open.depth -= 1


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a bar; none when progress is off or there is nothing to do."""
    if not enabled() or total == 0:
        yield from items
        return
    with _progress() as progress:
        yield from progress.track(items, total=total, description=escape(description))


@contextlib.contextmanager
def bar(description: str, total: int | None) -> Iterator[Callable[..., None]]:
    """A bar advanced by hand: the block calls ``advance(steps=1, note="")``; the note
    (a loss, say) shows after the bar."""
    if not enabled():
        yield lambda steps=1, note="": None
        return
    with _progress(TextColumn("{task.fields[note]}")) as progress:
        task = progress.add_task(escape(description), total=total, note="")
        yield lambda steps=1, note="": progress.update(task, advance=steps, note=escape(note))
