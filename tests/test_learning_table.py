"""The learning table and `make learn`'s driver: two tiny ReST-EM recipes trained with two
seeds each by a scripted policy (``tailor train learn``'s own code, the fitting replaced),
read back with the baselines on the same test questions, compared at the user level with
Holm's correction over the whole table."""

import json
from pathlib import Path

import pytest
import yaml
from fakes import ScriptedLLM
from scipy.stats import ttest_rel
from typer.testing import CliRunner
from test_vac import FakeTrainer

from tailor.cli import app
from tailor.cli.train import loop_settings
from tailor.data import SAMPLE_PLANTED, load_examples
from tailor.errors import TailorError
from tailor.llm import LLMConfig
from tailor.metrics.significance import holm
from tailor.pool import ModelPool
from tailor.source import source_version
from tailor.train.baselines import other_users_gold, vocabulary_sentence
from tailor.train.learn import train_seeds, write_learning_table
from tailor.train.learning_rows import LOOP, READS_NOTHING, UNTRAINED, Row, accepted_formats, described, recipe_config
from tailor.train.learning_table import BEST, START, build_table
from tailor.train.rest_em import RestEMConfig, RestEMTrainer, train_rest_em

ROOT = Path(__file__).resolve().parents[1]
TEST_QUESTIONS = 24  # 12 test users, two questions each
POLICY = {"model": "smollm2-135m-instruct"}  # scripted here (the pool is given the script); its weights never load
RECIPE = {
    "policy": POLICY, "metric": "planted", "data": str(SAMPLE_PLANTED), "test_split": "test", "test_limit": TEST_QUESTIONS,
    "train_limit": 4, "valid_limit": 4, "iterations": 1, "samples": 2, "threshold": 0.5, "k": 6, "answer_max_tokens": 48, "max_attempts": 2,
    "sft": {"batch_size": 2, "per_device_batch_size": 1, "max_steps": 2, "eval_steps": 2},
}


class AdapterAwarePolicy(ScriptedLLM):
    """The untrained model answers generically (and never writes a reasoning reply's response
    part); sampling at temperature 1 and every trained adapter recite posts of the prompt's
    history, the adapter as many as its test seed says, so the seeds differ."""

    def __init__(self):
        super().__init__(self.answer, model="scripted")

    def _generate(self, requests, params, adapter):
        self.adapter = adapter
        return super()._generate(requests, params, adapter)

    def answer(self, request, params, j):
        posts = [line[4:] for line in request.messages[-1].content.splitlines() if line.startswith("[")]
        if self.adapter is None and params.temperature < 1.0:
            text = "Plan something you enjoy."
        else:
            text = " ".join(posts[: 2 + params.seed % 3] if self.adapter else posts)
        prefill = request.prefill or ""
        if prefill.endswith('": "'):
            return json.dumps(text)[1:] + "}"
        return text if not prefill else "- nothing to say"


@pytest.fixture
def learned(tmp_path, monkeypatch):
    """Two recipes (one with a variant), each trained with seeds 0 and 1 by the driver."""
    jobs = FakeTrainer()
    monkeypatch.setattr(RestEMTrainer, "train_one", lambda self, config, inputs: train_rest_em(config, inputs, trainer=jobs))
    recipes = []
    for name, changes in (("json", {}), ("plain", {"format": "longform", "variants": {"strict": {"threshold": 0.9}}})):
        path = tmp_path / f"learn-{name}.yaml"
        path.write_text(yaml.safe_dump({**RECIPE, **changes, "run_dir": str(tmp_path / "runs" / name)}))
        recipes.append(path)
    policy = AdapterAwarePolicy()
    pool = ModelPool(LLMConfig(**POLICY))
    pool.provide(LLMConfig(**POLICY), policy)
    train_seeds(recipes, [0, 1], pool)
    return recipes, policy, pool, jobs, tmp_path


