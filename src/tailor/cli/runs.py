"""``tailor runs``: the run folders under a root, and one run's report."""

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tailor.cli.common import command, console, print_table
from tailor.errors import TailorError

runs_app = typer.Typer(help="List run folders, or show one run's report.", invoke_without_command=True)

Root = Annotated[Path, typer.Option(help="the folder holding the runs")]
STYLE = {"finished": "green", "running": "cyan", "resumable": "yellow", "failed": "red"}


@runs_app.callback()
def list_command(ctx: typer.Context, root: Root = Path("runs")) -> None:
    """Each run folder under ROOT: kind, status, last update and headline number."""
    from tailor.run_status import list_runs

    if ctx.invoked_subcommand is not None:
        return
    summaries = list_runs(root)
    if not summaries:
        console.print(f"no runs under {root} (`tailor demo` or `make demo` writes some)")
        return
    rows = [
        [s.name, s.kind, f"[{STYLE[s.status]}]{s.status}[/]", s.updated.astimezone().strftime("%Y-%m-%d %H:%M"), s.headline]
        for s in summaries
    ]
    print_table(f"runs under {root}", ["run", "kind", "status", "updated", "headline"], rows)
    for s in summaries:
        if s.error:
            console.print(f"[red]{escape(s.name)}[/] failed: {escape(s.error)}", highlight=False)
    console.print("a resumable or failed run continues where it stopped when its command runs again; `tailor runs show RUN` prints a report")


@command(runs_app, "show")
def show(
    run: Annotated[str, typer.Argument(help="a run folder, or the name of one under ROOT")],
    root: Root = Path("runs"),
) -> None:
    """Print a run's report (report.md) in the terminal."""
    from rich.markdown import Markdown

    from tailor.run_status import summarize
    from tailor.runs import RunFolder

    folder = RunFolder(run if Path(run).is_dir() else root / run)
    if not folder.path.is_dir() or folder.kind() is None:
        raise TailorError(f"no run at {run!r} (nor under {root}); `tailor runs` lists them")
    summary = summarize(folder)
    console.print(f"[bold]{summary.name}[/]: {summary.kind}, [{STYLE[summary.status]}]{summary.status}[/], headline {summary.headline}")
    report = folder.report_markdown
    if not report.exists():
        raise TailorError(f"{folder.path} has no report yet: it is written when the run finishes")
    console.print(Markdown(report.read_text(encoding="utf-8")))
    console.print(f"[dim]{report}[/]")
