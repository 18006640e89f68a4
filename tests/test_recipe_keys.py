"""Every recipe key changes what its trainer does: no key is read and then ignored.

Each trainer runs on a recording model pool (every model it builds answers from a script,
and every request, retriever and metric is recorded) with LoRA fitting replaced by a
recorder of each job's inputs (model, rows, settings, start adapter). For every key of a
recipe, a changed value must change that record. Nested engine and optimizer settings
(``LLMConfig``, ``SFTSettings`` and its DPO/GRPO kinds) are changed as a whole here, which
shows they reach the engine or the trainer; that each of their own fields changes what the
engine or TRL is given is tested below, field by field.
"""

import hashlib
import json
import re
import shutil
import types
import typing
from pathlib import Path

import pytest
from fakes import ScriptedLLM
from pydantic import BaseModel, ValidationError

import tailor.train.dpo
import tailor.train.grpo
import tailor.train.sft
from tailor.data import SAMPLE_LAMP, SAMPLE_LAMPQA, SAMPLE_LONGLAMP
from tailor.errors import TailorError
from tailor.eval.config import DatasetSpec, EvalConfig
from tailor.eval.runner import run_eval
from tailor.llm import LLMConfig, make_llm
from tailor.metrics.aspect import AspectJudge, JudgeSettings
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.pool import ModelPool
from tailor.prompts.judge import AspectPrompt
from tailor.prompts.longform import RESPONSE_HEAD
from tailor.retrieval import BM25Retriever
from tailor.train.dpo import DPOSettings
from tailor.train.grpo import GRPOSettings, fitting_prompts
from tailor.train.lora import SFTResult, SFTSettings, lora_arguments, training_arguments
from tailor.train.planner import PlannerTrainer
from tailor.train.popi import POPITrainer
from tailor.train.rest_em import RestEMTrainer
from tailor.train.rpo import RPOTrainer
from tailor.train.vac import VACTrainer


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def reply(request, params, j):
    """A readable reply in every shape the loops ask for, naming what it was asked with."""
    asked = digest("\n".join(m.content for m in request.messages))
    tag = f"{asked} s{params.seed} t{params.temperature} m{params.max_tokens}"
    prefill = request.prefill or ""
    if (int(asked, 16) + params.seed) % 8 < 3:  # some requests take up to four tries to read
        return ""  # unreadable in every shape: nothing
    if prefill.endswith('": "'):
        return f'words {tag}"}}'
    if prefill.endswith("<think>"):
        if (int(asked, 16) + params.seed) % 8 == 3:  # reasoning the token budget cut off
            return f" thinking {tag}"
        return f" thinking {tag}</think><personalized>text {tag}</personalized>"
    if prefill.startswith("Reasoning"):
        return f"- point {tag}\n\n{RESPONSE_HEAD}\ntext {tag}"
    return f"text {tag}."


class HashMetric(Metric):
    """A score in [0, 1) from the response's hash: deterministic and spread out."""

    def __init__(self, name: str):
        self.name = name

    def score_batch(self, examples, responses):
        values = [int(digest(e.id + r), 16) / 16**6 for e, r in zip(examples, responses)]
        return MetricRun(self.name, [e.id for e in examples], [Score(v) for v in values])


class RecordingPool(ModelPool):
    def __init__(self):
        super().__init__(LLMConfig(cache=False))
        self.events: list = []
        self.models: dict[str, ScriptedLLM] = {}

    def llm(self, config: LLMConfig):
        key = config.model_dump_json()
        if key not in self.models:
            self.events.append(["llm", config.model_dump(mode="json")])
            self.models[key] = ScriptedLLM(reply, model=config.model)
        return self.models[key]

    def retriever(self, name, options=None):
        self.events.append(["retriever", name, options])
        return BM25Retriever()

    def metric(self, name, judge=None, options=None):
        self.events.append(["metric", name, judge.model_dump(mode="json") if isinstance(judge, LLMConfig) else None, options])
        return HashMetric(name)

    def trace(self) -> list:
        requests = [
            [key, [m.model_dump() for m in r.messages], r.prefill, p.model_dump(mode="json"), a]
            for key, llm in self.models.items() for r, p, a in llm.received
        ]
        return [self.events, requests]