def test_a_seed_other_than_the_recipes_runs_in_its_own_folder_with_every_seed_replaced(learned):
    recipes, policy, _, jobs, tmp_path = learned
    seed_one = tmp_path / "runs" / "json" / "seed-1"
    config = json.loads((seed_one / "config.json").read_text())
    assert config["seed"] == 1 and config["sft"]["seed"] == 1
    assert json.loads((tmp_path / "runs" / "json" / "config.json").read_text())["seed"] == 0  # the recipe's own seed stays in run_dir
    assert {v["sft"]["seed"] for v in [json.loads((seed_one.parent.parent / "plain" / "seed-1" / "strict" / "config.json").read_text())]} == {1}
    sampled = {params.seed for _, params, adapter in policy.received if params.temperature == 1.0}
    assert sampled == {0, 2, 1, 3}  # sample j of seed s: s + j * max_attempts
    assert sorted(job["dir"].relative_to(tmp_path / "runs").parts[:-2] for job in jobs.jobs) == [
        ("json",), ("json", "seed-1"), ("plain",), ("plain", "seed-1"), ("plain", "seed-1", "strict"), ("plain", "strict")]


def test_seed_replaces_every_seed_of_a_recipe_and_names_its_folder():
    rest_em = ROOT / "configs" / "learn-rest-em.yaml"
    settings = loop_settings("rest-em", rest_em, None, None, None, seed=2)
    assert (settings.seed, settings.sft.seed, settings.answer.seed, settings.sample_seed(1)) == (2, 2, 2, 2 + settings.max_attempts)
    assert settings.run_dir == Path("runs/learn-rest-em/seed-2")
    assert loop_settings("rest-em", rest_em, None, None, None, seed=0).run_dir == Path("runs/learn-rest-em")  # the recipe's own seed
    assert loop_settings("rest-em", rest_em, None, Path("elsewhere"), None, seed=2).run_dir == Path("elsewhere")
    assert loop_settings("rpo", ROOT / "configs" / "learn-rpo.yaml", None, None, None, seed=1).rl.seed == 1
    runs = dict(loop_settings("vac", ROOT / "configs" / "learn-vac.yaml", None, None, None, seed=1).runs())
    assert list(runs) == ["main", "improved", "frozen", "frozen-improved"]
    assert (runs["frozen"].seed, runs["frozen"].sft.seed, runs["frozen"].run_dir) == (1, 1, Path("runs/learn-vac/seed-1/frozen"))
    with pytest.raises(TailorError, match="--seed starts the recipe's run with another seed"):
        loop_settings("rest-em", None, Path("runs/learn-rest-em"), None, None, seed=1)


