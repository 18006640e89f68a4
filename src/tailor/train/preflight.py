"""The first seconds of every training run, and ``tailor train <kind> --check``: each server
of each remote (``openai``) model in the recipe and its variants is asked whether it serves
the model and how long its context is, and every model that generates with the adapters the
run trains registers an untrained LoRA adapter of the recipe's rank and target modules, then
drops it. So a wrong ``--max-lora-rank``, a server without ``--enable-lora`` or
``VLLM_ALLOW_RUNTIME_LORA_UPDATING``, or a run folder the servers cannot read shows before
any generation, every problem in one error. A local backend loads adapters itself: nothing
to check. What a server does not expose (``--max-cpu-loras``) is not checked here.

The probe adapter is built from the model's config on PyTorch's meta device (no weights are
loaded), its LoRA weights written as zeros, in ``<run_dir>/preflight/``: a path the servers
must be able to read, as they must read the adapters the run will train beside it."""

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tailor.errors import TailorError
from tailor.io import json_digest
from tailor.llm import LOCAL_BACKENDS, LLMConfig
from tailor.models import resolve_model
from tailor.pool import ModelPool
from tailor.runs import RunFolder, building
from tailor.train.lora import SFTSettings, lora_arguments
from tailor.train.stages import LoopConfig

log = logging.getLogger(__name__)


@dataclass
class RemoteModel:
    """One remote model of a recipe: the roles it plays, and the LoRA shapes (rank, target
    modules) of the adapters the run trains for it."""

    config: LLMConfig
    roles: list[str] = field(default_factory=list)
    shapes: dict[str, SFTSettings] = field(default_factory=dict)


def remote_models(config: LoopConfig) -> list[RemoteModel]:
    """The recipe's remote models over the run and its variants, each once."""
    found: dict[str, RemoteModel] = {}
    for _name, run in config.runs():
        for role, llm in run.models().items():
            if llm.backend in LOCAL_BACKENDS:
                continue
            model = found.setdefault(llm.model_dump_json(), RemoteModel(llm))
            if role not in model.roles:
                model.roles.append(role)
        for llm in run.adapter_models():
            if llm.backend not in LOCAL_BACKENDS:
                found.setdefault(llm.model_dump_json(), RemoteModel(llm, ["policy"])).shapes[probe_key(llm.model, run.sft)] = run.sft
    return list(found.values())


def probe_key(model: str, settings: SFTSettings) -> str:
    return json_digest([model, settings.lora_r, settings.lora_alpha, settings.target_modules])[:12]


def probe_adapter(model: str, settings: SFTSettings, folder: Path) -> str:
    """An untrained LoRA adapter of ``model`` shaped as ``settings`` trains them (its weights
    zero: it changes nothing), in the run ``folder`` (reused once there); its absolute path."""
    target = RunFolder(folder).probe_adapter(probe_key(model, settings)).resolve()
    if (target / "adapter_model.safetensors").is_file():
        return str(target)
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        network = get_peft_model(AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(resolve_model(model))), LoraConfig(**lora_arguments(settings)))
    zeros = {name: torch.zeros(tensor.shape) for name, tensor in get_peft_model_state_dict(network).items()}
    partial = building(target)  # a killed build is never taken for a probe
    shutil.rmtree(partial, ignore_errors=True)
    network.save_pretrained(partial, state_dict=zeros)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return str(target)


def preflight(config: LoopConfig, pool: ModelPool) -> list[str]:
    """Check every remote model of ``config`` (``pool`` builds them); what was found, a line
    per model, or a ``TailorError`` listing every problem."""
    lines, problems = [], []
    budget, budget_field = longest_answer(config)
    for remote in remote_models(config):
        llm, who = pool.llm(remote.config), f"{'/'.join(remote.roles)} ({remote.config.model})"
        probes, found = [], []
        for shape in remote.shapes.values():
            try:
                probes.append(probe_adapter(remote.config.model, shape, config.run_dir))
            except (OSError, ValueError, TailorError) as err:  # the model's config cannot be read here
                found.append(f"no probe adapter could be built from the model's config, which training needs too: {type(err).__name__}: {str(err).splitlines()[0]}")
        found += [problem for probe in probes or [None] for problem in llm.preflight(probe)]
        context = llm.context_length()
        if context is not None and context <= budget:
            found.append(f"the servers' context, {context} tokens, leaves no room for a prompt beside the recipe's {budget_field} ({budget} tokens)")
        problems += [f"{who}: {problem}" for problem in dict.fromkeys(found)]
        ranks = ", ".join(f"rank {s.lora_r} on {s.target_modules}" for s in remote.shapes.values())
        lines.append(f"{who}: served, context {context or 'not reported'} tokens" + (f"; LoRA adapters of {ranks} registered and dropped" if ranks else ""))
    if problems:
        raise TailorError(f"the generation servers are not ready for this run ({len(problems)} problem(s)):\n- " + "\n- ".join(problems))
    for line in lines:
        log.info("preflight: %s", line)
    return lines


def longest_answer(config: LoopConfig) -> tuple[int, str]:
    """The recipe's largest answer budget (its ``*_max_tokens`` settings) and its name."""
    budgets = {name: value for name, value in config.model_dump().items() if name.endswith("max_tokens") and isinstance(value, int)}
    name = max(budgets, key=budgets.get)
    return budgets[name], name
