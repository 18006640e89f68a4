"""Every recipe shipped in configs/ loads with the settings class of the command it is for,
so a typo in a field name fails here rather than at the start of a long run."""

import re
from pathlib import Path

import pytest

from tailor.errors import TailorError
from tailor.eval.config import EvalConfig
from tailor.train.planner import PlannerConfig
from tailor.train.popi import POPIConfig
from tailor.train.rest_em import RestEMConfig
from tailor.train.rpo import RPOConfig
from tailor.train.vac import VACConfig

CONFIGS = Path(__file__).parents[1] / "configs"
RECIPES = sorted(p for p in CONFIGS.rglob("*.yaml") if p.parent.name != "accelerate")  # configs/ and configs/cluster/
# recipe name prefix -> the command's settings
SETTINGS = {"planner-": PlannerConfig, "vac-": VACConfig, "rest-em-": RestEMConfig, "restpg-": RestEMConfig, "rpo-": RPOConfig, "popi-": POPIConfig,
            "lampqa-": EvalConfig, "longlamp-": EvalConfig, "lamp-": EvalConfig,
            "learn-vac": VACConfig, "learn-rest-em": RestEMConfig, "learn-restpg": RestEMConfig, "learn-rpo": RPOConfig, "learn-popi": POPIConfig}


def settings_for(path: Path):
    return next(cls for prefix, cls in SETTINGS.items() if path.name.startswith(prefix))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_each_recipe_loads_with_its_commands_settings(path):
    config = settings_for(path).from_yaml(path)
    assert config.model_fields_set


def test_a_misspelt_field_fails_naming_the_file_and_the_field(tmp_path):
    recipe = tmp_path / "vac-typo.yaml"
    recipe.write_text((CONFIGS / "vac-sample-cpu.yaml").read_text() + "\niteratons: 3\n")
    with pytest.raises(TailorError, match=re.escape(f"{recipe}: invalid VAC config: iteratons: unknown key (did you mean iterations?)")):
        VACConfig.from_yaml(recipe)


def test_every_recipe_has_a_command():
    assert all(any(p.name.startswith(prefix) for prefix in SETTINGS) for p in RECIPES)


def test_a_misspelt_judge_setting_fails_when_the_recipe_loads(tmp_path):
    recipe = tmp_path / "lampqa-typo.yaml"
    recipe.write_text((CONFIGS / "lampqa-paper.yaml").read_text().replace("retry_rule: benchmark", "retry_rul: benchmark"))
    with pytest.raises(TailorError, match=re.escape("invalid eval config: metric_options.retry_rul: unknown key (did you mean retry_rule?)")):
        EvalConfig.from_yaml(recipe)


def test_the_paper_recipes_judge_as_the_benchmark_does():
    from tailor.metrics.aspect import JudgeSettings

    for name in ("lampqa-paper.yaml", "rest-em-paper.yaml"):
        config = settings_for(CONFIGS / name).from_yaml(CONFIGS / name)
        judge = JudgeSettings(**config.metric_options)
        assert (judge.max_attempts, judge.temperature, judge.temperature_step, judge.retry_rule, judge.top_p, judge.max_tokens) == (101, 0.0, 0.1, "benchmark", 0.95, 4096)
    table = EvalConfig.from_yaml(CONFIGS / "lampqa-paper.yaml")
    assert table.significance == "best-baseline" and "offline-rl" in table.baseline_rows
    assert {m.key: m.adapters.get("policy") for m in table.methods}["offline-rl"] == "runs/rest-em-paper"


@pytest.mark.parametrize(("recipe", "typo", "message"), [
    ("lampqa-sample-cpu.yaml", ("  temperature: 0.1\n", "  temprature: 0.1\n"), "answer.temprature: unknown key (did you mean temperature?)"),
    ("vac-sample-cpu.yaml", ("  learning_rate: 0.001\n", "  learnin_rate: 0.001\n"), "sft.learnin_rate: unknown key (did you mean learning_rate?)"),
    ("vac-sample-cpu.yaml", ("  backend: hf\n", "  backnd: hf\n"), "policy.backnd: unknown key (did you mean backend?)"),
    ("lampqa-sample-cpu.yaml", ("    planner_adapter: runs/planner-sample/adapter\n", "    planer_adapter: runs/planner-sample/adapter\n"),
     "methods.3.planer_adapter: unknown key (did you mean adapters?)"),
    ("rpo-sample-cpu.yaml", ("  num_generations:", "  num_generation:"), "rl.num_generation: unknown key (did you mean num_generations?)"),
])
def test_an_unknown_key_at_any_depth_is_an_error_naming_its_path_with_a_suggestion(tmp_path, recipe, typo, message):
    text = (CONFIGS / recipe).read_text()
    assert typo[0] in text
    path = tmp_path / recipe
    path.write_text(text.replace(typo[0], typo[1], 1))
    with pytest.raises(TailorError, match=re.escape(message)):
        settings_for(path).from_yaml(path)


@pytest.mark.parametrize(("recipe", "change", "message"), [
    ("vac-sample-cpu.yaml", ("iterations: 2", "iterations: many"), "iterations: Input should be a valid integer"),
    ("vac-sample-cpu.yaml", ("variants:\n  frozen: {train_feedback: false}", "variants: [frozen]"), "variants: Input should be a valid dictionary"),
    ("lampqa-sample-cpu.yaml", ("metric: proxy", "metric: proxy\nmetric_options: {batch: 3}"), "metric_options.batch: unknown key for the proxy metric"),
    ("popi-sample-cpu.yaml", ("iterations: 1", "iterations: 1\nk: 5"), "k: not a setting of this loop (POPI answers from the preference summary"),
    ("lampqa-sample-cpu.yaml", ("metric: proxy", "metric: direct\nmetric_options: {prompt: {output_key: match_score}}"),
     "metric_options.prompt: only the aspect judge reads a prompt template"),
])
def test_a_wrong_type_or_option_is_a_clear_error_not_a_traceback(tmp_path, recipe, change, message):
    path = tmp_path / recipe
    text = (CONFIGS / recipe).read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(TailorError, match=re.escape(message)):
        settings_for(path).from_yaml(path)


def test_every_learning_check_tests_on_held_out_users_with_the_strict_planted_metric():
    recipes = sorted(CONFIGS.glob("learn-*.yaml"))
    assert {p.stem for p in recipes} >= {"learn-vac", "learn-rest-em", "learn-restpg", "learn-rpo", "learn-popi"}
    for path in recipes:
        config = settings_for(path).from_yaml(path)
        assert (config.metric, config.test_split, config.data.name) == ("planted-strict", "test", "planted"), path.name


def test_the_cluster_recipes_train_on_servers_and_several_processes():
    for name, servers in (("vac-8gpu.yaml", "vac-8gpu-servers.sh"), ("restpg-8gpu.yaml", "restpg-8gpu-servers.sh")):
        config = settings_for(CONFIGS / "cluster" / name).from_yaml(CONFIGS / "cluster" / name)
        script = (CONFIGS / "cluster" / servers).read_text()
        assert config.policy.backend == "openai" and config.sft.num_processes == 4 and (CONFIGS.parent / config.sft.accelerate_config).is_file()
        assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in script and "--enable-lora" in script
        assert f"vllm serve {config.policy.model}" in script and f"vllm serve {config.judge.model}" in script
