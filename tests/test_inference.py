"""A trained method is one description: the method a training run validated its kept
models with, and the ones ``tailor eval``, ``tailor answer`` and ``tailor serve`` build
from that run, send the same requests with the same sampling settings and adapters.

Each trainer runs one round on the bundled sample with a scripted model and fake fine-
tuning; its kept round's validation is then measured alone (a rerun with that stage's
file removed asks only for it) and compared with each reader's requests."""

import json
import shutil
from pathlib import Path

import pytest
from fakes import ScriptedLLM, loop_inputs
from fastapi.testclient import TestClient
from test_vac import FakeTrainer

from tailor.data import SAMPLE_LAMP, SAMPLE_LAMPQA, SAMPLE_LONGLAMP, load_examples
from tailor.eval.config import EvalConfig
from tailor.eval.units import EvalModels, plan
from tailor.llm import LLMConfig
from tailor.methods import AnswerConfig
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.pool import ModelPool
from tailor.prompts.answer import ANSWER_PREFILL
from tailor.prompts.feedback import FEEDBACK_PREFILL
from tailor.prompts.longform import REASONING_HEAD, RESPONSE_HEAD
from tailor.prompts.popi import SUMMARY_PREFILL
from tailor.prompts.rpo import THINK_PREFILL
from tailor.retrieval import make_retriever
from tailor.runs import RunFolder
from tailor.service.answering import Answerer
from tailor.service.app import create_app
from tailor.service.auth import create_tenant
from tailor.service.catalog import ModelCatalog
from tailor.service.store import ProfileStore, make_engine
from tailor.train.grpo import GRPOSettings
from tailor.train.kept import kept_method, served_adapter
from tailor.train.popi import POPIConfig, train_popi
from tailor.train.rest_em import RestEMConfig, train_rest_em
from tailor.train.rpo import RPOConfig, train_rpo
from tailor.train.sft import SFTResult, SFTSettings
from tailor.train.vac import VACConfig, train_vac

MODEL = LLMConfig(model="scripted")
MARK = "round one"  # in a reply made with a round-1 adapter, or from a prompt holding such a reply


class Scripted(ScriptedLLM):
    """Replies in the shape each prompt asks for (by its prefill), marked when made with a
    round-1 adapter, so that the kept round validates best."""

    def __init__(self):
        super().__init__(self.script, model=MODEL.model)
        self.adapter: str | None = None

    def _generate(self, requests, params, adapter):
        self.adapter = adapter
        return super()._generate(requests, params, adapter)

    def script(self, request, params, j) -> str:
        mark = f" {MARK}" if "iter_1" in (self.adapter or "") or MARK in request.messages[-1].content else ""
        prefill, tail = request.prefill or "", f"{mark} s{params.seed}"
        if prefill in (ANSWER_PREFILL,):
            return f'An answer{tail}."}}'
        if prefill == FEEDBACK_PREFILL:
            return 'Name a cost."}'
        if prefill == THINK_PREFILL:
            return f" Short.</think><personalized>A rewrite{tail}.</personalized>"
        if prefill == SUMMARY_PREFILL:
            return f"likes short titles{tail}."
        if prefill == "- ":  # REST-PG's reasoning data
            return "Writes plainly."
        if prefill.startswith(REASONING_HEAD):
            return f"- short\n\n{RESPONSE_HEAD}\nA text{tail}."
        return f"A text{tail}."


class Marked(Metric):
    """1.0 for a marked reply, else 0.5; plus a little by the sample's seed (so samples rank)."""

    name = "marked"

    def score_batch(self, examples, responses):
        values = [(1.0 if MARK in r else 0.5) + 0.001 * int(r.rsplit(" s", 1)[-1].strip('."}') or 0) for r in responses]
        return MetricRun(self.name, [e.id for e in examples], [Score(v) for v in values])


def fake_rl(model, prompts, settings, output_dir, reward, reward_name, init_adapter=None, reference_adapter=None):
    (output_dir / "adapter").mkdir(parents=True, exist_ok=True)
    return SFTResult(str(output_dir / "adapter"), None, 1, 0.0, len(prompts))


