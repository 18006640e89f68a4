"""The run browser (``/runs``): pages over run folders the real writers produced, an
evaluation run (scripted generator and judge) and a VAC run (scripted policy and feedback
model) that trained on the same questions, so one example page shows the whole case study;
a training run's pages show what its trainer declares, never what its files suggest."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import ServerThread
from fakes import ScriptedLLM, loop_inputs
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape
from test_eval_runner import generator_reply, judge_reply
from test_vac import FakeMetric, FakeTrainer, feedback_reply, policy_reply

from tailor.data import SAMPLE_LAMPQA, load_examples
from tailor.eval.report import write_report
from tailor.eval.config import EvalConfig
from tailor.eval.runner import run_eval
from tailor.runs import INITIAL, RunFolder
from tailor.browser import router as browser
from tailor.browser.router import make_browser_router
from tailor.train.report import write_run_report
from tailor.train.sft import SFTSettings
from tailor.train.vac import VACConfig, VACTrainer, train_vac
from tailor.train.views import VALIDATION_ANSWERS, ExampleTable, TableColumn

CHROMIUM = Path("/usr/bin/chromium")
FAVOURITE_SEED = 3  # the second feedback sample (j=1): its revision scores 1.0, the other 0.1


def first_per_category(examples):
    return [next(e for e in examples if e.category == c) for c in sorted({e.category for e in examples})]


@pytest.fixture(scope="module")
def questions():
    return first_per_category(load_examples(SAMPLE_LAMPQA, split="test"))


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory, questions):
    """``eval-run``: nopers and rag judged per aspect; ``vac-run``: one VAC iteration on the
    same questions, two feedback samples each; ``scratch``: a folder that is no run."""
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAILOR_PROGRESS", "0")
        hf = {"backend": "hf", "model": "smollm2-135m-instruct", "cache": False}
        config = EvalConfig.model_validate({
            "generator": hf, "judge": hf, "methods": ["nopers", "rag"], "limit": 1, "answer": {"k": 2, "max_tokens": 64},
            "datasets": [{"path": str(SAMPLE_LAMPQA), "name": "sample", "splits": ["test"]}], "out": str(root / "eval-run"),
        })
        write_report(run_eval(config, ScriptedLLM(generator_reply), ScriptedLLM(judge_reply)))

        valid = load_examples(SAMPLE_LAMPQA, split="validation")[:2]
        vac = VACConfig(iterations=1, n_feedback=2, k=2, train_split="test", sft=SFTSettings.cpu_sample(), run_dir=root / "vac-run")
        metric = FakeMetric({e.id: FAVOURITE_SEED for e in questions}, [0.3, 0.6])
        policy, feedback = ScriptedLLM(policy_reply, model="policy"), ScriptedLLM(feedback_reply, model="feedback")
        train_vac(*loop_inputs(vac, questions, valid, metric, policy=policy, feedback=feedback), trainer=FakeTrainer())
        write_run_report(root / "vac-run", questions, valid)
    (root / "scratch").mkdir()
    (root / "scratch" / "notes.txt").write_text("not a run")
    return root


def client_for(root: Path, **options) -> TestClient:
    app = FastAPI()
    app.include_router(make_browser_router(root, **options), prefix="/runs")
    return TestClient(app)


@pytest.fixture(scope="module")
def client(runs_root):
    return client_for(runs_root)


def traced(root: Path, method: str) -> list[dict]:
    return [json.loads(line) for line in (root / "eval-run/sample/test" / method / "traces.jsonl").read_text().splitlines()]


def example_url(example_id: str) -> str:
    return f"/runs/eval-run/eval/sample/test/{example_id}"


# --- pages ------------------------------------------------------------------------------------


def test_run_list_shows_training_and_evaluation_runs_only(client):
    page = client.get("/runs")
    assert page.status_code == 200
    assert 'href="http://testserver/runs/eval-run"' in page.text and 'href="http://testserver/runs/vac-run"' in page.text
    assert "<td>VAC</td>" in page.text and "<td>evaluation</td>" in page.text
    assert "sample / test: nopers, rag" in page.text
    assert "scratch" not in page.text


def test_eval_run_page_renders_the_report_the_plot_and_each_examples_scores(client, runs_root, questions):
    page = client.get("/runs/eval-run").text
    assert "<h1>Evaluation report</h1>" in page and "<table>" in page  # report.md as HTML
    assert '<img class="plot" src="http://testserver/runs/eval-run/files/report.png"' in page
    for example in questions:
        assert f'href="http://testserver{example_url(example.id)}"' in page
    scores = json.loads((runs_root / "eval-run/sample/test/rag/scores.json").read_text())["scores"]
    listing = page.split('<table class="examples">')[1]
    rows = ['<td class="num">0.0000</td><td class="num">1.0000</td>' in row for row in listing.split("<tr>")[2:]]
    assert {s["value"] for s in scores.values()} == {1.0} and rows == [True] * len(questions)  # nopers 0, rag 1


def test_training_run_page_links_its_report_files_and_examples(client, questions):
    page = client.get("/runs/vac-run").text
    assert "Validation score per iteration" in page
    assert 'href="http://testserver/runs/vac-run/files/case_studies.md"' in page  # report.md's relative link
    assert 'src="http://testserver/runs/vac-run/files/curves.png"' in page
    for example in questions:
        assert f'href="http://testserver/runs/vac-run/train/{example.id}"' in page
    assert "/runs/vac-run/train/" + load_examples(SAMPLE_LAMPQA, split="validation")[0].id in page


def test_eval_example_page_is_the_case_study(client, runs_root, questions):
    example = questions[0]
    page = client.get(example_url(example.id)).text
    assert str(escape(example.question)) in page
    [rag] = [row for row in traced(runs_root, "rag") if row["id"] == example.id]
    profile = {item.id: item.text for item in example.profile}
    for item in rag["trace"]["retrieved"]:
        assert f"<code>{item}</code>" in page and str(escape(profile[item])) in page
    assert "Generic advice." in page and "Advice fitted to you." in page
    rows = page.split('<table class="aspects">')[1:]
    assert len(rows) == 2  # nopers graded 0, rag 2 on every aspect
    for table, grade in zip(rows, ("0", "2")):
        for aspect in example.rubric_aspects:
            assert f"<td>{escape(aspect.aspect)}</td><td class=\"num\">{grade}</td>" in table.split("</table>")[0]
    vac = page.split('<section class="case-view feedback_rounds">')[1]
    chosen = vac.split('<tr class="candidate chosen">')[1].split("</tr>")[0]
    assert f"note from seed {FAVOURITE_SEED} at t=1.0" in chosen and "1.0000" in chosen
    assert vac.count('<tr class="candidate') == 2
    assert "Revised following: note from seed 0 at t=0.0." in vac  # phi_1's greedy feedback, applied


def test_training_example_pages_show_the_loop_and_validation_answers(client, runs_root):
    train_id = json.loads((runs_root / "vac-run/iter_1/initial.jsonl").read_text().splitlines()[0])["id"]
    page = client.get(f"/runs/vac-run/train/{train_id}").text
    assert "test split" in page and "Initial answer of π_0" in page and "(chosen)" in page
    valid_row = json.loads((runs_root / "vac-run/iter_1/validation.jsonl").read_text().splitlines()[0])
    page = client.get(f"/runs/vac-run/train/{valid_row['id']}").text
    assert "validation split" in page and str(escape(valid_row["response"])) in page and "0.6000" in page


def test_without_the_dataset_only_ids_are_shown(runs_root, tmp_path, questions):
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "eval-run", root / "eval-run")
    for meta in (root / "eval-run/sample/test").glob("*/meta.json"):  # the dataset has moved away
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "data": {"path": str(tmp_path / "gone"), "format": "auto"}}))
    example = questions[0]
    page = client_for(root).get(example_url(example.id)).text
    assert "dataset sample could not be read" in page and str(escape(example.question)) not in page
    [rag] = [row for row in traced(root, "rag") if row["id"] == example.id]
    assert f"<code>{rag['trace']['retrieved'][0]}</code>" in page and "text not in the dataset at hand" in page


def test_text_from_disk_is_escaped(runs_root, tmp_path, questions):
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "eval-run", root / "eval-run")
    traces = root / "eval-run/sample/test/rag/traces.jsonl"
    rows = [{**row, "answer": "<script>alert(1)</script>"} for row in traced(root, "rag")]
    traces.write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = root / "eval-run/report.md"
    report.write_text(report.read_text() + "\n<img src=x onerror=alert(2)>\n")
    client = client_for(root)
    example = client.get(example_url(questions[0].id)).text
    assert "<script>alert(1)" not in example and "&lt;script&gt;alert(1)&lt;/script&gt;" in example
    run = client.get("/runs/eval-run").text
    assert "<img src=x" not in run and "&lt;img src=x onerror=alert(2)&gt;" in run


def test_a_methods_intermediate_texts_are_shown_with_its_answer(runs_root, tmp_path, questions):
    """What RPO (generic answer, reflection) and POPI (summary) leave in a trace is on the
    page, and a reflection that could not be read says that the generic answer stands."""
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "eval-run", root / "eval-run")
    traces = root / "eval-run/sample/test/rag/traces.jsonl"
    extra = {"generic_answer": "Bees need a dry hive.", "think": "They keep hives in Oslo.", "summary": "Prefers short, practical tips.",
             "parsed": False, "attempts": 3}
    rows = [{**row, "trace": {**row["trace"], **extra}} for row in traced(root, "rag")]
    traces.write_text("".join(json.dumps(row) + "\n" for row in rows))
    rag = client_for(root).get(example_url(questions[0].id)).text.split("<h2>rag")[1].split("</section>")[0]
    for heading, text in [("Generic answer (before reflection)", extra["generic_answer"]), ("Reflection", extra["think"]),
                          ("Preference summary", extra["summary"])]:
        assert f"<h3>{heading}</h3>" in rag and str(escape(text)) in rag
    assert "could not be read in the expected format after 3 tries; the generic answer stands" in rag


def test_examples_are_paged(client, monkeypatch, questions):
    monkeypatch.setattr(browser, "PAGE_SIZE", 2)
    ids = [e.id for e in questions]
    first, second = client.get("/runs/eval-run").text, client.get("/runs/eval-run?page=2").text
    assert all(i in first for i in ids[:2]) and ids[2] not in first and "Page 1 of 2" in first and "?page=2" in first
    assert ids[2] in second and ids[0] not in second.split("<section>", 1)[1]


def test_plots_are_served_from_the_run_folder_only(client, runs_root):
    plot = client.get("/runs/vac-run/files/curves.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content == (runs_root / "vac-run/curves.png").read_bytes()
    assert (runs_root / "eval-run/report.md").is_file()
    for path in ("%2e%2e/eval-run/report.md", "..%2Feval-run%2Freport.md", "%2Fetc%2Fpasswd", "iter_1", "missing.png"):
        assert client.get(f"/runs/vac-run/files/{path}").status_code == 404, path


def test_a_link_out_of_the_run_folder_is_not_followed(runs_root, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(runs_root / "vac-run", root / "vac-run", ignore=shutil.ignore_patterns("*_model"))
    (root / "vac-run/leak.md").symlink_to(runs_root / "eval-run/report.md")
    assert client_for(root).get("/runs/vac-run/files/leak.md").status_code == 404


def test_unknown_runs_and_examples_are_404(client, questions):
    for url in (
        "/runs/nope", "/runs/scratch", "/runs/nope/files/curves.png", example_url("nope"), "/runs/eval-run/eval/other/test/x",
        f"/runs/vac-run/eval/sample/test/{questions[0].id}", "/runs/vac-run/train/nope", f"/runs/eval-run/train/{questions[0].id}",
    ):
        assert client.get(url).status_code == 404, url


# --- what the trainer declares ------------------------------------------------------------------


def training_copy(runs_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for run in ("eval-run", "vac-run"):
        shutil.copytree(runs_root / run, root / run, ignore=shutil.ignore_patterns("*_model"))
    return root


def test_an_example_page_shows_the_views_its_trainer_declares(runs_root, tmp_path, monkeypatch):
    root = training_copy(runs_root, tmp_path)
    initial = ExampleTable(INITIAL, title="Answers before feedback", columns=(TableColumn("answer", "Answer", "text"),))
    monkeypatch.setattr(VACTrainer, "example_views", (initial, VALIDATION_ANSWERS))
    row = json.loads((root / "vac-run/iter_1/initial.jsonl").read_text().splitlines()[0])
    page = client_for(root).get(f"/runs/vac-run/train/{row['id']}").text
    assert "<h3>Answers before feedback</h3>" in page and f'<td>1</td><td class="text">{escape(row["answer"])}</td>' in page
    assert "Initial answer of π_0" not in page and "(chosen)" not in page  # VAC's rounds, undeclared, are not read from its files


def test_a_run_of_a_kind_no_trainer_names_shows_its_validation_answers_only(runs_root, tmp_path, questions):
    root = training_copy(runs_root, tmp_path)
    RunFolder(root / "vac-run").write_kind("retired-loop")
    client = client_for(root)
    listed = client.get("/runs/vac-run").text
    assert all(f"/runs/vac-run/train/{e.id}" not in listed for e in questions)  # its training questions are listed by no declared view
    valid_row = json.loads((root / "vac-run/iter_1/validation.jsonl").read_text().splitlines()[0])
    page = client.get(f"/runs/vac-run/train/{valid_row['id']}").text
    assert "Validation answers" in page and str(escape(valid_row["response"])) in page
    assert client.get(f"/runs/vac-run/train/{questions[0].id}").status_code == 404
    study = client.get(example_url(questions[0].id)).text.split('<section class="case-view feedback_rounds">')[1]
    assert "No VAC training run under this root trained on this question." in study and "candidate" not in study


# --- in a real browser ------------------------------------------------------------------------


@pytest.mark.browser
def test_clicking_through_to_a_case_study_in_chromium(runs_root, questions):
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install-browser`")
    example = questions[0]
    aspect = example.rubric_aspects[0].aspect
    app = FastAPI()
    app.include_router(make_browser_router(runs_root), prefix="/runs")
    with ServerThread(app) as server, sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = chromium.new_page()
            page.goto(f"{server.url}/runs")
            page.get_by_role("link", name="eval-run").click()
            page.wait_for_load_state("load")
            assert page.eval_on_selector("img.plot", "img => img.complete && img.naturalWidth") > 0
            page.get_by_role("link", name=example.id).click()
            page.wait_for_load_state("load")
            assert page.get_by_text(example.question, exact=True).is_visible()
            item = next(i for i in example.profile if i.id == page.locator("ol.retrieved code").first.inner_text())
            assert page.get_by_text(item.text).first.is_visible()
            chosen = page.locator("tr.candidate.chosen")
            assert chosen.is_visible() and f"note from seed {FAVOURITE_SEED} at t=1.0" in chosen.inner_text() and "1.0000" in chosen.inner_text()
            graded = page.locator("table.aspects").last.locator("tr", has_text=aspect)
            assert graded.is_visible() and graded.locator("td").last.inner_text() == "2"
        finally:
            chromium.close()


def test_names_the_file_system_cannot_hold_are_404_not_500(client):
    """Found by the schema fuzzer (tests/test_service_fuzz.py): a run or file name past the
    file system's name length made the browser answer 500."""
    long = "x" * 300
    assert client.get(f"/runs/{long}").status_code == 404
    assert client.get(f"/runs/{long}/files/a").status_code == 404
    assert client.get(f"/runs/vac-run/files/{long}").status_code == 404