def test_the_table_compares_every_loop_with_its_start_the_best_prompt_and_what_reads_nothing(learned, monkeypatch):
    recipes, policy, pool, jobs, tmp_path = learned
    files = write_learning_table(recipes, [0, 1], tmp_path / "learn", pool)
    table = files.table
    names = [r.name for r in table.rows]
    assert names[:3] == ["ReST-EM (learn-json)", "ReST-EM (learn-plain)", "ReST-EM (learn-plain, strict)"]
    assert [r.what for r in table.loops] == ["format: answer, warmup: none", "format: longform, warmup: none", "format: longform, warmup: none, threshold: 0.9"]
    examples = load_examples(SAMPLE_PLANTED, split="test")[:TEST_QUESTIONS]
    users = {e.id: e.user_id for e in examples}
    json_row = table.loops[0]
    assert json_row.seeds == [0, 1] and json_row.formats == ("answer", "longform")
    kept = [[json.loads(line) for line in (tmp_path / "runs" / "json" / sub / "test" / "iter_1.jsonl").read_text().splitlines()] for sub in ("", "seed-1")]
    assert json_row.runs == [{row["id"]: row["score"] for row in rows} for rows in kept]
    assert json_row.std > 0  # the seeds differ
    assert json_row.commits == [source_version()] * 2  # the code each seed's held-out test ran
    by_name = {r.name: r for r in table.baselines}
    assert by_name["vocabulary sentence"].mean == 1.0 and by_name["pasted posts"].mean == 1.0 and by_name["gold"].mean == 1.0
    assert by_name["pasted posts"].quoting == [TEST_QUESTIONS] and by_name["untrained answer"].mean == 0.0
    assert by_name["untrained longform-reasoning"].unparsed == [TEST_QUESTIONS]  # it never writes its response part
    assert by_name["vocabulary sentence"].kind == READS_NOTHING and by_name["untrained longform"].kind == UNTRAINED

    # one comparison per (loop, baseline): its start is the best prompt here (every untrained prompt scores 0: the first)
    compared = {c.against: c for c in table.comparisons if c.row == "ReST-EM (learn-plain, strict)"}
    assert set(compared) == {"untrained answer", "vocabulary sentence", "units-and-diets sentence", "pasted posts", "another user's gold"}
    assert compared["untrained answer"].roles == [START, BEST] and compared["pasted posts"].roles == ["pasted posts"]
    assert [c.adjusted for c in table.comparisons] == holm([c.p for c in table.comparisons]) and len(table.comparisons) == 3 * 5
    # the user-level p by hand: each user's mean over their questions and both seeds
    posts = next(c for c in table.comparisons if c.row == "ReST-EM (learn-json)" and c.against == "pasted posts")
    mine = {u: [] for u in set(users.values())}
    for rows in kept:
        for row in rows:
            mine[users[row["id"]]].append(row["score"])
    order = sorted(mine)
    assert posts.p == pytest.approx(ttest_rel([sum(mine[u]) / len(mine[u]) for u in order], [1.0] * len(order)).pvalue)
    assert posts.difference < 0 and not posts.won

    start = next(c for c in table.comparisons if c.row == "ReST-EM (learn-json)" and START in c.roles)
    assert start.against == "untrained answer" and BEST in start.roles and start.difference > 0.3 and start.won
    assert table.learned(json_row) == "no (not above vocabulary sentence, pasted posts)"

    markdown = files.markdown.read_text()
    header = markdown.splitlines()[4]
    assert "| vs its starting point | vs the best untrained prompt | vs vocabulary sentence |" in header
    line = next(line for line in markdown.splitlines() if "format: answer, warmup: none" in line)
    assert "| 0, 1 (2 seeds) |" in line and f"+{start.difference:.3f} (p {start.adjusted:.2g})" in line and line.endswith(f"| {source_version()} |")
    assert files.figure.read_bytes().startswith(b"\x89PNG") and json.loads(files.json.read_text())["rows"][0]["learned"].startswith("no")

    # the command line reads the same runs and the baselines' answers back (the real model is never loaded)
    shown = CliRunner().invoke(app, ["train", "table", *map(str, recipes), "--seeds", "0,1", "--out", str(tmp_path / "learn")], env={"COLUMNS": "400"})
    assert shown.exit_code == 0, shown.output
    assert line in shown.output and f"table: {files.markdown}" in shown.output
    wrong = CliRunner().invoke(app, ["train", "table", str(recipes[0]), "--seeds", "0,one"], env={"COLUMNS": "400"})
    assert wrong.exit_code == 1 and "--seeds: give seeds as numbers separated by commas" in wrong.output

    # a rerun trains nothing, asks no model and answers no baseline again; at other code, the
    # rows keep the commit their answers were written at
    monkeypatch.setattr("tailor.source.source_version", lambda: "a-later-commit")
    before_requests, before_jobs = len(policy.received), len(jobs.jobs)
    train_seeds(recipes, [0, 1], pool)
    again = write_learning_table(recipes, [0, 1], tmp_path / "learn", pool)
    assert len(policy.received) == before_requests and all(job["reused"] for job in jobs.jobs[before_jobs:])
    assert again.markdown.read_text() == markdown


def row(name, kind, means, formats=()):
    """A row whose users score ``means`` (user i: question q{i})."""
    return Row(name, "", kind, [{f"q{i}": v for i, v in enumerate(means)}], [0], [0], [0], [1.0], formats)


