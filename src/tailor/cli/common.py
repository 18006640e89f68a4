"""What every command shares: the consoles, error handling in one place, option types."""

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tailor.errors import TailorError

console = Console()
err_console = Console(stderr=True)

Format = Annotated[str, typer.Option("--format", "-f", help="auto, lampqa, lamp, longlamp or jsonl")]
Split = Annotated[Optional[str], typer.Option(help="train, validation or test (directories only)")]
BaseUrl = Annotated[Optional[str], typer.Option(help="server URL for the openai backend; several replicas comma-separated")]
RoleAdapters = Annotated[Optional[list[str]], typer.Option(
    "--adapter", help="ROLE=PATH, repeatable: the trained adapter playing ROLE (policy, planner, reflection, summarizer, …), or a training run's folder (the adapter it kept)",
)]


def fail(err: Exception) -> None:
    err_console.print(f"[bold red]error:[/] {escape(str(err))}")
    raise typer.Exit(1)


def command(app: typer.Typer, name: str | None = None, **settings) -> Callable:
    """``app.command``, with a ``TailorError`` anywhere in the command printed as one
    clear line and exit status 1 (no traceback: it names what to fix)."""

    def register(function: Callable) -> Callable:
        @functools.wraps(function)
        def guarded(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except TailorError as err:
                fail(err)

        return app.command(name, **settings)(guarded)

    return register


def finished(started: float, output: Path) -> None:
    """The last line of a long command: its wall time and where its output went."""
    seconds = time.perf_counter() - started
    took = f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"
    console.print(f"[bold]done[/] in {took} (wall time); output in {output}")


def server_options(base_url: str | None) -> dict:
    return {"base_url": base_url} if base_url else {}


def role_adapters(values: list[str] | None) -> dict[str, str]:
    """``--adapter ROLE=PATH`` values by role, each role one that some method plays."""
    from tailor.methods.registry import adapter_roles

    roles = adapter_roles()
    pairs = [value.partition("=") for value in values or []]
    wrong = [role + eq + path for role, eq, path in pairs if not eq or not path or role not in roles]
    if wrong:
        raise TailorError(f"--adapter takes ROLE=PATH with ROLE one of {', '.join(roles)}; got {wrong[0]!r}")
    return {role: path for role, _, path in pairs}


def print_table(title: str, header: list[str], body: list[list[str]]) -> None:
    table = Table(title=title)
    for column in header:
        table.add_column(column)
    for cells in body:
        table.add_row(*cells)
    console.print(table)
