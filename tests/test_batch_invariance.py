"""``deterministic`` is honoured only where the engine has batch invariance: elsewhere it is
refused with the reason, so no batched answer is ever cached as batch-invariant.

The vLLM floors come from vLLM's released source (PyPI sdists): vllm 0.11.0 has no
vllm/model_executor/layers/batch_invariant.py, vllm 0.11.1 reads VLLM_BATCH_INVARIANT there;
vllm 0.13.0's vllm/lora/ops/triton_ops/utils.py does not read it, vllm 0.14.0's does
(``is_batch_invariant = vllm_is_batch_invariant()``); docs/features/batch_invariance.md asks for
compute capability 9.0 in 0.14.0 and 8.0 in 0.34.0."""

import pytest

from tailor.errors import BackendError
from tailor.llm import LLMConfig, make_llm
from tailor.llm.backends.vllm import batch_invariance_problem


@pytest.mark.parametrize(
    ("installed", "capability", "problem"),
    [
        (None, (9, 0), "vLLM is not installed"),
        ("0.8.5", (9, 0), "vLLM 0.8.5 has no batch-invariant LoRA kernels"),
        ("0.11.1", (9, 0), "vLLM 0.11.1 has no batch-invariant LoRA kernels"),  # the mode, but not for LoRA
        ("0.13.0", (9, 0), "vLLM 0.13.0 has no batch-invariant LoRA kernels"),
        ("0.14.0", None, "needs a CUDA GPU"),
        ("0.14.0", (8, 0), "needs compute capability 9.0, this GPU has 8.0"),
        ("0.34.0", (7, 5), "needs compute capability 8.0, this GPU has 7.5"),
    ],
)
def test_vllm_without_batch_invariant_lora_kernels_or_the_gpu_for_them_is_refused(installed, capability, problem):
    assert problem in batch_invariance_problem(installed, capability)


@pytest.mark.parametrize(("installed", "capability"), [("0.14.0", (9, 0)), ("0.34.0", (8, 0)), ("0.34.0", (10, 0))])
def test_vllm_with_the_mode_and_its_gpu_is_accepted(installed, capability):
    assert batch_invariance_problem(installed, capability) is None


def test_this_machine_refuses_a_deterministic_vllm_model_before_anything_loads(monkeypatch):
    monkeypatch.delenv("VLLM_BATCH_INVARIANT", raising=False)
    with pytest.raises(BackendError, match="deterministic: vLLM is not installed; leave deterministic off"):
        make_llm(LLMConfig(backend="vllm", model="smollm2-135m-instruct", cache=False, deterministic=True))
    import os

    assert "VLLM_BATCH_INVARIANT" not in os.environ  # never set for an engine that would ignore it


@pytest.mark.parametrize("backend", ["openai", "llamacpp"])
def test_backends_that_cannot_be_sure_of_batch_invariance_refuse_the_switch(backend):
    with pytest.raises(BackendError, match=f"the {backend} backend cannot generate batch-invariantly"):
        make_llm(LLMConfig(backend=backend, model="smollm2-135m-instruct", cache=False, deterministic=True, options={}))


def test_the_hf_backend_is_batch_invariant_by_generating_alone():
    llm = make_llm(LLMConfig(backend="hf", model="smollm2-135m-instruct", cache=False, deterministic=True))
    assert llm.batch_size == 1 and llm.model_id.endswith(":batch-invariant")
