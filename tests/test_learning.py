"""A training loop is done when it is shown to learn: on the planted-preference task, the
shipped learning recipe's trained policy must beat its starting point on held-out users,
through the real offline model and the command line, as a user runs it."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tailor.cli import app

RECIPE = Path(__file__).parents[1] / "configs" / "learn-rest-em.yaml"


@pytest.mark.model
def test_rest_em_learns_the_planted_preferences_for_held_out_users(tmp_path):
    result = CliRunner().invoke(app, ["train", "rest-em", "--config", str(RECIPE), "--run-dir", str(tmp_path / "run")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    test = json.loads((tmp_path / "run" / "history.json").read_text())["test"]
    assert (test["split"], test["examples"], test["scored"]) == ("test", 48, [48, 48])
    assert test["end_iteration"] > 0 and test["end"] > test["start"] + 0.2 and test["p_value"] < 0.05, test
    assert "test (test, 48 examples): planted-facts untrained" in result.output
