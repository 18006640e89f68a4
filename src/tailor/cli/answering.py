"""``tailor answer``, ``tailor demo``, ``tailor eval`` and ``tailor score``."""

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from typer.core import TyperCommand

from tailor import logs, progress
from tailor.cli.common import BaseUrl, Format, RoleAdapters, Split, console, finished, print_table, role_adapters, server_options
from tailor.errors import TailorError
from tailor.names import BACKENDS

Backend = Annotated[str, typer.Option(help=", ".join(BACKENDS))]
DEMO_MAX_TOKENS = 160


def answer(
    data: Annotated[Path, typer.Option(help="dataset path (any supported format)")],
    out: Annotated[Path, typer.Option(help="output folder: responses.json (benchmark format) and traces.jsonl")],
    split: Split = None,
    fmt: Format = "auto",
    method: Annotated[Optional[str], typer.Option(help="a method of tailor.methods.registry.METHODS (nopers, rag, planpers with --adapter planner=PATH, …; default: the run's, else rag)")] = None,
    run: Annotated[Optional[Path], typer.Option(help="a training run whose kept method answers: its models, adapters, options and answer settings (the flags given here replace them)")] = None,
    adapter: RoleAdapters = None,
    retriever: Annotated[Optional[str], typer.Option(help="bm25, dense or dense:<model> (default: the run's, else bm25)")] = None,
    k: Annotated[Optional[int], typer.Option(help="profile items retrieved (default: the run's, else 10)")] = None,
    limit: Annotated[Optional[int], typer.Option(help="answer only the first N examples")] = None,
    backend: Annotated[Optional[str], typer.Option(help=", ".join(BACKENDS) + " (default: the run's, else hf)")] = None,
    model: Annotated[Optional[str], typer.Option(help="model name, local path or hub id (default: the run's, else smollm2-135m-instruct)")] = None,
    base_url: BaseUrl = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="the longest answer, in tokens (default: the run's, else 512)")] = None,
    show: Annotated[int, typer.Option(help="retrieved items printed per answer")] = 3,
    chunk: Annotated[Optional[int], typer.Option(min=1, help="answer N examples at a time, printing each batch as it finishes (default: all at once)")] = None,
) -> None:
    """Answer questions with a personalization method, or the one a training run kept, and save the responses."""
    from tailor.data import load_examples
    from tailor.eval.config import MethodSpec
    from tailor.llm import LLMConfig
    from tailor.methods import AnswerConfig
    from tailor.train.kept import kept_method

    pool = load_examples(data, fmt, split)
    kept = kept_method(run) if run else None
    own = LLMConfig(backend=backend or "hf", model=model or LLMConfig().model, options=server_options(base_url))
    if kept is not None:  # the flags given replace only what they name in the run's model
        given = {name: value for name, value in (("backend", backend), ("model", model)) if value is not None}
        own = LLMConfig.model_validate(kept.generator.model_dump() | given | {"options": kept.generator.options | server_options(base_url)})
    try:
        spec = MethodSpec(name=method or (kept.method if kept else "rag"), run=run, adapters=role_adapters(adapter), retriever=retriever, k=k,
                          generator=own if backend or model or base_url else None)
    except ValueError as err:
        raise TailorError(str(err)) from err
    described = spec.described(own, "bm25", {}, AnswerConfig(), (kept.answer if kept else AnswerConfig()).seed)
    if max_tokens is not None:
        described = described.model_copy(update={"answer": described.answer.model_copy(update={"max_tokens": max_tokens})})
    answer_and_show(pool, pool[:limit], out, described, show, chunk)


def answer_and_show(pool: list, examples: list, out: Path, spec, show: int, chunk: int | None) -> None:
    """Answer ``examples`` with the method ``spec`` (an ``InferenceSpec``) describes;
    ``pool``: the users a method may draw on (e.g. rag_random). Each answer is printed with
    what it retrieved as soon as its chunk is done."""
    from tailor.pipeline import answer_examples, build_method

    started = time.perf_counter()
    by_id = {e.id: e for e in examples}
    with logs.into(out):
        built = build_method(spec, examples=pool, seed=spec.answer.seed)
        with progress.bar(f"answering {len(examples)} question(s) with {spec.method}", len(examples)) as advance:

            def print_answers(answers: dict) -> None:
                for answer_id, answered in answers.items():
                    print_answer(by_id[answer_id], answered, show)
                advance(len(answers))

            result = answer_examples(built.method, examples, out, chunk=chunk, on_answers=print_answers)
    usage = built.llm.usage
    console.rule()
    console.print(
        f"{len(result.answers) - len(result.skipped)} answers -> {out}/responses.json"
        + (f" ({len(result.skipped)} skipped for length)" if result.skipped else "")
        + f" | model calls: {usage.requests}, cache hits: {usage.cache_hits}"
        + (f", {usage.completion_tokens} tokens at {usage.tokens_per_second:.1f} tok/s" if usage.requests else " (all answers served from the cache)")
    )
    finished(started, out)