LAMP5 = SAMPLE_LAMP / "LaMP-5" / "user"
SFT = SFTSettings.cpu_sample()
CASES = {
    "vac": (VACConfig, dict(data=SAMPLE_LAMPQA, n_feedback=2, k=2, answer_max_tokens=40)),
    "rest-em": (RestEMConfig, dict(data=SAMPLE_LAMPQA, samples=2, k=2, answer_max_tokens=40)),
    "rest-pg": (RestEMConfig, dict(data=SAMPLE_LONGLAMP, samples=2, k=2, warmup="reasoning", format="longform-reasoning", max_attempts=2)),
    "rpo": (RPOConfig, dict(data=LAMP5, k=2, answer_max_tokens=40, reflection_max_tokens=100, trajectory_checks=False,
                            rl=GRPOSettings(num_generations=2, batch_size=2, per_device_batch_size=2))),
    "popi": (POPIConfig, dict(data=LAMP5, format="longform", n_summaries=2, answers_per_input=2, summary_words=20, summary_max_tokens=40)),
}
# today's eval rows naming the run (the method, then how the row takes the run's adapters)
ROWS = {
    "vac": {"name": "vac", "policy_run": "RUN"},
    "rest-em": {"name": "rag", "policy_run": "RUN"},
    "rest-pg": {"name": "rag", "policy_run": "RUN"},
    "rpo": {"name": "rpo", "reflection_adapter": "RUN"},
    "popi": {"name": "popi", "summarizer_adapter": "RUN", "policy_run": "RUN"},
}


def train(kind: str, config, llm) -> None:
    """One run of the trainer on the scripted model, every part of it that model."""
    config, inputs = loop_inputs(config, load_examples(config.data, split="train")[:4], load_examples(config.data, split="validation"), Marked(), policy=llm)
    if kind == "vac":
        train_vac(config, inputs, FakeTrainer(), FakeTrainer())
    elif kind in ("rest-em", "rest-pg"):
        train_rest_em(config, inputs, FakeTrainer())
    elif kind == "rpo":
        train_rpo(config, inputs, FakeTrainer(), fake_rl)
    else:
        train_popi(config, inputs, FakeTrainer(), FakeTrainer())


def sent(llm: ScriptedLLM) -> list[str]:
    """What the model was asked, in a canonical order: request, sampling settings, adapter."""
    return sorted(
        json.dumps([request.model_dump(mode="json"), params.model_dump(mode="json"), adapter and str(Path(adapter).resolve())], sort_keys=True)
        for request, params, adapter in llm.received
    )


@pytest.fixture(scope="module", params=list(CASES))
def trained(request, tmp_path_factory):
    """A finished one-round run of each trainer, and the requests its kept round's validation sent."""
    kind = request.param
    config_class, settings = CASES[kind]
    root = tmp_path_factory.mktemp(kind) / "runs"
    config = config_class(policy=MODEL, iterations=1, sft=SFT, run_dir=root / kind, **settings)
    train(kind, config, Scripted())
    history = json.loads((config.run_dir / "history.json").read_text())
    assert history["best_iteration"] == 1  # the kept round holds trained adapters
    (config.run_dir / "iter_1" / "validation.jsonl").unlink()
    again = Scripted()
    train(kind, config, again)  # every other stage is read back: only the kept round's validation asks
    return kind, config, sent(again)


def eval_sends(config, row: dict, tmp_path: Path, **eval_wide) -> list[str]:
    """What an eval row (``RUN`` standing for the run's folder) asks, on the validation split."""
    row = {key: str(config.run_dir) if value == "RUN" else value for key, value in row.items()}
    eval_config = EvalConfig(methods=[row], datasets=[{"path": config.data, "splits": ["validation"]}], out=tmp_path / "eval", metric="proxy",
                             seed=config.seed, **eval_wide)
    llm, pool = Scripted(), ModelPool(MODEL)
    pool.provide(MODEL, llm)
    (unit,) = plan(eval_config)
    unit.answer(EvalModels(eval_config, pool))
    return sent(llm)


