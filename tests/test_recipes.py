"""Every recipe shipped in configs/ loads with the settings class of the command it is for,
so a typo in a field name fails here rather than at the start of a long run."""

from pathlib import Path

import pytest

from tailor.errors import TailorError
from tailor.eval.config import EvalConfig
from tailor.train.popi import POPIConfig
from tailor.train.rest_em import RestEMConfig
from tailor.train.rpo import RPOConfig
from tailor.train.vac import VACConfig

CONFIGS = Path(__file__).parents[1] / "configs"
# recipe name prefix -> the command's settings
SETTINGS = {"vac-": VACConfig, "rest-em-": RestEMConfig, "restpg-": RestEMConfig, "rpo-": RPOConfig, "popi-": POPIConfig,
            "lampqa-": EvalConfig, "longlamp-": EvalConfig, "lamp-": EvalConfig}


def settings_for(path: Path):
    return next(cls for prefix, cls in SETTINGS.items() if path.name.startswith(prefix))


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_each_recipe_loads_with_its_commands_settings(path):
    config = settings_for(path).from_yaml(path)
    assert config.model_fields_set


def test_a_misspelt_field_fails_naming_the_file_and_the_field(tmp_path):
    recipe = tmp_path / "vac-typo.yaml"
    recipe.write_text((CONFIGS / "vac-sample-cpu.yaml").read_text() + "\niteratons: 3\n")
    with pytest.raises(TailorError, match=f"{recipe}: invalid VAC config: iteratons: Extra inputs are not permitted"):
        VACConfig.from_yaml(recipe)


def test_every_recipe_has_a_command():
    assert all(any(p.name.startswith(prefix) for prefix in SETTINGS) for p in CONFIGS.glob("*.yaml"))


def test_a_misspelt_judge_setting_fails_when_the_recipe_loads(tmp_path):
    recipe = tmp_path / "lampqa-typo.yaml"
    recipe.write_text((CONFIGS / "lampqa-paper.yaml").read_text().replace("retry_rule: benchmark", "retry_rul: benchmark"))
    with pytest.raises(TailorError, match="metric_options.retry_rul: Extra inputs are not permitted"):
        EvalConfig.from_yaml(recipe)


def test_the_paper_recipes_judge_as_the_benchmark_does():
    from tailor.metrics.aspect import JudgeSettings

    for name in ("lampqa-paper.yaml", "rest-em-paper.yaml"):
        config = settings_for(CONFIGS / name).from_yaml(CONFIGS / name)
        judge = JudgeSettings(**config.metric_options)
        assert (judge.max_attempts, judge.temperature, judge.temperature_step, judge.retry_rule, judge.top_p, judge.max_tokens) == (101, 0.0, 0.1, "benchmark", 0.95, 4096)
    table = EvalConfig.from_yaml(CONFIGS / "lampqa-paper.yaml")
    assert table.significance == "best-baseline" and "offline-rl" in table.baseline_rows
    assert {m.key: str(m.policy_run) for m in table.methods if m.policy_run}["offline-rl"] == "runs/rest-em-paper"
