"""The run browser: server-rendered pages over the run folders under one root.

``/runs`` lists the run folders under one root, training runs and evaluation runs alike
(``tailor.runs`` owns their layout); a run page shows its report and plots and a paged list of its examples;
an example page is the paper's case study, built only from what the folders hold: the
question and retrieved profile items, each method's answer, the metric's per-aspect
details, and what the trainer of each training run declares it shows of an example
(``LoopTrainer.example_views``, found by the run's kind: VAC's initial answer, sampled
feedbacks with the scores of their revisions, and the revision the policy learned; ReST's
sampled answers; every run's validation answers). Nothing is guessed from the files present.

Neither an eval run nor a VAC stage file stores question or profile text, only ids: the
text comes from the dataset, which a training run names in ``config.json`` and an eval
run in each method's ``meta.json``. Files are parsed once per change
(cached by modification time), so a page reads only the files it shows.
"""

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from markdown_it import MarkdownIt

from tailor.data import Example, load_examples
from tailor.errors import TailorError
from tailor.render import number
from tailor.run_history import History
from tailor.runs import EVAL_KIND, RunFolder, UnitFolder
from tailor.runs import find_runs as run_folders
from tailor.train.trainers import TRAINERS, label_of, trainer_of
from tailor.train.views import ExampleView

PAGE_SIZE = 25

_templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True))
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")  # raw HTML in a report is shown as text


# --- files, parsed once per change ----------------------------------------------------------


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=256)
def _parse_json(path: str, stamp: tuple[int, int]):
    return json.loads(Path(path).read_text(encoding="utf-8"))


@lru_cache(maxsize=256)
def _parse_jsonl(path: str, stamp: tuple[int, int]) -> tuple[dict, ...]:
    return tuple(json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip())


def read_json(path: Path, default=None):
    stamp = _stamp(path)
    return default if stamp is None else _parse_json(str(path), stamp)


def read_jsonl(path: Path) -> tuple[dict, ...]:
    stamp = _stamp(path)
    return () if stamp is None else _parse_jsonl(str(path), stamp)


def rows_for(path: Path, example_id: str) -> list[dict]:
    return [row for row in read_jsonl(path) if row.get("id") == example_id]


@lru_cache(maxsize=8)
def _parse_dataset(path: str, split: str | None, stamp: tuple[int, int]) -> tuple[dict[str, Example], dict[str, str]]:
    examples = load_examples(path, split=split)
    profile = {item.id: item.text for e in examples for item in e.profile}
    return {e.id: e for e in examples}, profile


def load_dataset(path: Path, split: str | None) -> tuple[dict[str, Example], dict[str, str]]:
    """The split's examples by id and the text of every profile item in it (a random-profile
    method retrieves other users' items); empty when the dataset cannot be read."""
    stamp = _stamp(path)
    if stamp is None:
        return {}, {}
    try:
        return _parse_dataset(str(path), split if path.is_dir() else None, stamp)
    except (TailorError, ValueError, OSError):
        return {}, {}


# --- runs -------------------------------------------------------------------------------------


@dataclass
class Loop:
    """A training run's folder: the main run or one of its variants."""

    label: str
    folder: Path


@dataclass
class Run:
    name: str
    folder: Path
    kind: str  # what made it (a key of tailor.train.trainers.TRAINERS, or "eval")
    metric: str
    summary: str
    config: dict = field(default_factory=dict)

    @property
    def training(self) -> bool:
        return self.kind != EVAL_KIND

    @property
    def label(self) -> str:
        return label_of(self.kind)

    @property
    def views(self) -> tuple[ExampleView, ...]:
        """What an example's page shows of each loop, as the run's trainer declares it."""
        return trainer_of(self.kind).example_views if self.training else ()

    def loops(self) -> list[Loop]:
        return [Loop("main", self.folder)] + [Loop(name, variant.path) for name, variant in RunFolder(self.folder).variants()]


def _metric_label(name: str, proxy: bool) -> str:
    return name + (" (proxy metric)" if proxy else "")


def describe_run(folder: Path) -> Run | None:
    run = RunFolder(folder)
    kind = run.kind()
    try:
        history = run.history()
    except TailorError as err:  # listed, as unreadable, with why
        return Run(folder.name, folder, kind or "training", "–", f"unreadable: {err}")
    if kind != EVAL_KIND and history is not None:
        config = read_json(run.config_file, {})
        outcome = history.summary()
        if outcome.finished and not outcome.validated:  # the planner: no metric, no per-iteration score
            summary, metric = f"validated by held-out loss alone, best {number(outcome.held_out_loss)}", "held-out loss"
        else:
            summary = f"{outcome.validated} validated policies" + (
                f", best π_{outcome.best_iteration}: {number(outcome.best_score)}" if outcome.best_iteration is not None else " (unfinished)"
            )
            metric = _metric_label(outcome.metric.name, outcome.metric.proxy)
        return Run(folder.name, folder, kind or "training", metric, summary, config)
    report = read_json(run.report_json)
    if isinstance(report, dict) and "tables" in report:
        parts = [f"{t['dataset']} / {t['split']}: {', '.join(r['method'] for r in t['rows'])}" for t in report["tables"]]
        return Run(folder.name, folder, EVAL_KIND, _metric_label(report.get("metric", "score"), report.get("proxy", False)), "; ".join(parts))
    return None


