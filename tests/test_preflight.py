"""The preflight every training run starts with (and ``tailor train <kind> --check``): the
recipe's remote models asked, before any generation, whether their servers serve them, how
long their context is, and whether they take an untrained adapter of the recipe's LoRA
shape; every problem in one error. Against ``tailor serve-llm`` on loopback and against
vLLM's own answers, replayed (``vllm_answers``)."""

import json
from pathlib import Path

import httpx
import pytest
import vllm_answers as vllm
import yaml
from conftest import ServerThread
from fakes import ScriptedLLM
from typer.testing import CliRunner
from vllm_answers import Replay

from tailor.cli import app
from tailor.errors import TailorError
from tailor.llm import LLMConfig
from tailor.llm.server import create_app
from tailor.pool import ModelPool
from tailor.train.lora import SFTSettings
from tailor.train.preflight import preflight, probe_adapter
from tailor.train.vac import VACConfig, VACTrainer

MODEL = "smollm2-135m-instruct"  # the served name is the model the run trains: its probe is built from its config
SFT = SFTSettings.cpu_sample().model_copy(update={"lora_r": 8, "target_modules": ["q_proj", "v_proj"]})


def remote(*urls: str, **options) -> LLMConfig:
    return LLMConfig(backend="openai", model=MODEL, cache=False, options={"base_url": list(urls), "max_retries": 0, "timeout": 5, **options})


class Sized(ScriptedLLM):
    """A scripted model whose server reports a context length."""

    def __init__(self, context: int | None = None):
        super().__init__(lambda *_: "an answer")
        self.context = context

    def context_length(self) -> int | None:
        return self.context


def served(url: str) -> list[str]:
    return [card["id"] for card in httpx.get(f"{url}/v1/models").json()["data"]]


def test_a_run_stops_at_once_listing_every_server_problem(tmp_path, train, valid):
    """A VAC run whose policy servers are one with too low a --max-lora-rank and too short a
    context, and one serving another model, and whose feedback server is down: one error
    naming the four, before any example is generated."""
    short, other = Sized(context=300), Sized(context=4096)
    with ServerThread(create_app(short, MODEL, max_lora_rank=4)) as a, ServerThread(create_app(other, "another-model")) as b:
        config = VACConfig(
            policy=remote(f"{a.url}/v1", f"{b.url}/v1"), feedback=remote("http://127.0.0.1:9/v1"), sft=SFT,
            iterations=1, n_feedback=1, run_dir=tmp_path / "run",
        )
        pool = ModelPool(config.policy)
        with pytest.raises(TailorError) as caught:
            VACTrainer(config, pool).run()
        assert served(a.url) == [MODEL]  # the probe registered nowhere for good
    problems = str(caught.value).split("\n- ")[1:]
    assert len(problems) == 4, caught.value
    assert any(f"{a.url}/v1 refused LoRA adapter" in p and "LoRA rank 8 is greater than max_lora_rank 4" in p for p in problems)
    assert any(f"{b.url}/v1 does not serve model '{MODEL}'" in p and "another-model" in p for p in problems)
    assert any("context, 300 tokens" in p and "answer_max_tokens" in p for p in problems)
    assert any(p.startswith(f"feedback ({MODEL})") and "127.0.0.1:9" in p for p in problems)
    assert not short.received and not other.received  # nothing was generated


def test_check_against_ready_servers_says_what_it_found_and_leaves_nothing_registered(tmp_path):
    """``tailor train vac --check``: the probe, an absolute path under the run folder, is
    registered and dropped on both replicas; the context each reports is printed."""
    with ServerThread(create_app(Sized(context=4096), MODEL)) as a, ServerThread(create_app(Sized(context=8192), MODEL)) as b:
        recipe = tmp_path / "vac.yaml"
        recipe.write_text(yaml.safe_dump({
            "policy": remote(f"{a.url}/v1", f"{b.url}/v1").model_dump(mode="json"), "sft": SFT.model_dump(mode="json"),
            "iterations": 1, "run_dir": str(tmp_path / "run"),
        }))
        result = CliRunner().invoke(app, ["train", "vac", "--config", str(recipe), "--check"])
        assert result.exit_code == 0, result.output
        assert served(a.url) == served(b.url) == [MODEL]
    assert "context 4096 tokens" in result.output and "rank 8 on ['q_proj', 'v_proj'] registered and dropped" in result.output
    assert "preflight: ready" in result.output
    probes = list((tmp_path / "run" / "preflight").iterdir())
    assert len(probes) == 1 and json.loads((probes[0] / "adapter_config.json").read_text())["r"] == 8
    assert not (tmp_path / "run" / "history.json").exists()  # a check trains nothing


