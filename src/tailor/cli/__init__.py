"""The ``tailor`` command line: it parses arguments and calls library functions; each
sub-module holds one group of commands."""

from typing import Annotated

import typer

from tailor import logs
from tailor.cli import answering, doctor, serving
from tailor.cli.common import command
from tailor.cli.data import cache_app, data_app, models_app
from tailor.cli.runs import runs_app
from tailor.cli.train import train_app

app = typer.Typer(help="Personalized LLM answers: retrieve, generate, train and measure.", no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(data_app, name="data")
app.add_typer(cache_app, name="cache")
app.add_typer(models_app, name="models")
app.add_typer(train_app, name="train")
app.add_typer(runs_app, name="runs")
command(app, "answer")(answering.answer)
command(app, "demo")(answering.demo)
command(app, "eval")(answering.eval_command)
command(app, "score", cls=answering.ScoreCommand)(answering.score)
command(app, "serve-llm")(serving.serve_llm)
command(app, "serve")(serving.serve)
command(app, "doctor")(doctor.doctor)


@app.callback()
def options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="also show the libraries' logs, warnings and progress bars (or TAILOR_LOG=debug)")] = False,
) -> None:
    """Personalized LLM answers: retrieve, generate, train and measure."""
    logs.configure(verbose)


def main() -> None:
    app()