def find_runs(root: Path) -> list[Run]:
    return [run for folder in run_folders(root) if (run := describe_run(folder.path))]


# --- examples ---------------------------------------------------------------------------------


@dataclass
class MethodCase:
    """One method's answer to one example, as the eval run stored it."""

    method: str
    answer: str | None
    retrieved: list[tuple[str, str | None]]  # (item id, its text when the dataset is at hand)
    trace: dict
    score: float | None
    aspects: list[dict]
    details: dict  # the metric's other details


def split_aspects(details: dict) -> tuple[list[dict], dict]:
    """Per-aspect rows (the judge's grade or the proxy's coverage) and the remaining details."""
    details = dict(details or {})
    aspects = details.pop("aspects", [])
    details.pop("proxy", None)
    return (aspects if isinstance(aspects, list) else []), details


def method_case(folder: Path, example_id: str, profile: dict[str, str]) -> MethodCase | None:
    unit = UnitFolder(folder)
    traced = next(iter(rows_for(unit.traces, example_id)), None)
    if traced is None:
        return None
    trace = traced.get("trace", {})
    scored = read_json(unit.scores, {}).get("scores", {}).get(example_id, {})
    aspects, details = split_aspects(scored.get("details", {}))
    retrieved = [(item, profile.get(item)) for item in trace.get("retrieved", [])]
    return MethodCase(folder.name, traced.get("answer"), retrieved, trace, scored.get("value"), aspects, details)


def page_of(items: list, page: int) -> tuple[list, int]:
    """The items of a 1-based page and the number of pages."""
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    return items[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], pages


def render_markdown(text: str, files_url: str) -> str:
    """A report's Markdown as HTML; relative links point at the run folder's files."""
    tokens = _markdown.parse(text)
    for token in tokens:
        for child in token.children or []:
            href = child.attrGet("href") if child.type == "link_open" else None
            if href and "://" not in href and not href.startswith(("/", "#", "mailto:")):
                child.attrSet("href", files_url + href)
    return _markdown.renderer.render(tokens, _markdown.options, {})


# --- the router -------------------------------------------------------------------------------