@pytest.mark.parametrize("version", vllm.VERSIONS)
def test_replayed_vllm_refusals_are_each_named(tmp_path, version):
    """Three servers of one model, as vLLM answers: one without runtime LoRA updating, one
    without --enable-lora, one that cannot read the run folder."""
    models = {"GET /v1/models": vllm.model_list(MODEL, 8192)}
    not_found = {**models, "POST /v1/load_lora_adapter": lambda body: vllm.adapter_not_found(version, body["lora_name"], body["lora_path"])}
    disabled = {**models, "POST /v1/load_lora_adapter": vllm.engine_refused(version, vllm.lora_disabled(version))}
    with Replay(models, version) as no_route, Replay(disabled, version) as no_lora, Replay(not_found, version) as unreadable:
        config = VACConfig(policy=remote(*(f"{s.url}/v1" for s in (no_route, no_lora, unreadable))), sft=SFT, train_feedback=False, run_dir=tmp_path / "run")
        with pytest.raises(TailorError) as caught:
            preflight(config, ModelPool(config.policy))
    problems = str(caught.value).split("\n- ")[1:]
    assert len(problems) == 3
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in next(p for p in problems if no_route.url in p)
    assert vllm.lora_disabled(version) in next(p for p in problems if no_lora.url in p)
    probe = str((tmp_path / "run" / "preflight").resolve())
    assert "No adapter found" in next(p for p in problems if unreadable.url in p) and probe in next(p for p in problems if unreadable.url in p)


@pytest.mark.parametrize("version", vllm.VERSIONS)
def test_replayed_vllm_that_takes_the_probe_passes(tmp_path, version):
    script = {
        "GET /v1/models": vllm.model_list(MODEL, 8192),
        "POST /v1/load_lora_adapter": lambda body: vllm.loaded(body["lora_name"]),
        "POST /v1/unload_lora_adapter": lambda body: vllm.unloaded(body["lora_name"]),
    }
    with Replay(script, version) as server:
        config = VACConfig(policy=remote(f"{server.url}/v1"), sft=SFT, run_dir=tmp_path / "run")
        lines = preflight(config, ModelPool(config.policy))
    assert lines == [f"policy ({MODEL}): served, context 8192 tokens; LoRA adapters of rank 8 on ['q_proj', 'v_proj'] registered and dropped"]
    (loaded,), (unloaded,) = server.calls("POST /v1/load_lora_adapter"), server.calls("POST /v1/unload_lora_adapter")
    assert Path(loaded["lora_path"]).is_absolute() and Path(loaded["lora_path"]).is_relative_to((tmp_path / "run").resolve())
    assert unloaded == {"lora_name": loaded["lora_name"]}


def test_a_model_whose_config_cannot_be_read_is_one_more_listed_problem(tmp_path):
    """A model whose config is not on this machine (a hub model without a network): the probe
    cannot be built; that is listed beside the servers' problems, never a traceback hiding them."""
    (tmp_path / "weightless").mkdir()  # a model folder without config.json
    with Replay({}, vllm.VERSIONS[-1]) as server:
        policy = remote(f"{server.url}/v1").model_copy(update={"model": str(tmp_path / "weightless")})
        config = VACConfig(policy=policy, sft=SFT, train_feedback=False, run_dir=tmp_path / "run")
        with pytest.raises(TailorError) as caught:
            preflight(config, ModelPool(config.policy))
    problems = str(caught.value).split("\n- ")[1:]
    assert any("no probe adapter could be built from the model's config" in p for p in problems), problems
    assert any("GET /v1/models failed" in p and server.url in p for p in problems), problems


def test_local_backends_have_nothing_to_check(tmp_path):
    config = VACConfig(policy=LLMConfig(backend="hf", model=MODEL), sft=SFT, run_dir=tmp_path / "run")
    pool = ModelPool(config.policy)
    assert preflight(config, pool) == []
    assert pool.built(config.policy) is None and not (tmp_path / "run" / "preflight").exists()  # nothing built, nothing written


@pytest.mark.model
def test_the_probe_is_an_untrained_peft_adapter_of_the_base_model(tmp_path):
    """Built from the model's config alone, it loads onto the real weights through PEFT,
    adapts the recipe's modules at the recipe's rank, and changes no output."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tailor.models import resolve_model

    probe = probe_adapter(MODEL, SFT, tmp_path)
    assert probe_adapter(MODEL, SFT, tmp_path) == probe  # built once
    base = AutoModelForCausalLM.from_pretrained(resolve_model(MODEL), dtype=torch.float32).eval()
    tokens = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        before = base(tokens).logits
        adapted = PeftModel.from_pretrained(base, probe)
        after = adapted(tokens).logits
    ranks = {name.split(".")[-1]: module.r["default"] for name, module in adapted.named_modules() if isinstance(getattr(module, "r", None), dict)}
    assert set(ranks) == {"q_proj", "v_proj"} and set(ranks.values()) == {8}
    assert torch.equal(before, after)