def print_answer(example, answered, show: int) -> None:
    console.rule(f"[bold]{escape(example.id)}[/] ({escape(example.category or 'uncategorized')})")
    console.print(f"[bold cyan]Question:[/] {escape(example.question)}")
    items = {p.id: p for p in example.profile}
    for item_id in answered.trace.get("retrieved", [])[:show]:
        console.print(f"  [dim]retrieved {escape(item_id)}:[/] {escape(items[item_id].text[:160])}" if item_id in items else f"  [dim]retrieved {escape(item_id)}[/]")
    if answered.trace.get("plan"):
        console.print(f"  [dim]plan:[/] {escape('; '.join(answered.trace['plan']))}")
    if answered.skipped:
        console.print(f"[yellow]Skipped for length:[/] {escape(answered.skipped)}")
        return
    flag = "" if answered.trace.get("parsed", True) else " [yellow](no JSON; raw output kept)[/]"
    console.print(f"[bold green]Answer{flag}:[/] {escape(answered.text)}")


def demo(
    out: Annotated[Path, typer.Option(help="output folder")] = Path("runs/demo"),
    users: Annotated[int, typer.Option(help="sample users to answer (spread over the categories)")] = 3,
    max_tokens: Annotated[int, typer.Option(help="longest answer, in tokens")] = DEMO_MAX_TOKENS,
) -> None:
    """Personalized RAG answers for a few users of the bundled sample, on the offline
    model; one user at a time, each answer printed as soon as it is generated."""
    from tailor.data import SAMPLE_LAMPQA, load_examples
    from tailor.llm import LLMConfig
    from tailor.methods import AnswerConfig
    from tailor.methods.inference import InferenceSpec

    by_category: dict[str, list] = {}
    pool = load_examples(SAMPLE_LAMPQA, split="test")
    for example in pool:
        by_category.setdefault(example.category or "", []).append(example)
    # round-robin over the categories, so three users cover all three
    chosen = [e for rank in zip(*by_category.values()) for e in rank][:users]
    # plain-text replies (the longform format): of tailor's answer prompts, the one SmolLM2-135M
    # answers the sample's test users best with, by the proxy metric and to read (it mostly restates
    # the retrieved posts); asked for JSON, it writes about the request and repeats itself
    spec = InferenceSpec(
        method="rag", generator=LLMConfig(backend="hf", model="smollm2-135m-instruct"), answer=AnswerConfig(k=3, max_tokens=max_tokens, format="longform"),
    )
    console.print(
        f"[bold]tailor demo[/]: RAG-Personalization (BM25, k={spec.answer.k}) with SmolLM2-135M-Instruct on {len(chosen)} sample users "
        f"({spec.answer.format} replies)"
    )
    answer_and_show(pool, chosen, out, spec, show=3, chunk=1)


def eval_command(
    config: Annotated[Path, typer.Option("--config", help="eval recipe (YAML), e.g. configs/lampqa-sample-cpu.yaml")],
    methods: Annotated[Optional[str], typer.Option(help="comma-separated method names of the config to run")] = None,
    split: Annotated[Optional[str], typer.Option(help="comma-separated splits, replacing the config's")] = None,
    limit: Annotated[Optional[int], typer.Option(help="at most N examples per category")] = None,
    out: Annotated[Optional[Path], typer.Option(help="output folder, replacing the config's")] = None,
) -> None:
    """Answer, score and report: LaMP-QA's Table 2 for the configured methods."""
    from tailor.eval.config import EvalConfig
    from tailor.eval.report import metric_line, write_report
    from tailor.eval.runner import run_eval

    def listed(value: Optional[str]) -> list[str] | None:
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    started = time.perf_counter()
    result = run_eval(EvalConfig.from_yaml(config).with_overrides(listed(methods), listed(split), limit, out))
    with logs.into(result.out):  # what plotting says goes to the run's log too
        report = write_report(result)
    for table in report.benchmark:
        print_table(table.title(), table.header(), table.body())
    for table in report.tables:
        print_table(f"{table.dataset} / {table.split} ({table.metric})", table.header(), table.body())
    console.print(metric_line(result))
    for run in result.runs:
        if run.failed_judgments or run.failed_examples:
            console.print(f"[yellow]{run.dataset}/{run.split}/{run.method}[/]: {run.failed_judgments} of {run.judgments} judgments unreadable, {run.failed_examples} examples unscored")
        if run.skipped_for_length:
            console.print(f"[yellow]{run.dataset}/{run.split}/{run.method}[/]: {run.skipped_for_length} examples skipped for length (their prompt does not fit the model's context)")
    charts = ", ".join(str(c) for c in (report.chart, report.context_chart) if c)
    console.print(f"model calls: generator {result.generator_calls}, judge {result.judge_calls} | report: {report.markdown}, {report.json}, {charts}")
    finished(started, result.out)


