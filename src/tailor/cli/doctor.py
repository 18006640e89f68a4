"""``tailor doctor``."""

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tailor.cli.common import console

MARK = {True: "[green]ok[/]", False: "[bold red]problem[/]", None: "[dim]–[/]"}


def doctor(
    db: Annotated[str, typer.Option(help="the service's profile store, as `tailor serve --db` takes it")] = "runs/service.sqlite",
) -> None:
    """Check this environment: Python and packages against the lock file, the offline
    models, the backends, a GPU, free disk and the service's database; exit 1 on a problem."""
    from tailor.doctor import run_checks

    checks = run_checks(db, Path("."))
    group = None
    for check in checks:
        if check.group != group:
            group = check.group
            console.print(f"[bold]{group}[/]")
        console.print(f"  {MARK[check.ok]} {check.name}: {escape(check.found)}")
        if check.fix:
            console.print(f"      fix: {escape(check.fix)}", style="yellow")
    problems = sum(check.ok is False for check in checks)
    console.print(f"{problems} problem(s)" if problems else "[green]no problems[/]")
    if problems:
        raise typer.Exit(1)
