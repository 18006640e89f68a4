"""The bundled hand-written LaMP-format sample (src/tailor/data/sample/lamp)."""

import json
import re
from pathlib import Path

import pytest

import tailor.data
from tailor.data import load_examples

SAMPLE_LAMP = Path(tailor.data.__file__).parent / "sample" / "lamp"
TASKS = ("LaMP-2", "LaMP-3", "LaMP-5", "LaMP-7")
SETTINGS = ("user", "time")
SPLITS = ("train", "validation", "test")
COUNTS = {"train": 8, "validation": 4, "test": 4}
TAGS = (
    "sci-fi", "based on a book", "comedy", "action", "twist ending", "dystopia", "dark comedy", "classic",
    "psychology", "fantasy", "romance", "thought-provoking", "social commentary", "violence", "true story",
)
ITEM_FIELDS = {
    "LaMP-2": {"id", "tag", "description"},
    "LaMP-3": {"id", "text", "score"},
    "LaMP-5": {"id", "title", "abstract"},
    "LaMP-7": {"id", "text"},
}
INPUT_PREFIX = {
    "LaMP-2": "Which tag does this movie relate to among the following tags?",
    "LaMP-3": "How many stars, from 1 to 5,",
    "LaMP-5": "Generate a title for the following abstract of a paper: ",
    "LaMP-7": "Paraphrase the following tweet without any explanation before or after it: ",
}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CASES = [(task, setting, split) for task in TASKS for setting in SETTINGS for split in SPLITS]
TASK_SETTINGS = [(task, setting) for task in TASKS for setting in SETTINGS]


def _load(task, setting, split):
    return load_examples(SAMPLE_LAMP / task / setting, split=split)


def _raw(task, setting, split):
    return json.loads((SAMPLE_LAMP / task / setting / f"{split}_questions.json").read_text(encoding="utf-8"))


def _norm(text):
    return " ".join(text.split()).lower()


def _payload(task, question):
    """The part of the input after the instruction: description, review, abstract or tweet."""
    marker = {"LaMP-2": " description: ", "LaMP-3": " review: "}.get(task, ": ")
    return question.split(marker, 1)[1]


def test_layout():
    found = sorted(p.relative_to(SAMPLE_LAMP).as_posix() for p in SAMPLE_LAMP.rglob("*.json"))
    expected = sorted(
        f"{t}/{s}/{sp}_{kind}.json" for t in TASKS for s in SETTINGS for sp in SPLITS for kind in ("questions", "outputs")
    )
    assert found == expected
    assert (SAMPLE_LAMP / "README.md").is_file()


@pytest.mark.parametrize("task,setting,split", CASES)
def test_counts_ids_and_outputs(task, setting, split):
    examples = _load(task, setting, split)
    assert len(examples) == COUNTS[split]
    assert [e.id for e in examples] == [f"{task}-{setting}-{split}-{n}" for n in range(1, COUNTS[split] + 1)]
    for e in examples:
        assert e.user_id, e.id
        assert e.reference is not None and e.reference.strip() == e.reference and e.reference, e.id
        assert e.question.startswith(INPUT_PREFIX[task]), e.id
        assert _payload(task, e.question).strip(), e.id
        assert 5 <= len(e.profile) <= 10, (e.id, len(e.profile))
        assert all(p.text.strip() for p in e.profile), e.id
    outputs = json.loads((SAMPLE_LAMP / task / setting / f"{split}_outputs.json").read_text(encoding="utf-8"))
    assert outputs["task"] == task.replace("-", "_")


@pytest.mark.parametrize("task,setting,split", CASES)
def test_label_spaces(task, setting, split):
    examples = _load(task, setting, split)
    if task == "LaMP-2":
        assert all(e.reference in TAGS for e in examples)
        assert all(f"tags: [{', '.join(TAGS)}]" in e.question for e in examples)
    if task == "LaMP-3":
        assert all(e.reference in ("1", "2", "3", "4", "5") for e in examples)