@pytest.fixture
def fitting(monkeypatch):
    """LoRA fitting replaced: each job's inputs are recorded and a tiny adapter is written."""
    jobs = []

    def record(model, train_rows, eval_rows, settings, init_adapter):
        jobs.append([model, train_rows, eval_rows, settings.model_dump(mode="json"), init_adapter])
        return str(len(jobs))

    def fit(model, settings, output_dir, fingerprint, init_adapter, prepare, configure, build):
        adapter = Path(output_dir) / "adapter"
        adapter.mkdir(parents=True, exist_ok=True)
        (adapter / "adapter_config.json").write_text(json.dumps({"job": fingerprint}))
        jobs[-1].append(str(output_dir))
        return SFTResult(str(adapter), 0.5, settings.max_steps, 0.0, 1)

    for module in (tailor.train.sft, tailor.train.dpo, tailor.train.grpo):
        monkeypatch.setattr(module, "fingerprint_job", record)
        monkeypatch.setattr(module, "fit_lora", fit)
    monkeypatch.setattr(tailor.train.grpo, "adapter_fingerprint", lambda adapter: adapter)
    return jobs


WHOLE = (LLMConfig, SFTSettings)  # changed as a whole at the trainer level (see the docstring)
SMALL_SFT = {"learning_rate": 1e-3, "batch_size": 2, "per_device_batch_size": 1, "max_steps": 2, "eval_steps": 2}

# Base recipes, several where a key matters only in some settings (a threshold, a warm-up,
# DPO); a key passes when changing it changes what any of them does.
BASES = {
    VACTrainer: [
        dict(data=SAMPLE_LAMPQA, train_limit=4, valid_limit=2, iterations=1, n_feedback=2, k=2, sft=SMALL_SFT, test_split="validation", test_limit=2),
        dict(data=SAMPLE_LAMPQA, train_limit=4, valid_limit=2, iterations=1, n_feedback=2, k=2, sft=SMALL_SFT, policy_objective="dpo"),
    ],
    RestEMTrainer: [
        dict(data=SAMPLE_LAMPQA, train_limit=4, valid_limit=2, iterations=1, samples=3, k=2, sft=SMALL_SFT, test_split="validation", test_limit=2),
        dict(data=SAMPLE_LONGLAMP / "topic_writing", format="longform-reasoning", warmup="reasoning", threshold=0.3, max_per_input=2,
             train_limit=4, valid_limit=2, iterations=2, samples=3, k=2, sft=SMALL_SFT),
        dict(data=SAMPLE_LONGLAMP / "topic_writing", format="longform", warmup="reference", train_limit=4, valid_limit=2, iterations=1,
             samples=2, k=2, sft=SMALL_SFT),
    ],
    RPOTrainer: [
        dict(data=SAMPLE_LAMP / "LaMP-5" / "user", train_limit=4, valid_limit=2, iterations=2, k=3, sft=SMALL_SFT, test_split="validation", test_limit=2,
             rl={**SMALL_SFT, "num_generations": 2, "max_completion_length": 32, "max_length": 1024}),
    ],
    POPITrainer: [
        dict(data=SAMPLE_LAMP / "LaMP-5" / "user", format="longform", train_limit=4, valid_limit=2, iterations=1, n_summaries=2,
             answers_per_input=3, sft=SMALL_SFT, test_split="validation", test_limit=2),
    ],
    PlannerTrainer: [dict(k=2)],
}

# Changes for keys whose type alone does not give a meaningful one.
CHANGES = {
    "data": {SAMPLE_LAMPQA: "<the sample without its first category: see other_lampqa>", "*": SAMPLE_LAMP / "LaMP-7" / "user"},
    "model": "another-model",
    "cache_path": "elsewhere.sqlite",
    "options": {"batch_size": 2},
    "retriever": "dense",
    "retriever_options": {"k1": 1.2},
    "metric": "rouge-l",
    "metric_options": ({"top_p": 0.9}, {"model": "another-encoder"}),  # a judge's, the proxy's
    "target_modules": ["q_proj", "v_proj"],
    "judge": {"model": "a-judge"},
    "train_split": "validation",
    "valid_split": "test",
    "test_split": "train",
    "holdout": 0.5,
    "max_attempts": 1,  # no retry of the replies that need one
    "threshold": 0.9,
    "variants": {"more": {"seed": 7}},
    "format": ("longform", "jsonl"),  # a reply format, a dataset format
    "label": "another-row",
    "name": "another-folder",
    "splits": ["test"],
    "baseline": "random",
    "baselines": ["random"],
    "task": "LongLaMP",
}