def make_browser_router(runs_root: Path) -> APIRouter:
    """The pages over the runs under ``runs_root``, for mounting at ``/runs``."""
    root = Path(runs_root)
    router = APIRouter()

    def find_run(name: str) -> Run:
        folder = root / name
        try:  # a name the file system cannot hold (too long) is simply not there
            run = describe_run(folder) if name not in ("", ".", "..") and "/" not in name and folder.is_dir() else None
        except OSError:
            run = None
        if run is None:
            raise HTTPException(404, f"no run named {name!r}")
        return run

    def render(request: Request, template: str, **context) -> HTMLResponse:
        return _templates.TemplateResponse(request, template, context)

    @router.get("", response_class=HTMLResponse, name="run_list")
    def run_list(request: Request):
        return render(request, "runs.html", runs=find_runs(root), root=root)

    @router.get("/{run}", response_class=HTMLResponse, name="run_page")
    def run_page(request: Request, run: str, page: int = 1):
        found = find_run(run)
        folder = RunFolder(found.folder)
        files_url = f"{request.url_for('run_page', run=run)}/files/"
        context = {
            "run": found,
            "report": render_markdown(folder.report_markdown.read_text(encoding="utf-8"), files_url) if folder.report_markdown.is_file() else None,
            "plots": [plot.name for plot in folder.plots() if plot.is_file()],
            "page": page,
        }
        if found.training:
            ids, pages = page_of(training_ids(found), page)
            try:
                loops = [(loop, RunFolder(loop.folder).history() or History()) for loop in found.loops()]
            except TailorError as err:
                raise HTTPException(500, str(err)) from err
            return render(request, "training_run.html", ids=ids, pages=pages, loops=loops, **context)
        lists = []
        pages = 1
        for table in read_json(folder.report_json)["tables"]:
            ids, table_pages = page_of(eval_ids(found, table), page)
            pages = max(pages, table_pages)
            scores = {m: read_json(RunFolder(found.folder).unit(table["dataset"], table["split"], m).scores, {}).get("scores", {}) for m in methods_of(table)}
            lists.append({"table": table, "ids": ids, "methods": methods_of(table), "scores": scores})
        return render(request, "eval_run.html", lists=lists, pages=pages, **context)

    @router.get("/{run}/files/{path:path}", name="run_file")
    def run_file(run: str, path: str):
        folder = find_run(run).folder.resolve()
        try:
            target = (folder / path).resolve()
            found = target.is_relative_to(folder) and target.is_file()
        except OSError:  # a path the file system cannot hold
            found = False
        if not found:
            raise HTTPException(404, "no such file in this run")
        return FileResponse(target)

    @router.get("/{run}/eval/{dataset}/{split}/{example_id}", response_class=HTMLResponse, name="eval_example")
    def eval_example(request: Request, run: str, dataset: str, split: str, example_id: str):
        found = find_run(run)
        table = next((t for t in read_json(RunFolder(found.folder).report_json, {}).get("tables", []) if (t["dataset"], t["split"]) == (dataset, split)), None)
        if found.training or table is None:
            raise HTTPException(404, f"run {run!r} has no results for {dataset}/{split}")
        units = {m: RunFolder(found.folder).unit(dataset, split, m) for m in methods_of(table)}
        source = next((meta["data"] for unit in units.values() if "data" in (meta := read_json(unit.meta, {}))), None)
        examples, profile = load_dataset(Path(source["path"]), split) if source else ({}, {})
        cases = [case for unit in units.values() if (case := method_case(unit.path, example_id, profile))]
        if not cases:
            raise HTTPException(404, f"no example {example_id!r} in {dataset}/{split}")
        ids = eval_ids(found, table)
        trained = find_runs(root)
        studies = [
            (view, [(r, loop, shown) for r in trained if view in r.views for loop in r.loops() if (shown := view.rows(RunFolder(loop.folder), example_id, rows_for))])
            for view in case_views()
        ]
        return render(
            request, "eval_example.html", run=found, dataset=dataset, split=split, example_id=example_id, example=examples.get(example_id),
            dataset_known=bool(examples), cases=cases, studies=studies, neighbours=neighbours(ids, example_id),
        )

    @router.get("/{run}/train/{example_id}", response_class=HTMLResponse, name="training_example")
    def training_example(request: Request, run: str, example_id: str):
        found = find_run(run)
        ids = training_ids(found) if found.training else []
        if example_id not in ids:
            raise HTTPException(404, f"no example {example_id!r} in training run {run!r}")
        example, role = training_example_text(found, example_id)
        loops = [{"loop": loop, "views": [(view, view.rows(RunFolder(loop.folder), example_id, rows_for)) for view in found.views]} for loop in found.loops()]
        return render(request, "training_example.html", run=found, example_id=example_id, example=example, role=role, loops=loops, neighbours=neighbours(ids, example_id))

    return router


def methods_of(table: dict) -> list[str]:
    return [row["method"] for row in table["rows"]]


def eval_ids(run: Run, table: dict) -> list[str]:
    """The example ids of one (dataset, split), in the order the first method answered them."""
    for method in methods_of(table):
        rows = read_jsonl(RunFolder(run.folder).unit(table["dataset"], table["split"], method).traces)
        if rows:
            return [row["id"] for row in rows]
    return []


def training_ids(run: Run) -> list[str]:
    """Every example a loop's iterations saw, in the stage files the trainer's views list
    them from: training questions, then validation ones."""
    seen: dict[str, None] = {}
    for view in run.views:
        for loop in run.loops():
            folder = RunFolder(loop.folder)
            for t in folder.iterations():
                seen.update((row["id"], None) for row in read_jsonl(folder.iteration(t).of(view.listing)) if "id" in row)
    return list(seen)


def case_views() -> list[ExampleView]:
    """The case views some trainer declares (VAC's rounds): an eval run's example page
    shows each, from every training run under the root that declares it."""
    declared = [view for kind in TRAINERS for view in trainer_of(kind).example_views if view.heading]
    return list(dict.fromkeys(declared))


def training_example_text(run: Run, example_id: str) -> tuple[Example | None, str | None]:
    """The question from the dataset the run's config names, and which split holds it."""
    data = run.config.get("data")
    if not data:
        return None, None
    for key in ("train_split", "valid_split"):
        split = run.config.get(key)
        examples, _ = load_dataset(Path(data), split)
        if example_id in examples:
            return examples[example_id], split
    return None, None


def neighbours(ids: list[str], example_id: str) -> tuple[str | None, str | None]:
    at = ids.index(example_id) if example_id in ids else -1
    before = ids[at - 1] if at > 0 else None
    after = ids[at + 1] if 0 <= at < len(ids) - 1 else None
    return before, after