def test_an_eval_row_of_a_training_run_answers_as_its_validation_did(trained, tmp_path):
    """The whole method the run kept: its models, adapters, options and answer settings, not the eval-wide ones."""
    kind, config, validation = trained
    assert eval_sends(config, {"name": ROWS[kind]["name"], "run": "RUN"}, tmp_path, generator=LLMConfig(model="unused")) == validation


def test_an_eval_row_naming_a_runs_adapters_answers_as_its_validation_did(trained, tmp_path):
    """Rows written before ``run:`` (its adapters by the old keys; the answer settings the eval's own) get the run's options."""
    kind, config, validation = trained
    assert eval_sends(config, ROWS[kind], tmp_path, generator=MODEL, answer=config.answer.model_dump(exclude={"seed"})) == validation


def test_tailor_answer_with_a_training_run_answers_as_its_validation_did(trained, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tailor.cli import app

    kind, config, validation = trained
    llm = Scripted()
    monkeypatch.setattr("tailor.pool.make_llm", lambda settings: llm if settings == MODEL else pytest.fail(f"built {settings}"))
    args = ["answer", "--data", str(config.data), "--split", "validation", "--out", str(tmp_path / "out"), "--run", str(config.run_dir)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert sent(llm) == validation


def test_the_service_answers_with_a_trained_run_as_its_validation_did(trained, tmp_path):
    kind, config, validation = trained
    store, llm = ProfileStore(make_engine(str(tmp_path / "service.sqlite"))), Scripted()
    runs_root = config.run_dir.parent
    answerer = Answerer(store, lambda: llm, make_retriever("bm25"), ModelCatalog(runs_root), AnswerConfig(k=7, max_tokens=300))
    client = TestClient(create_app(store, answerer, runs_root=runs_root))
    client.headers["Authorization"] = f"Bearer {create_tenant(store, 'acme')}"
    model = f"{ROWS[kind]['name']}:{config.run_dir}"
    for i, example in enumerate(load_examples(config.data, split="validation")):
        assert client.put(f"/v1/users/u{i}", json={"items": [{"text": item.text} for item in example.profile]}).status_code == 201
        response = client.post("/v1/answer", json={"user_id": f"u{i}", "question": example.question, "method": model})
        assert response.status_code == 200, response.text
    assert sent(llm) == validation


def test_a_run_describes_its_kept_method_once_and_a_moved_run_still_works(trained, tmp_path):
    """``inference.json`` holds the adapters relative to the run; a run made before the file
    (none in its folder) is described from its config and history as the file describes it."""
    kind, config, _ = trained
    written = json.loads(RunFolder(config.run_dir).inference_file.read_text())
    assert all(adapter is None or not Path(adapter).is_absolute() for adapter in written["adapters"].values())
    assert any(adapter and adapter.startswith("iter_1/") for adapter in written["adapters"].values())
    kept = kept_method(config.run_dir)
    moved = tmp_path / "elsewhere" / kind
    shutil.copytree(config.run_dir, moved)
    assert kept_method(moved).adapters == {role: adapter and str(moved / Path(adapter).relative_to(config.run_dir)) for role, adapter in kept.adapters.items()}
    RunFolder(moved).inference_file.unlink()
    older = kept_method(moved).model_copy(update={"adapters": kept.adapters})  # the history names the adapters where they were trained
    assert older == kept


def test_serve_llm_and_the_services_role_defaults_take_a_training_run(trained):
    """``serve-llm --adapter NAME=RUN`` serves the model the run trained; ``serve --adapter ROLE=RUN`` gives that role the run's adapter."""
    kind, config, _ = trained
    kept = kept_method(config.run_dir)
    assert served_adapter(str(config.run_dir)) == kept.adapters[kept.trained_role] is not None
    catalog = ModelCatalog(config.run_dir.parent, defaults={kept.trained_role: str(config.run_dir)})
    assert catalog.resolve(kept.method).adapters == {kept.trained_role: kept.adapters[kept.trained_role]}