def model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next((m for a in typing.get_args(annotation) if (m := model_in(a))), None)
    return None


def keys(config: BaseModel, prefix: str = "") -> list[str]:
    """Every key of the recipe, nested ones by path; WHOLE models count as one key."""
    out = []
    for name, field in type(config).model_fields.items():
        value, nested = getattr(config, name), model_in(field.annotation)
        if nested and value is not None and not issubclass(nested, WHOLE):
            out += keys(value, f"{prefix}{name}.")
        else:
            out.append(prefix + name)
    return out


def candidates(key: str, value, annotation):
    """Other values for ``key``, the most telling first."""
    name = key.split(".")[-1]
    if name in ("data", "path"):
        yield CHANGES["data"].get(value, CHANGES["data"]["*"])
    elif name in CHANGES:
        yield from CHANGES[name] if isinstance(CHANGES[name], tuple) else [CHANGES[name]]
    if isinstance(value, BaseModel):
        yield value.model_dump() | ({"model": "another-model"} if isinstance(value, LLMConfig) else {"learning_rate": value.learning_rate * 2})
    elif value is None and model_in(annotation):
        yield {"model": "another-model"}
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, int):
        yield from (value + 1, value * 2, value - 1)
    elif isinstance(value, float):
        yield from (value * 2 or 0.5, value / 2, 0.5)
    elif isinstance(value, Path):
        yield value.parent / (value.name + "-elsewhere")
    for choice in typing.get_args(annotation):
        if isinstance(choice, str) and choice != value:
            yield choice
    if value is None:
        yield from (2, 0.5)


def changed(config: BaseModel, key: str) -> BaseModel | None:
    """``config`` with ``key`` (a path; list items by index) changed to the first valid
    other value; None when the recipe allows no other (VAC's format is always ``answer``)."""
    *path, name = key.split(".")
    owner, raw = config, config.model_dump()
    target = raw
    for part in path:
        owner = owner[int(part)] if part.isdigit() else getattr(owner, part)
        target = target[int(part)] if part.isdigit() else target[part]
    value, annotation = getattr(owner, name), type(owner).model_fields[name].annotation
    for candidate in candidates(key, value, annotation):
        target[name] = candidate
        try:
            other = type(config).model_validate(raw)
        except (ValidationError, ValueError):
            continue
        if other != config:
            return other
    return None


def trace(trainer_class, config, root: Path, fitting: list) -> str:
    """What a run of ``config`` in folder ``root``/<its name> asks of models, retrievers,
    metrics and LoRA fitting, with ``root`` written as <root>."""
    config = config.model_copy(update={"run_dir": root / config.run_dir.name})
    pool, start = RecordingPool(), len(fitting)
    trainer = trainer_class(config, pool=pool)
    inputs = trainer.inputs(config)
    for _, variant in config.runs():
        trainer.train_one(variant, inputs)
    return json.dumps([pool.trace(), fitting[start:]], default=str).replace(str(root), "<root>")


@pytest.fixture
def other_lampqa(tmp_path, monkeypatch):
    """The LaMP-QA sample without its first category: other questions, the same format."""
    copy = tmp_path / "lampqa"
    shutil.copytree(SAMPLE_LAMPQA, copy)
    shutil.rmtree(sorted(p for p in copy.iterdir() if p.is_dir())[0])
    monkeypatch.setitem(CHANGES, "data", {**CHANGES["data"], SAMPLE_LAMPQA: copy})