@pytest.mark.parametrize("task,setting,split", CASES)
def test_profile_item_fields(task, setting, split):
    expected = ITEM_FIELDS[task] | ({"date"} if setting == "time" else set())
    for record in _raw(task, setting, split):
        assert ("date" in record) == (setting == "time"), record["id"]
        for item in record["profile"]:
            assert set(item) == expected, (record["id"], item.get("id"))
            assert all(isinstance(v, str) and v.strip() for v in item.values()), (record["id"], item["id"])
            assert item["id"].startswith(record["user_id"] + "-p"), (record["id"], item["id"])
            if task == "LaMP-2":
                assert item["tag"] in TAGS, (record["id"], item["id"])
            if task == "LaMP-3":
                assert item["score"] in ("1", "2", "3", "4", "5"), (record["id"], item["id"])
        ids = [item["id"] for item in record["profile"]]
        assert len(ids) == len(set(ids)), record["id"]


@pytest.mark.parametrize("task", TASKS)
def test_user_based_split(task):
    """Users of validation and test never appear in train (LaMP's user-based setting)."""
    users = {s: [e.user_id for e in _load(task, "user", s)] for s in SPLITS}
    for split, names in users.items():
        assert len(set(names)) == len(names), split  # one question per user
    assert set(users["train"]).isdisjoint(users["validation"])
    assert set(users["train"]).isdisjoint(users["test"])
    assert set(users["validation"]).isdisjoint(users["test"])


@pytest.mark.parametrize("task", TASKS)
def test_time_based_split(task):
    """The same users in every split; each profile item is dated before its question, and
    every user's validation question comes after their train questions and before their test one."""
    users = {s: {e.user_id for e in _load(task, "time", s)} for s in SPLITS}
    assert users["train"] == users["validation"] == users["test"]
    latest = {}
    for split in SPLITS:
        for record in _raw(task, "time", split):
            assert DATE.match(record["date"]), record["id"]
            dates = [item["date"] for item in record["profile"]]
            assert all(DATE.match(d) for d in dates), record["id"]
            assert all(d < record["date"] for d in dates), record["id"]
            assert dates == sorted(dates), record["id"]
            uid = record["user_id"]
            assert record["date"] > latest.get(uid, ""), record["id"]
            latest[uid] = max(latest.get(uid, ""), record["date"]) if split == "train" else record["date"]


@pytest.mark.parametrize("task,setting,split", CASES)
def test_answer_not_in_profile(task, setting, split):
    """The question's own item is not in its profile: neither the gold output of a generation
    task (a title, a tweet) nor the description, review, abstract or paraphrase of the input
    appears verbatim among the user's profile items."""
    for e in _load(task, setting, split):
        history = [_norm(p.text) for p in e.profile]
        if task in ("LaMP-5", "LaMP-7"):
            assert not any(_norm(e.reference) in h for h in history), e.id
        assert not any(_norm(_payload(task, e.question)) in h for h in history), e.id


def test_signature_users_keep_their_style():
    """The users the sample is built around behave as described in its README."""
    by_user = {}
    for task in TASKS:
        for setting in SETTINGS:
            for split in SPLITS:
                for e in _load(task, setting, split):
                    by_user.setdefault(e.user_id, []).append(e)
    for e in by_user["mv-dystopia-watcher"]:
        tags = [p.model_extra["tag"] for p in e.profile]
        assert sum(t in ("dystopia", "social commentary") for t in tags) >= len(tags) - 1
        assert e.reference in ("dystopia", "social commentary")
    for e in by_user["pr-harsh-critic"]:
        assert int(e.reference) <= 2 and all(int(p.model_extra["score"]) <= 3 for p in e.profile)
    for e in by_user["sc-towards-author"]:
        assert e.reference.startswith("Towards ") and ":" in e.reference
        assert all(p.model_extra["title"].startswith("Towards ") for p in e.profile)
    emoji = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")
    for e in by_user["tw-lowercase-emoji"]:
        for tweet in [e.reference] + [p.text for p in e.profile]:
            assert tweet == tweet.lower() and len(emoji.findall(tweet)) == 1, tweet
