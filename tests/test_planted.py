"""The planted-preference task: its generator, its metric, and the held-out test every
training loop reports on it (``test_split``)."""

import hashlib
import json
import shutil
from collections import Counter

import pytest
from fakes import ScriptedLLM, loop_inputs
from test_methods import assert_no_hidden_text
from test_vac import FakeTrainer
from typer.testing import CliRunner

from tailor.cli import app
from tailor.data import SAMPLE_PLANTED, load_examples
from tailor.data.planted import CATEGORY, CITIES, DIETS, KINDS, PETS, SPECIES, UNITS, PlantedSpec, accepted, generate, write
from tailor.errors import DataError
from tailor.metrics.planted import PlantedFacts, PlantedStrict, states
from tailor.metrics.registry import make_metric
from tailor.prompts.quotes import COPY_RUN
from tailor.retrieval import BM25Retriever
from tailor.run_history import HeldOutTest
from tailor.train.sft import SFTSettings
from tailor.train.vac import VACConfig, train_vac

FACT_WORDS = ("city", "pet", "units", "diet")


def test_the_bundled_copy_is_the_generators_default_output(tmp_path):
    result = CliRunner().invoke(app, ["data", "planted", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for split in ("train", "validation", "test"):
        written = json.loads((tmp_path / CATEGORY / f"{split}.json").read_text())
        assert written == json.loads((SAMPLE_PLANTED / CATEGORY / f"{split}.json").read_text())
    assert generate(PlantedSpec(seed=1)) != generate(PlantedSpec(seed=0)) == generate(PlantedSpec(seed=0))


def test_data_v1_is_byte_for_byte_as_it_was(tmp_path):
    """The sha256 of each file the generator wrote before data v2 existed (its default, seed 0)."""
    result = CliRunner().invoke(app, ["data", "planted", str(tmp_path), "--version", "1"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "data v1" in result.output and "24/6/24 users" in result.output, result.output
    assert {split: hashlib.sha256((tmp_path / CATEGORY / f"{split}.json").read_bytes()).hexdigest() for split in ("train", "validation", "test")} == {
        "train": "33191098ba1d5ce77cfce970519d7e1d182d1a6029292adcff401415474be2de",
        "validation": "6d47666ff7ac77ac41d0440191172dd7def804428a3fe3d68b3ce5ef2b1956ee",
        "test": "25d365ad2be52525514fcd137c0744298c1288e7e64fc05f1a337a54b5665a4a",
    }
    assert not any("planted_facts" in record for records in generate(PlantedSpec(version=1)).values() for record in records)


@pytest.mark.parametrize("indirect", [False, True])
def test_users_are_disjoint_and_every_question_needs_facts_it_does_not_state(tmp_path, indirect):
    splits = generate(PlantedSpec(seed=3, train_users=5, validation_users=2, test_users=3, questions_per_user=3, indirect=indirect))
    users = {split: {r["user_id"] for r in records} for split, records in splits.items()}
    assert [len(u) for u in users.values()] == [5, 2, 3] and not (users["train"] & users["test"]) and not (users["validation"] & users["test"])
    for split, records in splits.items():
        examples = load_examples(write({split: records}, tmp_path / split))
        for example in examples:
            assert 1 <= len(example.rubric_aspects) <= 2 and len(example.profile) == 10
            assert [fact.kind for fact in example.planted_facts] == list(FACT_WORDS)
            for metric in (PlantedFacts(), PlantedStrict()):
                assert metric.score(example, example.question).value == 0.0  # the question names none of its facts
                assert metric.score(example, example.reference).value == 1.0  # the gold answer states them all, and no other
            history = " ".join(item.text for item in example.profile)
            # the history shows each fact: by name, or (indirect) so that reciting it states none
            assert PlantedFacts().score(example, history).value == (0.0 if indirect else 1.0)
            for aspect in example.rubric_aspects:
                assert aspect.evidence in history and aspect.fact in FACT_WORDS
            # a fact's post is longer than a quotation's run, so naming the fact alone never recites it
            fact_posts = [item.text for item in example.profile if item.category in KINDS]
            assert len(fact_posts) == len(KINDS) and all(len(post.split()) > COPY_RUN for post in fact_posts)
            if indirect:
                user = {fact.kind: fact for fact in example.planted_facts}
                assert CITIES[user["city"].value] in history and f"#{user['pet'].value}The{user['pet'].species.capitalize()}" in history
                assert not any(states(history, phrasing) for fact in example.planted_facts for phrasing in fact.accept)


def test_held_out_users_have_cities_and_pets_no_training_user_has_and_every_split_is_balanced():
    for spec in (PlantedSpec(), PlantedSpec(seed=4, train_users=7, validation_users=5, test_users=13)):
        splits = generate(spec)
        seen = {}
        for split, records in splits.items():
            users = {r["user_id"]: {f["kind"]: f["value"] for f in r["planted_facts"]} | {"species": r["planted_facts"][1]["species"]} for r in records}
            assert len(users) == getattr(spec, f"{split}_users")
            for kind, pool in (("city", CITIES), ("pet", PETS), ("units", UNITS), ("diet", DIETS), ("species", SPECIES)):
                counts = Counter(user[kind] for user in users.values())
                assert max(counts.values()) - min(counts.values()) <= 1, (split, kind, counts)
                assert len(counts) == min(len(users), len(pool) // 3 if kind in ("city", "pet") else len(pool)), (split, kind, counts)
            seen[split] = {kind: {user[kind] for user in users.values()} for kind in ("city", "pet")}
            questions = {}
            for r in records:
                questions.setdefault(r["user_id"], []).append({a["fact"] for a in r["rubric_aspects"]})
            assert all(not first & second for first, second in questions.values())  # a user's two questions need different facts
        for kind in ("city", "pet"):
            assert not seen["train"][kind] & seen["validation"][kind] and not seen["train"][kind] & seen["test"][kind]
            assert not seen["validation"][kind] & seen["test"][kind]
    fact = generate(PlantedSpec(train_users=1, validation_users=1, test_users=1))["test"][0]["planted_facts"][0]
    assert fact["kind"] == "city" and fact["rivals"] == [city for city in CITIES if city != fact["value"] for city in accepted("city", city)]


def test_bm25_with_k6_retrieves_the_fact_posts_a_question_needs():
    """Each profile holds more posts than the learning recipes' k=6, so retrieval chooses; it
    still finds the post of nearly every needed fact."""
    examples = load_examples(SAMPLE_PLANTED, split="test")
    needed = [(e, next(item.id for item in e.profile if item.category == aspect.fact)) for e in examples for aspect in e.rubric_aspects]
    found = [post in {item.id for item in BM25Retriever().retrieve(e, 6)} for e, post in needed]
    assert all(len(e.profile) > 6 for e in examples) and sum(found) / len(found) >= 0.95


def test_a_fact_is_stated_by_a_whole_word_or_phrase_in_any_case():
    assert states("Run about 5km twice a week.", "km") and states("a MEAT-FREE dinner", "meat free")
    assert states("Go to Lisbon.", "lisbon") and states("Keep it below 5 °C.", "°c")
    assert not states("Try Lisbonne instead.", "Lisbon") and not states("the skimpy menu", "km")
    assert not states("a kilometric hike", "kilometre")
    assert states("Run 5km, then five miles.", "# km") and states("Run 5km, then five miles.", "# miles") and not states("in km", "# km")  # '#': a number


def test_scores_are_the_share_of_aspects_met_reported_as_judges_report_them():
    example = next(e for e in load_examples(SAMPLE_PLANTED, split="test") if len(e.rubric_aspects) == 2)
    first, second = example.rubric_aspects
    run = make_metric("planted", None).score_batch([example, example], [f"About {first.accept[0]}.", "Nothing useful."])
    assert [s.value for s in run.scores] == [0.5, 0.0] and run.judgments == 4 and run.failed_judgments == 0
    assert run.scores[0].details["aspects"] == [{"aspect": first.aspect, "score": 2}, {"aspect": second.aspect, "score": 0}]
    assert run.metric == "planted-facts"


def test_an_aspect_without_phrasings_is_an_error_naming_it(tmp_path):
    record = generate(PlantedSpec(train_users=1, validation_users=1, test_users=1, questions_per_user=1))["test"][0]
    record["rubric_aspects"][0]["accept"] = []
    path = tmp_path / "one.json"
    path.write_text(json.dumps([record]))
    with pytest.raises(DataError, match=r"rubric_aspects\[0\]\.accept"):
        PlantedFacts().score_batch(load_examples(path), ["text"])
    record["rubric_aspects"][0]["accept"] = "Lisbon"
    path.write_text(json.dumps([record]))
    with pytest.raises(DataError, match=r"rubric_aspects\[0\]\.accept.*list of non-empty strings"):
        load_examples(path)


class AdapterAwareLLM(ScriptedLLM):
    """Replies by the adapter it is asked with: the base model answers generically, a
    trained adapter repeats the first three posts of the prompt's history."""

    def _generate(self, requests, params, adapter):
        self.adapter = adapter
        return super()._generate(requests, params, adapter)


def policy_reply(llm):
    def reply(request, params, j):
        prompt = request.messages[-1].content
        if "A reviewer's notes" not in prompt and llm.adapter is None:
            return 'Plan something you enjoy."}'
        posts = [line[4:] for line in prompt.splitlines() if line.startswith("[")][:3]
        return json.dumps(" ".join(posts))[1:] + "}"
    return reply


def test_a_loop_with_a_test_split_scores_its_start_and_kept_policy_on_held_out_users(tmp_path):
    """VAC on the bundled planted copy with scripted models: pi_1 learned to use the history,
    so the held-out test shows it above pi_0, with a paired t-test, in history, result and report."""
    from tailor.train.loop import LoopResult
    from tailor.train.report import write_run_report

    train, valid = load_examples(SAMPLE_PLANTED, split="train")[:6], load_examples(SAMPLE_PLANTED, split="validation")[:4]
    policy = AdapterAwareLLM(lambda *a: "", model="policy")
    policy.reply = policy_reply(policy)
    feedback = ScriptedLLM(lambda request, params, j: 'Use what their posts say."}', model="feedback")
    config = VACConfig(
        iterations=1, n_feedback=2, k=6, sft=SFTSettings.cpu_sample(), metric="planted", data=SAMPLE_PLANTED,
        test_split="test", test_limit=12, run_dir=tmp_path / "run",
    )
    result = train_vac(*loop_inputs(config, train, valid, PlantedFacts(), policy=policy, feedback=feedback), trainer=FakeTrainer())
    assert result.validation[0] == 0.0 and result.validation[1] > 0.3 and result.best_iteration == 1
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    test = history["test"]
    assert test["split"] == "test" and test["examples"] == 12 and test["end_iteration"] == 1 and test["scored"] == [12, 12]
    assert test["start"] == 0.0 and test["end"] > 0.3 and test["p_value"] < 0.05
    rows = [json.loads(line) for line in (tmp_path / "run" / "test" / "iter_1.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [e.id for e in load_examples(SAMPLE_PLANTED, split="test")[:12]]
    assert {"test/untrained", "test/iter_1"} <= set(history["stages"])
    tested = [adapter for request, _, adapter in policy.received[-24:]]
    assert tested == [None] * 12 + [result.best_adapter] * 12  # the untrained policy, then the kept one
    assert assert_no_hidden_text(load_examples(SAMPLE_PLANTED), policy.prompts()) > 10

    line = LoopResult("vac", tmp_path / "run", result.validation, 1, result.best_adapter, "planted-facts", test=HeldOutTest.model_validate(test)).test_line()
    assert line.startswith("test (test, 12 examples): planted-facts untrained 0.0000 → π_1 ") and f"p = {test['p_value']:.3g}" in line
    report = write_run_report(tmp_path / "run", train, valid, 1)
    markdown = report.markdown.read_text()
    assert "## Held-out test" in markdown and f"{test['end']:.4f}" in markdown

    # tailor train compare: the README's table and learning curves, from the run folders
    compared = CliRunner().invoke(app, ["train", "compare", str(tmp_path / "run"), "--plot", str(tmp_path / "learning.png")], env={"COLUMNS": "300"})
    assert compared.exit_code == 0, compared.output
    row = next(line for line in compared.output.splitlines() if line.startswith("| vac"))
    assert [cell.strip() for cell in row.split("|")[2:-1]] == [
        "test (12)", "0.0000", f"π_1: {test['end']:.4f}", f"{test['p_value']:.2g}", "0 / 0", "0 / 12", row.split("|")[-3].strip(), "yes",
    ]  # the scripted pi_1 recites posts: every one of its answers quotes the history
    assert (tmp_path / "learning.png").read_bytes().startswith(b"\x89PNG")
    missing = CliRunner().invoke(app, ["train", "compare", str(tmp_path / "run"), str(tmp_path)], env={"COLUMNS": "300"})
    assert missing.exit_code != 0 and f"{tmp_path} holds no training run" in missing.output
    shutil.copytree(tmp_path / "run", tmp_path / "other")
    (tmp_path / "other" / "history.json").write_text(json.dumps({**history, "metric": {"name": "rouge-l", "proxy": False}}))
    mixed = CliRunner().invoke(app, ["train", "compare", str(tmp_path / "run"), str(tmp_path / "other")], env={"COLUMNS": "300"})
    assert mixed.exit_code != 0 and "different metrics (planted-facts, rouge-l)" in mixed.output


def copying_policy(request, params, j):
    """Answers generically; a revision copies the reviewer's notes, as SmolLM2-135M does."""
    prompt = request.messages[-1].content
    if "A reviewer's notes on the draft:\n" in prompt:
        return json.dumps(prompt.split("A reviewer's notes on the draft:\n")[1].split("\n")[0])[1:] + "}"
    return 'Plan something you enjoy."}'


def city_critic(request, params, j):
    """Names the asker's city (from the narrative) in the first sample and greedily; otherwise says nothing useful."""
    narrative = request.messages[-1].content.split("in their own words:\n")[1].split("\n")[0]
    city = narrative.split("I live in ")[1].split(";")[0].split(".")[0] if "I live in " in narrative else None
    if city and (params.temperature == 0 or params.seed == 0):
        return f'Say that they live in {city}."}}'
    return 'Be friendlier."}'


class CountingFacts(PlantedFacts):
    """The planted metric, recording every (example id, response) it scores."""

    def __init__(self):
        self.scored = []

    def score_batch(self, examples, responses):
        self.scored += [(e.id, r) for e, r in zip(examples, responses)]
        return super().score_batch(examples, responses)


@pytest.mark.parametrize("targets", ["best", "improved"])
def test_improved_targets_keep_only_feedback_and_revisions_that_beat_the_initial_answer(tmp_path, targets):
    train, valid = load_examples(SAMPLE_PLANTED, split="train")[:8], load_examples(SAMPLE_PLANTED, split="validation")[:2]
    with_city = {e.id for e in train if "I live in" in e.narrative}
    assert 0 < len(with_city) < len(train)
    config = VACConfig(iterations=1, n_feedback=3, k=6, sft=SFTSettings.cpu_sample(), metric="planted", targets=targets, run_dir=tmp_path / "run")
    trainer, metric = FakeTrainer(), CountingFacts()
    train_vac(*loop_inputs(config, train, valid, metric, policy=ScriptedLLM(copying_policy), feedback=ScriptedLLM(city_critic)), trainer=trainer)
    out = tmp_path / "run" / "iter_1"
    initial_answers = [json.loads(line)["answer"] for line in (out / "initial.jsonl").read_text().splitlines()]
    assert metric.scored.count((train[0].id, initial_answers[0])) == 1  # scored once, in initial_scores or in the training signal
    signal = [json.loads(line) for line in (out / "train_scores.jsonl").read_text().splitlines()]
    assert [row["initial"] for row in signal] == [0.0] * len(train)
    chosen = [json.loads(line) for line in (out / "chosen_feedback.jsonl").read_text().splitlines()]
    feedback_job, policy_job = trainer.jobs
    if targets == "best":  # the paper's argmax: a tie at zero still picks the first sample
        assert len(chosen) == len(feedback_job["rows"]) == len(policy_job["rows"]) == len(train)
    else:
        assert {row["id"] for row in chosen} == with_city and all(row["score"] > 0 for row in chosen)
        assert len(feedback_job["rows"]) == len(policy_job["rows"]) == len(with_city)
        assert all("Say that they live in" in row["messages"][-1]["content"] for row in policy_job["rows"])
        initial = [json.loads(line) for line in (out / "initial_scores.jsonl").read_text().splitlines()]
        assert [row["initial"] for row in initial] == [0.0] * len(train)


def test_a_round_without_improving_targets_keeps_the_previous_models(tmp_path, caplog):
    train, valid = load_examples(SAMPLE_PLANTED, split="train")[:4], load_examples(SAMPLE_PLANTED, split="validation")[:2]
    useless = ScriptedLLM(lambda request, params, j: 'Be friendlier."}')
    config = VACConfig(iterations=2, n_feedback=2, k=6, sft=SFTSettings.cpu_sample(), metric="planted", targets="improved", run_dir=tmp_path / "run")
    trainer = FakeTrainer()
    result = train_vac(*loop_inputs(config, train, valid, PlantedFacts(), policy=ScriptedLLM(copying_policy), feedback=useless), trainer=trainer)
    assert trainer.jobs == [] and result.policy_adapters == [None, None] and result.feedback_adapters == [None, None]
    assert result.validation == [0.0, 0.0, 0.0] and result.best_iteration == 0
    assert "no revision could be scored above its initial answer, so phi_1 is phi_0" in caplog.text
    assert "so pi_2 is pi_1" in caplog.text


def test_an_impossible_spec_is_a_clear_error_and_writes_nothing(tmp_path):
    result = CliRunner().invoke(app, ["data", "planted", str(tmp_path / "out"), "--questions-per-user", "9"], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "questions_per_user: at most 8" in result.output
    indirect_v1 = CliRunner().invoke(app, ["data", "planted", str(tmp_path / "out"), "--version", "1", "--indirect"], env={"COLUMNS": "200"})
    assert indirect_v1.exit_code == 1 and "indirect: data v1 states every fact directly; use version 2" in indirect_v1.output
    assert not (tmp_path / "out").exists()


def test_an_answer_quotes_the_history_when_it_recites_eight_words_of_a_post_in_a_row():
    from tailor.train.compare import quotes_history

    example = load_examples(SAMPLE_PLANTED, split="test")[0]
    post = next(item.text for item in example.profile if len(item.text.split()) > 9 and "-" not in item.text)
    words = post.split()
    assert quotes_history(example, f"Sure. {' '.join(words[:8]).upper()}, so plan for it.")  # any case, any punctuation around it
    assert not quotes_history(example, " ".join(words[:7]) + " and then something else entirely.")
    assert not quotes_history(example, example.reference)  # the gold answer states the facts without reciting a post