@pytest.mark.parametrize("trainer_class", list(BASES), ids=lambda t: t.__name__)
def test_every_recipe_key_changes_what_the_trainer_does(trainer_class, tmp_path, fitting, other_lampqa):
    bases = [trainer_class.config_class.model_validate({**raw, "run_dir": "run"}) for raw in BASES[trainer_class]]
    runs = iter(range(10_000))

    def run(config):
        try:
            return trace(trainer_class, config, tmp_path / f"r{next(runs)}", fitting)
        except TailorError as err:  # a refused recipe (nothing to train on) is a change too
            return f"error: {err}"

    before = [run(base) for base in bases]
    assert not any(record.startswith("error") for record in before), before
    assert before == [run(base) for base in bases], "the same recipe must do the same thing (else this test proves nothing)"
    changes = {
        key: [(changed(base, key), trace_before) for base, trace_before in zip(bases, before) if key in keys(base)]
        for key in dict.fromkeys(k for base in bases for k in keys(base))
    }
    fixed = [key for key, options in changes.items() if not any(other for other, _ in options)]
    assert set(fixed) <= {"format", *trainer_class.config_class.__dict__.get("unread", {})}, f"no valid other value found for {fixed}"
    ignored = [
        key for key, options in changes.items() if key not in fixed and all(run(other) == trace_before for other, trace_before in options if other)
    ]
    assert not ignored, f"{trainer_class.__name__}: changing these recipe keys changes nothing: {ignored}"


def each_field_changed(settings: BaseModel):
    """(field, settings with that field changed to a valid other value) for every field."""
    for name in type(settings).model_fields:
        yield name, changed(settings, name)


@pytest.mark.parametrize("settings", [SFTSettings(), DPOSettings(), GRPOSettings()], ids=lambda s: type(s).__name__)
def test_every_training_setting_reaches_trl_or_peft(settings):
    def given(s):
        return training_arguments(s, Path("work"), True, False, False), lora_arguments(s)

    launch = {"num_processes", "accelerate_config"}  # how the stage is launched: tests/test_launch.py
    ignored = [name for name, other in each_field_changed(settings) if name not in launch and given(other) == given(settings)]
    assert not ignored, f"{type(settings).__name__}: these settings change neither TRL's nor PEFT's arguments: {ignored}"


def test_grpo_leaves_out_prompts_with_no_room_for_a_completion():
    class WordTokenizer:
        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return " ".join(m["content"] for m in messages)

        def __call__(self, text, add_special_tokens):
            return {"input_ids": text.split()}

    rows = [{"prompt": [{"role": "user", "content": "word " * n}]} for n in (10, 40)]
    settings = GRPOSettings(max_completion_length=32, batch_size=4, num_generations=2)
    assert fitting_prompts(rows, WordTokenizer(), settings.model_copy(update={"max_length": 80})) == rows
    assert fitting_prompts(rows, WordTokenizer(), settings.model_copy(update={"max_length": 50})) == rows[:1]
    with pytest.raises(TailorError, match="every GRPO prompt"):
        fitting_prompts(rows, WordTokenizer(), settings.model_copy(update={"max_length": 40}))


def test_every_engine_setting_changes_the_backend_built(monkeypatch, tmp_path):
    """make_llm's product for each LLMConfig field changed: the backend class, its arguments
    (the response cache's file included) and its deterministic flag."""
    monkeypatch.chdir(tmp_path)  # the changed cache_path is a relative file
    import tailor.llm.backends.hf
    import tailor.llm.backends.openai_compat

    class Recorded:
        def __init__(self, model, cache, **options):
            self.given = [type(self).__name__, model, cache and cache.path, options]

    for module, name in ((tailor.llm.backends.hf, "HFBackend"), (tailor.llm.backends.openai_compat, "OpenAIBackend")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, type(name, (Recorded,), {"batch_invariant": real.batch_invariant}))

    def built(config: LLMConfig):
        llm = make_llm(config)
        return llm.given, llm.deterministic

    config = LLMConfig(options={"batch_size": 4})
    ignored = [name for name, other in each_field_changed(config) if built(other) == built(config)]
    assert not ignored, f"LLMConfig: these settings change nothing make_llm builds: {ignored}"