class ScoreCommand(TyperCommand):
    """``tailor score``, whose --help ends with the metric table, read only when help is
    shown (the metrics are not imported to start the CLI)."""

    @property
    def epilog(self) -> str:
        from tailor.metrics import METRICS

        lines = [f"{m.name} ({m.benchmark}{'; needs a judge' if m.judge else ''}): {m.summary}" for m in METRICS.values()]
        return "Metrics:\n\n" + "\n\n".join(lines)

    @epilog.setter
    def epilog(self, value) -> None:
        pass


def score(
    responses: Annotated[Path, typer.Argument(help='responses file in the benchmark format {"<id>": [{"output": ...}]}')],
    data: Annotated[Path, typer.Option(help="the dataset the responses answer (any supported format)")],
    split: Split = None,
    fmt: Format = "auto",
    metric: Annotated[Optional[str], typer.Option(help="a metric listed below (default: the task's, else aspect, the LaMP-QA judge)")] = None,
    task: Annotated[Optional[str], typer.Option(help="LaMP-2, LaMP-3, LaMP-5, LaMP-7 or LongLaMP: also the numbers that benchmark reports")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of text")] = False,
    judge_backend: Backend = "hf",
    judge_model: Annotated[str, typer.Option(help="judge model name, local path or hub id")] = "smollm2-135m-instruct",
    judge_base_url: BaseUrl = None,
    out: Annotated[Optional[Path], typer.Option(help="folder for scores.json (default: next to the responses)")] = None,
) -> None:
    """Score responses made by any system with a LaMP-QA, LaMP or LongLaMP metric; the
    headline is the benchmark's own number."""
    from tailor.data import load_examples
    from tailor.data.responses import read_responses
    from tailor.eval.results import score_summary, scores_document
    from tailor.io import atomic_write_json
    from tailor.llm import LLMConfig
    from tailor.metrics import metric_info, task_metric
    from tailor.metrics.lamp import task_report
    from tailor.pool import ModelPool
    from tailor.runs import UnitFolder

    metric = metric or task_metric(task) or "aspect"
    try:
        metric_info(metric)
    except ValueError as err:
        raise TailorError(str(err)) from None
    examples = {e.id: e for e in load_examples(data, fmt, split)}
    outputs = read_responses(responses)
    unknown = sorted(set(outputs) - set(examples))
    if unknown:
        raise TailorError(f"{responses}: {len(unknown)} response ids are not in {data}, e.g. {unknown[0]!r}")
    chosen = [examples[qid] for qid in outputs]
    judge = LLMConfig(backend=judge_backend, model=judge_model, options=server_options(judge_base_url))
    folder = out or responses.parent
    with logs.into(folder):
        scorer = ModelPool(judge).metric(metric, judge)
        run = scorer.score_batch(chosen, [outputs[e.id] for e in chosen])
    target = UnitFolder(folder).scores
    atomic_write_json(target, scores_document(run, scorer.proxy))
    benchmark = task_report(task, [e.reference or "" for e in chosen], [outputs[e.id] for e in chosen]) if task else {}
    summary = score_summary(run, scorer.proxy, benchmark)
    if as_json:
        print(json.dumps(summary))
        return
    label = " (proxy metric, not the benchmark's judge)" if scorer.proxy else ""
    console.print(f"{run.metric}{label}: mean {run.mean:.4f} over {len(chosen) - run.failed_examples} of {len(chosen)} responses")
    if summary["score_graded_only"] != summary["score"]:
        console.print(f"mean over graded aspects only: {summary['score_graded_only']:.4f} (the headline counts an ungraded aspect 0, as the benchmark does)")
    console.print(f"unscored examples: {run.failed_examples}; unreadable judgments: {run.failed_judgments} of {run.judgments}")
    for name, value in benchmark.items():
        console.print(f"{task} {name}: {'–' if value is None else round(value, 4)}")
    if len(chosen) < len(examples):
        console.print(f"[yellow]{len(examples) - len(chosen)} examples of {data} have no response[/]")
    console.print(f"scores -> {target}")
