"""A training loop is done when it is shown to learn: on the planted-preference task, the
shipped learning recipe's trained policy must beat its starting point on held-out users,
through the real offline model and the command line, as a user runs it, and it must beat
the same run whose rewards were permuted across the training examples (a control that
trains on the policy's own samples just as much, but keeps them for another sample's
reward), and it should not learn to quote the users' posts back (it does: that check is a
strict xfail with its measurement). These run in `make learn-check` (the ``learn`` marker),
not in `make test`."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tailor.cli import app
from tailor.data import load_examples
from tailor.data.planted import PlantedSpec, generate, write
from tailor.runs import RunFolder
from tailor.train.compare import quotes_history
from tailor.train.rows import read_jsonl

ROOT = Path(__file__).parents[1]
RECIPE = ROOT / "configs" / "learn-rest-em.yaml"
# What learn-check measures, in one place: the recipe's metric and data are replaced by these
# (data v2 generated afresh with seed 0: the bundled copy).
METRIC = "planted-strict"
DATA_VERSION = 2
TEST_EXAMPLES = 48
# Measured once (2-core CPU, seed 0, planted-strict on data v2): the real run 0.052 -> 0.208
# on the test split (pi_2; validation 0.042, 0.063, 0.219; p = 0.0076), the control kept pi_0
# (validation 0.042, 0.021, 0.042) and stays at 0.052: a rise and a lead of 0.156 each.
GAIN = 0.1  # the least rise of the real run's kept policy over the untrained one, on the test split
MARGIN = 0.1  # the least lead of the real run's kept policy over the control's, on the test split
CONTROL = "permuted-rewards"  # the control's variant folder: the recipe with reward_control: permuted


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """The recipe and its control, trained once through ``tailor train rest-em`` on freshly
    generated data: (the CLI's output, the real run's folder, the control's folder, the data)."""
    folder = tmp_path_factory.mktemp("learn")
    data = write(generate(PlantedSpec(version=DATA_VERSION)), folder / "data")
    recipe = yaml.safe_load(RECIPE.read_text()) | {"metric": METRIC, "data": str(data), "variants": {CONTROL: {"reward_control": "permuted"}}}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.MonkeyPatch.context() as patch:  # one cache for both runs: the control's first samples are the real run's
        patch.setenv("TAILOR_CACHE", str(folder / "llm_cache.sqlite"))
        patch.setenv("TAILOR_PROGRESS", "0")
        result = CliRunner().invoke(app, ["train", "rest-em", "--config", str(folder / "recipe.yaml"), "--run-dir", str(folder / "run")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output, folder / "run", folder / "run" / CONTROL, data


def held_out(run: Path) -> dict:
    return json.loads((run / "history.json").read_text())["test"]


@pytest.mark.learn
def test_rest_em_learns_the_planted_preferences_for_held_out_users(learned):
    output, real, _, _ = learned
    test = held_out(real)
    assert (test["split"], test["examples"], test["scored"]) == ("test", TEST_EXAMPLES, [TEST_EXAMPLES, TEST_EXAMPLES])
    assert test["end_iteration"] > 0 and test["end"] > test["start"] + GAIN and test["p_value"] < 0.05, test
    assert f"test (test, {TEST_EXAMPLES} examples): " in output and " untrained " in output


@pytest.mark.learn
def test_rest_em_beats_the_same_run_with_rewards_permuted_across_examples(learned):
    output, real, control, _ = learned
    ours, theirs = held_out(real), held_out(control)
    assert ours["start"] == theirs["start"]  # one untrained policy: the runs differ in the rewards alone
    assert ours["end"] >= theirs["end"] + MARGIN, (ours, theirs)
    assert "ReST-EM, rewards permuted across training examples (a control)" in output


@pytest.mark.learn
@pytest.mark.xfail(strict=True, raises=AssertionError, reason="measured: the kept policy quotes a post in 16 of 48 test answers, the untrained one in 4, though "
                   "none of its 20 kept targets quotes one; the 16 all score 0 (planted-strict gives a recited post's fact nothing). "
                   "On validation every setting tried rose so (4 -> 11, 12 and 16 of 48): see the README")
def test_the_trained_policy_quotes_the_users_posts_no_more_than_the_untrained_one(learned):
    _, real, _, data = learned
    test, folder = held_out(real), RunFolder(real)
    examples = {e.id: e for e in load_examples(data, split="test")}

    def quoting(path: Path) -> int:
        return sum(quotes_history(examples[row["id"]], row["response"]) for row in read_jsonl(path))

    kept = folder.test_answers(test["end_iteration"] or None)  # pi_0 kept: the untrained policy's answers
    assert quoting(kept) <= quoting(folder.test_answers(None))