def test_every_judge_setting_changes_what_the_judge_is_asked(tmp_path, train):
    """Each JudgeSettings field, for the aspect judge, changes its requests or their
    sampling (the first reply never parses, so the retry schedule shows)."""
    template = tmp_path / "judge.txt"
    template.write_text("Grade {aspect} ({reason}; {evidence}) for {question} / {narrative}: {response}. Key: {output_key}")

    def asked(settings: JudgeSettings) -> list:
        judge = ScriptedLLM(lambda request, params, j: "unreadable")
        AspectJudge(judge, settings).score_batch(train[:1], ["A response."])
        return [[[m.model_dump() for m in r.messages], r.prefill, p.model_dump()] for r, p, _ in judge.received]

    base = JudgeSettings(max_attempts=3, temperature=0.5)
    prompts = {"template": str(template), "output_key": "match_score", "system": "Be fair."}
    assert set(prompts) == set(AspectPrompt.model_fields)
    changes = {name: changed(base, name) for name in JudgeSettings.model_fields if name != "prompt"}
    changes |= {f"prompt.{name}": JudgeSettings(**{**base.model_dump(), "prompt": {name: value}}) for name, value in prompts.items()}
    ignored = [name for name, other in changes.items() if asked(other) == asked(base)]
    assert not ignored, f"JudgeSettings: these settings change nothing the judge is asked: {ignored}"


def eval_trace(config: EvalConfig, root: Path) -> str:
    """What ``tailor eval`` asks of models, retrievers and metrics for ``config`` (its folder
    under ``root``), and the report it writes, with run times left out."""
    from tailor.eval.report import build_benchmark_tables, build_context_tables, build_tables, report_document

    pool = RecordingPool()
    result = run_eval(config.model_copy(update={"out": root / config.out.name}), pool=pool)
    tables = build_tables(result)
    document = report_document(result, tables, build_benchmark_tables(result), build_context_tables(result, {}))
    files = sorted(str(path.relative_to(root)) for path in root.rglob("*"))
    text = json.dumps([pool.trace(), document, files], default=str).replace(str(root), "<root>")
    return re.sub(r'"(seconds|runtime|seconds_per_query|generation_seconds)[a-z_]*": [0-9.e-]+', "", text)


def test_every_eval_recipe_key_changes_what_the_evaluator_does(tmp_path, other_lampqa):
    """The run-wide keys, the answer settings, a dataset's and a method row's."""
    base = EvalConfig.model_validate({
        "generator": {"model": "generator"}, "judge": None,
        "methods": ["nopers", {"name": "rag", "k": 2}, {"name": "rag_random", "label": "random"}],
        "datasets": [{"path": SAMPLE_LAMPQA, "splits": ["validation"]}], "answer": {"k": 1, "max_tokens": 32},
        "limit": 2, "out": "eval", "baselines": ["nopers", "random"],
    })
    runs = iter(range(10_000))

    def run(config):
        try:
            return eval_trace(config, tmp_path / f"e{next(runs)}")
        except TailorError as err:  # a refused recipe is a change too
            return f"error: {err}"

    before = run(base)
    assert before == run(base), "the same recipe must do the same thing (else this test proves nothing)"
    row, dataset = "methods.1.", "datasets.0."
    leaves = [key for key in keys(base) if key not in ("methods", "datasets")]
    leaves += [row + name for name in ("label", "retriever", "retriever_options", "k", "generator", "format")]
    leaves += [dataset + name for name in DatasetSpec.model_fields]
    changes = {key: changed(base, key) for key in leaves}
    # the run-wide seed replaces answer.seed; the reasoning cap is the reasoning format's, changed in a base with that format
    assert [key for key, other in changes.items() if other is None] == ["answer.seed", "answer.reasoning_max_tokens"]
    reasoning = EvalConfig.model_validate(base.model_dump() | {"answer": {"k": 1, "max_tokens": 32, "format": "longform-reasoning"}})
    capped = changed(reasoning, "answer.reasoning_max_tokens")
    assert capped is not None and run(capped) != run(reasoning)
    ignored = [key for key, other in changes.items() if other is not None and run(other) == before]
    assert not ignored, f"eval: changing these recipe keys changes nothing: {ignored}"