def test_a_loop_learned_when_it_beats_every_baseline_after_holm_and_not_otherwise():
    examples = [e.model_copy(update={"id": f"q{i}", "user_id": f"u{i}"}) for i, e in enumerate(load_examples(SAMPLE_PLANTED, split="test")[:8])]
    high = [0.9, 0.8, 1.0, 0.9, 0.7, 1.0, 0.8, 0.9]
    low = [0.1, 0.0, 0.2, 0.1, 0.0, 0.3, 0.1, 0.0]
    close = [0.85, 0.8, 0.95, 0.9, 0.75, 0.9, 0.8, 0.95]
    baselines = [row("untrained answer", UNTRAINED, low, ("answer",)), row("untrained longform", UNTRAINED, [v + 0.1 for v in low], ("longform",)),
                 row("posts", READS_NOTHING, low)]
    loops = [row("strong", LOOP, high, ("answer",)), row("near posts", LOOP, close, ("answer", "longform"))]
    table = build_table(loops, baselines, examples, "planted")
    assert table.learned(loops[0]) == "yes"
    assert table.start_of(loops[0]).name == "untrained answer" and table.start_of(loops[1]).name == "untrained longform"
    with_close = build_table(loops, [*baselines, row("fixed", READS_NOTHING, close)], examples, "planted")
    assert with_close.learned(loops[0]) == "no (not significantly above fixed)"  # above it, but not significantly after Holm
    assert with_close.learned(loops[1]) == "no (not above fixed)"


def test_a_row_says_what_it_is_and_which_formats_its_loop_accepts():
    runs = dict(recipe_config(ROOT / "configs" / "learn-vac.yaml")[1].runs())
    assert described(runs["main"], {}) == ("train_feedback: true, targets: best, policy_objective: sft, feedback_sees_aspects: false", False)
    assert described(runs["frozen-improved"], {"train_feedback": False, "targets": "improved"}) == (
        "train_feedback: false, targets: improved, policy_objective: sft, feedback_sees_aspects: false", False)
    oracle = RestEMConfig(format="longform-reasoning", warmup="reasoning", reasoner="oracle", answer_reasoning_max_tokens=48)
    assert described(oracle, {"threshold": 0.9}) == (
        "format: longform-reasoning, warmup: reasoning, answer_reasoning_max_tokens: 48, threshold: 0.9, reasoner: oracle", True)
    model = RestEMConfig(format="longform-reasoning", warmup="reasoning", reasoner={"model": "an-oracle-named-model"}, data="/oracle/planted")
    assert described(model, {}) == ("format: longform-reasoning, warmup: reasoning", False)  # a model, whatever its name or its data's path
    assert accepted_formats(recipe_config(ROOT / "configs" / "learn-vac.yaml")[1]) == ("answer",)
    assert accepted_formats(recipe_config(ROOT / "configs" / "learn-rest-em.yaml")[1]) == ("answer", "longform")
    kind, config = recipe_config(ROOT / "configs" / "learn-restpg.yaml")
    assert kind == "rest-pg" and [accepted_formats(v) for _, v in config.runs()] == [("longform-reasoning",), ("longform",)]
    with pytest.raises(TailorError, match="fit one trainer's config; it fits no trainer's config"):
        recipe_config(ROOT / "configs" / "lampqa-sample-cpu.yaml")


def test_the_reads_nothing_answers_follow_the_generator():
    from tailor.data.planted import CITIES, DIETS, PETS

    sentence = vocabulary_sentence()
    assert all(value in sentence for value in (*CITIES, *PETS, *DIETS, "8 km", "5 miles", "40 °F"))
    examples = load_examples(SAMPLE_PLANTED, split="test")[:6]
    given = other_users_gold(examples)
    owner = {e.reference: e.user_id for e in examples}
    assert all(owner[given[e.id]] != e.user_id for e in examples)  # never the user's own
    assert sorted(given.values()) == sorted(e.reference for e in examples)  # each gold answer given once
